"""The bundled MSS Haiti timeline loads as POSTs would, and answers with the sources' figures.

Figures (seed files in /work/shared/seeds/): the personnel table "as of 3 January 2025" of
002_c3594066cf8d9073.txt (Kenya 400, Guatemala 150, Jamaica 24, El Salvador 8, Bahamas 6,
Belize 2, total 590); its "During March 2024 ... only $10.8 million was deposited"; and the first
Kenyan contingent, 400 in that seed and 200 in the UN page 003_68b6a116b75e17c5.txt. After the
seeds, /work/shared/seeds/PUBLIC-RECORD.md: resolution 2751's renewal to 2 October 2025, the
end of the MSS on that day, resolution 2793's Gang Suppression Force (ceiling 5,550, to 30
September 2026), Kenya's fourth contingent (144, 24 of them women, against a report of 168),
the pledges of 9 December 2025, and the totals the sources give as headcount returns
(StrengthReported, CONTRACT §3): Kenya's police 600 before the fourth contingent and 744 after
it, and about 700 Kenyan police with the GSF in December 2025.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from events import catalogue
from events.envelope import RecordedEvent
from events.store import EventStore
from events.verify import verify
from projections import force_strength, funding, mandate, missions, timeline
from projections.runner import Projector
from sitrep.database import open_store
from sitrep.demo import (
    MISSION,
    SUCCESSOR,
    TIMELINE,
    TimelineError,
    at_noon,
    load_timeline,
    read_timeline,
)
from tests.api.conftest import Api, open_api
from tests.api.test_exports_api import read_csv
from tests.conftest import Clock, make_settings

ENVELOPE = {"mission", "type", "occurred_on", "data", "source", "notes"}
RECORD = Path(__file__).resolve().parents[3] / "shared" / "seeds" / "PUBLIC-RECORD.md"
#: The sources PUBLIC-RECORD.md gives for the facts after the seeds, title -> URL, each exactly
#: as the record writes it ("title" — URL).
RECORD_SOURCES = {
    '"Unanimously Adopting Resolution 2751 (2024), Security Council Extends Authorization for '
    'Kenya-Led Security Support Mission in Haiti for One Year", UN press release SC/15838':
        "https://press.un.org/en/2024/sc15838.doc.htm",
    "\"Security Council Authorizes Transition of Multinational Security Support Mission in Haiti "
    "to 'Gang Suppression Force'\", UN press release SC/16185":
        "https://press.un.org/en/2025/sc16185.doc.htm",
    'CARICOM, "UN Security Council authorizes the transition from MSS mission in Haiti into Gang '
    'Suppression Force"':
        "https://caricom.org/un-security-council-authorizes-the-transition-from-mss-mission-in-"
        "haiti-into-gang-suppression-force",
    'Kenyans.co.ke, "Kenya Sends 144 More Police Officers to Haiti"':
        "https://www.kenyans.co.ke/news/108735-kenya-sends-144-more-police-officers-haiti",
    '254.ke, "Kenya deploys 168 more officers to Haiti amid U.S. funding freeze"':
        "https://254.ke/kenya-deploys-168-more-officers-to-haiti-amid-u-s-funding-freeze",
    'Miami Herald, "Haiti secures major troop offers for new anti-gang fighting force"':
        "https://ard.binge-education.com/currentnews/newsheadlines/s-3948067",
    "Caribscope, preliminary details of the 9 December meeting":
        "https://wp.caribscopeonline.com/?p=157323",
    'Latin Times, "New Countries Offer Troops, Engineers To Help Quash Haitian Gangs"':
        "https://www.latintimes.com/new-countries-offer-troops-engineers-help-quash-haitian-gangs-"
        "592449",
}  # fmt: skip
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
    store.close()


def strength(store: EventStore, day: date, known_at: datetime | None = None) -> dict[str, Any]:
    at = known_at or datetime.now(UTC)
    answer: dict[str, Any] = Projector(store).query(
        lambda conn, g: force_strength.as_of(conn, g, MISSION, day, at)
    )
    return answer


def deployed(answer: dict[str, Any]) -> dict[str, int]:
    return {c["country"]: c["deployed"] for c in answer["by_country"] if c["deployed"]}


def test_every_line_is_a_post_body_citing_a_seed_or_the_public_record() -> None:
    refs: set[str] = set()
    cited: set[str] = set()
    for number, text in enumerate(TIMELINE.read_text(encoding="utf-8").splitlines(), start=1):
        line = json.loads(text)
        assert isinstance(line, dict), number
        assert set(line) <= ENVELOPE | {"ref", "reported_on"}, number
        assert {"mission", "type", "occurred_on", "data", "source", "notes"} <= set(line), number
        assert line["mission"] in (MISSION, SUCCESSOR)
        source = line["source"]
        if any(seed in source["title"] for seed in SEEDS):
            assert "url" not in source  # the seeds carry no URLs; none is made up
        else:  # a fact after the seeds: the record's own title and URL, nothing else
            assert source == {"title": source["title"], "url": RECORD_SOURCES[source["title"]]}
            cited.add(source["title"])
        event_id = line["data"].get("event_id")
        if event_id is not None:  # names an earlier line's event
            assert set(event_id) == {"ref"} and event_id["ref"] in refs, number
            line["data"]["event_id"] = "0190a0b0-0000-7000-8000-000000000000"
        if "ref" in line:
            refs.add(line.pop("ref"))
        if "reported_on" in line:  # known later than it happened, never earlier
            assert line.pop("reported_on") > line["occurred_on"], number
        catalogue.parse_event(line)  # the shape the API accepts, without any state
    assert cited == set(RECORD_SOURCES)


@pytest.mark.skipif(not RECORD.is_file(), reason=f"{RECORD} is not here (outside the workspace)")
def test_record_sources_are_the_records_own_words() -> None:
    record = RECORD.read_text(encoding="utf-8")
    for title, url in RECORD_SOURCES.items():
        assert f"{title} — {url}" in record, title


def test_loads_without_a_refused_event(demo_store: EventStore) -> None:
    lines = read_timeline()
    events = load_timeline(demo_store)
    assert len(events) == len(lines) == 36
    assert [e.type for e in events] == [line.body["type"] for line in lines]
    assert events[0].type == "MissionRegistered"
    assert all(e.recorded_by == "demo" for e in events)
    assert all(e.source and e.source["title"] for e in events)
    assert {e.mission for e in events} == {MISSION, SUCCESSOR}
    # One instant per event, in file order, at noon of the day it was reported or later.
    instants = [e.recorded_at for e in events]
    assert instants == sorted(set(instants))
    assert all(e.recorded_at >= at_noon(e.occurred_on) for e in events)
    for line, event in zip(lines, events, strict=True):
        assert event.recorded_at >= at_noon(line.reported_on or event.occurred_on)
    assert instants[0] == datetime(2023, 10, 2, 12, tzinfo=UTC)
    assert verify(demo_store).ok  # the hash chain holds over the chosen instants
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
    # Movements only: the first headcount return is dated 5 February 2025.
    assert all((c["reported_on"], c["unreconciled"]) == (None, 0) for c in rows.values())
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
    (correction,) = corrections_of(events, first)
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
    correction = next(line for line in lines if '"event_id": {"ref"' in line)
    path.write_text(correction + "\n", encoding="utf-8")  # a ref to no earlier line
    with pytest.raises(TimelineError, match=r"line 1: data\.event_id"):
        load_timeline(demo_store, path)
    for reported_on in ("2023-10-01", "October 2023"):  # before it happened; not a date
        early = json.loads(lines[0]) | {"reported_on": reported_on}
        path.write_text(json.dumps(early) + "\n", encoding="utf-8")
        with pytest.raises(TimelineError, match=r"line 1: reported_on must be a date"):
            read_timeline(path)


def corrections_of(events: list[RecordedEvent], named: RecordedEvent) -> list[RecordedEvent]:
    return [e for e in events if e.type == "EventCorrected" and e.data["event_id"] == named.id]


def listed(store: EventStore, day: date, known_at: datetime | None = None) -> dict[str, Any]:
    at = known_at or datetime.now(UTC)
    found: list[dict[str, Any]] = Projector(store).query(
        lambda conn, g: missions.listing(conn, g, day, at)
    )
    return {m["mission"]: m for m in found}


def mandate_of(
    store: EventStore, mission: str, day: date, known_at: datetime | None = None
) -> dict[str, Any]:
    at = known_at or datetime.now(UTC)
    answer: dict[str, Any] = Projector(store).query(
        lambda conn, g: mandate.as_of(conn, g, mission, day, at)
    )
    return answer


def test_mandates_and_succession_through_the_gsf(demo_store: EventStore) -> None:
    load_timeline(demo_store)
    # 1 June 2025: the MSS under resolution 2751's renewal, to 2 October 2025; no successor yet.
    june = mandate_of(demo_store, MISSION, date(2025, 6, 1))
    assert (june["status"], june["resolution"], june["expires_on"]) == (
        "active", "S/RES/2751 (2024)", "2025-10-02"
    )  # fmt: skip
    assert june["days_remaining"] == 123 and june["personnel_ceiling"] is None
    assert [(h["type"], h["resolution"]) for h in june["history"]] == [
        ("MandateAuthorized", "S/RES/2699 (2023)"), ("MandateRenewed", "S/RES/2751 (2024)")
    ]  # fmt: skip
    assert mandate_of(demo_store, SUCCESSOR, date(2025, 6, 1))["status"] == "pending"
    early = listed(demo_store, date(2025, 6, 1))
    assert early[MISSION]["status"] == "active"
    assert early[MISSION]["successor_mission"] is early[SUCCESSOR]["predecessor_mission"] is None

    # 3 October 2025: the MSS ended the day before, succeeded by the GSF under 2793.
    assert mandate_of(demo_store, MISSION, date(2025, 10, 3))["status"] == "ended"
    gsf = mandate_of(demo_store, SUCCESSOR, date(2025, 10, 3))
    assert gsf["status"] == "active" and gsf["resolution"] == "S/RES/2793 (2025)"
    assert gsf["authorized_on"] == "2025-09-30" and gsf["expires_on"] == "2026-09-30"
    assert gsf["personnel_ceiling"] == 5550 and gsf["days_remaining"] == 362
    after = listed(demo_store, date(2025, 10, 3))
    assert list(after) == [SUCCESSOR, MISSION]
    # Deployed: Kenya's 744 (the return of 6 February 2025; no movement since) and the 190 of the
    # five other countries; at the transition the MSS "mustered fewer than 1,000" (the record).
    # The GSF's own Kenyan return comes in December.
    assert after[MISSION] == {
        "mission": MISSION, "name": "Multinational Security Support Mission in Haiti",
        "registered_on": "2023-10-02", "status": "ended", "expires_on": "2025-10-02",
        "deployed": 934, "successor_mission": SUCCESSOR, "predecessor_mission": None,
    }  # fmt: skip
    assert after[SUCCESSOR] == {
        "mission": SUCCESSOR, "name": "Gang Suppression Force", "registered_on": "2025-09-30",
        "status": "active", "expires_on": "2026-09-30", "deployed": 0,
        "successor_mission": None, "predecessor_mission": MISSION,
    }  # fmt: skip

    # Today, 1 December 2026: the GSF's twelve months ran out on 30 September 2026, and no
    # source records a renewal (status "lapsed": expired, no renewal recorded).
    today = mandate_of(demo_store, SUCCESSOR, date(2026, 12, 1))
    assert today["status"] == "lapsed" and today["days_remaining"] == -62
    assert today["resolution"] == "S/RES/2793 (2025)" and today["expires_on"] == "2026-09-30"
    assert [h["type"] for h in today["history"]] == ["MandateAuthorized"]
    now = listed(demo_store, date(2026, 12, 1))
    assert {m: (x["status"], x["successor_mission"], x["predecessor_mission"])
            for m, x in now.items()} == {
        MISSION: ("ended", SUCCESSOR, None), SUCCESSOR: ("lapsed", None, MISSION),
    }  # fmt: skip
    # No movement or return after December 2025: the MSS as on its last day, the GSF its
    # Kenyan return of about 700.
    assert {m: x["deployed"] for m, x in now.items()} == {MISSION: 934, SUCCESSOR: 700}


def test_known_at_replays_the_renewal_and_the_end_as_they_were_recorded(
    demo_store: EventStore,
) -> None:
    events = load_timeline(demo_store)
    renewal = next(e for e in events if e.type == "MandateRenewed")
    ended = next(e for e in events if e.type == "MandateEnded")
    # Adopted in New York on 30 September 2024, recorded the next day.
    assert renewal.recorded_at == datetime(2024, 10, 1, 12, tzinfo=UTC)
    before = renewal.recorded_at - timedelta(microseconds=1)
    then = mandate_of(demo_store, MISSION, date(2024, 10, 3), before)
    assert then["status"] == "lapsed" and then["resolution"] == "S/RES/2699 (2023)"
    assert mandate_of(demo_store, MISSION, date(2024, 10, 3))["status"] == "active"
    # Before the end was recorded the MSS had no successor, and the GSF no predecessor.
    before = ended.recorded_at - timedelta(microseconds=1)
    then_listed = listed(demo_store, date(2025, 10, 3), before)
    assert then_listed[MISSION]["status"] == "lapsed"
    assert then_listed[MISSION]["successor_mission"] is None
    assert then_listed[SUCCESSOR]["predecessor_mission"] is None
    assert listed(demo_store, date(2025, 10, 3), ended.recorded_at)[MISSION]["status"] == "ended"


def test_the_fourth_kenyan_contingent_is_144_correcting_the_168_report(
    demo_store: EventStore,
) -> None:
    events = load_timeline(demo_store)
    report = next(e for e in events if e.type == "ContingentArrived" and e.data["personnel"] == 168)
    (correction,) = corrections_of(events, report)
    assert report.occurred_on == date(2025, 2, 6)
    assert report.source == {
        "title": '254.ke, "Kenya deploys 168 more officers to Haiti amid U.S. funding freeze"',
        "url": RECORD_SOURCES[report.source["title"]],
    }
    assert correction.source and correction.source["title"].startswith("Kenyans.co.ke")
    assert correction.data["data"] == {
        "country": "KEN", "personnel": 144, "category": "police", "female": 24
    }  # fmt: skip
    assert "744" in correction.data["reason"] and "800" in correction.data["reason"]
    # Heard first, then corrected: both recorded once the flight had landed, in that order.
    assert datetime(2025, 2, 7, 12, tzinfo=UTC) == report.recorded_at < correction.recorded_at

    def kenya(known_at: datetime | None) -> dict[str, Any]:
        rows = strength(demo_store, date(2025, 2, 6), known_at)["by_country"]
        found: dict[str, Any] = next(c for c in rows if c["country"] == "KEN")
        return found

    # Movements only until the headcount returns were recorded, after the correction: 200 + 200
    # (seeds, as corrected) + the fourth contingent as first reported, then as corrected.
    assert kenya(report.recorded_at - timedelta(microseconds=1))["deployed"] == 400
    assert kenya(report.recorded_at)["deployed"] == 568
    assert kenya(report.recorded_at)["female"] == 0
    fixed = kenya(correction.recorded_at)
    assert (fixed["deployed"], fixed["female"], fixed["reported_on"]) == (544, 24, None)
    # As known now, the return of 744 (600 + 144); no female figure in it, so the contingent's
    # 24 women still count from its arrival.
    assert (kenya(None)["deployed"], kenya(None)["female"]) == (744, 24)
    # The flight not yet in on 5 February: Kenya's return of 600 and the 190 of the others.
    assert strength(demo_store, date(2025, 2, 5))["deployed"] == 790


def kenya_on(
    store: EventStore, day: date, known_at: datetime | None = None, mission: str = MISSION
) -> tuple[Any, ...] | None:
    """Kenya's (deployed, police, female, reported_on, unreconciled) in ``mission``, or None when
    Kenya is not listed."""
    at = known_at or datetime.now(UTC)
    answer: dict[str, Any] = Projector(store).query(
        lambda conn, g: force_strength.as_of(conn, g, mission, day, at)
    )
    rows = {c["country"]: c for c in answer["by_country"]}
    if "KEN" not in rows:
        return None
    row = rows["KEN"]
    return (row["deployed"], row["by_category"]["police"], row["female"], row["reported_on"],
            row["unreconciled"])  # fmt: skip


def chart(store: EventStore, start: date, end: date, known_at: datetime | None = None) -> list[int]:
    at = known_at or datetime.now(UTC)
    found: dict[str, Any] = Projector(store).query(
        lambda conn, g: timeline.as_of(conn, g, MISSION, start, end, "day", at)
    )
    return [p["deployed"] for p in found["points"]]


def test_kenyas_police_from_the_movements_to_the_headcount_returns(
    demo_store: EventStore,
) -> None:
    """Issue 13's worked example: the seeds' 400 (as corrected), the return of 600 before the
    fourth contingent (+200: a third contingent no source dates), 744 after it."""
    events = load_timeline(demo_store)
    returns = [e for e in events if e.type == "StrengthReported"]
    assert [(e.mission, e.occurred_on, e.data) for e in returns] == [
        (MISSION, date(2025, 2, 5), {"country": "KEN", "category": "police", "personnel": 600}),
        (MISSION, date(2025, 2, 6), {"country": "KEN", "category": "police", "personnel": 744}),
        (SUCCESSOR, date(2025, 12, 9), {"country": "KEN", "category": "police", "personnel": 700}),
    ]  # fmt: skip
    six_hundred, after_flight, gsf_return = returns
    # Both MSS returns are from the report of 7 February, recorded after the 144 correction.
    assert datetime(2025, 2, 7, 12, tzinfo=UTC) < six_hundred.recorded_at < after_flight.recorded_at

    # As known now. 4 February: the movements alone, 200 + 200 (the first contingent as
    # corrected, the second); no woman among them is reported.
    assert kenya_on(demo_store, date(2025, 2, 4)) == (400, 400, 0, None, 0)
    # 5 February: the return of 600, 200 more than the movements gave.
    assert kenya_on(demo_store, date(2025, 2, 5)) == (600, 600, 0, "2025-02-05", 200)
    # 6 February: the return of 744 is the 600 and the 144 of that day, so nothing unreconciled;
    # it gives no female figure, so the women follow the arrivals: the contingent's 24.
    assert kenya_on(demo_store, date(2025, 2, 6)) == (744, 744, 24, "2025-02-06", 0)
    assert kenya_on(demo_store, date(2025, 6, 1)) == (744, 744, 24, "2025-02-06", 0)
    # The mission with the 190 of the five other countries.
    assert [strength(demo_store, date(2025, 2, d))["deployed"] for d in (4, 5, 6)] == [
        590, 790, 934
    ]  # fmt: skip
    assert chart(demo_store, date(2025, 2, 4), date(2025, 2, 7)) == [590, 790, 934, 934]

    # Known before 7 February 2025: neither the flight nor the returns, the movements alone.
    before = datetime(2025, 2, 7, tzinfo=UTC)
    for day in (date(2025, 2, 5), date(2025, 2, 6), date(2025, 6, 1)):
        assert kenya_on(demo_store, day, before) == (400, 400, 0, None, 0)
    assert chart(demo_store, date(2025, 2, 4), date(2025, 2, 7), before) == [590] * 4
    # Known once the 600 was recorded but not yet the 744: the 600 and the movement after it.
    assert kenya_on(demo_store, date(2025, 2, 5), six_hundred.recorded_at) == (
        600, 600, 0, "2025-02-05", 200
    )  # fmt: skip
    assert kenya_on(demo_store, date(2025, 2, 6), six_hundred.recorded_at) == (
        744, 744, 24, "2025-02-05", 200
    )  # fmt: skip

    # The GSF: no movement recorded, so its Kenyan strength is the return of "about 700", all
    # of it unreconciled. The MSS's figures are its own.
    assert kenya_on(demo_store, date(2025, 12, 31), mission=SUCCESSOR) == (
        700, 700, 0, "2025-12-09", 700
    )  # fmt: skip
    assert kenya_on(demo_store, date(2025, 12, 8), mission=SUCCESSOR) is None
    known_then = gsf_return.recorded_at - timedelta(microseconds=1)
    assert kenya_on(demo_store, date(2025, 12, 31), known_then, mission=SUCCESSOR) is None
    assert kenya_on(demo_store, date(2025, 12, 31)) == (744, 744, 24, "2025-02-06", 0)


@pytest.fixture
async def demo_api(demo_store: EventStore, database_url: str, clock: Clock) -> AsyncIterator[Api]:
    """The app over the demo store."""
    load_timeline(demo_store)
    async for api in open_api(database_url, clock):
        yield api


async def kenya_csv(api: Api, mission: str, as_of: str, **params: str) -> dict[str, str]:
    """Kenya's row of the force-strength CSV: its strength and latest headcount columns."""
    path = f"/v1/missions/{mission}/force-strength.csv"
    header, _, rows = read_csv(await api.get(path, as_of=as_of, **params))
    assert {"reported_on", "unreconciled"} <= set(header)
    (row,) = [r for r in rows if r["country"] == "KEN"]
    return {k: row[k] for k in ("deployed", "female", "reported_on", "unreconciled")}


