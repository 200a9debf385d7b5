"""POST and GET of events over HTTP, on SQLite and PostgreSQL (CONTRACT §2, §4, §5)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.api.conftest import Api, open_api
from tests.conftest import (
    Clock,
    arrived,
    authorized,
    body,
    corrected,
    departed,
    deposit,
    registered,
)

ENVELOPE = {"id", "mission", "type", "stream", "version", "position", "occurred_on",
            "recorded_at", "recorded_by", "data", "source", "notes", "hash"}  # fmt: skip


def assert_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == f"/problems/{slug}"
    assert problem["status"] == status
    assert problem["title"] and problem["detail"]
    assert "Traceback" not in response.text
    return problem


async def count(api: Api) -> int:
    return len((await api.get("/v1/events", limit=1000)).json()["events"])


async def test_append_returns_the_stored_envelope(haiti: Api) -> None:
    response = await haiti.post(
        "kenya", arrived(200) | {"source": {"title": "UN News"}, "notes": "first"}
    )
    assert response.status_code == 201
    event = response.json()
    assert set(event) == ENVELOPE
    assert event["stream"] == "contingent:mss-haiti:KEN"
    assert (event["version"], event["position"]) == (1, 2)
    assert event["recorded_by"] == "kenya-desk"
    assert event["recorded_at"].endswith("Z") and len(event["recorded_at"]) == 27
    assert event["data"] == {"country": "KEN", "personnel": 200, "category": "police"}
    again = await haiti.get(f"/v1/events/{event['id']}")
    assert again.json() == event


async def test_batch_appends_in_order(haiti: Api) -> None:
    response = await haiti.post(
        "kenya",
        {"events": [arrived(200), deposit("5000000", donor="EU", currency="EUR", usd_rate="1.08")]},
        path="/v1/events/batch",
    )
    assert response.status_code == 201, response.text
    events = response.json()["events"]
    assert [e["position"] for e in events] == [2, 3]
    assert events[1]["data"]["amount"] == "5000000"


async def test_batch_with_one_bad_event_appends_nothing(haiti: Api) -> None:
    bad = arrived(10) | {"data": {"country": "KEN", "personnel": -1, "category": "police"}}
    response = await haiti.post(
        "kenya", {"events": [arrived(10), bad, arrived(3)]}, path="/v1/events/batch"
    )
    problem = assert_problem(response, 422, "invalid-event")
    assert problem["errors"] == [
        {"field": "events[1].data.personnel", "message": "Input should be greater than 0"}
    ]
    rule = await haiti.post(
        "kenya", {"events": [arrived(10), departed(11, on="2024-06-26")]}, path="/v1/events/batch"
    )
    assert (
        assert_problem(rule, 422, "rule-violation")["errors"][0]["field"]
        == "events[1].data.personnel"
    )
    scope = await haiti.post(
        "kenya", {"events": [arrived(10), arrived(5, country="JAM")]}, path="/v1/events/batch"
    )
    assert_problem(scope, 403, "forbidden")
    assert await count(haiti) == 1


@pytest.mark.parametrize(
    "payload", [[], {"events": []}, {"events": "x"}, {"events": [{}] * 1001}, {"other": 1}]
)
async def test_batch_shape(haiti: Api, payload: Any) -> None:
    assert_problem(
        await haiti.post("admin", payload, path="/v1/events/batch"), 422, "invalid-event"
    )


async def test_idempotent_retry_and_reused_key(haiti: Api) -> None:
    first = await haiti.post("kenya", arrived(200), **{"Idempotency-Key": "liaison-42"})
    retry = await haiti.post("kenya", arrived(200), **{"Idempotency-Key": "liaison-42"})
    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers.get("Idempotency-Replayed") == "true"
    assert await count(haiti) == 2
    other = await haiti.post("kenya", arrived(201), **{"Idempotency-Key": "liaison-42"})
    assert_problem(other, 422, "idempotency-key-reused")
    # The key belongs to the token that sent it.
    admin = await haiti.post("admin", arrived(200), **{"Idempotency-Key": "liaison-42"})
    assert admin.status_code == 201 and admin.json()["id"] != first.json()["id"]
    long_key = await haiti.post("kenya", arrived(1), **{"Idempotency-Key": "k" * 256})
    assert_problem(long_key, 422, "invalid-request")


async def test_batch_replay(haiti: Api) -> None:
    payload = {"events": [arrived(1), arrived(2)]}
    first = await haiti.post("kenya", payload, path="/v1/events/batch", **{"Idempotency-Key": "b1"})
    again = await haiti.post("kenya", payload, path="/v1/events/batch", **{"Idempotency-Key": "b1"})
    assert first.json() == again.json()
    assert await count(haiti) == 3


async def test_expected_version_conflict(haiti: Api) -> None:
    assert (await haiti.post("kenya", arrived(1) | {"expected_version": 0})).status_code == 201
    problem = assert_problem(
        await haiti.post("kenya", arrived(1) | {"expected_version": 0}), 409, "version-conflict"
    )
    assert problem["current_version"] == 1


async def test_sixteen_concurrent_writers_one_wins(haiti: Api) -> None:
    responses = await asyncio.gather(
        *(haiti.post("kenya", arrived(1) | {"expected_version": 0}) for _ in range(16))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 15


async def test_roles_and_scopes(haiti: Api) -> None:
    assert_problem(await haiti.post("reader", arrived(1)), 403, "forbidden")
    assert_problem(await haiti.post("kenya", registered(mission="other")), 403, "forbidden")
    assert_problem(await haiti.post("jamaica", arrived(1)), 403, "forbidden")
    assert (await haiti.post("jamaica", arrived(1, country="JAM"))).status_code == 201
    assert_problem(await haiti.post("system", arrived(1)), 403, "forbidden")
    flag = body(
        "DeadlineFlagged",
        "2024-07-04",
        {
            "deadline": "mandate_expiry",
            "due_on": "2024-10-02",
            "days_remaining": 90,
            "threshold_days": 90,
        },
    )
    assert_problem(await haiti.post("admin", flag), 403, "forbidden")
    # A flag must name a deadline the mission has.
    assert_problem(await haiti.post("system", flag), 422, "rule-violation")
    assert (await haiti.post("admin", authorized())).status_code == 201
    assert (await haiti.post("system", flag)).status_code == 201
    assert (
        await haiti.post("kenya", deposit("10", donor="EU", currency="EUR", usd_rate="1.1"))
    ).status_code == 201
    assert_problem(await haiti.post("kenya", deposit("10", donor="USA")), 403, "forbidden")


async def test_amendments_take_the_named_events_permissions(haiti: Api) -> None:
    ken = (await haiti.post("kenya", arrived(400))).json()
    fix = corrected(ken["id"], {"country": "KEN", "personnel": 200, "category": "police"})
    assert_problem(await haiti.post("jamaica", fix), 403, "forbidden")
    fixed = await haiti.post("kenya", fix)
    assert fixed.status_code == 201 and fixed.json()["stream"] == ken["stream"]
    reg = (await haiti.get("/v1/streams/mission:mss-haiti")).json()["events"][0]
    rename = corrected(reg["id"], {"name": "MSS", "lead_country": "KEN", "host_country": "HTI"})
    assert_problem(await haiti.post("kenya", rename), 403, "forbidden")
    assert (await haiti.post("admin", rename)).status_code == 201


async def test_amending_an_amendment_is_authorised_before_it_is_judged(haiti: Api) -> None:
    ken = (await haiti.post("kenya", arrived(400))).json()
    fix = corrected(ken["id"], {"country": "KEN", "personnel": 200, "category": "police"})
    correction = (await haiti.post("kenya", fix)).json()
    undo = {"event_id": correction["id"], "reason": "wrong"}
    retraction = body("EventRetracted", "2024-07-02", undo)
    # Jamaica may not touch Kenya's reports at all: 403, not the rule's 422.
    assert_problem(await haiti.post("jamaica", retraction), 403, "forbidden")
    # Kenya may, and is told why not: a correction is amended through its original.
    problem = assert_problem(await haiti.post("kenya", retraction), 422, "rule-violation")
    assert "amend the original event instead" in problem["errors"][0]["message"]


async def test_auth_errors(haiti: Api) -> None:
    response = await haiti.client.get("/v1/events")
    assert_problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    bad = await haiti.client.get("/v1/events", headers={"Authorization": "Bearer srp_nope_nope"})
    assert_problem(bad, 401, "unauthenticated")
    basic = await haiti.client.get("/v1/events", headers={"Authorization": "Basic YTpi"})
    assert_problem(basic, 401, "unauthenticated")
    post = await haiti.client.post("/v1/events", json=arrived(1))
    assert_problem(post, 401, "unauthenticated")


async def test_request_errors(haiti: Api) -> None:
    auth = haiti.auth("admin")
    malformed = await haiti.client.post(
        "/v1/events", content=b'{"mission": ', headers=auth | {"content-type": "application/json"}
    )
    assert_problem(malformed, 400, "malformed-body")
    text = await haiti.client.post(
        "/v1/events", content=b"mission=x", headers=auth | {"content-type": "text/plain"}
    )
    assert_problem(text, 415, "unsupported-media-type")
    missing = await haiti.client.post("/v1/events", content=b"{}", headers=auth)
    assert_problem(missing, 415, "unsupported-media-type")
    big = arrived(1) | {"notes": "x" * 70_000}
    assert_problem(await haiti.post("admin", big), 413, "payload-too-large")
    huge = {"events": [arrived(1) | {"notes": "x" * 3000}] * 700}
    assert_problem(
        await haiti.post("admin", huge, path="/v1/events/batch"), 413, "payload-too-large"
    )
    invalid = await haiti.post("admin", arrived(1) | {"type": "ContingentTeleported"})
    assert assert_problem(invalid, 422, "invalid-event")["errors"][0]["field"] == "type"
    assert_problem(await haiti.client.get("/v1/nothing-here"), 404, "not-found")
    assert_problem(await haiti.client.delete("/v1/events", headers=auth), 405, "method-not-allowed")
    assert_problem(
        await haiti.post("admin", arrived(1) | {"mission": "mss-nowhere"}), 404, "mission-not-found"
    )
    assert await count(haiti) == 1


async def test_oversized_body_is_refused_before_it_is_read(haiti: Api) -> None:
    # A client that announces a body over the limit is refused on the header alone.
    async def endless() -> Any:
        yield b'{"mission": "'
        while True:
            yield b"x" * 65536
            await asyncio.sleep(0)

    response = await haiti.client.post(
        "/v1/events",
        content=endless(),
        headers=haiti.auth("admin") | {"content-type": "application/json"},
    )
    assert_problem(response, 413, "payload-too-large")


async def test_reads_page_filter_and_404(haiti: Api) -> None:
    for n in range(1, 6):
        assert (await haiti.post("kenya", arrived(n))).status_code == 201
    await haiti.post("jamaica", arrived(1, country="JAM"))
    page = (await haiti.get("/v1/events", after=0, limit=4)).json()
    assert [e["position"] for e in page["events"]] == [1, 2, 3, 4] and page["next"] == 4
    rest = (await haiti.get("/v1/events", after=4, limit=4)).json()
    assert [e["position"] for e in rest["events"]] == [5, 6, 7] and rest["next"] is None
    jam = (await haiti.get("/v1/events", stream="contingent:mss-haiti:JAM")).json()["events"]
    assert [e["data"]["country"] for e in jam] == ["JAM"]
    typed = (await haiti.get("/v1/events", type="MissionRegistered")).json()["events"]
    assert len(typed) == 1
    stream = (await haiti.get("/v1/streams/contingent:mss-haiti:KEN")).json()
    assert stream["version"] == 5 and [e["version"] for e in stream["events"]] == [1, 2, 3, 4, 5]
    assert_problem(await haiti.get("/v1/streams/contingent:mss-haiti:FRA"), 404, "stream-not-found")
    assert_problem(
        await haiti.get("/v1/events/01a20a36-934a-762b-b902-4c607b380523"), 404, "event-not-found"
    )
    assert_problem(await haiti.get("/v1/events", mission="mss-nowhere"), 404, "mission-not-found")
    assert_problem(await haiti.get("/v1/events", limit=1001), 422, "invalid-request")
    assert_problem(await haiti.get("/v1/events", type="Nope"), 422, "invalid-request")


async def test_public_reads(database_url: str, clock: Clock) -> None:
    async for api in open_api(database_url, clock, public_reads=True):
        assert (await api.post("admin", registered())).status_code == 201
        assert (await api.client.get("/v1/events")).status_code == 200
        assert_problem(await api.client.post("/v1/events", json=arrived(1)), 401, "unauthenticated")
        # A bad token is still refused, so a typo does not pass as anonymous.
        bad = await api.client.get("/v1/events", headers={"Authorization": "Bearer nope"})
        assert_problem(bad, 401, "unauthenticated")


async def test_unexpected_errors_are_a_generic_500(
    haiti: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(**_: Any) -> Any:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(haiti.app.state.store, "read", explode)
    response = await haiti.get("/v1/events")
    problem = assert_problem(response, 500, "internal-error")
    assert "secret internals" not in response.text
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_service_endpoints_need_no_token(haiti: Api) -> None:
    for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
        assert (await haiti.client.get(path)).status_code == 200, path
    assert (await haiti.client.get("/problems/version-conflict")).status_code == 200


async def test_cors_for_configured_dashboards(database_url: str, clock: Clock) -> None:
    async for api in open_api(database_url, clock, cors_origins=["https://dash.example.org"]):
        preflight = await api.client.options(
            "/v1/events",
            headers={
                "Origin": "https://dash.example.org",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://dash.example.org"
        other = await api.client.get("/healthz", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


async def test_a_headcount_return_is_posted_like_a_movement(haiti: Api) -> None:
    def count(n: int, country: str = "KEN", **extra: Any) -> dict[str, Any]:
        data = {"country": country, "category": "police", "personnel": n, **extra}
        return body("StrengthReported", "2025-02-05", data)

    assert (await haiti.post("kenya", count(600))).status_code == 201
    assert (await haiti.post("kenya", count(0))).status_code == 201  # none there is a total too
    assert_problem(await haiti.post("jamaica", count(24)), 403, "forbidden")
    assert (await haiti.post("jamaica", count(24, country="JAM"))).status_code == 201
    assert_problem(await haiti.post("reader", count(1)), 403, "forbidden")
    problem = assert_problem(await haiti.post("kenya", count(10, female=11)), 422, "invalid-event")
    assert problem["errors"][0]["message"] == "female must not exceed personnel"
    assert_problem(await haiti.post("kenya", count(-1)), 422, "invalid-event")
    # The return recorded last counts for its date: 0 now, so nobody can leave the next day.
    leave = departed(1, on="2025-02-06")
    assert_problem(await haiti.post("kenya", leave), 422, "rule-violation")
