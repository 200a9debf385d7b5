"""Read models over HTTP: as_of, known_at, corrections, money, ETag (CONTRACT §4)."""

from __future__ import annotations

import re

from tests.api.conftest import Api
from tests.api.test_events_api import assert_problem
from tests.conftest import Clock, arrived, authorized, body, corrected, deposit, pledged, retracted


async def test_force_strength_as_of_and_as_known(haiti: Api, clock: Clock) -> None:
    await haiti.post("admin", authorized())
    await haiti.post("kenya", pledged(1000))
    first = (await haiti.post("kenya", arrived(400, female=30))).json()
    await haiti.post("jamaica", arrived(24, on="2024-07-16", country="JAM"))
    clock.advance(days=2)
    before_fix = clock.now.isoformat().replace("+00:00", "Z")
    clock.advance(days=2)
    fixed = {"country": "KEN", "personnel": 200, "category": "police", "female": 30}
    await haiti.post("kenya", corrected(first["id"], fixed))
    now = (await haiti.get("/v1/missions/mss-haiti/force-strength", as_of="2025-01-03")).json()
    assert now["deployed"] == 224 and now["pledged"] == 1000 and now["personnel_ceiling"] == 2500
    assert [c["country"] for c in now["by_country"]] == ["KEN", "JAM"]
    assert now["by_country"][0]["female"] == 30
    assert now["by_country"][0]["by_category"] == {"police": 200, "military": 0, "civilian": 0}
    then = await haiti.get(
        "/v1/missions/mss-haiti/force-strength", as_of="2025-01-03", known_at=before_fix
    )
    assert then.json()["deployed"] == 424
    early = await haiti.get("/v1/missions/mss-haiti/force-strength", as_of="2024-07-01")
    assert early.json()["deployed"] == 200  # Jamaica arrived on 16 July


async def test_funding_sums_in_usd_and_floors_outstanding(haiti: Api) -> None:
    await haiti.post(
        "admin",
        body(
            "BudgetRequirementSet",
            "2024-01-01",
            {"amount_usd": "600000000", "period_start": "2024-01-01", "period_end": "2024-12-31"},
        ),
    )
    await haiti.post(
        "admin",
        body(
            "FundsPledged",
            "2023-09-22",
            {
                "donor": "CAN",
                "amount": "10000000",
                "currency": "CAD",
                "usd_rate": "0.74",
                "channel": "trust_fund",
            },
        ),
    )
    await haiti.post("admin", deposit("10800000.00"))  # USA deposits with no pledge
    (await haiti.post("admin", deposit("1000000", donor="CAN", currency="CAD", usd_rate="0.74")))
    found = (await haiti.get("/v1/missions/mss-haiti/funding", as_of="2024-03-31")).json()
    assert found["pledged"] == "7400000.00"
    assert found["deposited"] == "11540000.00"
    assert found["outstanding"] == "6660000.00"  # CAN 7.4M - 0.74M; USA floored at 0
    assert found["requirement"] == "600000000.00"
    assert abs(found["coverage"] - 11540000 / 600000000) < 1e-6
    donors = {d["donor"]: d for d in found["by_donor"]}
    assert donors["USA"]["outstanding"] == "0.00"
    outside = (await haiti.get("/v1/missions/mss-haiti/funding", as_of="2025-06-01")).json()
    assert outside["requirement"] is None and outside["coverage"] is None


