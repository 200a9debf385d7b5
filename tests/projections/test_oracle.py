"""Read models against an oracle: a naive fold over the events known at T, dated up to D.

For random histories with late reports, corrections and retractions, movements and headcount
returns, every total the read models give for random (as_of, known_at) equals the oracle's,
before and after a rebuild: the movement totals, and force strength and the timeline as
CONTRACT §3 counts them with headcounts (reset, ``female``, ``reported_on``, ``unreconciled``).
Mutations of the headcount arithmetic make the same check fail.
"""

from __future__ import annotations

import itertools
import random
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from events.envelope import RecordedEvent
from events.errors import InvalidEvent, RuleViolation
from events.store import EventStore
from projections import balances, force_strength, funding, headcounts, mandate, timeline
from projections.apply import SUMMED, effects_of
from projections.known import usd
from projections.runner import Projector
from tests.conftest import Clock, append, body, registered

START = date(2024, 6, 1)
_missions = itertools.count()

#: Days of personnel reports: any, or a few shared ones, so that movements often fall on the
#: date of a headcount (where "on or before" decides what the headcount already counted).
personnel_days = st.one_of(st.integers(0, 60), st.sampled_from([10, 20, 30]))
ops = st.lists(
    st.one_of(
        st.tuples(st.sampled_from(["arrive", "depart", "pledge", "withdraw"]), personnel_days,
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
        # A headcount return: (category, female given or not).
        st.tuples(st.just("count"), personnel_days, st.integers(0, 80),
                  st.sampled_from(["KEN", "JAM"]),
                  st.tuples(st.sampled_from(["police", "military"]), st.booleans())),
    ),
    min_size=1,
    max_size=18,
)  # fmt: skip


def _request(mission: str, op: tuple[Any, ...], done: list[RecordedEvent]) -> dict[str, Any] | None:
    kind, a, n, who, what = op
    on = (START + timedelta(days=a)).isoformat()
    if kind == "count":
        category, gives_female = what
        data = {"country": who, "category": category, "personnel": n}
        if gives_female:
            data["female"] = n // 4
        return body("StrengthReported", on, data, mission=mission)
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
        if data.get("female") is not None:
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


Fact = tuple[str, dict[str, Any], date, int]  # type, data, occurred_on, stream version


def live_facts(events: list[RecordedEvent], mission: str, at: Any) -> dict[str, Fact]:
    """The mission's facts as known at ``at``, corrections applied, retractions gone."""
    facts: dict[str, Fact] = {}
    for e in events:
        if e.mission != mission or e.recorded_at > at:
            continue
        if e.type == "EventCorrected":
            type_, _, on, version = facts[e.data["event_id"]]
            new_on = e.data.get("occurred_on")
            moved = date.fromisoformat(new_on) if new_on else on
            # A corrected report keeps its place among the reports of its date.
            facts[e.data["event_id"]] = (type_, e.data["data"], moved, version)
        elif e.type == "EventRetracted":
            facts.pop(e.data["event_id"])
        else:
            facts[e.id] = (e.type, e.data, e.occurred_on, e.version)
    return facts


def oracle(
    events: list[RecordedEvent], mission: str, day: date, at: Any
) -> dict[tuple[str, str], Decimal]:
    """The movement totals (what the ``balances`` rows hold, before headcounts reset them)."""
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for type_, data, on, _ in live_facts(events, mission, at).values():
        if on <= day:
            for measure, key, amount in effects_of(type_, data):
                totals[(measure, key)] += amount
    return {k: v for k, v in totals.items() if v != 0}


Count = tuple[date, int, int, int | None]  # day, version, personnel, female


def _strength(
    counts: list[Count], moves: list[tuple[date, int, int]], day: date
) -> tuple[int, int]:
    """§3 read literally: deployed and female at the end of ``day`` from the headcounts given
    (in (date, version) order) and the movements (date, signed personnel, women arriving)."""
    known = [c for c in counts if c[0] <= day]
    since, deployed = (known[-1][0], known[-1][2]) if known else (None, 0)
    deployed += sum(n for on, n, _ in moves if (since is None or on > since) and on <= day)
    giving = [c for c in known if c[3] is not None]
    since, female = (giving[-1][0], giving[-1][3] or 0) if giving else (None, 0)
    female += sum(f for on, _, f in moves if (since is None or on > since) and on <= day)
    return deployed, female


def strength_oracle(
    events: list[RecordedEvent], mission: str, day: date, at: Any
) -> tuple[list[dict[str, Any]], int]:
    """Force strength's ``by_country`` and the timeline's ``deployed`` on ``day`` (naive)."""
    counts: dict[str, list[Count]] = defaultdict(list)
    moves: dict[str, list[tuple[date, int, int]]] = defaultdict(list)
    pledged: dict[str, int] = defaultdict(int)
    for type_, data, on, version in live_facts(events, mission, at).values():
        key = f"{data['country']}/{data['category']}" if "category" in data else ""
        if type_ == "StrengthReported":
            counts[key].append((on, version, data["personnel"], data.get("female")))
        elif type_ in ("ContingentArrived", "ContingentDeparted"):
            sign = 1 if type_ == "ContingentArrived" else -1
            moves[key].append((on, sign * data["personnel"], data.get("female") or 0))
        elif type_ in ("PersonnelPledged", "PledgeWithdrawn") and on <= day:
            pledged[key] += data["personnel"] * (1 if type_ == "PersonnelPledged" else -1)
    rows: dict[str, dict[str, Any]] = {}
    mission_wide = 0
    for key in sorted(set(counts) | set(moves) | set(pledged)):
        country, category = key.split("/")
        row = rows.setdefault(country, {
            "country": country, "deployed": 0, "pledged": 0, "female": 0,
            "by_category": {"police": 0, "military": 0, "civilian": 0},
            "reported_on": None, "unreconciled": 0,
        })  # fmt: skip
        ordered = sorted(counts[key], key=lambda c: (c[0], c[1]))
        deployed, female = _strength(ordered, moves[key], day)
        mission_wide += deployed
        row["deployed"] += deployed
        row["by_category"][category] += deployed
        row["female"] += min(female, deployed)
        row["pledged"] += pledged[key]
        known = [c for c in ordered if c[0] <= day]
        if known:
            last = known[-1]
            before, _ = _strength(known[:-1], moves[key], last[0])
            row["unreconciled"] += last[2] - before
            if row["reported_on"] is None or last[0].isoformat() > row["reported_on"]:
                row["reported_on"] = last[0].isoformat()
    listed = [
        r
        for r in rows.values()
        if r["deployed"] > 0 or r["pledged"] > 0 or r["reported_on"] is not None
    ]
    listed.sort(key=lambda r: (-r["deployed"], -r["pledged"], r["country"]))  # fmt: skip
    return listed, mission_wide


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
    """The movement totals' mission-wide sums on one day."""
    return projector.query(
        lambda conn, g: {
            m: balances.sums_on(conn, g, mission, m, [day], at)[0] for m in timeline.MEASURES
        }
    )


def read_strength(projector: Projector, mission: str, day: date, at: Any) -> dict[str, Any]:
    """Force strength and the timeline's point on one day, as the API answers them."""

    def read(conn: Any, g: int) -> dict[str, Any]:
        found = force_strength.as_of(conn, g, mission, day, at)
        point = timeline.as_of(conn, g, mission, day, day, "day", at)["points"][0]
        return {"force": {k: found[k] for k in ("deployed", "pledged", "by_country")},
                "point": point}  # fmt: skip

    return projector.query(read)


def expected_strength(events: list[RecordedEvent], mission: str, day: date, at: Any) -> Any:
    by_country, deployed = strength_oracle(events, mission, day, at)
    totals = oracle(events, mission, day, at)
    summed = {m: sum((v for (me, _), v in totals.items() if me == m), Decimal(0))
              for m in timeline.MEASURES}  # fmt: skip
    force = {
        "deployed": sum(r["deployed"] for r in by_country),
        "pledged": sum(r["pledged"] for r in by_country),
        "by_country": by_country,
    }
    point = {"date": day.isoformat(), "deployed": deployed, "pledged": int(summed["pledged"]),
             "pledged_usd": usd(summed["pledged_usd"]),
             "deposited_usd": usd(summed["deposited_usd"])}  # fmt: skip
    return {"force": force, "point": point}


class Picker:
    """Where a check's random choices come from: hypothesis's ``data`` or a seeded random."""

    def __init__(self, data: Any = None, seed: int = 0) -> None:
        self.data, self.random = data, random.Random(seed)

    def integer(self, low: int, high: int) -> int:
        if self.data is not None:
            return int(self.data.draw(st.integers(low, high)))
        return self.random.randint(low, high)

    def choice(self, values: list[Any]) -> Any:
        if self.data is not None:
            return self.data.draw(st.sampled_from(values))
        return self.random.choice(values)


def check_history(store: EventStore, clock: Clock, history: list[Any], pick: Picker) -> None:
    """Append ``history`` (skipping what the rules refuse) and hold every reading to the
    oracle at random (as_of, known_at), before and after a rebuild."""
    mission = f"oracle-{next(_missions)}"
    append(store, registered(mission=mission))
    projector = Projector(store)
    done: list[RecordedEvent] = []
    for op in history:
        request = _request(mission, op, done)
        if request is None:
            continue
        clock.advance(seconds=pick.integer(1, 3600))
        try:
            done.extend(append(store, request))
        except (RuleViolation, InvalidEvent):
            continue
        if pick.choice([True, False]):
            projector.catch_up()  # sometimes incrementally, sometimes many at once
    events = list(store.iter_events())
    instants = [e.recorded_at for e in events if e.mission == mission]
    for _ in range(4):
        day = START + timedelta(days=pick.integer(-5, 120))
        nudge = timedelta(microseconds=pick.choice([-1, 0, 1]))
        at = pick.choice(instants) + nudge
        expected = oracle(events, mission, day, at)
        assert read_totals(projector, mission, day, at) == expected
        known = projector.query(lambda conn, g, at=at: mandate.facts(conn, g, mission, at))
        assert funding.requirement(known, day) == budget_oracle(events, mission, day, at)
        sums = {m: sum((v for (me, _), v in expected.items() if me == m), Decimal(0))
                for m in timeline.MEASURES}  # fmt: skip
        assert read_sums(projector, mission, day, at) == sums
        assert read_strength(projector, mission, day, at) == expected_strength(
            events, mission, day, at
        )
    # A whole chart at once: its points are read together (the returns once, not per point).
    at = pick.choice(instants)
    chart = projector.query(
        lambda conn, g: timeline.as_of(conn, g, mission, START, START + timedelta(days=70),
                                       "week", at)["points"]
    )  # fmt: skip
    assert chart == [
        expected_strength(events, mission, date.fromisoformat(p["date"]), at)["point"]
        for p in chart
    ]
    questions = [
        (START + timedelta(days=pick.integer(-5, 120)), pick.choice(instants)) for _ in range(6)
    ]
    before = [read_totals(projector, mission, day, at) for day, at in questions]
    sums_before = [read_sums(projector, mission, day, at) for day, at in questions]
    strength_before = [read_strength(projector, mission, day, at) for day, at in questions]
    assert strength_before == [expected_strength(events, mission, d, t) for d, t in questions]
    # A rebuild keeps only a few rows per total between chunks (here one, in chunks of three
    # events), reading older ones back when a late report needs them: answers must not change.
    Projector(store, rebuild_chunk=3, keep_rows=1).rebuild()
    assert [read_totals(projector, mission, day, at) for day, at in questions] == before
    assert [read_sums(projector, mission, day, at) for day, at in questions] == sums_before
    assert [read_strength(projector, mission, day, at) for day, at in questions] == (
        strength_before
    )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=ops, data=st.data())
