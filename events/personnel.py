"""The personnel balances the date invariant needs, kept per stream, measure and category.

CONTRACT §3: on every date, pledged and deployed personnel per country and category stay at or
above zero. Checking that by folding a contingent's whole history made a departure in a stream
of 10,000 events append at 5 % of the rate of an arrival, under the append lock. Instead the
store keeps, in ``personnel_balances``, a row for every date with a movement or a headcount:
``moved`` (the net of the movements dated that day), ``reset`` (the headcount that counts on
that day, if any: the live one recorded last) and ``balance`` at the end of the day — the reset
if there is one, else the previous balance plus ``moved``. So movements dated on or before a
headcount no longer change the balances from its date on, as the contract counts them.

A change dated D recomputes the balances from D up to the next headcount after it, and is
allowed when none falls below zero. A check reads the rows from D on (one per later date with
a movement, usually a handful), never the stream's events, and costs the same at the 10th event
as at the 100,000th. ``personnel_headcounts`` lists the live headcounts of each date (to know
which counts when one is corrected or retracted), and ``amended_events`` each corrected or
retracted event as it now stands, so an amendment finds its target without folding the stream.
"""

from __future__ import annotations

import bisect
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from events.errors import RuleViolation
from events.rules import Entry, Fact, fold

if TYPE_CHECKING:
    from events.recorders import WriteTx

#: What a contingent event moves: (measure, sign).
MOVES: dict[str, tuple[str, int]] = {
    "PersonnelPledged": ("pledged", 1),
    "PledgeWithdrawn": ("pledged", -1),
    "ContingentArrived": ("deployed", 1),
    "ContingentDeparted": ("deployed", -1),
}
HEADCOUNT = "StrengthReported"

Key = tuple[str, str, str]  # stream, measure, category
Effect = tuple[str, str, date, int]  # measure, category, day, signed personnel
#: A headcount appearing or going: (category, day, version, personnel; None when it goes).
Count = tuple[str, date, int, int | None]


def effect_of(fact: Fact) -> Effect | None:
    """What a live contingent fact adds to which balance, or None (retracted, not a move)."""
    move = MOVES.get(fact.type)
    if move is None or fact.retracted:
        return None
    measure, sign = move
    return measure, fact.data["category"], fact.occurred_on, sign * fact.data["personnel"]


def count_of(fact: Fact) -> Count | None:
    """The headcount a live ``StrengthReported`` stands for, or None."""
    if fact.type != HEADCOUNT or fact.retracted:
        return None
    return fact.data["category"], fact.occurred_on, fact.version, fact.data["personnel"]


@dataclass
class _Balances:
    """One key's rows from ``since`` on, as this transaction sees them."""

    since: date | None = None  # rows dated on or after it are loaded; None: none yet
    before: int = 0  # the balance at the end of the last date before ``since``
    days: list[date] = field(default_factory=list)
    totals: dict[date, int] = field(default_factory=dict)
    moved: dict[date, int] = field(default_factory=dict)
    resets: dict[date, int] = field(default_factory=dict)  # dates with a headcount that counts
    changed: set[date] = field(default_factory=set)

    def copy(self) -> _Balances:
        return _Balances(self.since, self.before, list(self.days), dict(self.totals),
                         dict(self.moved), dict(self.resets))  # fmt: skip


class BalanceCache:
    """Balances committed transactions of this process left, each with its stream's version.

    Not a history: what a check would read from ``personnel_balances`` anyway, kept so that a
    process appending to the same contingent again skips that read (a third of the ledger's
    cost on SQLite, a round trip on PostgreSQL). An entry is used only while its stream is
    still at the version it was left at, which every writer in every process moves: stale is
    impossible, and a miss just reads the table. Bounded: least recently used keys go first.
    """

    def __init__(self, max_keys: int = 1024) -> None:
        self.max_keys = max_keys
        self._entries: OrderedDict[Key, tuple[int, _Balances]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key, version: int) -> _Balances | None:
        """A copy of the key's balances if its stream is still at ``version``."""
        with self._lock:
            found = self._entries.get(key)
            if found is None or found[0] != version:
                return None
            self._entries.move_to_end(key)
            return found[1].copy()

    def publish(self, entries: Iterable[tuple[Key, int, _Balances]]) -> None:
        """Keep what a transaction left, once it has committed."""
        with self._lock:
            for key, version, balances in entries:
                self._entries[key] = (version, balances.copy())
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)


