"""No stored event can make a read fail (issue 12): numbers and dates at and past their bounds.

One liaison once posted a pledge of 9,999,999,999,999,999 at a rate of 100,000,000,000: it was
stored, and from then on every funding read of the mission answered 500, at every ``known_at``
after it, retraction or not. Here random events with amounts, rates, personnel and dates at
and past their bounds are posted (with corrections and retractions of them); each append must
answer 201 or 422, and afterwards every read of the mission — each read model, the CSVs, the
timeline — must answer 200 at every ``known_at`` in between, on both backends.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api.tokens import create_token
from events.catalogue import Role
from events.envelope import format_instant
from sitrep.app import create_app
from sitrep.deadlines import check_deadlines
from tests.conftest import Clock, body, make_settings, registered

EDGE_DATES = ["0001-01-01", "1899-12-31", "1900-01-01", "1900-01-02", "2024-06-25",
              "2999-12-30", "2999-12-31", "3000-01-01", "9999-12-31"]  # fmt: skip
dates = st.sampled_from(EDGE_DATES) | st.dates().map(lambda d: d.isoformat())
amounts = st.sampled_from(
    ["0.0001", "1", "999999999999999", "1000000000000000", "1000000000000000.0001",
     "9999999999999999", "9999999999999999.9999", "99999999999999999", "1E+15", "-1"]
) | st.decimals(min_value=0, max_value=10**17, places=4).map(str)  # fmt: skip
rates = st.sampled_from(
    ["0.000000000001", "1", "0.74", "100000000000", "999999999999.999999999999",
     "1000000000000"]
) | st.decimals(min_value=0, max_value=10**13, places=12).map(str)  # fmt: skip
people = st.sampled_from([0, 1, 99_999, 100_000, 100_001]) | st.integers(-5, 200_000)

funds = st.builds(
    lambda t, on, amount, cur, rate: body(t, on, {
        "donor": "CAN", "amount": amount, "currency": cur, "channel": "trust_fund",
        **({} if cur == "USD" else {"usd_rate": rate})}),
    st.sampled_from(["FundsPledged", "FundsCommitted", "FundsDeposited"]), dates, amounts,
    st.sampled_from(["USD", "CAD", "JPY"]), rates,
)  # fmt: skip
budget = st.builds(
    lambda on, amount, start, end: body("BudgetRequirementSet", on, {
        "amount_usd": amount, "period_start": start, "period_end": end}),
    dates, amounts, dates, dates,
)  # fmt: skip
mandate = st.builds(
    lambda on, expires, ceiling: body("MandateAuthorized", on, {
        "resolution": "S/RES/2699 (2023)", "expires_on": expires, "personnel_ceiling": ceiling}),
    dates, dates, st.sampled_from([1, 2500, 1_000_000, 1_000_001]),
)  # fmt: skip
review = st.builds(
    lambda on, due, rid: body("ReviewScheduled", on, {
        "review_id": rid, "body": "security_council", "due_on": due, "title": "Review"}),
    dates, dates, st.sampled_from(["r1", "r2"]),
)  # fmt: skip
movement = st.builds(
    lambda t, on, n, f: body(t, on, {
        "country": "KEN", "personnel": n, "category": "police",
        **({"reason": "rotation"} if t == "ContingentDeparted" else {"female": f})}),
    st.sampled_from(["ContingentArrived", "ContingentDeparted", "PersonnelPledged"]), dates,
    people, people,
)  # fmt: skip
amendment = st.tuples(st.sampled_from(["correct", "retract"]), st.integers(0, 20), dates)
steps = st.lists(funds | budget | mandate | review | movement | amendment, min_size=1,
                 max_size=8)  # fmt: skip

_missions = itertools.count()


@pytest.fixture
def client(database_url: str) -> Iterator[tuple[TestClient, Clock, dict[str, str]]]:
    clock = Clock()
    app = create_app(make_settings(database_url), clock=clock)
    engine = app.state.store.engine
    _, token = create_token(engine, role=Role.ADMIN, name="office", now=clock.now)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client, clock, {"Authorization": f"Bearer {token}"}
    app.state.store.close()


def _amend(kind: str, target: dict[str, Any], on: str) -> dict[str, Any]:
    if kind == "retract":
        return body("EventRetracted", "2024-07-01", {"event_id": target["id"], "reason": "x"})
    payload = {"event_id": target["id"], "data": target["data"], "occurred_on": on,
               "reason": "moved"}  # fmt: skip
    return body("EventCorrected", "2024-07-01", payload)


def reads(mission: str, known_at: str, *, edges: bool) -> list[tuple[str, dict[str, str]]]:
    """Every read of a mission as known at ``known_at``; with ``edges`` also the calendar's."""
    base = f"/v1/missions/{mission}"
    days = ["2999-12-31", "0001-01-01", "9999-12-31"] if edges else []
    asked = [{"known_at": known_at}, *({"as_of": d, "known_at": known_at} for d in days)]
    found: list[tuple[str, dict[str, str]]] = [
        ("/v1/missions", {}),
        ("/v1/alerts", {"mission": mission}),
        ("/v1/events", {"mission": mission, "limit": "1000"}),
    ]
    for path in ("force-strength", "funding", "mandate", "force-strength.csv", "funding.csv"):
        found.extend((f"{base}/{path}", params) for params in asked)
    for interval in ("week", "month"):
        found.append((f"{base}/timeline", {"interval": interval, "known_at": known_at}))
        found.extend((f"{base}/timeline", {"interval": interval, "to": d}) for d in days)
    if edges:
        found.append((f"{base}/timeline", {"from": "0001-01-01", "to": "0001-02-01",
                                           "interval": "day"}))  # fmt: skip
        found.append((f"{base}/timeline", {"from": "9999-12-01", "to": "9999-12-31",
                                           "interval": "month"}))  # fmt: skip
    return found