def test_read_models_equal_a_naive_fold(
    store: EventStore, clock: Clock, history: list[Any], data: Any
) -> None:
    check_history(store, clock, history, Picker(data))


#: A history each wrong reading gets wrong on most days: arrivals before a return, on its date
#: and after it, and a second return.
TELLING = [
    ("arrive", 0, 50, "KEN", "police"),
    ("arrive", 10, 7, "KEN", "police"),
    ("count", 10, 40, "KEN", ("police", False)),
    ("arrive", 15, 5, "KEN", "police"),
    ("count", 20, 30, "KEN", ("police", True)),
    ("arrive", 20, 3, "KEN", "police"),
    ("arrive", 30, 9, "KEN", "police"),
]


def _ignore_headcounts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(headcounts, "read", lambda *args, **kw: {})
    monkeypatch.setattr(headcounts, "mission_wide", lambda c, g, m, days, t: [0] * len(days))


def _count_movements_before_a_headcount(monkeypatch: pytest.MonkeyPatch) -> None:
    # deployed = V + M(D): the movements a headcount already counted count again after it.
    monkeypatch.setattr(headcounts, "reset", lambda count, by_day, by_count: count + int(by_day))


def _count_movements_of_a_headcounts_date(monkeypatch: pytest.MonkeyPatch) -> None:
    # M read at the end of the day before the headcount: that day's movements count twice.
    totals_on = balances.totals_on

    def day_early(conn: Any, g: int, m: str, asked: list[Any], t: datetime) -> list[Decimal]:
        earlier = [(me, k, d - timedelta(days=1)) for me, k, d in asked]
        return totals_on(conn, g, m, earlier, t)

    monkeypatch.setattr(balances, "totals_on", day_early)


