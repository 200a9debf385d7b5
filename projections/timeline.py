"""Strength and money over time, a point per day, week or month, for charts (§4)."""

from __future__ import annotations

from calendar import monthrange
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection

from projections import balances, headcounts
from projections.known import stamp, usd

Interval = Literal["day", "week", "month"]
MAX_POINTS = 1000
MEASURES = ("deployed", "pledged", "pledged_usd", "deposited_usd")  # all in apply.SUMMED


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


def as_of(
    conn: Connection,
    generation: int,
    mission: str,
    start: date,
    end: date,
    interval: Interval,
    known_at: datetime,
) -> dict[str, Any]:
    days = steps(start, end, interval)
    sums = {m: balances.sums_on(conn, generation, mission, m, days, known_at) for m in MEASURES}
    # The sum counts movements only; each key's latest headcount resets its part.
    reset = headcounts.mission_wide(conn, generation, mission, days, known_at)
    points = [
        {
            "date": day.isoformat(),
            "deployed": int(sums["deployed"][i]) + reset[i],
            "pledged": int(sums["pledged"][i]),
            "pledged_usd": usd(sums["pledged_usd"][i]),
            "deposited_usd": usd(sums["deposited_usd"][i]),
        }
        for i, day in enumerate(days)
    ]
    return {
        "mission": mission,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "interval": interval,
        "known_at": stamp(known_at),
        "points": points,
    }
