"""The situation report against an oracle: naive folds over the events, for random histories
and random windows (CONTRACT §4).

Histories mix movements, headcount returns, pledges and deposits, reports recorded late,
corrections (which may move a report's date) and retractions, recorded over a few weeks so that
a window's ``known_then`` falls among the recordings. For random ``from``/``to``/``known_at``
every figure under ``from``, ``to`` and ``restated`` equals the naive fold of the events known
then, and ``events`` and ``restated.events`` are exactly the events the §4 rules select.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.envelope import RecordedEvent
from events.errors import InvalidEvent, RuleViolation
from events.store import EventStore
from projections import report
from projections.known import usd
from projections.runner import Projector
from tests.conftest import Clock, append, registered
from tests.projections.test_oracle import (
    Picker,
    _request,
    live_facts,
    ops,
    oracle,
    strength_oracle,
)

AMENDMENTS = ("EventCorrected", "EventRetracted")
_missions = itertools.count()


@pytest.fixture
def clock() -> Clock:
    # Recordings start on the first day reported on, so windows fall among them.
    return Clock(datetime(2024, 6, 1, 9, 0, tzinfo=UTC))


def _dated(request: dict[str, Any], today: date, lag: int) -> dict[str, Any]:
    """The test oracle's request, dated around the day it is recorded: originals ``lag`` days
    before (some late), amendments on the day, a corrected date a few days back."""
    if request["type"] in AMENDMENTS:
        request["occurred_on"] = today.isoformat()
        if "occurred_on" in request["data"]:
            request["data"]["occurred_on"] = (today - timedelta(days=lag % 9)).isoformat()
    elif request["type"] == "BudgetRequirementSet":
        begins = today - timedelta(days=lag)
        request["occurred_on"] = request["data"]["period_start"] = begins.isoformat()
        request["data"]["period_end"] = (begins + timedelta(days=40)).isoformat()
    else:
        request["occurred_on"] = (today - timedelta(days=lag)).isoformat()
    return request


LAGS = (0, 0, 0, 1, 2, 5, 12)


def record(store: EventStore, clock: Clock, history: list[Any], pick: Picker) -> tuple[str, date]:
    """Append the history as a new mission's; returns it and the day its recording began
    (the clock goes on from one example to the next)."""
    mission = f"report-{next(_missions)}"
    # Each example starts at 09:00 of a day of its own: the clock only goes forward, and the
    # same draws must give the same history (the same days apart) when hypothesis replays it.
    clock.now = datetime.combine(clock.now.date() + timedelta(days=2), time(9), UTC)
    first_day = clock.now.date()
    append(store, registered(mission=mission))
    done: list[RecordedEvent] = []
    for op in history:
        request = _request(mission, op, done)
        if request is None:
            continue
        clock.advance(hours=pick.integer(1, 30))
        request = _dated(request, clock.now.date(), LAGS[pick.integer(0, len(LAGS) - 1)])
        try:
            done.extend(append(store, request, batch=pick.choice([True, False])))
        except (RuleViolation, InvalidEvent):
            continue
    return mission, first_day


# --- the oracle ---------------------------------------------------------------------------


def _strength(events: list[RecordedEvent], mission: str, day: date, at: datetime) -> Any:
    rows, _ = strength_oracle(events, mission, day, at)
    return {
        "deployed": sum(r["deployed"] for r in rows),
        "pledged": sum(r["pledged"] for r in rows),
        "rows": {r["country"]: r for r in rows},
    }


def _funds(events: list[RecordedEvent], mission: str, day: date, at: datetime) -> Any:
    totals = oracle(events, mission, day, at)
    sums: dict[str, Decimal] = defaultdict(Decimal)
    donors: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for (measure, key), amount in totals.items():
        if measure.endswith("_usd"):
            name = measure.removesuffix("_usd")
            sums[name] += amount
            donors[key.split("/")[0]][name] += amount
    return {
        **{k: usd(sums[k]) for k in ("pledged", "committed", "deposited")},
        "donors": {d: {k: usd(v[k]) for k in ("pledged", "committed", "deposited")}
                   for d, v in donors.items()},
    }  # fmt: skip


def _effective_history(events: list[RecordedEvent], mission: str) -> dict[str, Any]:
    """Per amendment, the named report's effective date just before it (position order)."""
    dates: dict[str, date] = {}
    before: dict[str, date] = {}
    for e in events:
        if e.mission != mission:
            continue
        if e.type in AMENDMENTS:
            named = e.data["event_id"]
            before[e.id] = dates[named]
            if e.type == "EventCorrected" and e.data.get("occurred_on"):
                dates[named] = date.fromisoformat(e.data["occurred_on"])
        else:
            dates[e.id] = e.occurred_on
    return before