@pytest.mark.parametrize(
    "mutate",
    [_ignore_headcounts, _count_movements_before_a_headcount,
     _count_movements_of_a_headcounts_date],
    ids=["ignores-headcounts", "counts-movements-before", "counts-movements-of-its-date"],
)  # fmt: skip
def test_the_oracle_catches_a_wrong_reading_of_headcounts(
    store: EventStore, clock: Clock, monkeypatch: pytest.MonkeyPatch,
    mutate: Callable[[pytest.MonkeyPatch], None],
) -> None:  # fmt: skip
    mutate(monkeypatch)

    # The same random histories and checks as the property above, generated from a fixed
    # seed, without shrinking: the first failure is enough. A few explicit histories come
    # first, so that catching each mutation does not hang on what the generator happens to
    # draw (one mutation went unnoticed by 100 drawn histories in one run and not in another).
    @settings(max_examples=100, deadline=None, derandomize=True, database=None,
              phases=[Phase.explicit, Phase.generate])  # fmt: skip
    @given(history=ops, seed=st.integers(0, 2**16))
    @example(history=TELLING, seed=1)
    @example(history=TELLING, seed=2)
    @example(history=TELLING, seed=3)
    def mutated(history: list[Any], seed: int) -> None:
        check_history(store, clock, history, Picker(seed=seed))

    with pytest.raises(AssertionError):
        mutated()


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
