"""Running totals and effects of a chunk of events, kept in memory and written in one go.

Applying an event touches a few running totals; doing that with a statement or three per touch
made a rebuild crawl (~670 events/s). A book loads each key's current rows once, applies every
event of the chunk to them in memory — the same rule as :mod:`projections.balances` — and then
writes what changed with one ``executemany`` per kind of change, on the driver connection
under the caller's transaction (SQLAlchemy's per-row parameter handling cost more than SQLite's
own inserts).

A *fresh* book builds a generation no one else writes: what it flushed is exactly what it
remembers, so it keeps keys between chunks instead of reading them again — but only each key's
newest :attr:`Book.keep_rows` rows, so memory stays bounded however long the history. A late
report dated before the rows kept reads the older ones back first.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from events import money
from events.recorders import Recorder

Key = tuple[str, str, str]  # mission, measure, key
#: Totals add in the one money context; the bound method is a third of a wrapper's cost, and a
#: rebuild adds several times per event.
_sum = money.CONTEXT.add
ALL = "*"  # the key of a measure's sum over all its keys (see projections.apply.SUMMED)
Effect = tuple[str, str, str, date, Decimal]  # mission, measure, key, valid_on, amount


@dataclass(slots=True)
class _Row:
    valid_from: date
    total: Decimal
    recorded_from: datetime
    stored: bool  # already in the database as a current row
    changed: bool = False  # stored, and its total changed in place since


@dataclass(slots=True)
class _Key:
    rows: list[_Row] = field(default_factory=list)
    dates: list[date] = field(default_factory=list)  # rows' valid_from, for bisect
    floor: date | None = None  # rows dated before this are in the database only
    read: bool = True  # False: nothing read yet, every stored row is in the database only


@dataclass(slots=True)
class Version:
    """One version of an event as the report lists it (a row of ``report_events``)."""

    mission: str
    event_id: str
    occurred_on: date
    data: dict[str, Any] | None  # None: the envelope's own (upcast on reading)
    corrected_by: list[str] | None
    position: int
    recorded_from: datetime
    recorded_to: datetime | None = None
    stored: bool = False  # read from the table, not inserted by this chunk


class Book:
    """The read models' running totals for one generation, changed in memory, then flushed."""

    #: Rows kept per key between a fresh book's chunks (5 % of reports come 1-60 days late).
    keep_rows = 48

    def __init__(
        self, generation: int, recorder: Recorder, *, fresh: bool = False,
        keep_rows: int | None = None,
    ) -> None:  # fmt: skip
        self.generation = generation
        if keep_rows is not None:
            self.keep_rows = max(keep_rows, 1)
        self.recorder = recorder
        self.fresh = fresh  # a generation being built: nothing stored that is not in memory
        self.conn: Connection | None = None
        self._keys: dict[Key, _Key] = {}
        self._touched: set[Key] = set()  # keys changed since the last flush
        self._key_rows_new: list[Key] = []
        self._insert: list[tuple[Any, ...]] = []  # versions superseded before they were stored
        self._effects_new: dict[str, list[Effect]] = {}
        self._effects_stored: dict[str, list[Effect]] = {}  # read ahead: see prefetch_effects
        self._effects_gone: list[str] = []
        # The report's versions of events (projections.report): the current one of each event
        # this chunk touched, the versions to insert and the stored ones to close.
        self._versions: dict[str, Version | None] = {}
        self._versions_new: list[Version] = []
        self._versions_closed: list[tuple[str, datetime]] = []
        self._changes: list[tuple[Any, ...]] = []
        p = recorder.placeholder
        self._of_key = f"generation = {p} AND mission = {p} AND measure = {p} AND key = {p}"

    # --- the driver connection ------------------------------------------------------------

    def _dbapi(self) -> Any:
        assert self.conn is not None, "a book writes inside its caller's transaction"
        return self.conn.connection.driver_connection

    def _fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        cursor = self._dbapi().cursor()
        try:
            return list(cursor.execute(sql, params).fetchall())
        finally:
            cursor.close()

    def _write(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        cursor = self._dbapi().cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    # --- running totals -------------------------------------------------------------------

    def add(
        self, mission: str, measure: str, key: str, on: date, amount: Decimal, at: datetime
    ) -> None:
        """Add ``amount`` from date ``on`` onwards, as recorded at ``at``."""
        if amount == 0:
            return
        k = (mission, measure, key)
        state = self._load(k)
        if not state.read or (state.floor is not None and on < state.floor):
            self._read_back(k, state, on)
        self._touched.add(k)
        rows, dates = state.rows, state.dates
        i = bisect.bisect_left(dates, on)
        if i == len(rows) or dates[i] != on:
            base = rows[i - 1].total if i > 0 else Decimal(0)
            rows.insert(i, _Row(on, base, at, stored=False))
            dates.insert(i, on)
        for j in range(i, len(rows)):
            row = rows[j]
            if row.recorded_from == at:
                row.total = _sum(row.total, amount)
                row.changed = row.stored
                continue
            # The row held until ``at``; a new version holds from then on. A stored version
            # stays as it is: the next version's recorded_from is where it ends.
            if not row.stored:
                self._insert.append(self._values(k, row))
            rows[j] = _Row(row.valid_from, _sum(row.total, amount), at, stored=False)

    def register_key(self, mission: str, measure: str, key: str) -> None:
        """List a key in ``balance_keys`` without giving it a total (e.g. a headcount's)."""
        self._load((mission, measure, key))

    def _values(self, k: Key, row: _Row) -> tuple[Any, ...]:
        r = self.recorder
        return (self.generation, *k, r.day_param(row.valid_from), str(row.total),
                r.instant_param(row.recorded_from))  # fmt: skip

    def _stored_rows(self, k: Key, since: date, before: date | None) -> list[_Row]:
        """The key's current versions before ``before``, from the one in force on ``since``."""
        r, p = self.recorder, self.recorder.placeholder
        params: tuple[Any, ...] = (self.generation, *k)
        if self.recorder.name == "postgresql":
            sql = "SELECT DISTINCT ON (valid_from) valid_from, total, recorded_from"
            order = " ORDER BY valid_from, recorded_from DESC"
        else:
            # SQLite takes a bare column from the row that max() picked (documented, SELECT).
            sql = "SELECT valid_from, total, max(recorded_from)"
            order = " GROUP BY valid_from ORDER BY valid_from"
        sql += (
            f" FROM balances WHERE {self._of_key} AND valid_from >= coalesce((SELECT "
            f"max(valid_from) FROM balances WHERE {self._of_key} AND valid_from <= {p}), {p})"
        )
        params += (self.generation, *k, r.day_param(since), r.day_param(since))
        if before is not None:
            sql += f" AND valid_from < {p}"
            params += (r.day_param(before),)
        found = self._fetch(sql + order, params)
        return [_Row(r.day(v), Decimal(t), r.instant(at), True) for v, t, at in found]

    def _load(self, k: Key) -> _Key:
        state = self._keys.get(k)
        if state is not None:
            return state
        # Catching up reads a total's rows lazily, from the date a change needs (_read_back).
        state = _Key(read=self.fresh)
        # balance_keys lists the keys a mission's totals split into; a sum over them is not one.
        if k[2] != ALL and not self._key_exists(k):
            self._key_rows_new.append(k)
        self._keys[k] = state
        return state

    def _read_back(self, k: Key, state: _Key, on: date) -> None:
        # Rows before the floor were flushed and left alone since: the database has them right.
        # A change on ``on`` needs the row in force then and every later one, nothing older.
        older = self._stored_rows(k, since=on, before=state.floor if state.read else None)
        state.rows[:0] = older
        state.dates[:0] = [row.valid_from for row in older]
        state.floor = older[0].valid_from if older else on
        state.read = True

    def _key_exists(self, k: Key) -> bool:
        if self.fresh:
            return False
        p = self.recorder.placeholder
        sql = (
            f"SELECT 1 FROM balance_keys WHERE generation = {p} AND mission = {p} "
            f"AND measure = {p} AND key = {p}"
        )
        return bool(self._fetch(sql, (self.generation, *k)))

    # --- effects ----------------------------------------------------------------------------

    def record_effects(self, event_id: str, found: list[Effect]) -> None:
        self._effects_new[event_id] = found

    def prefetch_effects(self, event_ids: set[str]) -> None:
        """Read the stored effects of events about to be corrected or retracted, in one go."""
        wanted = sorted(
            i for i in event_ids
            if i not in self._effects_new and i not in self._effects_stored
            and i not in self._effects_gone
        )  # fmt: skip
        r, p = self.recorder, self.recorder.placeholder
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            marks = ", ".join([p] * len(part))
            rows = self._fetch(
                "SELECT event_id, mission, measure, key, valid_on, amount FROM effects "
                f"WHERE generation = {p} AND event_id IN ({marks})",
                (self.generation, *part),
            )
            for event_id in part:
                self._effects_stored[event_id] = []
            for event_id, mission, measure, key, on, amount in rows:
                self._effects_stored[event_id].append(
                    (mission, measure, key, r.day(on), Decimal(amount))
                )

    def _stored_effects(self, event_id: str) -> list[Effect]:
        if event_id not in self._effects_stored:
            self.prefetch_effects({event_id})
        return self._effects_stored[event_id]

    def take_effects(self, event_id: str) -> list[Effect]:
        """The event's current effects, removed: they are about to be undone."""
        if event_id in self._effects_new:
            return self._effects_new.pop(event_id)
        if event_id in self._effects_gone:
            return []
        found = self._stored_effects(event_id)
        if found:
            self._effects_gone.append(event_id)
        return found

    def effect_date(self, event_id: str) -> date | None:
        """The date the event's effects stand on now (a correction may move it)."""
        if event_id in self._effects_new:
            found = self._effects_new[event_id]
            return found[0][3] if found else None
        if event_id in self._effects_gone:
            return None
        stored = self._stored_effects(event_id)
        return stored[0][3] if stored else None

    # --- the report's versions of events ------------------------------------------------

    def prefetch_versions(self, event_ids: set[str]) -> None:
        """Read the current report versions of events about to be amended, in one go."""
        wanted = sorted(i for i in event_ids if i not in self._versions)
        r, p = self.recorder, self.recorder.placeholder
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            for event_id in part:
                self._versions[event_id] = None
            marks = ", ".join([p] * len(part))
            rows = self._fetch(
                "SELECT mission, event_id, occurred_on, data, corrected_by, position, "
                f"recorded_from FROM report_events WHERE generation = {p} AND event_id IN "
                f"({marks}) AND recorded_to IS NULL",
                (self.generation, *part),
            )
            for mission, event_id, on, data, by, position, since in rows:
                self._versions[event_id] = Version(
                    mission, event_id, r.day(on), None if data is None else r.json(data),
                    None if by is None else r.json(by), position, r.instant(since), stored=True,
                )  # fmt: skip

    def open_version(self, version: Version) -> None:
        """A new current version of an event (an original, or what a correction made it)."""
        self._versions[version.event_id] = version
        self._versions_new.append(version)

    def current_version(self, event_id: str) -> Version | None:
        """The event's version standing now, or None when retracted (or never listed)."""
        if event_id not in self._versions:
            self.prefetch_versions({event_id})
        return self._versions[event_id]

    def close_version(self, event_id: str, at: datetime) -> None:
        version = self.current_version(event_id)
        if version is None:
            return
        if version.stored:
            self._versions_closed.append((event_id, at))
        else:
            version.recorded_to = at
        self._versions[event_id] = None

    def record_change(
        self, mission: str, at: datetime, position: int, event_id: str, target_id: str | None,
        dated: date,
    ) -> None:  # fmt: skip
        """Note an event recorded at ``at`` about ``dated``. Only one recorded after that day
        can ever be a restatement (of a report whose ``from`` is on or after ``dated`` and
        before the day it was recorded), so an event recorded on its own day is not kept."""
        lag = (at.astimezone(UTC).date() - dated).days
        if lag <= 0:
            return
        r = self.recorder
        self._changes.append((self.generation, mission, lag.bit_length(), r.instant_param(at),
                              position, event_id, target_id, r.day_param(dated)))  # fmt: skip

    def _flush_versions(self) -> None:
        g, r, p = self.generation, self.recorder, self.recorder.placeholder
        # Closing first: the versions inserted below are not in the table yet.
        self._write(
            f"UPDATE report_events SET recorded_to = {p} WHERE generation = {p} AND "
            f"event_id = {p} AND recorded_to IS NULL",
            [(r.instant_param(at), g, event_id) for event_id, at in self._versions_closed],
        )
        self._write(
            "INSERT INTO report_events (generation, mission, event_id, occurred_on, data, "
            f"corrected_by, position, recorded_from, recorded_to) VALUES ({', '.join([p] * 9)})",
            [(g, v.mission, v.event_id, r.day_param(v.occurred_on),
              None if v.data is None else r.json_param(v.data),
              None if v.corrected_by is None else r.json_param(v.corrected_by), v.position,
              r.instant_param(v.recorded_from),
              None if v.recorded_to is None else r.instant_param(v.recorded_to))
             for v in self._versions_new],
        )  # fmt: skip
        self._write(
            "INSERT INTO report_changes (generation, mission, lag, recorded_at, position, "
            f"event_id, target_id, dated) VALUES ({', '.join([p] * 8)})",
            self._changes,
        )
        self._versions, self._versions_new, self._versions_closed = {}, [], []
        self._changes = []

    # --- writing ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every change of this chunk; afterwards memory and database agree."""
        g, r, p = self.generation, self.recorder, self.recorder.placeholder
        same_row = f"{self._of_key} AND valid_from = {p} AND recorded_from = {p}"
        changed, current = [], []
        for k in self._touched:
            state = self._keys[k]
            for row in state.rows:
                if row.stored and row.changed:
                    changed.append((str(row.total), g, *k, r.day_param(row.valid_from),
                                    r.instant_param(row.recorded_from)))  # fmt: skip
                elif not row.stored:
                    current.append(self._values(k, row))
                row.stored, row.changed = True, False
            if self.fresh and len(state.rows) > self.keep_rows:
                del state.rows[: -self.keep_rows]
                del state.dates[: -self.keep_rows]
                state.floor = state.dates[0]
        self._write(f"UPDATE balances SET total = {p} WHERE {same_row}", changed)
        marks = ", ".join([p] * 7)
        self._write(
            "INSERT INTO balances (generation, mission, measure, key, valid_from, total, "
            f"recorded_from) VALUES ({marks})",
            self._insert + current,
        )
        self._write(
            "INSERT INTO balance_keys (generation, mission, measure, key) "
            f"VALUES ({p}, {p}, {p}, {p})",
            [(g, *k) for k in self._key_rows_new],
        )
        self._write(
            f"DELETE FROM effects WHERE generation = {p} AND event_id = {p}",
            [(g, event_id) for event_id in self._effects_gone],
        )
        self._write(
            "INSERT INTO effects (generation, event_id, measure, mission, key, valid_on, amount) "
            f"VALUES ({', '.join([p] * 7)})",
            [(g, event_id, measure, mission, key, r.day_param(on), str(amount))
             for event_id, found in self._effects_new.items()
             for mission, measure, key, on, amount in found],
        )  # fmt: skip
        self._flush_versions()
        self._insert, self._key_rows_new = [], []
        self._touched = set()
        self._effects_new, self._effects_stored, self._effects_gone = {}, {}, []
        if not self.fresh:
            self._keys = {}  # another process may write between chunks: read again next time
