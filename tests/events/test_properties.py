"""Properties over large input spaces (hypothesis)."""

from __future__ import annotations

import itertools
import json
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events import catalogue
from events.envelope import canonical_bytes
from events.errors import RuleViolation
from events.store import EventStore
from tests.conftest import append, body, registered

COUNTRIES = ["KEN", "JAM", "BHS", "BLZ", "GTM", "SLV", "USA", "CAN", "FRA"]
START = date(2024, 6, 25)

days = st.integers(0, 400).map(lambda d: (START + timedelta(days=d)).isoformat())
personnel = st.integers(1, 5000)
text = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=30
).filter(str.strip)
money = st.decimals(min_value="0.01", max_value="999999999999", places=2).map(str)
source = st.none() | st.builds(lambda t: {"title": t, "url": "https://news.un.org/en/story"}, text)

valid_bodies = st.one_of(
    st.builds(
        lambda on, c, n, cat, f, src: body(
            "ContingentArrived",
            on,
            {"country": c, "personnel": n, "category": cat, "female": min(f, n)},
            source=src,
        ),
        days,
        st.sampled_from(COUNTRIES),
        personnel,
        st.sampled_from(["police", "military", "civilian"]),
        st.integers(0, 5000),
        source,
    ),
    st.builds(
        lambda on, donor, amount, cur, rate: body(
            "FundsPledged",
            on,
            {
                "donor": donor,
                "amount": amount,
                "currency": cur,
                "channel": "trust_fund",
                **({} if cur == "USD" else {"usd_rate": rate}),
            },
        ),
        days,
        st.sampled_from([*COUNTRIES, "EU"]),
        money,
        st.sampled_from(["USD", "CAD", "EUR", "JMD"]),
        st.decimals(min_value="0.0001", max_value="10", places=4).map(str),
    ),
    st.builds(
        lambda on, rid, due, t: body(
            "ReviewScheduled",
            on,
            {"review_id": rid, "body": "oversight", "due_on": due, "title": t},
        ),
        days,
        st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
        days,
        text,
    ),
    st.builds(
        lambda on, notes: body(
            "MissionRegistered",
            on,
            {"name": notes, "lead_country": "KEN", "host_country": "HTI"},
            notes=notes,
        ),
        days,
        text,
    ),
)


@given(valid_bodies)
def test_any_valid_event_survives_the_json_round_trip(raw: dict[str, Any]) -> None:
    event = catalogue.parse_event(raw)
    wire = json.loads(json.dumps(event.model_dump(mode="json", exclude_none=True)))
    assert catalogue.parse_event(wire) == event


_missions = itertools.count()

operations = st.lists(
    st.one_of(
        st.tuples(
            st.just("arrive"),
            st.integers(0, 20),
            st.integers(1, 40),
            st.sampled_from(["police", "military"]),
        ),
        st.tuples(
            st.just("depart"),
            st.integers(0, 20),
            st.integers(1, 40),
            st.sampled_from(["police", "military"]),
        ),
        st.tuples(st.just("correct"), st.integers(0, 50), st.integers(1, 40), st.integers(0, 20)),
        st.tuples(st.just("retract"), st.integers(0, 50), st.just(0), st.just(0)),
    ),
    min_size=1,
    max_size=25,
)


def _never_negative(facts: dict[str, dict[str, Any]]) -> bool:
    deltas: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for fact in facts.values():
        if not fact["retracted"]:
            deltas[fact["category"]][fact["day"]] += fact["sign"] * fact["n"]
    for by_day in deltas.values():
        total = 0
        for day in sorted(by_day):
            total += by_day[day]
            if total < 0:
                return False
    return True


def _run_sequence(store: EventStore, ops: list[tuple[str, int, int, Any]]) -> None:
    mission = f"prop-{next(_missions)}"
    append(store, registered(mission=mission))
    facts: dict[str, dict[str, Any]] = {}  # the oracle: each original event as it stands
    order: list[str] = []
    for kind, a, n, c in ops:
        proposed = {k: dict(v) for k, v in facts.items()}
        if kind in ("arrive", "depart"):
            type_ = "ContingentArrived" if kind == "arrive" else "ContingentDeparted"
            data: dict[str, Any] = {"country": "KEN", "personnel": n, "category": c}
            if kind == "depart":
                data["reason"] = "rotation"
            request = body(type_, (START + timedelta(days=a)).isoformat(), data, mission=mission)
            new = {
                "day": a,
                "n": n,
                "category": c,
                "sign": 1 if kind == "arrive" else -1,
                "retracted": False,
            }
            target = None
        else:
            if not order:
                continue
            target = order[a % len(order)]
            old = facts[target]
            if kind == "correct":
                data = {"country": "KEN", "personnel": n, "category": old["category"]}
                if old["sign"] < 0:
                    data["reason"] = "rotation"
                payload = {
                    "event_id": target,
                    "data": data,
                    "reason": "fix",
                    "occurred_on": (START + timedelta(days=c)).isoformat(),
                }
                request = body("EventCorrected", "2024-12-01", payload, mission=mission)
                proposed[target].update(n=n, day=c)
            else:
                request = body(
                    "EventRetracted",
                    "2024-12-01",
                    {"event_id": target, "reason": "x"},
                    mission=mission,
                )
                proposed[target]["retracted"] = True
        expect_ok = (target is None or not facts[target]["retracted"]) and _never_negative(
            proposed if target is not None else {**proposed, "new": new}
        )
        try:
            (stored,) = append(store, request)
        except RuleViolation:
            assert not expect_ok, f"refused a valid {kind}: {request}"
            continue
        assert expect_ok, f"accepted an invalid {kind}: {request}"
        if target is None:
            facts[stored.id] = new
            order.append(stored.id)
        else:
            facts = proposed


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_random_histories_are_accepted_exactly_when_strength_stays_non_negative(
    store: EventStore, ops: list[tuple[str, int, int, Any]]
) -> None:
    _run_sequence(store, ops)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(st.characters(codec="utf-8"), max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@given(json_values)
def test_canonical_json_is_pythons_sorted_compact_json(value: Any) -> None:
    # The chain must be recomputable by anyone with a standard JSON library.
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_bytes(value) == expected.encode("utf-8")
