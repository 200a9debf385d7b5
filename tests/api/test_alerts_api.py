"""``GET /v1/alerts``: flagged deadlines with their webhook delivery state (CONTRACT §4, §7)."""

from __future__ import annotations

import socket
from datetime import date
from typing import Any

import pytest
from starlette.concurrency import run_in_threadpool

from sitrep.deadlines import check_deadlines
from sitrep.webhooks import Dispatcher
from tests.alerting import SECRET, THRESHOLDS, completed, receiving, review
from tests.api.conftest import Api, open_api
from tests.api.test_events_api import assert_problem
from tests.conftest import Clock, authorized, body, registered


async def check(api: Api, day: str) -> list[Any]:
    app = api.app
    return await run_in_threadpool(
        check_deadlines, app.state.store, app.state.projector, date.fromisoformat(day), THRESHOLDS
    )


@pytest.fixture
async def mss(haiti: Api) -> Api:
    assert (await haiti.post("admin", authorized())).status_code == 201
    response = await haiti.post("admin", review("sg-1", "2024-07-15", "2024-06-01"))
    assert response.status_code == 201
    return haiti


async def test_alerts_list_flags_in_recorded_order(mss: Api) -> None:
    assert (await mss.get("/v1/alerts", mission="mss-haiti")).json() == {"alerts": []}
    # a pass flags a mission's mandate first, then its reviews
    [mandate, sg1] = await check(mss, "2024-07-04")
    assert (mandate.data["deadline"], sg1.data["deadline"]) == ("mandate_expiry", "review_due")
    await mss.post("admin", completed("sg-1", "2024-07-12"))
    [later] = await check(mss, "2024-09-01")
    response = await mss.get("/v1/alerts", mission="mss-haiti")
    assert response.status_code == 200
    alerts = response.json()["alerts"]
    assert [a["id"] for a in alerts] == [mandate.id, sg1.id, later.id]
    first = next(a for a in alerts if a["id"] == mandate.id)
    assert first == {
        "id": mandate.id,
        "mission": "mss-haiti",
        "deadline": "mandate_expiry",
        "due_on": "2024-10-02",
        "days_remaining": 90,
        "threshold_days": 90,
        "resolution": "S/RES/2699 (2023)",
        "review_id": None,
        "occurred_on": "2024-07-04",
        "recorded_at": first["recorded_at"],
        "deliveries": [],
    }
    assert first["recorded_at"].endswith("Z")
    review_flag = next(a for a in alerts if a["id"] == sg1.id)
    assert (review_flag["review_id"], review_flag["resolution"]) == ("sg-1", None)
    assert (review_flag["threshold_days"], review_flag["days_remaining"]) == (14, 11)
    # without ?mission= every mission's flags
    assert (await mss.get("/v1/alerts")).json() == response.json()


async def test_alerts_show_the_delivery_state_per_url(database_url: str, clock: Clock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        down_port = sock.getsockname()[1]
    down = f"http://127.0.0.1:{down_port}/hooks?token=secret-in-url"
    with receiving() as receiver:
        urls = [receiver.url, down]
        async for api in open_api(database_url, clock, webhook_urls=urls, webhook_secret=SECRET):
            await api.post("admin", registered())
            await api.post("admin", authorized())
            [flag] = await check(api, "2024-07-04")
            dispatcher = Dispatcher(
                api.app.state.store, urls, SECRET, clock=clock, jitter=lambda: 1.0
            )
            try:
                await run_in_threadpool(dispatcher.run_once)
            finally:
                dispatcher.close()
            [alert] = (await api.get("/v1/alerts", mission="mss-haiti")).json()["alerts"]
            assert alert["id"] == flag.id
            by_url = {d["url"]: d for d in alert["deliveries"]}
            assert set(by_url) == {receiver.url, f"http://127.0.0.1:{down_port}/hooks?…"}
            delivered = by_url[receiver.url]
            assert delivered["state"] == "delivered"
            assert delivered["attempts"] == 1
            assert delivered["last_error"] is None
            assert delivered["delivered_at"].endswith("Z")
            assert delivered["next_attempt_at"] is None
            pending = by_url[f"http://127.0.0.1:{down_port}/hooks?…"]
            assert pending["state"] == "pending"
            assert pending["attempts"] == 1
            assert pending["last_error"].startswith("ConnectError")
            assert pending["delivered_at"] is None
            assert pending["next_attempt_at"] > delivered["delivered_at"]
            assert "secret-in-url" not in str(alert)
    assert receiver.ids() == [flag.id]


async def test_alerts_need_a_token_and_a_known_mission(mss: Api) -> None:
    assert_problem(await mss.get("/v1/alerts", who=None), 401, "unauthenticated")
    assert_problem(await mss.get("/v1/alerts", mission="unknown"), 404, "mission-not-found")
    problem = assert_problem(await mss.get("/v1/alerts", mission="Not A Mission"), 422,
                             "invalid-request")  # fmt: skip
    assert problem["errors"][0]["field"] == "query.mission"


async def test_public_reads_need_no_token(database_url: str, clock: Clock) -> None:
    async for api in open_api(database_url, clock, public_reads=True):
        response = await api.get("/v1/alerts", who=None)
        assert response.status_code == 200
        assert response.json() == {"alerts": []}


async def test_a_flag_posted_by_the_system_token_is_listed_and_a_retracted_one_is_not(
    mss: Api,
) -> None:
    flag = body(
        "DeadlineFlagged",
        "2024-07-04",
        {"deadline": "mandate_expiry", "due_on": "2024-10-02", "days_remaining": 90,
         "threshold_days": 90, "resolution": "S/RES/2699 (2023)"},
    )  # fmt: skip
    assert_problem(await mss.post("admin", flag), 403, "forbidden")
    posted = await mss.post("system", flag)
    assert posted.status_code == 201
    assert posted.json()["recorded_by"] == "scheduler"
    # the scheduler sees it as flagged already
    assert [f.data["deadline"] for f in await check(mss, "2024-07-05")] == ["review_due"]
    listed = (await mss.get("/v1/alerts", mission="mss-haiti")).json()["alerts"]
    assert posted.json()["id"] in [a["id"] for a in listed]
    retraction = body(
        "EventRetracted", "2024-07-05", {"event_id": posted.json()["id"], "reason": "test"}
    )
    assert (await mss.post("system", retraction)).status_code == 201
    listed = (await mss.get("/v1/alerts", mission="mss-haiti")).json()["alerts"]
    assert posted.json()["id"] not in [a["id"] for a in listed]


async def test_alerts_in_the_openapi_document(api: Api) -> None:
    document = (await api.client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/alerts"]["get"]
    assert operation["tags"] == ["alerts"]
    assert set(operation["responses"]) >= {"200", "401", "404", "422"}