PROBE = body("FundsPledged", "2024-06-25", {
    "donor": "CAN", "amount": "9999999999999999", "currency": "CAD",
    "usd_rate": "100000000000", "channel": "trust_fund"})  # fmt: skip
LARGEST = body("FundsDeposited", "2024-06-25", {
    "donor": "CAN", "amount": "9999999999999999.9999", "currency": "JPY",
    "usd_rate": "0.100000000000", "channel": "trust_fund"})  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(plan=steps)
@example(plan=[PROBE, ("retract", 0, "2024-06-25")])  # what the outside probe found
@example(plan=[LARGEST] * 6 + [("correct", 0, "2999-12-31")])  # the largest value allowed
def test_every_read_answers_whatever_was_appended(
    client: tuple[TestClient, Clock, dict[str, str]], plan: list[Any]
) -> None:
    http, clock, auth = client
    mission = f"bounds-{next(_missions)}"
    assert http.post("/v1/events", json=registered(mission=mission), headers=auth).status_code \
        == 201  # fmt: skip
    stored: list[dict[str, Any]] = []
    instants = [format_instant(clock.now)]
    for step in plan:
        if isinstance(step, tuple):
            if not stored:
                continue
            kind, which, on = step
            request = _amend(kind, stored[which % len(stored)], on)
        else:
            request = step
        request = {**request, "mission": mission}
        response = http.post("/v1/events", json=request, headers=auth)
        assert response.status_code in (201, 422), (request, response.status_code, response.text)
        if response.status_code == 201 and request["type"] not in (
            "EventCorrected",
            "EventRetracted",
        ):
            stored.append(response.json())
        clock.advance(seconds=1)
        instants.append(format_instant(clock.now))
    # Before anything, half way and after everything: each answer is a different version.
    for i, known_at in enumerate(sorted({instants[0], instants[len(instants) // 2], instants[-1]})):
        for path, params in reads(mission, known_at, edges=i == 0):
            response = http.get(path, params=params, headers=auth)
            assert response.status_code in (200, 422), (path, params, response.text)
            if response.status_code == 422:
                # Only a question that cannot be answered (too many points) may be refused.
                assert "points" in response.text or "as_of" in response.text, response.text
    # Nor can a stored date break the scheduler's pass over the mission's deadlines.
    app = http.app
    for today in (clock.now.date(), date(2999, 12, 31), date(1900, 1, 1)):
        check_deadlines(app.state.store, app.state.projector, today, (90, 30, 7, 1))  # type: ignore[attr-defined]
    clock.advance(minutes=1)