def expected(
    events: list[RecordedEvent], mission: str, start: date, end: date, at: datetime
) -> dict[str, Any]:
    then = min(datetime.combine(start, datetime.max.time(), UTC), at)
    position = {e.id: e.position for e in events}
    facts = live_facts(events, mission, at)
    corrections: dict[str, list[str]] = defaultdict(list)
    for e in events:
        if e.type == "EventCorrected" and e.mission == mission and e.recorded_at <= at:
            corrections[e.data["event_id"]].append(e.id)
    listed = sorted(
        ((i, on, data) for i, (_, data, on, _) in facts.items() if start < on <= end),
        key=lambda x: (x[1], position[x[0]]),
    )
    before = _effective_history(events, mission)
    known_then, known_now = live_facts(events, mission, then), facts
    restated = []
    for e in events:
        if e.mission != mission or not (then < e.recorded_at <= at):
            continue
        if e.type in AMENDMENTS:
            target = e.data["event_id"]
            moved = e.data.get("occurred_on") if e.type == "EventCorrected" else None
            concerned = before[e.id] <= start or (moved and date.fromisoformat(moved) <= start)
        else:
            target, concerned = e.id, e.occurred_on <= start
        if concerned:
            then_, now_ = _state(known_then.get(target)), _state(known_now.get(target))
            restated.append((e.id, target, then_, now_))
    return {
        "from": _strength(events, mission, start, at),
        "to": _strength(events, mission, end, at),
        "then": _strength(events, mission, start, then),
        "funds_from": _funds(events, mission, start, at),
        "funds_to": _funds(events, mission, end, at),
        "funds_then": _funds(events, mission, start, then),
        "events": [(i, on.isoformat(), data, corrections[i]) for i, on, data in listed],
        "restated": restated,
    }


def _state(fact: Any) -> Any:
    if fact is None:
        return None
    _, data, on, _ = fact
    return {"occurred_on": on.isoformat(), "data": data}


