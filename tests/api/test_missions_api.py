"""Read models over HTTP: as_of, known_at, corrections, money, ETag (CONTRACT §4)."""

from __future__ import annotations

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
