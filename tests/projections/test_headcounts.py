"""Headcount returns in the read models (CONTRACT §3), on SQLite and PostgreSQL: worked cases.

The oracle (test_oracle.py) checks random histories; these name the cases a mission office
meets, with the figures written out.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from events.store import EventStore
from projections import force_strength, timeline
from projections.runner import Projector
from tests.conftest import (
    Clock,
    append,
    arrived,
    body,
    corrected,
    departed,
    registered,
    retracted,
)


@pytest.fixture
def haiti(store: EventStore) -> EventStore:
    append(store, registered())
    return store


def count(n: int, on: str, female: int | None = None, **where: str) -> dict[str, Any]:
    data: dict[str, Any] = {"country": "KEN", "category": "police", "personnel": n, **where}
    if female is not None:
        data["female"] = female
    return body("StrengthReported", on, data)


def kenya(projector: Projector, on: str, at: datetime) -> dict[str, Any]:
    found = projector.query(
        lambda conn, g: force_strength.as_of(conn, g, "mss-haiti", date.fromisoformat(on), at)
    )
    rows = {r["country"]: r for r in found["by_country"]}
    return rows.get("KEN", {})


def figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["deployed"], row["female"], row["reported_on"], row["unreconciled"]


def chart(projector: Projector, start: str, end: str, at: datetime) -> list[int]:
    found = projector.query(
        lambda conn, g: timeline.as_of(
            conn, g, "mss-haiti", date.fromisoformat(start), date.fromisoformat(end), "day", at
        )
    )
    return [p["deployed"] for p in found["points"]]


def test_the_kenyan_police_from_movements_to_returns(haiti: EventStore, clock: Clock) -> None:
    append(haiti, arrived(400, on="2024-06-25", female=30))
    before_count = clock.now
    clock.advance(days=1)
    append(haiti, count(600, "2025-02-05"))
    append(haiti, arrived(144, on="2025-02-06", female=24))
    projector, now = Projector(haiti), clock.now
    assert figures(kenya(projector, "2025-02-04", now)) == (400, 30, None, 0)
    assert figures(kenya(projector, "2025-02-05", now)) == (600, 30, "2025-02-05", 200)
    # A return without a female figure: the women keep following the arrivals.
    assert figures(kenya(projector, "2025-02-06", now)) == (744, 54, "2025-02-05", 200)
    assert figures(kenya(projector, "2025-02-06", before_count)) == (400, 30, None, 0)
    assert chart(projector, "2025-02-04", "2025-02-07", now) == [400, 600, 744, 744]
    assert chart(projector, "2025-02-04", "2025-02-07", before_count) == [400, 400, 400, 400]


def test_a_late_movement_before_a_return_changes_only_what_came_before(
    haiti: EventStore, clock: Clock
) -> None:
    append(haiti, arrived(400, on="2024-06-25"))
    append(haiti, count(600, "2025-02-05"))
    clock.advance(days=1)
    known_then = clock.now
    clock.advance(days=1)
    append(haiti, arrived(150, on="2024-12-01"))  # reported late, dated before the return
    append(haiti, departed(20, on="2025-02-05"))  # the return's own date: counted by it
    projector, now = Projector(haiti), clock.now
    assert kenya(projector, "2025-01-01", now)["deployed"] == 550
    assert figures(kenya(projector, "2025-02-10", now)) == (600, 0, "2025-02-05", 70)
    assert figures(kenya(projector, "2025-02-10", known_then)) == (600, 0, "2025-02-05", 200)


def test_returns_of_one_date_the_last_recorded_counts(haiti: EventStore, clock: Clock) -> None:
    append(haiti, arrived(400, on="2024-06-25", female=30))
    first = append(haiti, count(600, "2025-02-05", female=50))[0]
    append(haiti, count(610, "2025-02-05"))
    projector = Projector(haiti)
    # The second return's change is against the first; the women come from the first.
    assert figures(kenya(projector, "2025-02-05", clock.now)) == (610, 50, "2025-02-05", 10)
    # Correcting the first keeps its place: it does not become the last recorded.
    fixed = {"country": "KEN", "category": "police", "personnel": 590, "female": 40}
    append(haiti, corrected(first.id, fixed))
    assert figures(kenya(projector, "2025-02-05", clock.now)) == (610, 40, "2025-02-05", 20)


def test_a_corrected_or_retracted_return(haiti: EventStore, clock: Clock) -> None:
    append(haiti, arrived(400, on="2024-06-25"))
    hc = append(haiti, count(600, "2025-02-05", female=60))[0]
    append(haiti, arrived(10, on="2025-03-01", female=2))
    projector = Projector(haiti)
    assert figures(kenya(projector, "2025-03-01", clock.now)) == (610, 62, "2025-02-05", 200)
    before_fix = clock.now
    moved = {"country": "KEN", "category": "police", "personnel": 580}
    append(haiti, corrected(hc.id, moved, occurred_on="2025-01-31"))
    assert figures(kenya(projector, "2025-02-01", clock.now)) == (580, 0, "2025-01-31", 180)
    assert figures(kenya(projector, "2025-03-01", clock.now)) == (590, 2, "2025-01-31", 180)
    assert figures(kenya(projector, "2025-03-01", before_fix)) == (610, 62, "2025-02-05", 200)
    # A second correction that gives no date keeps the date the first one moved it to.
    append(haiti, corrected(hc.id, {**moved, "personnel": 585}))
    assert figures(kenya(projector, "2025-02-01", clock.now)) == (585, 0, "2025-01-31", 185)
    append(haiti, retracted(hc.id))
    assert figures(kenya(projector, "2025-03-01", clock.now)) == (410, 2, None, 0)
    # A rebuild gives the same answers, then and now.
    Projector(haiti).rebuild()
    assert figures(kenya(projector, "2025-03-01", before_fix)) == (610, 62, "2025-02-05", 200)
    assert figures(kenya(projector, "2025-03-01", clock.now)) == (410, 2, None, 0)


def test_a_country_known_only_by_its_returns(haiti: EventStore, clock: Clock) -> None:
    append(haiti, count(120, "2025-01-10", category="military"))
    append(haiti, count(0, "2025-03-10", female=0))
    projector = Projector(haiti)
    row = kenya(projector, "2025-02-01", clock.now)
    assert (row["deployed"], row["by_category"]["military"]) == (120, 120)
    assert (row["reported_on"], row["unreconciled"]) == ("2025-01-10", 120)
    # A return of zero is listed, dated, with what it took away from the movements (none).
    row = kenya(projector, "2025-03-10", clock.now)
    assert figures(row) == (120, 0, "2025-03-10", 120)
    assert chart(projector, "2025-01-09", "2025-01-10", clock.now) == [0, 120]