async def test_mandate_and_timeline(haiti: Api) -> None:
    await haiti.post("admin", authorized())
    await haiti.post("admin", body("MandateRenewed", "2024-09-30", {
        "resolution": "S/RES/2751 (2024)", "expires_on": "2025-10-02"}))  # fmt: skip
    mandate = (await haiti.get("/v1/missions/mss-haiti/mandate", as_of="2024-09-01")).json()
    assert mandate["status"] == "active" and mandate["resolution"] == "S/RES/2699 (2023)"
    assert mandate["days_remaining"] == 31 and mandate["authorized_on"] == "2023-10-02"
    later = (await haiti.get("/v1/missions/mss-haiti/mandate", as_of="2025-10-03")).json()
    assert later["status"] == "lapsed" and later["resolution"] == "S/RES/2751 (2024)"
    assert [h["type"] for h in later["history"]] == ["MandateAuthorized", "MandateRenewed"]
    (arrival,) = [(await haiti.post("kenya", arrived(200))).json()]
    await haiti.post("kenya", retracted(arrival["id"]))
    await haiti.post("kenya", arrived(150, on="2024-07-10"))
    line = (await haiti.get("/v1/missions/mss-haiti/timeline", **{
        "from": "2024-06-01", "to": "2024-08-01", "interval": "month"})).json()  # fmt: skip
    assert [p["deployed"] for p in line["points"]] == [0, 0, 150]
    listing = (await haiti.get("/v1/missions")).json()["missions"]
    assert listing[0]["mission"] == "mss-haiti" and listing[0]["deployed"] == 150


async def test_etag_and_errors(haiti: Api) -> None:
    first = await haiti.get("/v1/missions/mss-haiti/force-strength", as_of="2024-07-01")
    tag = first.headers["etag"]
    again = await haiti.client.get(
        "/v1/missions/mss-haiti/force-strength", params={"as_of": "2024-07-01"},
        headers=haiti.auth("reader") | {"If-None-Match": tag},
    )  # fmt: skip
    assert again.status_code == 304
    await haiti.post("kenya", arrived(5))
    changed = await haiti.client.get(
        "/v1/missions/mss-haiti/force-strength", params={"as_of": "2024-07-01"},
        headers=haiti.auth("reader") | {"If-None-Match": tag},
    )  # fmt: skip
    assert changed.status_code == 200 and changed.json()["deployed"] == 5
    assert_problem(await haiti.get("/v1/missions/mss-nowhere/funding"), 404, "mission-not-found")
    bad = await haiti.get("/v1/missions/mss-haiti/mandate", known_at="2024-07-01T00:00:00")
    assert_problem(bad, 422, "invalid-request")
    assert_problem(await haiti.client.get("/v1/missions"), 401, "unauthenticated")


async def _listing(api: Api) -> dict[str, dict[str, object]]:
    response = await api.get("/v1/missions")
    assert response.status_code == 200, response.text
    return {m["mission"]: m for m in response.json()["missions"]}


async def _posted(api: Api, who: str, event: dict[str, object]) -> dict[str, object]:
    response = await api.post(who, event)
    assert response.status_code == 201, response.text
    found: dict[str, object] = response.json()
    return found


