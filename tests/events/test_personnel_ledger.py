"""The balances the date invariant is checked against (events.personnel), on both backends.

For random batches of pledges, withdrawals, arrivals, departures (late ones too), corrections
and retractions: a request is accepted exactly when a naive fold of the whole history stays at
or above zero on every date, a refused batch names its first bad event and changes nothing,
and afterwards the stored balances equal the fold of the stream's events (``derive``).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from events import personnel, schema
from events.errors import RuleViolation
from events.rules import Entry
from events.store import EventStore
from sitrep.database import open_store
from tests.conftest import append, body, registered

START = date(2024, 6, 25)
TYPES = {
    "pledge": ("PersonnelPledged", "pledged", 1),
    "withdraw": ("PledgeWithdrawn", "pledged", -1),
    "arrive": ("ContingentArrived", "deployed", 1),
    "depart": ("ContingentDeparted", "deployed", -1),
    "count": ("StrengthReported", "deployed", 0),  # a headcount: the total, not a movement
}
_missions = itertools.count()
_recorded = itertools.count()  # recording order: the one recorded last counts

move = st.tuples(
    st.sampled_from(sorted(TYPES)),
    st.integers(0, 30),  # day
    st.integers(1, 30),  # personnel
    st.sampled_from(["police", "military"]),
)
amend = st.tuples(
    st.sampled_from(["correct", "retract"]),
    st.integers(0, 60),  # which earlier event
    st.integers(1, 30),  # corrected personnel
    st.integers(0, 30),  # corrected day
)
requests = st.lists(st.lists(move | amend, min_size=1, max_size=4), min_size=1, max_size=12)


def _valid(facts: dict[str, dict[str, Any]]) -> bool:
    """CONTRACT §3, naively: on each date the latest headcount on or before it (the one
    recorded last among those of its date) plus the movements after it stays >= 0."""
    live = [f for f in facts.values() if not f["retracted"]]
    keys = {(f["measure"], f["category"]) for f in live}
    for measure, category in keys:
        mine = [f for f in live if (f["measure"], f["category"]) == (measure, category)]
        for day in sorted({f["day"] for f in mine}):
            counts = [f for f in mine if f["type"] == "StrengthReported" and f["day"] <= day]
            since, total = -1, 0
            if counts:
                latest = max(f["day"] for f in counts)
                since = latest
                total = max((f for f in counts if f["day"] == latest), key=lambda f: f["order"])[
                    "n"
                ]
            total += sum(
                f["sign"] * f["n"] for f in mine
                if f["type"] != "StrengthReported" and since < f["day"] <= day
            )  # fmt: skip
            if total < 0:
                return False
    return True


def _request(mission: str, op: tuple[Any, ...], facts: dict[str, Any], order: list[str]) -> Any:
    """The body for one operation and the oracle's facts after it (None: skip it)."""
    kind, a, n, c = op
    on = lambda d: (START + timedelta(days=d)).isoformat()  # noqa: E731
    if kind in TYPES:
        type_, measure, sign = TYPES[kind]
        data: dict[str, Any] = {"country": "KEN", "personnel": n, "category": c}
        if kind == "depart":
            data["reason"] = "rotation"
        if kind == "count":
            data = {"country": "KEN", "category": c, "personnel": n - 1}  # 0 is a headcount too
        fact = {"day": a, "n": data["personnel"], "category": c, "measure": measure,
                "sign": sign, "retracted": False, "type": type_,
                "order": next(_recorded)}  # fmt: skip
        return body(type_, on(a), data, mission=mission), None, fact
    if not order:
        return None, None, None
    target = order[a % len(order)]
    old = facts[target]
    if kind == "correct":
        data = {"country": "KEN", "personnel": n, "category": old["category"]}
        if old["type"] == "ContingentDeparted":
            data["reason"] = "rotation"
        if old["type"] == "StrengthReported":
            data["personnel"] = n = n - 1
        payload = {"event_id": target, "data": data, "reason": "fix", "occurred_on": on(c)}
        return body("EventCorrected", "2024-12-01", payload, mission=mission), target, {
            **old, "n": n, "day": c}  # fmt: skip
    payload = {"event_id": target, "reason": "x"}
    return body("EventRetracted", "2024-12-01", payload, mission=mission), target, {
        **old, "retracted": True}  # fmt: skip


