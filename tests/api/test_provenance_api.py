"""Where a figure comes from (CONTRACT §4): a country's or donor's entry and its reports."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import Api
from tests.api.test_events_api import assert_problem
from tests.conftest import Clock, arrived, body, corrected, departed, deposit, retracted


async def test_a_countrys_figure_lists_the_effective_reports_behind_it(
    haiti: Api, clock: Clock
) -> None:
    first = (await haiti.post("kenya", arrived(400, on="2024-06-25"))).json()
    before_fix = clock.now.isoformat().replace("+00:00", "Z")
    clock.advance(seconds=5)
    fix = corrected(first["id"], {"country": "KEN", "personnel": 200, "category": "police"})
    fixed = (await haiti.post("kenya", fix)).json()
    second = (await haiti.post("kenya", arrived(200, on="2024-07-16"))).json()
    wrong = (await haiti.post("kenya", departed(10, on="2024-08-01"))).json()
    await haiti.post("kenya", retracted(wrong["id"]))
    count: dict[str, Any] = {"country": "KEN", "category": "police", "personnel": 600}
    (await haiti.post("kenya", body("StrengthReported", "2025-02-05", count))).json()
    await haiti.post("jamaica", arrived(24, country="JAM"))

    answer = (await haiti.get("/v1/missions/mss-haiti/force-strength/KEN",
                              as_of="2025-02-05")).json()  # fmt: skip
    assert (answer["country"], answer["deployed"], answer["reported_on"], answer["unreconciled"]) \
        == ("KEN", 600, "2025-02-05", 200)  # fmt: skip
    listed = [(e["id"], e["effective"]["occurred_on"], e["effective"]["data"]["personnel"],
               e["corrected_by"]) for e in answer["events"]]  # fmt: skip
    assert listed[0] == (first["id"], "2024-06-25", 200, [fixed["id"]])
    assert listed[1] == (second["id"], "2024-07-16", 200, [])
    assert listed[2][1:3] == ("2025-02-05", 600)
    assert len(listed) == 3  # the retracted departure is left out, Jamaica is not Kenya's
    assert answer["events"][0]["data"]["personnel"] == 400  # the stored envelope, unchanged
    assert answer["events"][0]["recorded_by"] == "kenya-desk"
    # Like every read, it answers 304 to a client that has it already.
    path = "/v1/missions/mss-haiti/force-strength/KEN?as_of=2025-02-05"
    etag = (await haiti.client.get(path, headers=haiti.auth("reader"))).headers["etag"]
    again = await haiti.client.get(path, headers=haiti.auth("reader") | {"If-None-Match": etag})
    assert again.status_code == 304

    # As known before the correction: the report as it was made.
    then = (await haiti.get("/v1/missions/mss-haiti/force-strength/KEN", as_of="2024-12-31",
                            known_at=before_fix)).json()  # fmt: skip
    assert [(e["effective"]["data"]["personnel"], e["corrected_by"]) for e in then["events"]] \
        == [(400, [])]  # fmt: skip
    assert then["deployed"] == 400

    nothing_yet = await haiti.get("/v1/missions/mss-haiti/force-strength/KEN", as_of="2024-01-01")
    assert_problem(nothing_yet, 404, "stream-not-found")
    assert_problem(await haiti.get("/v1/missions/mss-haiti/force-strength/BEN"), 404,
                   "stream-not-found")  # fmt: skip
    assert_problem(await haiti.get("/v1/missions/mss-haiti/force-strength/x%20y"), 404,
                   "stream-not-found")  # fmt: skip


async def test_a_donors_figure_lists_its_funds_reports(haiti: Api) -> None:
    made = (await haiti.post("admin", deposit("10800000.00"))).json()
    answer = (await haiti.get("/v1/missions/mss-haiti/funding/USA", as_of="2024-12-31")).json()
    assert (answer["donor"], answer["deposited"], answer["outstanding"]) == (
        "USA", "10800000.00", "0.00")  # fmt: skip
    assert [e["id"] for e in answer["events"]] == [made["id"]]
    assert answer["events"][0]["effective"] == {"occurred_on": "2024-03-01",
                                                "data": made["data"]}  # fmt: skip
    assert_problem(await haiti.get("/v1/missions/mss-haiti/funding/CAN"), 404, "stream-not-found")


async def test_openapi_gives_the_provenance_answers_their_schemas(api: Api) -> None:
    from pydantic import TypeAdapter

    from api.report_schemas import CountryReports

    doc = (await api.client.get("/openapi.json")).json()
    for path, model in (("/v1/missions/{mission}/force-strength/{country}", "CountryReports"),
                        ("/v1/missions/{mission}/funding/{donor}", "DonorReports")):  # fmt: skip
        content = doc["paths"][path]["get"]["responses"]["200"]["content"]
        assert content["application/json"]["schema"] == {"$ref": f"#/components/schemas/{model}"}
    await api.post("admin", body("MissionRegistered", "2023-10-02", {
        "name": "MSS", "lead_country": "KEN", "host_country": "HTI"}))  # fmt: skip
    await api.post("kenya", arrived(400, on="2024-06-25"))
    answer = (await api.get("/v1/missions/mss-haiti/force-strength/KEN")).json()
    TypeAdapter(CountryReports).validate_python(answer)  # the answer fits its schema