def csv_row(deployed: int, female: int, reported_on: str, unreconciled: int) -> dict[str, str]:
    return {"deployed": str(deployed), "female": str(female), "reported_on": reported_on,
            "unreconciled": str(unreconciled)}  # fmt: skip


async def test_the_force_strength_csv_carries_kenyas_returns(demo_api: Api) -> None:
    assert await kenya_csv(demo_api, MISSION, "2025-02-04") == csv_row(400, 0, "", 0)
    assert await kenya_csv(demo_api, MISSION, "2025-02-05") == csv_row(600, 0, "2025-02-05", 200)
    assert await kenya_csv(demo_api, MISSION, "2025-02-06") == csv_row(744, 24, "2025-02-06", 0)
    before = {"known_at": "2025-02-07T00:00:00Z"}  # neither the flight nor the returns yet
    assert await kenya_csv(demo_api, MISSION, "2025-02-06", **before) == csv_row(400, 0, "", 0)
    assert await kenya_csv(demo_api, SUCCESSOR, "2025-12-31") == csv_row(
        700, 0, "2025-12-09", 700
    )  # fmt: skip


def test_the_gsf_pledges_of_december_2025_are_marked_reported(demo_store: EventStore) -> None:
    events = load_timeline(demo_store)
    pledges = [e for e in events if e.mission == SUCCESSOR and e.type.endswith("Pledged")]
    assert len(pledges) == 5
    for pledge in pledges:
        assert pledge.occurred_on == date(2025, 12, 9)
        assert pledge.notes and pledge.notes.startswith("Reported, not confirmed")
        assert pledge.recorded_at >= datetime(2025, 12, 11, 12, tzinfo=UTC)  # after the reports
    answer = strength(demo_store, date(2025, 12, 31))
    # The MSS: Kenya's return of 744 (6 February 2025) and the 190 of the five other countries.
    assert answer["deployed"] == 934
    now = datetime.now(UTC)
    gsf: dict[str, Any] = Projector(demo_store).query(
        lambda conn, g: force_strength.as_of(conn, g, SUCCESSOR, date(2025, 12, 31), now)
    )
    # Deployed: only Kenya's return of "about 700" (no movement of the GSF is recorded).
    assert gsf["pledged"] == 3000 and gsf["deployed"] == 700 and gsf["personnel_ceiling"] == 5550
    assert gsf["by_country"][0]["country"] == "KEN"  # most deployed first
    assert {(c["country"], c["deployed"], c["pledged"]) for c in gsf["by_country"]} == {
        ("KEN", 700, 0), ("BGD", 0, 1500), ("TCD", 0, 1500)
    }  # fmt: skip
    assert {c["country"]: c["by_category"]["police"] for c in gsf["by_country"]} == {
        "KEN": 700, "BGD": 0, "TCD": 0
    }  # fmt: skip
    assert all(c["by_category"]["military"] == c["by_category"]["civilian"] == 0
               for c in gsf["by_country"])  # fmt: skip
    money: dict[str, Any] = Projector(demo_store).query(
        lambda conn, g: funding.as_of(conn, g, SUCCESSOR, date(2025, 12, 31), now)
    )
    assert money["pledged"] == "100000000.00" and money["deposited"] == "0.00"
    assert {d["donor"]: d["pledged"] for d in money["by_donor"]} == {
        "CAN": "40000000.00", "DOM": "10000000.00", "HTI": "50000000.00"
    }  # fmt: skip
    assert {k: v["pledged"] for k, v in money["by_channel"].items()} == {
        "bilateral": "40000000.00", "trust_fund": "10000000.00", "in_kind": "50000000.00"
    }  # fmt: skip
    assert money["requirement"] is None  # no source gives the GSF's budget


def test_the_mss_budget_estimate_is_the_coverage_denominator(demo_store: EventStore) -> None:
    load_timeline(demo_store)
    now = datetime.now(UTC)
    money: dict[str, Any] = Projector(demo_store).query(
        lambda conn, g: funding.as_of(conn, g, MISSION, date(2025, 6, 1), now)
    )
    # Seed 002: "As of October 2024, operation has received only $85 million, while its annual
    # budget is estimated at $600 million" (period: the twelve months from October 2024).
    assert money["requirement"] == "600000000.00"
    assert money["coverage"] == pytest.approx(85 / 600, abs=1e-6)
