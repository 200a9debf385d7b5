"""Force strength: deployed and pledged personnel by country, category and gender (§4).

The movement totals are reset by the headcount returns (projections.headcounts); each country
also says the date of its latest return on or before the day and what those returns changed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from projections import balances, headcounts, mandate
from projections.known import stamp

CATEGORIES = ("police", "military", "civilian")
MEASURES = ("deployed", "pledged", "female")


def fold(
    totals: dict[tuple[str, str], Any],
    reported: dict[str, tuple[date, int]] | None = None,
) -> list[dict[str, Any]]:
    """Per-country rows from per-(measure, country/category) totals and, per key with a
    headcount, its latest return's date and unreconciled change (pure)."""
    countries: dict[str, dict[str, Any]] = {}
    female: dict[tuple[str, str], int] = {}

    def row_of(country: str) -> dict[str, Any]:
        return countries.setdefault(
            country,
            {"country": country, "deployed": 0, "pledged": 0, "female": 0,
             "by_category": dict.fromkeys(CATEGORIES, 0), "reported_on": None,
             "unreconciled": 0},
        )  # fmt: skip

    for key, (day, change) in (reported or {}).items():
        row = row_of(key.split("/")[0])
        if row["reported_on"] is None or day > row["reported_on"]:
            row["reported_on"] = day
        row["unreconciled"] += change
    for (measure, key), total in totals.items():
        country, category = key.split("/")
        row = row_of(country)
        if measure == "deployed":
            row["deployed"] += int(total)
            row["by_category"][category] += int(total)
        elif measure == "pledged":
            row["pledged"] += int(total)
        else:
            female[(country, category)] = int(total)
    for (country, category), count in female.items():
        # Departures do not say how many were women: never report more women than are there.
        countries[country]["female"] += min(count, countries[country]["by_category"][category])
    # A country with a headcount is listed even at zero: a return of 0 is news to a dashboard.
    listed = [
        {**r, "reported_on": r["reported_on"].isoformat() if r["reported_on"] else None}
        for r in countries.values()
        if r["deployed"] > 0 or r["pledged"] > 0 or r["reported_on"] is not None
    ]
    return sorted(listed, key=lambda r: (-r["deployed"], -r["pledged"], r["country"]))


def reset_totals(
    conn: Connection, generation: int, mission: str, day: date, known_at: datetime,
    moved: dict[tuple[str, str], Any] | None = None,
) -> tuple[dict[tuple[str, str], Any], dict[str, tuple[date, int]]]:  # fmt: skip
    """The totals of :data:`MEASURES` on ``day`` with the headcounts applied, and per key with
    a headcount on or before ``day`` its latest return's date and unreconciled change.
    ``moved``: the movement totals on ``day`` if read already (other measures are ignored)."""
    if moved is None:
        moved = balances.totals(conn, generation, mission, MEASURES, day, known_at)
    totals: dict[tuple[str, str], Any] = {k: v for k, v in moved.items() if k[0] in MEASURES}
    reported = {}
    for key, found in headcounts.read(conn, generation, mission, day, known_at, totals).items():
        totals[("deployed", key)] = found.deployed
        totals[("female", key)] = found.female
        assert found.reported_on is not None
        reported[key] = (found.reported_on, found.unreconciled)
    return totals, reported


def as_of(
    conn: Connection, generation: int, mission: str, day: date, known_at: datetime
) -> dict[str, Any]:
    return answer(conn, generation, mission, day, known_at, None,
                  mandate.facts(conn, generation, mission, known_at))  # fmt: skip


def answer(
    conn: Connection, generation: int, mission: str, day: date, known_at: datetime,
    moved: dict[tuple[str, str], Any] | None, facts: list[mandate.Fact],
) -> dict[str, Any]:  # fmt: skip
    """Force strength on ``day`` as known at ``known_at``, from the movement totals there (None:
    read them) and the mission facts known then: what a caller asking several read models at
    one (date, instant) reads once."""
    rows = fold(*reset_totals(conn, generation, mission, day, known_at, moved))
    in_force = mandate.fold(mission, facts, day)
    return {
        "mission": mission,
        "as_of": day.isoformat(),
        "known_at": stamp(known_at),
        "deployed": sum(r["deployed"] for r in rows),
        "pledged": sum(r["pledged"] for r in rows),
        "personnel_ceiling": in_force["personnel_ceiling"],
        "by_country": rows,
    }