async def test_missions_name_their_successor_and_predecessor(haiti: Api) -> None:
    # The MSS is followed by the GSF (S/RES/2793 (2025)); a third mission stands alone.
    await _posted(haiti, "admin", authorized())
    await _posted(haiti, "admin", body("MandateRenewed", "2024-09-30", {
        "resolution": "S/RES/2751 (2024)", "expires_on": "2025-10-02"}))  # fmt: skip
    for mission, name in (("gsf-haiti", "Gang Suppression Force"), ("other", "Another mission")):
        data = {"name": name, "lead_country": "KEN", "host_country": "HTI"}
        registration = body("MissionRegistered", "2025-09-30", data, mission=mission)
        await _posted(haiti, "admin", registration)
    await _posted(haiti, "admin", body("MandateAuthorized", "2025-09-30", {
        "resolution": "S/RES/2793 (2025)", "expires_on": "2026-09-30",
        "personnel_ceiling": 5550}, mission="gsf-haiti"))  # fmt: skip
    before = await _listing(haiti)
    assert [before[m]["successor_mission"] for m in before] == [None, None, None]
    assert [before[m]["predecessor_mission"] for m in before] == [None, None, None]

    end = await _posted(haiti, "admin", body("MandateEnded", "2025-10-02", {
        "reason": "transition into the Gang Suppression Force",
        "successor_mission": "gsf-haiti"}))  # fmt: skip
    found = await _listing(haiti)
    assert list(found) == ["gsf-haiti", "mss-haiti", "other"]
    assert found["mss-haiti"] == {
        "mission": "mss-haiti", "name": "Multinational Security Support mission",
        "registered_on": "2023-10-02", "status": "ended", "expires_on": "2025-10-02",
        "deployed": 0, "successor_mission": "gsf-haiti", "predecessor_mission": None,
    }  # fmt: skip
    gsf = found["gsf-haiti"]
    assert gsf["successor_mission"] is None and gsf["predecessor_mission"] == "mss-haiti"
    # The clock stands at 23 November 2026: the GSF's twelve months ran out on 30 September.
    assert gsf["status"] == "lapsed" and gsf["expires_on"] == "2026-09-30"
    assert gsf["registered_on"] == "2025-09-30"
    assert found["other"]["successor_mission"] is found["other"]["predecessor_mission"] is None

    # A correction naming another successor moves both links; the GSF then has none.
    await _posted(haiti, "admin", corrected(str(end["id"]), {
        "reason": "succeeded by another mission", "successor_mission": "other"}))  # fmt: skip
    found = await _listing(haiti)
    assert found["mss-haiti"]["successor_mission"] == "other"
    assert found["other"]["predecessor_mission"] == "mss-haiti"
    assert found["gsf-haiti"]["predecessor_mission"] is None

    # A successor need not be registered yet: the name stands, and nothing points back.
    await _posted(haiti, "admin", corrected(str(end["id"]), {
        "reason": "to a force not yet registered", "successor_mission": "new-force"}))  # fmt: skip
    found = await _listing(haiti)
    assert found["mss-haiti"]["successor_mission"] == "new-force"
    assert all(m["predecessor_mission"] is None for m in found.values())

    # Retracted, the end is gone: no succession, and the MSS's mandate is lapsed again.
    await _posted(haiti, "admin", retracted(str(end["id"])))
    found = await _listing(haiti)
    assert found["mss-haiti"]["status"] == "lapsed"
    assert all(m["successor_mission"] is m["predecessor_mission"] is None for m in found.values())


async def test_an_end_without_a_successor_names_none(haiti: Api) -> None:
    await _posted(haiti, "admin", authorized())
    await _posted(haiti, "admin", body("MandateEnded", "2024-06-01", {"reason": "withdrawn"}))
    (found,) = (await _listing(haiti)).values()
    assert found["status"] == "ended"
    assert found["successor_mission"] is None and found["predecessor_mission"] is None


async def test_of_two_missions_naming_one_successor_the_later_end_precedes_it(haiti: Api) -> None:
    for mission in ("mission-b", "merged"):
        data = {"name": mission, "lead_country": "KEN", "host_country": "HTI"}
        registration = body("MissionRegistered", "2024-01-01", data, mission=mission)
        await _posted(haiti, "admin", registration)
    for mission, ended_on in (("mss-haiti", "2025-10-02"), ("mission-b", "2025-03-01")):
        await _posted(haiti, "admin", authorized(mission=mission))
        await _posted(haiti, "admin", body("MandateEnded", ended_on, {
            "reason": "merged", "successor_mission": "merged"}, mission=mission))  # fmt: skip
    found = await _listing(haiti)
    assert found["merged"]["predecessor_mission"] == "mss-haiti"
    assert found["mission-b"]["successor_mission"] == found["mss-haiti"]["successor_mission"]


async def test_operation_ids_are_the_routes_names_in_camel_case(api: Api) -> None:
    """Stable, readable ids for generated clients (issue 15): unique, no FastAPI defaults."""
    doc = (await api.client.get("/openapi.json")).json()
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", i) for i in ids), ids
    assert {"listMissions", "getForceStrength", "getFunding", "getMandate", "getTimeline",
            "appendEvent", "appendBatch", "listEvents", "getReport", "getReportHtml",
            "getForceStrengthOfCountry", "getFundingOfDonor"} <= set(ids)  # fmt: skip