class PersonnelLedger:
    """The balances one append transaction reads and changes; written back by :meth:`flush`.

    ``committed_version`` gives a stream's version before this transaction: balances cached at
    that version are current. After commit, :meth:`committed` gives what to publish.
    """

    def __init__(
        self,
        tx: WriteTx,
        cache: BalanceCache | None = None,
        committed_version: Callable[[str], int] | None = None,
    ) -> None:
        self.tx = tx
        self.cache = cache
        self.committed_version = committed_version
        self._keys: dict[Key, _Balances] = {}
        # Live headcounts of a (stream, category, day): version -> personnel.
        self._counts: dict[tuple[str, str, date], dict[int, int]] = {}
        self._counts_changed: set[tuple[str, str, date]] = set()

    def committed(self, version_of: Callable[[str], int]) -> list[tuple[Key, int, _Balances]]:
        """Every key this transaction read or changed, with its stream's version after it."""
        return [(key, version_of(key[0]), b) for key, b in self._keys.items()]

    def move(
        self,
        stream: str,
        changes: Sequence[Effect],
        *,
        counts: Sequence[Count] = (),
        country: str,
        blame: str,
    ) -> None:
        """Apply a fact's movements and headcounts (an undo is a negative movement, a
        headcount with no personnel) and check the invariant.

        Raises :class:`RuleViolation` when a balance on a changed date or after it falls below
        zero; the transaction is then rolled back whole, so nothing here needs undoing.
        """
        if len(changes) == 1 and not counts:  # a new movement: the common case, kept short
            measure, category, day, delta = changes[0]
            key = (stream, measure, category)
            self._add(key, day, delta)
            if delta < 0:
                self._check(key, day, country, blame)
            return
        touched: dict[tuple[str, str], date] = {}
        for measure, category, day, delta in changes:
            if delta == 0:
                continue
            self._add((stream, measure, category), day, delta)
            if delta < 0:
                k = (measure, category)
                touched[k] = min(day, touched.get(k, day))
        for category, day, version, personnel in counts:
            self._count((stream, "deployed", category), day, version, personnel)
            k = ("deployed", category)
            touched[k] = min(day, touched.get(k, day))
        for (measure, category), since in sorted(touched.items()):
            self._check((stream, measure, category), since, country, blame)

    def _check(self, key: Key, since: date, country: str, blame: str) -> None:
        found = self._first_negative(key, since)
        if found is not None:
            day, total = found
            _, measure, category = key
            raise RuleViolation(
                f"{blame}.personnel" if blame != "data.event_id" else blame,
                f"{measure} {category} personnel of {country} would fall to {total} on "
                f"{day.isoformat()}: not more can leave or be withdrawn than is "
                f"{measure} on that date and after",
            )

    def flush(self) -> None:
        rows: list[tuple[str, str, str, date, int, int, int | None]] = []
        for (stream, measure, category), b in self._keys.items():
            rows.extend(
                (stream, measure, category, d, b.moved.get(d, 0), b.totals[d], b.resets.get(d))
                for d in sorted(b.changed)
            )
            b.changed.clear()
        if rows:
            self.tx.save_balances(rows)
        if self._counts_changed:
            self.tx.save_headcounts(
                [(*where, self._counts[where]) for where in sorted(self._counts_changed)]
            )
            self._counts_changed.clear()

    # --- one key's rows -------------------------------------------------------------------

    def _load(self, key: Key, day: date) -> _Balances:
        b = self._keys.get(key)
        if b is not None and b.since is not None and day >= b.since:
            return b
        if b is None and self.cache is not None and self.committed_version:
            cached = self.cache.get(key, self.committed_version(key[0]))
            if cached is not None:
                self._keys[key] = cached
        b = self._keys.setdefault(key, _Balances())
        if b.since is not None and day >= b.since:
            return b
        stream, measure, category = key
        b.before, rows = self.tx.balances(stream, measure, category, since=day, until=b.since)
        b.days[:0] = [d for d, _, _, _ in rows]
        for d, moved, balance, reset in rows:
            b.totals[d], b.moved[d] = balance, moved
            if reset is not None:
                b.resets[d] = reset
        b.since = day
        return b

    def _row(self, b: _Balances, day: date) -> int:
        """The index of ``day``'s row, made (with nothing moved) if there was none."""
        i = bisect.bisect_left(b.days, day)
        if i == len(b.days) or b.days[i] != day:
            b.totals[day] = b.totals[b.days[i - 1]] if i > 0 else b.before
            b.moved[day] = 0
            b.days.insert(i, day)
        return i

    def _recompute(self, b: _Balances, i: int) -> None:
        """Balances from row ``i`` on, up to the next headcount after it (which stands)."""
        days = b.days
        total = b.totals[days[i - 1]] if i > 0 else b.before
        for j in range(i, len(days)):
            d = days[j]
            if d in b.resets and j > i:
                return
            total = b.resets[d] if d in b.resets else total + b.moved[d]
            if b.totals[d] != total:
                b.totals[d] = total
            b.changed.add(d)

    def _add(self, key: Key, day: date, delta: int) -> None:
        b = self._load(key, day)
        days = b.days
        if days and days[-1] == day:  # reports of the latest date: one balance moves
            b.moved[day] += delta
            if day not in b.resets:
                b.totals[day] += delta
            b.changed.add(day)
            return
        i = self._row(b, day)
        b.moved[day] += delta
        self._recompute(b, i)

    def _count(self, key: Key, day: date, version: int, personnel: int | None) -> None:
        stream, _, category = key
        where = (stream, category, day)
        if where not in self._counts:
            self._counts[where] = self.tx.headcounts(stream, category, day)
        live = self._counts[where]
        if personnel is None:
            live.pop(version, None)
        else:
            live[version] = personnel
        self._counts_changed.add(where)
        b = self._load(key, day)
        i = self._row(b, day)
        if live:
            b.resets[day] = live[max(live)]  # the one recorded last counts
        else:
            b.resets.pop(day, None)
        self._recompute(b, i)

    def _first_negative(self, key: Key, since: date) -> tuple[date, int] | None:
        b = self._load(key, since)
        for d in b.days[bisect.bisect_left(b.days, since) :]:
            if b.totals[d] < 0:
                return d, b.totals[d]
        return None


