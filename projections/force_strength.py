"""Force strength: deployed and pledged personnel by country, category and gender (§4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from projections import balances, mandate
from projections.known import stamp

CATEGORIES = ("police", "military", "civilian")
MEASURES = ("deployed", "pledged", "female")


def fold(totals: dict[tuple[str, str], Any]) -> list[dict[str, Any]]:
    """Per-country rows from per-(measure, country/category) totals (pure)."""
    countries: dict[str, dict[str, Any]] = {}
    female: dict[tuple[str, str], int] = {}
    for (measure, key), total in totals.items():
        country, category = key.split("/")
        row = countries.setdefault(
            country,
            {"country": country, "deployed": 0, "pledged": 0, "female": 0,
             "by_category": dict.fromkeys(CATEGORIES, 0)},
        )  # fmt: skip
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
    listed = [r for r in countries.values() if r["deployed"] > 0 or r["pledged"] > 0]
    return sorted(listed, key=lambda r: (-r["deployed"], -r["pledged"], r["country"]))


def as_of(
    conn: Connection, generation: int, mission: str, day: date, known_at: datetime
) -> dict[str, Any]:
    totals = balances.totals(conn, generation, mission, MEASURES, day, known_at)
    rows = fold(totals)
    in_force = mandate.as_of(conn, generation, mission, day, known_at)
    return {
        "mission": mission,
        "as_of": day.isoformat(),
        "known_at": stamp(known_at),
        "deployed": sum(r["deployed"] for r in rows),
        "pledged": sum(r["pledged"] for r in rows),
        "personnel_ceiling": in_force["personnel_ceiling"],
        "by_country": rows,
    }
