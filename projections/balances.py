"""Bitemporal running totals: add a delta on a date as of an instant; read totals at (D, T).

A total row says "from ``valid_from`` on, the sum is ``total``", and it holds for readers who
ask about instants in ``[recorded_from, recorded_to)``. Adding a delta on date D at instant T
closes every current row of that key dated D or later at T and opens its successor with the
delta added; a key's rows before D are untouched. A reading at (D, T) is one index seek per key,
so its cost depends on the number of keys a mission has, not on the number of events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from projections.schema import balance_keys, balances

b = balances


def add(
    conn: Connection,
    generation: int,
    mission: str,
    measure: str,
    key: str,
    on: date,
    amount: Decimal,
    at: datetime,
) -> None:
    """Add ``amount`` to ``measure``/``key`` from date ``on`` onwards, as recorded at ``at``."""
    if amount == 0:
        return
    same_key = and_(
        b.c.generation == generation, b.c.mission == mission, b.c.measure == measure,
        b.c.key == key, b.c.recorded_to.is_(None),
    )  # fmt: skip
    later = conn.execute(
        select(b.c.valid_from, b.c.total, b.c.recorded_from)
        .where(same_key, b.c.valid_from >= on)
        .order_by(b.c.valid_from)
    ).all()
    if not later or later[0].valid_from != on:
        before = conn.execute(
            select(b.c.total)
            .where(same_key, b.c.valid_from < on)
            .order_by(b.c.valid_from.desc())
            .limit(1)
        ).scalar()
        if before is None:
            _ensure_key(conn, generation, mission, measure, key)
        base = Decimal(before) if before is not None else Decimal(0)
        conn.execute(
            b.insert(),
            {"generation": generation, "mission": mission, "measure": measure, "key": key,
             "valid_from": on, "total": str(base + amount), "recorded_from": at,
             "recorded_to": None},
        )  # fmt: skip
    for row in later:
        total = str(Decimal(row.total) + amount)
        this_row = and_(same_key, b.c.valid_from == row.valid_from)
        if row.recorded_from == at:
            # Opened by this same instant (an earlier event of one batch): amend it in place.
            conn.execute(b.update().where(this_row).values(total=total))
            continue
        conn.execute(b.update().where(this_row).values(recorded_to=at))
        conn.execute(
            b.insert(),
            {"generation": generation, "mission": mission, "measure": measure, "key": key,
             "valid_from": row.valid_from, "total": total, "recorded_from": at,
             "recorded_to": None},
        )  # fmt: skip


def _ensure_key(conn: Connection, generation: int, mission: str, measure: str, key: str) -> None:
    k = balance_keys
    exists = conn.execute(
        select(k.c.key).where(
            k.c.generation == generation, k.c.mission == mission, k.c.measure == measure,
            k.c.key == key,
        )
    ).first()  # fmt: skip
    if exists is None:
        conn.execute(
            k.insert(),
            {"generation": generation, "mission": mission, "measure": measure, "key": key},
        )


def _known_at(at: datetime) -> ColumnElement[bool]:
    return and_(b.c.recorded_from <= at, or_(b.c.recorded_to.is_(None), b.c.recorded_to > at))


def totals(
    conn: Connection,
    generation: int,
    mission: str,
    measures: Iterable[str],
    as_of: date,
    known_at: datetime,
) -> dict[tuple[str, str], Decimal]:
    """Each key's total on ``as_of`` as known at ``known_at`` (keys with no total yet: absent)."""
    k = balance_keys
    latest = (
        select(b.c.total)
        .where(
            b.c.generation == k.c.generation, b.c.mission == k.c.mission,
            b.c.measure == k.c.measure, b.c.key == k.c.key, b.c.valid_from <= as_of,
            _known_at(known_at),
        )
        .order_by(b.c.valid_from.desc())
        .limit(1)
        .scalar_subquery()
    )  # fmt: skip
    rows = conn.execute(
        select(k.c.measure, k.c.key, latest.label("total")).where(
            k.c.generation == generation, k.c.mission == mission, k.c.measure.in_(list(measures))
        )
    )
    return {(r.measure, r.key): Decimal(r.total) for r in rows if r.total is not None}


def series(
    conn: Connection,
    generation: int,
    mission: str,
    measures: Iterable[str],
    until: date,
    known_at: datetime,
) -> dict[tuple[str, str], list[tuple[date, Decimal]]]:
    """Each key's steps (date, total) up to ``until`` as known at ``known_at``, in date order."""
    rows = conn.execute(
        select(b.c.measure, b.c.key, b.c.valid_from, b.c.total)
        .where(
            b.c.generation == generation, b.c.mission == mission,
            b.c.measure.in_(list(measures)), b.c.valid_from <= until, _known_at(known_at),
        )
        .order_by(b.c.measure, b.c.key, b.c.valid_from)
    )  # fmt: skip
    found: dict[tuple[str, str], list[tuple[date, Decimal]]] = defaultdict(list)
    for r in rows:
        found[(r.measure, r.key)].append((r.valid_from, Decimal(r.total)))
    return dict(found)
