"""Strength and money over time, a point per day, week or month, for charts (§4)."""

from __future__ import annotations

import bisect
from calendar import monthrange
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Connection

from projections import balances
from projections.known import stamp, usd

Interval = Literal["day", "week", "month"]
MAX_POINTS = 1000
MEASURES = ("deployed", "pledged", "pledged_usd", "deposited_usd")


def steps(start: date, end: date, interval: Interval) -> list[date]:
    """The dates of the points from ``start`` to ``end`` inclusive."""
    found, day, n = [], start, 0
    while day <= end and n <= MAX_POINTS:
        found.append(day)
        n += 1
        try:
            if interval == "day":
                day = start + timedelta(days=n)
            elif interval == "week":
                day = start + timedelta(weeks=n)
            else:
                months = start.month - 1 + n
                year, month = start.year + months // 12, months % 12 + 1
                day = date(year, month, min(start.day, monthrange(year, month)[1]))
        except (OverflowError, ValueError):  # past date.max: the calendar ends
            break
    return found


def value_on(points: list[tuple[date, Decimal]], day: date) -> Decimal:
    """A step function's value on ``day`` (0 before its first step)."""
    index = bisect.bisect_right([p[0] for p in points], day)
    return points[index - 1][1] if index else Decimal(0)


def as_of(
    conn: Connection,
    generation: int,
    mission: str,
    start: date,
    end: date,
    interval: Interval,
    known_at: datetime,
) -> dict[str, Any]:
    series = balances.series(conn, generation, mission, MEASURES, end, known_at)
    points = []
    for day in steps(start, end, interval):
        sums = dict.fromkeys(MEASURES, Decimal(0))
        for (measure, _), steps_of_key in series.items():
            sums[measure] += value_on(steps_of_key, day)
        points.append({
            "date": day.isoformat(),
            "deployed": int(sums["deployed"]),
            "pledged": int(sums["pledged"]),
            "pledged_usd": usd(sums["pledged_usd"]),
            "deposited_usd": usd(sums["deposited_usd"]),
        })  # fmt: skip
    return {
        "mission": mission,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "interval": interval,
        "known_at": stamp(known_at),
        "points": points,
    }
