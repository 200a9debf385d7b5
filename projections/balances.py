"""Bitemporal running totals, read at (as_of D, known_at T).

A total row says "from ``valid_from`` on, the sum is ``total``", and it holds for readers who
ask about instants in ``[recorded_from, recorded_to)``. Adding a delta on date D at instant T
(:class:`projections.book.Book`) closes every current row of that key dated D or later at T and
opens its successor with the delta added; a key's rows before D are untouched. A reading at
(D, T) is one index seek per key, so its cost depends on the number of keys a mission has, not
on the number of events.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, Connection, and_, or_, select

from projections.schema import balance_keys, balances

b = balances


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