BalanceRow = tuple[str, str, date, int, int, int | None]  # measure, category, day, moved,
#                                                             balance, reset


def derive(
    entries: Iterable[Entry],
) -> tuple[list[BalanceRow], dict[tuple[str, date], dict[int, int]], dict[str, Fact]]:
    """One contingent stream's balance rows, live headcounts and amended facts, folded from its
    history: the reference the ledger is kept equal to (the migration fills the tables with it,
    the tests compare the tables with it after random histories)."""
    entries = list(entries)
    facts = fold(entries)
    amended_ids = {
        e.data["event_id"] for e in entries if e.type in ("EventCorrected", "EventRetracted")
    }
    moved: dict[tuple[str, str], dict[date, int]] = defaultdict(lambda: defaultdict(int))
    counts: dict[tuple[str, date], dict[int, int]] = defaultdict(dict)
    for fact in facts.values():
        effect = effect_of(fact)
        if effect is not None:
            measure, category, day, delta = effect
            moved[(measure, category)][day] += delta
        count = count_of(fact)
        if count is not None:
            category, day, version, personnel = count
            counts[(category, day)][version] = personnel  # type: ignore[assignment]
            moved[("deployed", category)][day] += 0
    rows: list[BalanceRow] = []
    for (measure, category), by_day in sorted(moved.items()):
        running = 0
        for day in sorted(by_day):
            live = counts.get((category, day)) if measure == "deployed" else None
            reset = live[max(live)] if live else None
            running = reset if reset is not None else running + by_day[day]
            rows.append((measure, category, day, by_day[day], running, reset))
    return rows, dict(counts), {i: facts[i] for i in amended_ids if i in facts}
