"""Read models against an oracle: a naive fold over the events known at T, dated up to D.

For random histories with late reports, corrections and retractions, every total the read
models give for random (as_of, known_at) equals the oracle's, before and after a rebuild.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.envelope import RecordedEvent
from events.errors import InvalidEvent, RuleViolation
from events.store import EventStore
from projections import balances, funding, mandate, timeline
from projections.apply import SUMMED, effects_of
from projections.runner import Projector
from tests.conftest import Clock, append, body, registered

START = date(2024, 6, 1)
_missions = itertools.count()

ops = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["arrive", "depart", "pledge", "withdraw"]), st.integers(0, 60),
                  st.integers(1, 50), st.sampled_from(["KEN", "JAM"]),
                  st.sampled_from(["police", "military"])),
        st.tuples(st.sampled_from(["deposit", "pledge_funds"]), st.integers(0, 60),
                  st.integers(1, 10_000), st.sampled_from(["USA", "CAN", "EU"]),
                  st.sampled_from(["trust_fund", "bilateral"])),
        st.tuples(st.just("correct"), st.integers(0, 99), st.integers(1, 50), st.integers(0, 60),
                  st.just("")),
        st.tuples(st.just("retract"), st.integers(0, 99), st.just(0), st.just(0), st.just("")),
        st.tuples(st.just("budget"), st.integers(0, 60), st.integers(1000, 90_000), st.just(""),
                  st.just("")),
    ),
    min_size=1,
    max_size=18,
)  # fmt: skip


def _request(mission: str, op: tuple[Any, ...], done: list[RecordedEvent]) -> dict[str, Any] | None:
    kind, a, n, who, what = op
    on = (START + timedelta(days=a)).isoformat()
    if kind in ("arrive", "depart", "pledge", "withdraw"):
        type_ = {"arrive": "ContingentArrived", "depart": "ContingentDeparted",
                 "pledge": "PersonnelPledged", "withdraw": "PledgeWithdrawn"}[kind]  # fmt: skip
        data: dict[str, Any] = {"country": who, "personnel": n, "category": what}
        if kind == "depart":
            data["reason"] = "rotation"
        if kind == "arrive":
            data["female"] = n // 3
        return body(type_, on, data, mission=mission)
    if kind in ("deposit", "pledge_funds"):
        type_ = "FundsDeposited" if kind == "deposit" else "FundsPledged"
        data = {"donor": who, "amount": f"{n}.25", "channel": what,
                "currency": "USD" if who == "USA" else "EUR"}  # fmt: skip
        if who != "USA":
            data["usd_rate"] = "1.0831"
        return body(type_, on, data, mission=mission)
    if kind == "budget":
        data = {"amount_usd": f"{n}000", "period_start": on,
                "period_end": (START + timedelta(days=a + 40)).isoformat()}  # fmt: skip
        return body("BudgetRequirementSet", on, data, mission=mission)
    originals = [e for e in done if e.type not in ("EventCorrected", "EventRetracted",
                                                    "MissionRegistered")]  # fmt: skip
    if not originals:
        return None
    target = originals[a % len(originals)]
    if kind == "retract":
        return body("EventRetracted", "2024-09-01", {"event_id": target.id, "reason": "x"},
                    mission=mission)  # fmt: skip
    data = dict(target.data)
    if "personnel" in data:
        data["personnel"] = n
        if "female" in data:
            data["female"] = min(data["female"], n)
    elif "amount" in data:
        data["amount"] = f"{n * 7}.5"
    else:
        data["amount_usd"] = f"{n}500"
    payload = {
        "event_id": target.id,
        "data": data,
        "reason": "fix",
        "occurred_on": (START + timedelta(days=n % 60)).isoformat(),
    }
    return body("EventCorrected", "2024-09-01", payload, mission=mission)


def oracle(
    events: list[RecordedEvent], mission: str, day: date, at: Any
) -> dict[tuple[str, str], Decimal]:
    facts: dict[str, tuple[str, dict[str, Any], date]] = {}
    for e in events:
        if e.mission != mission or e.recorded_at > at:
            continue
        if e.type == "EventCorrected":
            type_, _, on = facts[e.data["event_id"]]
            new_on = e.data.get("occurred_on")
            moved = date.fromisoformat(new_on) if new_on else on
            facts[e.data["event_id"]] = (type_, e.data["data"], moved)
        elif e.type == "EventRetracted":
            facts.pop(e.data["event_id"])
        else:
            facts[e.id] = (e.type, e.data, e.occurred_on)
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for type_, data, on in facts.values():
        if on <= day:
            for measure, key, amount in effects_of(type_, data):
                totals[(measure, key)] += amount
    return {k: v for k, v in totals.items() if v != 0}


def budget_oracle(events: list[RecordedEvent], mission: str, day: date, at: Any) -> Decimal | None:
    facts: dict[str, RecordedEvent | tuple[dict[str, Any], date]] = {}
    order: list[str] = []
    for e in events:
        if e.mission != mission or e.recorded_at > at:
            continue
        if e.type == "BudgetRequirementSet":
            facts[e.id] = (e.data, e.occurred_on)
            order.append(e.id)
        elif e.type == "EventCorrected" and e.data["event_id"] in facts:
            _, on = facts[e.data["event_id"]]  # type: ignore[misc]
            new_on = e.data.get("occurred_on")
            moved = date.fromisoformat(new_on) if new_on else on
            facts[e.data["event_id"]] = (e.data["data"], moved)
        elif e.type == "EventRetracted":
            facts.pop(e.data["event_id"], None)
    found = None
    versions = {e.id: e.version for e in events}
    live = [(facts[i], versions[i]) for i in order if i in facts]
    for (data, on), _ in sorted(live, key=lambda x: (x[0][1], x[1])):  # type: ignore[index]
        start, end = (
            date.fromisoformat(data["period_start"]),
            date.fromisoformat(data["period_end"]),
        )
        if on <= day and start <= day <= end:
            found = Decimal(data["amount_usd"])
    return found


def read_totals(
    projector: Projector, mission: str, day: date, at: Any
) -> dict[tuple[str, str], Decimal]:
    measures = ("deployed", "pledged", "female", "pledged_usd", "committed_usd", "deposited_usd")
    found = projector.query(lambda conn, g: balances.totals(conn, g, mission, measures, day, at))
    return {k: v for k, v in found.items() if v != 0}


def read_sums(projector: Projector, mission: str, day: date, at: Any) -> dict[str, Decimal]:
    """The timeline's mission-wide sums on one day."""
    return projector.query(
        lambda conn, g: {
            m: balances.sums_on(conn, g, mission, m, [day], at)[0] for m in timeline.MEASURES
        }
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=ops, data=st.data())
def test_read_models_equal_a_naive_fold(
    store: EventStore, clock: Clock, history: list[Any], data: Any
) -> None:
    mission = f"oracle-{next(_missions)}"
    append(store, registered(mission=mission))
    projector = Projector(store)
    done: list[RecordedEvent] = []
    for op in history:
        request = _request(mission, op, done)
        if request is None:
            continue
        clock.advance(seconds=data.draw(st.integers(1, 3600)))
        try:
            done.extend(append(store, request))
        except (RuleViolation, InvalidEvent):
            continue
        if data.draw(st.booleans()):
            projector.catch_up()  # sometimes incrementally, sometimes many at once
    events = list(store.iter_events())
    instants = [e.recorded_at for e in events if e.mission == mission]
    for _ in range(4):
        day = START + timedelta(days=data.draw(st.integers(-5, 120)))
        nudge = timedelta(microseconds=data.draw(st.sampled_from([-1, 0, 1])))
        at = data.draw(st.sampled_from(instants)) + nudge
        expected = oracle(events, mission, day, at)
        assert read_totals(projector, mission, day, at) == expected
        known = projector.query(lambda conn, g, at=at: mandate.facts(conn, g, mission, at))
        assert funding.requirement(known, day) == budget_oracle(events, mission, day, at)
        sums = {m: sum((v for (me, _), v in expected.items() if me == m), Decimal(0))
                for m in timeline.MEASURES}  # fmt: skip
        assert read_sums(projector, mission, day, at) == sums
    questions = [
        (START + timedelta(days=data.draw(st.integers(-5, 120))),
         data.draw(st.sampled_from(instants)))
        for _ in range(6)
    ]  # fmt: skip
    before = [read_totals(projector, mission, day, at) for day, at in questions]
    sums_before = [read_sums(projector, mission, day, at) for day, at in questions]
    # A rebuild keeps only a few rows per total between chunks (here one, in chunks of three
    # events), reading older ones back when a late report needs them: answers must not change.
    Projector(store, rebuild_chunk=3, keep_rows=1).rebuild()
    assert [read_totals(projector, mission, day, at) for day, at in questions] == before
    assert [read_sums(projector, mission, day, at) for day, at in questions] == sums_before


def test_charted_measures_are_summed() -> None:
    assert set(timeline.MEASURES) <= SUMMED


def test_a_corrected_budget_keeps_its_place_among_budgets_of_its_date(store: EventStore) -> None:
    # Found by the oracle: the read model once ordered a corrected fact by its correction.
    append(store, registered(mission="budgets"))
    period = {"period_start": "2024-01-01", "period_end": "2024-12-31"}
    first = append(store, body("BudgetRequirementSet", "2024-01-01",
                               {"amount_usd": "100", **period}, mission="budgets"))[0]  # fmt: skip
    append(store, body("BudgetRequirementSet", "2024-01-01",
                       {"amount_usd": "200", **period}, mission="budgets"))  # fmt: skip
    append(store, body("EventCorrected", "2024-02-01",
                       {"event_id": first.id, "data": {"amount_usd": "150", **period},
                        "reason": "typo"}, mission="budgets"))  # fmt: skip
    projector = Projector(store)
    day = date(2024, 6, 1)
    known = projector.query(lambda conn, g: mandate.facts(conn, g, "budgets", store.clock()))
    assert funding.requirement(known, day) == Decimal(200)
