"""Bitemporal running totals, read at (as_of D, known_at T).

A total row says "from ``valid_from`` on, the sum is ``total``", as recorded at
``recorded_from``; it holds for readers asking about instants from then until the next version
of the same key and date is recorded. Adding a delta on date D at instant T
(:class:`projections.book.Book`) records a new version of every row of that key dated D or
later; a key's rows before D are untouched, and no stored row is ever changed by a later
instant. Every date, once it has a row, has one in every later version, so the answer at
(D, T) is the first row in (valid_from, recorded_from) descending order with
``valid_from <= D`` and ``recorded_from <= T``: one seek into the primary key per key, whose
cost depends on the number of keys a mission has, not on the number of events.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, select, text

from events.schema import UTCDateTime
from projections.book import ALL
from projections.schema import balance_keys, balances

b = balances


def totals(
    conn: Connection,
    generation: int,
    mission: str,
    measures: Iterable[str],
    as_of: date,
    known_at: datetime,
) -> dict[tuple[str, str], Decimal]:
    """Each key's total on ``as_of`` as known at ``known_at`` (keys with no total yet: absent)."""
    return totals_on_days(conn, generation, mission, measures, [as_of], known_at)[0]


def totals_on_days(
    conn: Connection,
    generation: int,
    mission: str,
    measures: Iterable[str],
    days: list[date],
    known_at: datetime,
) -> list[dict[tuple[str, str], Decimal]]:
    """:func:`totals` on each of ``days`` (as known at ``known_at``), in one statement: one
    pass over the mission's keys with a seek per key and day."""
    k = balance_keys

    def latest(day: date, n: int) -> Any:
        return (
            select(b.c.total)
            .where(
                b.c.generation == k.c.generation, b.c.mission == k.c.mission,
                b.c.measure == k.c.measure, b.c.key == k.c.key, b.c.valid_from <= day,
                b.c.recorded_from <= known_at,
            )
            .order_by(b.c.valid_from.desc(), b.c.recorded_from.desc())
            .limit(1)
            .scalar_subquery()
            .label(f"t{n}")
        )  # fmt: skip

    rows = conn.execute(
        select(k.c.measure, k.c.key, *(latest(day, n) for n, day in enumerate(days))).where(
            k.c.generation == generation, k.c.mission == mission, k.c.measure.in_(list(measures))
        )
    ).all()
    found: list[dict[tuple[str, str], Decimal]] = [{} for _ in days]
    for measure, key, *values in rows:
        for n, total in enumerate(values):
            if total is not None:
                found[n][(measure, key)] = Decimal(total)
    return found


def sums_on(
    conn: Connection,
    generation: int,
    mission: str,
    measure: str,
    days: list[date],
    known_at: datetime,
) -> list[Decimal]:
    """A summed measure's mission-wide total on each of ``days`` as known at ``known_at``.

    One statement: a seek per day into the measure's sum (key ``ALL``), so a chart's cost
    depends on its number of points, not on the number of events or keys.
    """
    if not days:
        return []
    latest = (
        "SELECT total FROM balances WHERE generation = :g AND mission = :m AND measure = :me "
        "AND key = :all AND valid_from <= d.day AND recorded_from <= :t "
        "ORDER BY valid_from DESC, recorded_from DESC LIMIT 1"
    )
    if conn.dialect.name == "postgresql":
        source, asked = "unnest(CAST(:days AS date[])) WITH ORDINALITY AS d(day, n)", days
    else:
        # SQLite keeps dates as ISO text, which orders as the dates do.
        source = "(SELECT value AS day, key AS n FROM json_each(:days)) AS d"
        asked = json.dumps([d.isoformat() for d in days])  # type: ignore[assignment]
    statement = text(f"SELECT d.n, ({latest}) AS total FROM {source} ORDER BY d.n").bindparams(
        bindparam("t", type_=UTCDateTime())
    )
    rows = conn.execute(
        statement,
        {"g": generation, "m": mission, "me": measure, "all": ALL, "t": known_at, "days": asked},
    ).all()
    return [Decimal(total) if total is not None else Decimal(0) for _, total in rows]


def totals_on(
    conn: Connection,
    generation: int,
    mission: str,
    asked: list[tuple[str, str, date]],
    known_at: datetime,
) -> list[Decimal]:
    """The total of each (measure, key, day) asked as known at ``known_at`` (0 if none).

    One statement, a seek per item, like :func:`sums_on`.
    """
    if not asked:
        return []
    latest = (
        "SELECT total FROM balances WHERE generation = :g AND mission = :m AND measure = d.me "
        "AND key = d.k AND valid_from <= d.day AND recorded_from <= :t "
        "ORDER BY valid_from DESC, recorded_from DESC LIMIT 1"
    )
    params: dict[str, Any] = {"g": generation, "m": mission, "t": known_at}
    if conn.dialect.name == "postgresql":
        source = (
            "unnest(CAST(:measures AS text[]), CAST(:keys AS text[]), CAST(:days AS date[])) "
            "WITH ORDINALITY AS d(me, k, day, n)"
        )
        params |= {"measures": [a[0] for a in asked], "keys": [a[1] for a in asked],
                   "days": [a[2] for a in asked]}  # fmt: skip
    else:
        source = (
            "(SELECT json_extract(value, '$[0]') AS me, json_extract(value, '$[1]') AS k, "
            "json_extract(value, '$[2]') AS day, key AS n FROM json_each(:asked)) AS d"
        )
        params["asked"] = json.dumps([[me, k, day.isoformat()] for me, k, day in asked])
    statement = text(f"SELECT d.n, ({latest}) AS total FROM {source} ORDER BY d.n").bindparams(
        bindparam("t", type_=UTCDateTime())
    )
    rows = conn.execute(statement, params).all()
    return [Decimal(total) if total is not None else Decimal(0) for _, total in rows]
