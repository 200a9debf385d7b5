"""The bundled MSS Haiti timeline loads as POSTs would, and answers with the seeds' figures.

Figures (seed files in /work/shared/seeds/): the personnel table "as of 3 January 2025" of
002_c3594066cf8d9073.txt (Kenya 400, Guatemala 150, Jamaica 24, El Salvador 8, Bahamas 6,
Belize 2, total 590); its "During March 2024 ... only $10.8 million was deposited"; and the first
Kenyan contingent, 400 in that seed and 200 in the UN page 003_68b6a116b75e17c5.txt.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from events import catalogue
from events.store import EventStore
from projections import force_strength, funding, mandate
from projections.runner import Projector
from sitrep.database import open_store
from sitrep.demo import MISSION, TIMELINE, TimelineError, at_noon, load_timeline, read_timeline
from tests.conftest import make_settings

ENVELOPE = {"mission", "type", "occurred_on", "data", "source", "notes"}
SEEDS = (
    "000_f9c046ecd52a9c8d.txt",
    "001_ebc181336d5867aa.txt",
    "002_c3594066cf8d9073.txt",
    "003_68b6a116b75e17c5.txt",
    "004_f29083cbe547ff6b.txt",
)
TABLE = {"KEN": 400, "GTM": 150, "JAM": 24, "SLV": 8, "BHS": 6, "BLZ": 2}


@pytest.fixture
def demo_store(database_url: str) -> Iterator[EventStore]:
    store = open_store(make_settings(database_url))
    yield store
    store.recorder.close()
    store.engine.dispose()


def strength(store: EventStore, day: date, known_at: datetime | None = None) -> dict[str, Any]:
    at = known_at or datetime.now(UTC)
    answer: dict[str, Any] = Projector(store).query(
        lambda conn, g: force_strength.as_of(conn, g, MISSION, day, at)
    )
    return answer


def deployed(answer: dict[str, Any]) -> dict[str, int]:
    return {c["country"]: c["deployed"] for c in answer["by_country"] if c["deployed"]}


def test_every_line_is_a_post_body_citing_a_seed() -> None:
    refs: set[str] = set()
    for number, text in enumerate(TIMELINE.read_text(encoding="utf-8").splitlines(), start=1):
        line = json.loads(text)
        assert isinstance(line, dict), number
        assert set(line) <= ENVELOPE | {"ref"}, number
        assert {"mission", "type", "occurred_on", "data", "source"} <= set(line), number
        assert line["mission"] == MISSION
        assert any(seed in line["source"]["title"] for seed in SEEDS), number
        assert "url" not in line["source"]  # the seeds carry no URLs; none is made up
        event_id = line["data"].get("event_id")
        if event_id is not None:  # names an earlier line's event
            assert set(event_id) == {"ref"} and event_id["ref"] in refs, number
            line["data"]["event_id"] = "0190a0b0-0000-7000-8000-000000000000"
        if "ref" in line:
            refs.add(line.pop("ref"))
        catalogue.parse_event(line)  # the shape the API accepts, without any state


def test_loads_without_a_refused_event(demo_store: EventStore) -> None:
    lines = read_timeline()
    events = load_timeline(demo_store)
    assert len(events) == len(lines) == 22
    assert [e.type for e in events] == [line.body["type"] for line in lines]
    assert events[0].type == "MissionRegistered"
    assert all(e.recorded_by == "demo" for e in events)
    assert all(e.source and e.source["title"] for e in events)
    # One instant per event, in file order, at noon of the day it was reported or later.
    instants = [e.recorded_at for e in events]
    assert instants == sorted(set(instants))
    assert all(e.recorded_at >= at_noon(e.occurred_on) for e in events)
    assert instants[0] == datetime(2023, 10, 2, 12, tzinfo=UTC)
    assert demo_store.verify().ok  # the hash chain holds over the chosen instants
    # The store's own clock is back once loaded.
    assert abs(demo_store.clock() - datetime.now(UTC)) < timedelta(minutes=1)


def test_force_strength_by_5_january_2025_is_the_personnel_table(demo_store: EventStore) -> None:
    load_timeline(demo_store)
    answer = strength(demo_store, date(2025, 1, 5))
    assert answer["deployed"] == 590
    assert deployed(answer) == TABLE
    assert [c["country"] for c in answer["by_country"]][:2] == ["KEN", "GTM"]  # most first
    rows = {c["country"]: c for c in answer["by_country"]}
    assert rows["JAM"]["by_category"] == {"police": 4, "military": 20, "civilian": 0}
    assert rows["KEN"]["pledged"] == 1000
    assert answer["personnel_ceiling"] is None  # no seed gives one
    # "As of 3 January 2025, only just over 500": the second 75 Guatemalans landed on 4 January.
    assert strength(demo_store, date(2025, 1, 3))["deployed"] == 515


def test_trust_fund_deposits_by_march_2024(demo_store: EventStore) -> None:
    load_timeline(demo_store)

    def answer(day: date) -> dict[str, Any]:
        now = datetime.now(UTC)
        found: dict[str, Any] = Projector(demo_store).query(
            lambda conn, g: funding.as_of(conn, g, MISSION, day, now)
        )
        return found

    march = answer(date(2024, 3, 31))  # "During March 2024": dated to the month's last day
    assert march["deposited"] == "10800000.00"
    assert march["pledged"] == "78000000.00"
    assert march["by_channel"]["trust_fund"]["deposited"] == "10800000.00"
    assert answer(date(2024, 2, 29))["deposited"] == "0.00"
    # "As of October 2024, operation has received only $85 million ... budget ... $600 million."
    later = answer(date(2025, 1, 5))
    assert later["deposited"] == "85000000.00"
    assert later["requirement"] == "600000000.00"


def test_the_correction_keeps_what_was_first_known(demo_store: EventStore) -> None:
    events = load_timeline(demo_store)
    first = next(e for e in events if e.type == "ContingentArrived")
    correction = events[-1]
    assert correction.type == "EventCorrected"
    assert correction.data["event_id"] == first.id
    assert correction.source and "003_68b6a116b75e17c5.txt" in correction.source["title"]
    before = correction.recorded_at - timedelta(microseconds=1)

    # Known before the correction: the first report's 400 (and 400 + 200 by January).
    assert deployed(strength(demo_store, date(2024, 6, 25), before)) == {"KEN": 400}
    assert deployed(strength(demo_store, date(2025, 1, 5), before))["KEN"] == 600
    # Known once it was recorded, and now: 200, so the table's 400 by January.
    for known_at in (correction.recorded_at, None):
        assert deployed(strength(demo_store, date(2024, 6, 25), known_at)) == {"KEN": 200}
        assert strength(demo_store, date(2025, 1, 5), known_at)["deployed"] == 590
    # The first report is still stored as it was made.
    assert demo_store.get(first.id).data["personnel"] == 400


def test_mandate_is_resolution_2699_for_twelve_months(demo_store: EventStore) -> None:
    load_timeline(demo_store)
    now = datetime.now(UTC)
    answer = Projector(demo_store).query(
        lambda conn, g: mandate.as_of(conn, g, MISSION, date(2024, 6, 25), now)
    )
    assert answer["resolution"] == "S/RES/2699 (2023)"
    assert answer["authorized_on"] == "2023-10-02"
    assert answer["expires_on"] == "2024-10-02"
    assert [r["review_id"] for r in answer["reviews"]] == ["kenya-court-case"]


def test_a_bad_line_is_named(demo_store: EventStore, tmp_path: Path) -> None:
    lines = TIMELINE.read_text(encoding="utf-8").splitlines()
    broken = json.loads(lines[2])
    broken["data"]["personnel"] = 0
    path = tmp_path / "timeline.jsonl"
    path.write_text("\n".join([*lines[:2], json.dumps(broken)]) + "\n", encoding="utf-8")
    with pytest.raises(TimelineError, match=r"timeline\.jsonl line 3: data\.personnel"):
        load_timeline(demo_store, path)
    path.write_text(lines[-1] + "\n", encoding="utf-8")  # a ref to no earlier line
    with pytest.raises(TimelineError, match=r"line 1: data\.event_id"):
        load_timeline(demo_store, path)