def check(answer: dict[str, Any], want: dict[str, Any]) -> None:
    s, f, rs = answer["strength"], answer["funding"], answer["restated"]
    for when, key in (("from", "from"), ("to", "to")):
        assert s[when] == {"deployed": want[key]["deployed"], "pledged": want[key]["pledged"]}
        funds = want[f"funds_{key}"]
        assert f[when] == {k: funds[k] for k in ("pledged", "committed", "deposited")}
    rows = {r["country"]: r for r in s["by_country"]}
    countries = set(want["from"]["rows"]) | set(want["to"]["rows"])
    assert set(rows) == countries
    for code in countries:
        a, b = want["from"]["rows"].get(code, {}), want["to"]["rows"].get(code, {})
        assert rows[code] == {
            "country": code, "deployed_from": a.get("deployed", 0),
            "deployed_to": b.get("deployed", 0), "pledged_from": a.get("pledged", 0),
            "pledged_to": b.get("pledged", 0),
        }  # fmt: skip
    # A donor whose reports were all retracted stays listed at zero (as /funding lists it).
    donors = {d["donor"]: d for d in f["by_donor"]
              if any(v != "0.00" for k, v in d.items() if k != "donor")}  # fmt: skip
    assert set(donors) == set(want["funds_from"]["donors"]) | set(want["funds_to"]["donors"])
    for code, row in donors.items():
        a = want["funds_from"]["donors"].get(code, {})
        b = want["funds_to"]["donors"].get(code, {})
        assert row["deposited_from"] == a.get("deposited", "0.00")
        assert row["deposited_to"] == b.get("deposited", "0.00")
        assert row["pledged_to"] == b.get("pledged", "0.00")
    assert rs["strength"]["deployed_then"] == want["then"]["deployed"]
    assert rs["strength"]["deployed_now"] == want["from"]["deployed"]
    assert rs["strength"]["pledged_then"] == want["then"]["pledged"]
    for k in ("pledged", "deposited"):
        assert rs["funding"][f"{k}_then"] == want["funds_then"][k]
        assert rs["funding"][f"{k}_now"] == want["funds_from"][k]
    # The countries and donors whose figures as of `from` changed between then and now.
    changed = {}
    for code in set(want["then"]["rows"]) | set(want["from"]["rows"]):
        a, b = want["then"]["rows"].get(code, {}), want["from"]["rows"].get(code, {})
        pair = {f"{k}_{w}": r.get(k, 0) for w, r in (("then", a), ("now", b))
                for k in ("deployed", "pledged")}  # fmt: skip
        if (pair["deployed_then"], pair["pledged_then"]) != (pair["deployed_now"],
                                                               pair["pledged_now"]):  # fmt: skip
            changed[code] = {"country": code, **pair}
    assert {r["country"]: r for r in rs["strength"]["by_country"]} == changed
    donors_changed = {}
    then_donors, now_donors = want["funds_then"]["donors"], want["funds_from"]["donors"]
    for code in set(then_donors) | set(now_donors):
        a, b = then_donors.get(code, {}), now_donors.get(code, {})
        if any(a.get(k, "0.00") != b.get(k, "0.00") for k in ("pledged", "committed", "deposited")):
            donors_changed[code] = (a.get("deposited", "0.00"), b.get("deposited", "0.00"))
    assert {d["donor"]: (d["deposited_then"], d["deposited_now"])
            for d in rs["funding"]["by_donor"]} == donors_changed  # fmt: skip
    assert [
        (e["id"], e["effective"]["occurred_on"], e["effective"]["data"], e["corrected_by"])
        for e in answer["events"]
    ] == want["events"]
    assert [
        (e["id"], e["concerns"]["event_id"], e["concerns"]["then"], e["concerns"]["now"])
        for e in rs["events"]
    ] == want["restated"]


def read(projector: Projector, store: EventStore, mission: str, start: date, end: date,
         at: datetime) -> dict[str, Any]:  # fmt: skip
    answer: dict[str, Any] = projector.query(
        lambda conn, g: report.build(conn, g, mission, start, end, at, store.recorder)
    )
    return answer


def check_history(store: EventStore, clock: Clock, history: list[Any], pick: Picker) -> None:
    mission, first_day = record(store, clock, history, pick)
    projector = Projector(store)
    events = list(store.iter_events())
    instants = [e.recorded_at for e in events if e.mission == mission]
    questions = []
    for _ in range(5):
        start = first_day + timedelta(days=pick.integer(-8, 25))
        end = start + timedelta(days=pick.integer(1, 14))
        at = pick.choice([*instants, clock.now]) + timedelta(microseconds=pick.choice([-1, 0]))
        questions.append((start, end, at))
        check(read(projector, store, mission, start, end, at),
              expected(events, mission, start, end, at))  # fmt: skip
    # A rebuild (in chunks of three events) answers the same.
    before = [read(projector, store, mission, *q) for q in questions]
    Projector(store, rebuild_chunk=3, keep_rows=1).rebuild()
    assert [read(projector, store, mission, *q) for q in questions] == before


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=ops, data=st.data())
def test_the_report_equals_a_naive_fold(
    store: EventStore, clock: Clock, history: list[Any], data: Any
) -> None:
    check_history(store, clock, history, Picker(data))


