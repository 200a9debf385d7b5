"""Headcount returns (``StrengthReported``) and how they reset the movement totals (§3).

The running totals keep counting movements only: ``deployed`` is M, the arrivals minus the
departures up to a date, ``female`` is F, the women among the arrivals. A headcount H of a key
(``KEN/police``) with total V says how many were there at the end of H's date, so on a date D
on or after it

    deployed(D) = V + M(D) - M(H)

(movements dated on or before H no longer count from H on), and the same for ``female`` from
the latest headcount that gives a female figure. The headcount's *unreconciled* change is V
minus what the state before it gave for the end of its date: the previous headcount's reset
(P + M(H) - M(P)) or, without one, M(H).

Headcounts are kept as versioned facts in :data:`projections.schema.headcounts`, so a reading
at (D, T) is, per key, a seek backwards from D for the latest live return (the one recorded
last among those of its date: the highest stream version, which a correction keeps), then a
seek into the totals at that return's date.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from projections import balances
from projections.schema import balance_keys, headcounts

h = headcounts
TYPE = "StrengthReported"
#: The pseudo-measure under which ``balance_keys`` lists the keys with a headcount, so a
#: reading finds them with one seek (a key may have returns and no movement at all).
KEYS = "headcount"


@dataclass(frozen=True, slots=True)
class Count:
    """One live headcount return of a key."""

    day: date
    version: int
    personnel: int
    female: int | None


def key_of(data: dict[str, Any]) -> str:
    return f"{data['country']}/{data['category']}"


def reset(count: int, moved_by_day: Decimal, moved_by_count: Decimal) -> int:
    """A total on a day from the headcount before it and the movements after it (pure)."""
    return count + int(moved_by_day) - int(moved_by_count)


def unreconciled(
    count: Count, moved_by_count: Decimal, previous: Count | None, moved_by_previous: Decimal
) -> int:
    """What a headcount changes: its total minus what the state before it gave (pure)."""
    if previous is None:
        return count.personnel - int(moved_by_count)
    return count.personnel - reset(previous.personnel, moved_by_count, moved_by_previous)


def _live(known_at: datetime) -> ColumnElement[bool]:
    return and_(
        h.c.recorded_from <= known_at, or_(h.c.recorded_to.is_(None), h.c.recorded_to > known_at)
    )


def keys(conn: Connection, generation: int, mission: str) -> list[str]:
    """The keys of the mission that have (or had) a headcount."""
    k = balance_keys
    rows = conn.execute(
        select(k.c.key).where(
            k.c.generation == generation, k.c.mission == mission, k.c.measure == KEYS
        )
    )
    return [r.key for r in rows]


def _count(row: Any) -> Count:
    return Count(row.day, row.version, row.personnel, row.female)


def latest(
    conn: Connection,
    generation: int,
    mission: str,
    key: str,
    day: date,
    known_at: datetime,
    *,
    n: int = 1,
    female: bool = False,
) -> list[Count]:
    """A key's last ``n`` live returns on or before ``day`` as known at ``known_at``, newest
    first (with ``female``, only returns that give a female figure)."""
    query = (
        select(h.c.day, h.c.version, h.c.personnel, h.c.female)
        .where(h.c.generation == generation, h.c.mission == mission, h.c.key == key)
        .where(h.c.day <= day, _live(known_at))
        .order_by(h.c.day.desc(), h.c.version.desc())
        .limit(n)
    )
    if female:
        query = query.where(h.c.female.is_not(None))
    return [_count(r) for r in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class Reading:
    """What the headcounts make of one key's movement totals on a day."""

    deployed: int
    female: int
    reported_on: date | None
    unreconciled: int


def read(
    conn: Connection,
    generation: int,
    mission: str,
    day: date,
    known_at: datetime,
    moved: dict[tuple[str, str], Decimal],
) -> dict[str, Reading]:
    """Each headcount key's figures on ``day`` from the movement totals ``moved`` there.

    Per key: two seeks for the returns, then one statement seeking the totals at their dates.
    """
    found: dict[str, tuple[list[Count], Count | None]] = {}
    asked: list[tuple[str, str, date]] = []
    for key in keys(conn, generation, mission):
        last = latest(conn, generation, mission, key, day, known_at, n=2)
        gives_female = latest(conn, generation, mission, key, day, known_at, female=True)
        if not last:
            continue
        found[key] = (last, gives_female[0] if gives_female else None)
        asked.extend(("deployed", key, c.day) for c in last)
        if gives_female:
            asked.append(("female", key, gives_female[0].day))
    at = dict(zip(asked, balances.totals_on(conn, generation, mission, asked, known_at),
                  strict=True))  # fmt: skip
    readings = {}
    for key, (last, last_female) in found.items():
        count, previous = last[0], (last[1] if len(last) > 1 else None)
        by_count = at[("deployed", key, count.day)]
        female = moved.get(("female", key), Decimal(0))
        if last_female is not None:
            female_at = at[("female", key, last_female.day)]
            female = Decimal(reset(last_female.female or 0, female, female_at))
        readings[key] = Reading(
            deployed=reset(count.personnel, moved.get(("deployed", key), Decimal(0)), by_count),
            female=int(female),
            reported_on=count.day,
            unreconciled=unreconciled(
                count, by_count, previous,
                at[("deployed", key, previous.day)] if previous else Decimal(0),
            ),
        )  # fmt: skip
    return readings


def mission_wide(
    conn: Connection, generation: int, mission: str, days: list[date], known_at: datetime
) -> list[int]:
    """What the headcounts add to the mission-wide ``deployed`` sum on each of ``days``.

    Reads the mission's live returns at ``known_at`` once and the movement total at each
    return's date (a seek each): the cost grows with the number of returns, not of events.
    """
    if not days:
        return []
    query = (
        select(h.c.key, h.c.day, h.c.version, h.c.personnel, h.c.female)
        .where(h.c.generation == generation, h.c.mission == mission, h.c.day <= max(days))
        .where(_live(known_at))
        .order_by(h.c.key, h.c.day, h.c.version)
    )
    by_key: dict[str, list[Count]] = defaultdict(list)
    for r in conn.execute(query):
        by_key[r.key].append(_count(r))
    asked = [("deployed", key, c.day) for key, found in by_key.items() for c in found]
    moved = balances.totals_on(conn, generation, mission, asked, known_at)
    shift: dict[str, list[int]] = {}  # per key and return: V - M(H)
    i = 0
    for key, found in by_key.items():
        shift[key] = [c.personnel - int(moved[i + j]) for j, c in enumerate(found)]
        i += len(found)
    dates = {key: [c.day for c in found] for key, found in by_key.items()}
    added = []
    for day in days:
        total = 0
        for key in by_key:
            # The last return dated on or before the day: of its date, the highest version.
            j = bisect.bisect_right(dates[key], day)
            if j:
                total += shift[key][j - 1]
        added.append(total)
    return added