def _stored_balances(store: EventStore, stream: str) -> dict[tuple[str, str], dict[date, int]]:
    b = schema.personnel_balances
    with store.engine.connect() as conn:
        rows = conn.execute(select(b).where(b.c.stream == stream)).all()
    found: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for r in rows:
        found[(r.measure, r.category)][r.day] = r.balance
    return found


def _stored_headcounts(store: EventStore, stream: str) -> dict[tuple[str, date], dict[int, int]]:
    h = schema.personnel_headcounts
    with store.engine.connect() as conn:
        rows = conn.execute(select(h).where(h.c.stream == stream)).all()
    found: dict[tuple[str, date], dict[int, int]] = defaultdict(dict)
    for r in rows:
        found[(r.category, r.day)][r.version] = r.personnel
    return dict(found)


def _on(rows: dict[date, int], day: date) -> int:
    earlier = [d for d in rows if d <= day]
    return rows[max(earlier)] if earlier else 0


def assert_balances_match_the_history(store: EventStore, stream: str) -> None:
    events = store.read(stream=stream, limit=1000).events
    rows, counts, amended = personnel.derive(
        Entry(e.id, e.type, e.version, e.occurred_on, e.data) for e in events
    )
    assert _stored_headcounts(store, stream) == {k: v for k, v in counts.items() if v}
    expected: dict[tuple[str, str], dict[date, int]] = defaultdict(dict)
    for measure, category, day, _moved, balance, _reset in rows:
        expected[(measure, category)][day] = balance
    stored = _stored_balances(store, stream)
    for key in set(expected) | set(stored):
        days = set(expected.get(key, {})) | set(stored.get(key, {}))
        for day in days:
            assert _on(stored.get(key, {}), day) == _on(expected.get(key, {}), day), (key, day)
    a = schema.amended_events
    with store.engine.connect() as conn:
        kept = {r.event_id: r for r in conn.execute(select(a).where(a.c.stream == stream))}
    assert set(kept) == set(amended)
    for event_id, fact in amended.items():
        assert (kept[event_id].occurred_on, kept[event_id].data, bool(kept[event_id].retracted)) \
            == (fact.occurred_on, fact.data, fact.retracted)  # fmt: skip


def run(store: EventStore, batches: list[list[tuple[Any, ...]]]) -> None:
    mission = f"ledger-{next(_missions)}"
    append(store, registered(mission=mission))
    facts: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    for ops in batches:
        proposed = {k: dict(v) for k, v in facts.items()}
        bodies, news, first_bad = [], [], None
        for op in ops:
            request, target, fact = _request(mission, op, proposed, order)
            if request is None:
                continue
            if target is not None and proposed[target]["retracted"]:
                ok = False
            else:
                key = target if target is not None else f"new-{len(bodies)}"
                proposed[key] = fact
                ok = _valid(proposed)
                if target is None:
                    news.append(len(bodies))
            if not ok and first_bad is None:
                first_bad = len(bodies)
            bodies.append(request)
        if not bodies:
            continue
        try:
            stored = append(store, *bodies, batch=True)
        except RuleViolation as exc:
            assert first_bad is not None, f"refused a valid batch: {bodies}"
            assert exc.errors[0].field.startswith(f"events[{first_bad}]"), (exc.errors, bodies)
            continue
        assert first_bad is None, f"accepted an invalid batch: {bodies}"
        for i in news:
            proposed[stored[i].id] = proposed.pop(f"new-{i}")
            order.append(stored[i].id)
        facts = proposed
    assert_balances_match_the_history(store, f"contingent:{mission}:KEN")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=requests)
def test_batches_are_accepted_exactly_when_no_balance_goes_negative(
    store: EventStore, batches: list[list[tuple[Any, ...]]]
) -> None:
    run(store, batches)


LATE_ARRIVAL = [
    [("arrive", 5, 10, "police")],
    [("arrive", 1, 5, "police")],  # reported late: counts on day 5 too
    [("depart", 6, 15, "police")],  # all 15 leave: valid
]


def test_a_late_report_moves_every_later_balance(store: EventStore) -> None:
    run(store, LATE_ARRIVAL)


