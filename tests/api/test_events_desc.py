"""GET /v1/events?order=desc: newest first, paged back with `before` (CONTRACT §4)."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.api.test_events_api import assert_problem
from tests.conftest import arrived, deposit, registered


async def page(api: Api, **params: Any) -> dict[str, Any]:
    response = await api.get("/v1/events", **params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def positions(found: dict[str, Any]) -> list[int]:
    return [e["position"] for e in found["events"]]


async def fill(api: Api) -> None:
    """Haiti at 1, its KEN arrivals at 2-4 and 7, a JAM one at 5; mss-two at 6 and 8."""
    for n in (1, 2, 3):
        assert (await api.post("kenya", arrived(n))).status_code == 201
    assert (await api.post("jamaica", arrived(1, country="JAM"))).status_code == 201
    assert (await api.post("admin", registered(mission="mss-two"))).status_code == 201
    assert (await api.post("kenya", arrived(4))).status_code == 201
    second = deposit("10", donor="KEN") | {"mission": "mss-two"}
    assert (await api.post("kenya", second)).status_code == 201


async def test_desc_starts_at_the_newest_and_pages_back_to_the_first(haiti: Api) -> None:
    await fill(haiti)
    newest = await page(haiti, order="desc", limit=3)
    assert positions(newest) == [8, 7, 6] and newest["next"] == 6
    older = await page(haiti, order="desc", before=newest["next"], limit=3)
    assert positions(older) == [5, 4, 3] and older["next"] == 3
    first = await page(haiti, order="desc", before=older["next"], limit=3)
    assert positions(first) == [2, 1] and first["next"] is None
    # The default page (100) holds everything: nothing older to ask for.
    everything = await page(haiti, order="desc")
    assert positions(everything) == list(range(8, 0, -1)) and everything["next"] is None
    # A page ending exactly on the first event has no older page either.
    assert (await page(haiti, order="desc", before=4, limit=3))["next"] is None
    assert (await page(haiti, order="desc", before=1))["events"] == []
    # The same events as the ascending read, reversed.
    assert positions(await page(haiti)) == positions(everything)[::-1]


async def test_desc_filters_by_mission_type_and_stream(haiti: Api) -> None:
    await fill(haiti)
    haiti_only = await page(haiti, order="desc", mission="mss-haiti", limit=4)
    assert positions(haiti_only) == [7, 5, 4, 3] and haiti_only["next"] == 3
    rest = await page(haiti, order="desc", mission="mss-haiti", before=3, limit=4)
    assert positions(rest) == [2, 1] and rest["next"] is None
    two = await page(haiti, order="desc", mission="mss-two", before=8)
    assert positions(two) == [6] and two["next"] is None
    typed = await page(haiti, order="desc", type="ContingentArrived", limit=2)
    assert positions(typed) == [7, 5] and typed["next"] == 5
    assert {e["type"] for e in typed["events"]} == {"ContingentArrived"}
    ken = await page(haiti, order="desc", stream="contingent:mss-haiti:KEN", limit=3)
    assert positions(ken) == [7, 4, 3] and ken["next"] == 3
    assert [e["version"] for e in ken["events"]] == [4, 3, 2]
    oldest = await page(haiti, order="desc", stream="contingent:mss-haiti:KEN", before=3)
    assert positions(oldest) == [2] and oldest["next"] is None
    none = await page(haiti, order="desc", mission="mss-two", type="ContingentArrived")
    assert none == {"events": [], "next": None}


async def test_desc_of_a_mission_with_only_its_registration(haiti: Api) -> None:
    only = await page(haiti, order="desc", mission="mss-haiti", limit=1)
    assert positions(only) == [1] and only["next"] is None


async def test_cursors_belong_to_their_order(haiti: Api) -> None:
    after = assert_problem(
        await haiti.get("/v1/events", order="desc", after=0), 422, "invalid-request"
    )
    assert [e["field"] for e in after["errors"]] == ["query.after"]
    assert "order=desc" in after["errors"][0]["message"]
    before = assert_problem(await haiti.get("/v1/events", before=5), 422, "invalid-request")
    assert [e["field"] for e in before["errors"]] == ["query.before"]
    explicit = assert_problem(
        await haiti.get("/v1/events", order="asc", before=5), 422, "invalid-request"
    )
    assert [e["field"] for e in explicit["errors"]] == ["query.before"]
    for bad in ("descending", "DESC", ""):
        problem = assert_problem(await haiti.get("/v1/events", order=bad), 422, "invalid-request")
        assert "query.order" in {e["field"] for e in problem["errors"]}, problem
    for bad_before in (0, -1, 2**63, "x"):
        problem = assert_problem(
            await haiti.get("/v1/events", order="desc", before=bad_before), 422, "invalid-request"
        )
        assert "query.before" in {e["field"] for e in problem["errors"]}, problem
    limit = assert_problem(
        await haiti.get("/v1/events", order="desc", limit=1001), 422, "invalid-request"
    )
    assert "query.limit" in {e["field"] for e in limit["errors"]}
    # The ascending read is as it was: `after` defaults to 0 and may be given as 0.
    assert positions(await page(haiti, after=0)) == [1]
    assert positions(await page(haiti, order="asc")) == [1]
    assert positions(await page(haiti, order="desc", before=2**63 - 1)) == [1]


async def test_desc_of_an_unknown_mission_is_404(haiti: Api) -> None:
    assert_problem(
        await haiti.get("/v1/events", order="desc", mission="mss-nowhere"), 404, "mission-not-found"
    )
    assert_problem(
        await haiti.get("/v1/events", order="desc", mission="mss-nowhere", before=3),
        404,
        "mission-not-found",
    )


async def test_desc_needs_a_reader(haiti: Api) -> None:
    assert_problem(await haiti.get("/v1/events", who=None, order="desc"), 401, "unauthenticated")


async def test_the_openapi_document_describes_both_orders(haiti: Api) -> None:
    document = (await haiti.client.get("/openapi.json")).json()
    operation = document["paths"]["/v1/events"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["order"]["schema"]["enum"] == ["asc", "desc"]
    assert params["order"]["schema"]["default"] == "asc"
    assert "order=desc" in params["before"]["description"]
    assert "order=asc" in params["after"]["description"]
    next_ = document["components"]["schemas"]["EventPage"]["properties"]["next"]
    assert "`before`" in next_["description"] and "`after`" in next_["description"]