def test_a_late_report_and_a_correction_are_restated(store: EventStore, clock: Clock) -> None:
    """An explicit history: the week after 10 June learns of a late arrival dated 8 June and
    a correction of an arrival of 5 June, and lists the arrival of 12 June."""
    mission = f"report-{next(_missions)}"
    append(store, registered(mission=mission))

    def post(type_: str, on: str, data: dict[str, Any]) -> RecordedEvent:
        (event,) = append(store, {"mission": mission, "type": type_, "occurred_on": on,
                                  "data": data})  # fmt: skip
        return event

    def arrival(n: int, on: str) -> RecordedEvent:
        return post("ContingentArrived", on, {"country": "KEN", "personnel": n,
                                              "category": "police"})  # fmt: skip

    clock.now = datetime(2024, 6, 5, 12, tzinfo=UTC)
    first = arrival(400, "2024-06-05")
    clock.now = datetime(2024, 6, 12, 12, tzinfo=UTC)
    later = arrival(50, "2024-06-12")
    late = arrival(30, "2024-06-08")  # recorded after 10 June, dated before
    fix = post("EventCorrected", "2024-06-12", {
        "event_id": first.id, "reason": "200, not 400",
        "data": {"country": "KEN", "personnel": 200, "category": "police"},
    })  # fmt: skip
    answer = read(Projector(store), store, mission, date(2024, 6, 10), date(2024, 6, 17),
                  clock.now)  # fmt: skip
    assert answer["strength"]["from"]["deployed"] == 230
    assert answer["strength"]["to"]["deployed"] == 280
    assert [e["id"] for e in answer["events"]] == [later.id]
    rs = answer["restated"]
    assert (rs["strength"]["deployed_then"], rs["strength"]["deployed_now"]) == (400, 230)
    assert [e["id"] for e in rs["events"]] == [late.id, fix.id]
    concerns = rs["events"][1]["concerns"]
    assert concerns["event_id"] == first.id
    assert concerns["then"]["data"]["personnel"] == 400
    assert concerns["now"]["data"]["personnel"] == 200
    assert rs["events"][0]["concerns"]["then"] is None  # not yet reported then
    # Asked before the late report was recorded, the same window restates nothing of it.
    earlier = read(Projector(store), store, mission, date(2024, 6, 10), date(2024, 6, 17),
                   late.recorded_at - timedelta(microseconds=1))  # fmt: skip
    assert earlier["restated"]["events"] == []
    assert earlier["strength"]["from"]["deployed"] == 400

    # A year later the arrival of 12 June is corrected: a restatement of every week whose
    # `from` is on or after 12 June 2024 and before the day of the correction.
    clock.now = datetime(2025, 6, 20, 12, tzinfo=UTC)
    late_fix = post("EventCorrected", "2025-06-20", {
        "event_id": later.id, "reason": "55, not 50",
        "data": {"country": "KEN", "personnel": 55, "category": "police"},
    })  # fmt: skip
    for start, restated in (("2024-06-11", False), ("2024-06-12", True), ("2024-12-31", True),
                            ("2025-06-19", True), ("2025-06-20", False)):  # fmt: skip
        day = date.fromisoformat(start)
        found = read(Projector(store), store, mission, day, day + timedelta(days=7), clock.now)
        ids = [e["id"] for e in found["restated"]["events"]]
        assert (late_fix.id in ids) is restated, start
        if restated:
            assert found["restated"]["strength"]["deployed_now"] - found["restated"][
                "strength"]["deployed_then"] == 5  # fmt: skip


def test_the_oracle_catches_restatements_read_against_the_wrong_instant(
    store: EventStore, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With "then" taken as the end of ``to`` instead of ``from``, the check fails."""
    history = [("arrive", 0, 40, "KEN", "police"), ("arrive", 0, 5, "KEN", "police"),
               ("correct", 0, 20, 0, ""), ("deposit", 0, 100, "USA", "trust_fund")]  # fmt: skip
    mission, first_day = record(store, clock, history, Picker(seed=3))
    events = list(store.iter_events())
    start, end, at = first_day, first_day + timedelta(days=14), clock.now
    want = expected(events, mission, start, end, at)
    assert want["restated"], "the history restates something"
    check(read(Projector(store), store, mission, start, end, at), want)
    monkeypatch.setattr(report, "known_then",
                        lambda day: datetime.combine(day + timedelta(days=14),
                                                     datetime.max.time(), UTC))  # fmt: skip
    with pytest.raises(AssertionError):
        check(read(Projector(store), store, mission, start, end, at), want)