def test_the_oracle_catches_a_ledger_that_forgets_later_dates(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A mutation of the kept facts: a change moves only its own date's balance.
    def add_one_day(self: Any, key: Any, day: date, delta: int) -> None:
        b = self._load(key, day)
        if day not in b.totals:
            earlier = [d for d in b.days if d < day]
            b.totals[day] = b.totals[max(earlier)] if earlier else b.before
            b.days.append(day)
            b.days.sort()
        b.totals[day] += delta
        b.changed.add(day)

    monkeypatch.setattr(personnel.PersonnelLedger, "_add", add_one_day)
    with pytest.raises(AssertionError, match="refused a valid batch"):
        run(store, LATE_ARRIVAL)


def test_the_check_reads_the_balances_not_the_history(
    store: EventStore, settings: Any, clock: Any
) -> None:
    mission = f"ledger-{next(_missions)}"
    append(store, registered(mission=mission))
    arrival = {"country": "KEN", "personnel": 10, "category": "police"}
    append(store, body("ContingentArrived", "2024-07-01", arrival, mission=mission))
    b = schema.personnel_balances
    with store.engine.begin() as conn:
        conn.execute(b.update().values(balance=1000))
    departure = {**arrival, "personnel": 500, "reason": "rotation"}
    # This process remembers the balances its own commit left (the stream has not moved
    # since), so it refuses; another process reads the tampered table, which allows it.
    with pytest.raises(RuleViolation, match="would fall to -490"):
        append(store, body("ContingentDeparted", "2024-07-02", departure, mission=mission))
    other = open_store(settings, clock=clock)
    try:
        append(other, body("ContingentDeparted", "2024-07-02", departure, mission=mission))
        # Now the stream has moved: this process reads the table again.
        with store.engine.begin() as conn:
            conn.execute(b.update().values(balance=10))
        with pytest.raises(RuleViolation, match="would fall to -490"):
            append(store, body("ContingentDeparted", "2024-07-02", departure, mission=mission))
    finally:
        other.close()


def test_balances_remembered_by_a_process_never_outlive_a_rolled_back_batch(
    store: EventStore,
) -> None:
    mission = f"ledger-{next(_missions)}"
    append(store, registered(mission=mission))
    arrive = {"country": "KEN", "personnel": 10, "category": "police"}
    leave = {**arrive, "reason": "rotation"}
    append(store, body("ContingentArrived", "2024-07-01", arrive, mission=mission))
    # Refused as a whole: its arrival of 5 must not count for the next departure.
    with pytest.raises(RuleViolation):
        append(
            store,
            body("ContingentArrived", "2024-07-02", {**arrive, "personnel": 5}, mission=mission),
            body("ContingentDeparted", "2024-07-03", {**leave, "personnel": 99}, mission=mission),
        )
    with pytest.raises(RuleViolation, match="would fall to -2"):
        append(store, body("ContingentDeparted", "2024-07-04", {**leave, "personnel": 12},
                           mission=mission))  # fmt: skip
    append(store, body("ContingentDeparted", "2024-07-04", {**leave, "personnel": 10},
                       mission=mission))  # fmt: skip


def _move(kind: str, day: int, n: int) -> tuple[str, int, int, str]:
    # A headcount's personnel is n - 1 (see _request), so ("count", d, 5) reports 4.
    return (kind, day, n, "police")


def test_a_departure_is_judged_against_the_headcount_and_the_arrivals_after_it(
    store: EventStore,
) -> None:
    run(store, [
        [_move("arrive", 1, 30)],
        [_move("count", 5, 11)],  # a return: 10 on day 5, whatever the movements said
        [_move("arrive", 6, 3)],
        [_move("depart", 7, 14)],  # 10 + 3 - 14 < 0: refused
        [_move("depart", 7, 13)],  # exactly what is there: fine
    ])  # fmt: skip


def test_a_later_headcount_makes_an_earlier_departure_count_only_up_to_it(
    store: EventStore,
) -> None:
    run(store, [
        [_move("arrive", 1, 10)],
        [_move("count", 10, 5)],  # 4 there on day 10
        [_move("depart", 5, 8)],  # judged on days 5-9 only (10 - 8 >= 0); day 10 stays 4
        [_move("depart", 11, 5)],  # 4 - 5 < 0: refused
        [_move("depart", 11, 4)],
        [_move("depart", 5, 3)],  # 10 - 8 - 3 < 0 on day 5: refused
    ])  # fmt: skip


def test_the_oracle_catches_a_ledger_that_ignores_headcounts(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(personnel.PersonnelLedger, "_count", lambda *_args: None)
    with pytest.raises(AssertionError):
        run(store, [[_move("arrive", 1, 10)], [_move("count", 5, 21)], [_move("depart", 6, 20)]])
