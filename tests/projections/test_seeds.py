"""Worked examples from the seed documents (/work/shared/seeds/), read back through the API.

The MSS Haiti history is built from the seeds' own facts, every event citing its seed file in
``source``; the force strength, funding and mandate read models must then give the seeds'
figures, on SQLite and PostgreSQL. Each figure carries a comment naming the seed file and line.

Seed files (line numbers as in ``cat -n``):

- S000 = 000_f9c046ecd52a9c8d.txt  joint statement of the pre-planning conference, 15 Dec 2023
- S001 = 001_ebc181336d5867aa.txt  US meeting on the MSS, Sept 2023 (pledges, US$100 million)
- S002 = 002_c3594066cf8d9073.txt  encyclopaedia snapshot (arrivals, personnel of 3 Jan 2025)
- S003 = 003_68b6a116b75e17c5.txt  UN page on the MSS (first 200 Kenyan police, 25 June 2024)
- S004 = 004_f29083cbe547ff6b.txt  Kenya-Haiti agreement on 1,000 police officers

Where the seeds disagree about Kenya's first contingent (S002:65 "first contingent of 400",
S003:52 "The first 200 Kenyan police officers"), the first report (400) is recorded and then
corrected to 200 citing S003: with the second contingent of 200 (S002:65) that gives the 400
of the S002 personnel table (S002:106), which 400 + 200 would contradict.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.api import conftest as api_fixtures
from tests.api.conftest import Api
from tests.conftest import Clock, body

# The API fixtures live in tests/api/conftest.py; this module shares them (``haiti`` is the app
# over each backend with ``mss-haiti`` registered, ``api`` the one it builds on).
api = api_fixtures.api
haiti = api_fixtures.haiti

S000 = "000_f9c046ecd52a9c8d.txt"
S001 = "001_ebc181336d5867aa.txt"
S002 = "002_c3594066cf8d9073.txt"
S003 = "003_68b6a116b75e17c5.txt"
S004 = "004_f29083cbe547ff6b.txt"

M = "/v1/missions/mss-haiti"
NO_CATEGORY = {"police": 0, "military": 0, "civilian": 0}


def cited(seed: str, event: dict[str, Any]) -> dict[str, Any]:
    return event | {"source": {"title": seed}}


def arrival(seed: str, on: str, country: str, n: int, category: str, unit: str) -> dict[str, Any]:
    data = {"country": country, "personnel": n, "category": category, "unit": unit,
            "location": "Port-au-Prince"}  # fmt: skip
    return cited(seed, body("ContingentArrived", on, data))


def pledge(seed: str, on: str, country: str, n: int, category: str) -> dict[str, Any]:
    data = {"country": country, "personnel": n, "category": category}
    return cited(seed, body("PersonnelPledged", on, data))


def money(seed: str, type_: str, on: str, donor: str, amount: str, channel: str) -> dict[str, Any]:
    data = {"donor": donor, "amount": amount, "currency": "USD", "channel": channel}
    return cited(seed, body(type_, on, data))


def instant(clock: Clock) -> str:
    """The clock's current instant as RFC 3339 with ``Z``, for ``known_at``."""
    return clock.now.isoformat().replace("+00:00", "Z")


async def post(api: Api, who: str, event: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(who, event)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["source"] == event["source"]
    return created


async def read(api: Api, what: str, **params: str) -> dict[str, Any]:
    response = await api.get(f"{M}/{what}", **params)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


@dataclass
class Seeded:
    kenya_first: dict[str, Any]  # the first report of Kenya's first contingent (400)
    jamaica_again: dict[str, Any]  # a second report of the Jamaicans already recorded
    before_correction: str  # known_at instants around the correction and the retraction
    after_correction: str
    before_retraction: str
    after_retraction: str


async def seed_history(api: Api, clock: Clock) -> Seeded:
    """The seeds' MSS Haiti history; ``api`` has already registered ``mss-haiti``."""
    # --- mandate ---------------------------------------------------------------------------
    # S000:8 "Resolution 2699 (2023) on 2 October 2023"; S000:9 "for an initial period of 12
    # months from the date of adoption"; S002:29 "Code S/RES/2699"; S003:54 "S/RES/2699 (2023)".
    # No personnel ceiling is given in any seed, so none is sent.
    await post(api, "admin", cited(S000, body("MandateAuthorized", "2023-10-02", {
        "resolution": "S/RES/2699 (2023)", "expires_on": "2024-10-02"})))  # fmt: skip

    # --- personnel pledges -----------------------------------------------------------------
    # S004:7 "on October 13, 2023, the National Security Council and Cabinet approved the
    # deployment of 1,000 police officers" (S004:12: Kenya first offered 1,000 in July 2023).
    await post(api, "kenya", pledge(S004, "2023-10-13", "KEN", 1000, "police"))
    # S002:71 "6 soldiers of the Royal Bahamas Defence Force (from a initially promised 150)";
    # S001:43 the Bahamas "pledged personnel" at the US meeting of Sept 2023 (the seed gives the
    # month only, via README; 22 Sept 2023 is the Friday of that UNGA week).
    await post(api, "admin", pledge(S002, "2023-09-22", "BHS", 150, "military"))
    # S002:53 "In February 2024 ... Benin pledged to provide 2,000 soldiers" (month only).
    await post(api, "admin", pledge(S002, "2024-02-29", "BEN", 2000, "military"))
    # S002:71 two groups of 75 "completing Guatemala's deployment of pledged troops" -> 150
    # pledged; no pledge date is given, so it is dated with the first Guatemalan landing.
    await post(api, "admin", pledge(S002, "2025-01-03", "GTM", 150, "military"))

    # --- money -----------------------------------------------------------------------------
    # S001:45 "We intend to work with our Congress to provide US$100 million in support" (the
    # US meeting of Sept 2023). Not the UN trust fund (S002:57 puts all trust-fund pledges at
    # $78 million), so the channel is bilateral.
    await post(api, "admin", money(S001, "FundsPledged", "2023-09-22", "USA", "100000000",
                                   "bilateral"))  # fmt: skip
    # S002:57 "During March 2024, the U.N. indicated that $78 million had been formally pledged,
    # of which only $10.8 million was deposited, by Canada and France." The seed gives no split
    # between the two donors nor the donors of the $78 million: the even split below is the
    # test's own choice, only the total US$10,800,000 and the two donors are seed facts. The
    # deposits are dated 1 March 2024 ("During March 2024"); S000:10 (15 Dec 2023) says the
    # trust fund was still being established, so nothing was deposited by then.
    await post(api, "admin", money(S002, "FundsDeposited", "2024-03-01", "CAN", "5400000.00",
                                   "trust_fund"))  # fmt: skip
    await post(api, "admin", money(S002, "FundsDeposited", "2024-03-01", "FRA", "5400000.00",
                                   "trust_fund"))  # fmt: skip

    # --- arrivals (S002:65-71, table S002:95-107) --------------------------------------------
    # S002:65 "On 25 June 2024, Kenya's first contingent of 400 elite police officers landed"
    # -- the first report; corrected below to S003:52's 200.
    kenya_first = await post(
        api, "kenya", arrival(S002, "2024-06-25", "KEN", 400, "police", "Kenya Police")
    )
    # S002:65 "A second contingent consisting of 200 officers arrived on 16 July."
    await post(api, "kenya", arrival(S002, "2024-07-16", "KEN", 200, "police", "Kenya Police"))
    # S002:65 "On 12 September 2024, two dozen soldiers and police officers from Jamaica";
    # S002:102-104 "Jamaica 24: 20 soldiers (Jamaica Defence Force), 4 police officers (Jamaica
    # Constabulary Force)".
    await post(api, "jamaica", arrival(S002, "2024-09-12", "JAM", 20, "military",
                                       "Jamaica Defence Force"))  # fmt: skip
    await post(api, "jamaica", arrival(S002, "2024-09-12", "JAM", 4, "police",
                                       "Jamaica Constabulary Force"))  # fmt: skip
    # S002:71 "6 soldiers of the Royal Bahamas Defence Force ... deployed on 18 October 2024";
    # S002:98 "Bahamas 6".
    await post(api, "admin", arrival(S002, "2024-10-18", "BHS", 6, "military",
                                     "Royal Bahamas Defence Force"))  # fmt: skip
    # S002:99 "Belize 2 - 2 soldiers (Belize Defence Force)". No arrival date is given; Belize's
    # first mention is S002:67 "As of late October 2024 ... 20 officers from Jamaica and
    # Belize" (its reference 25 is dated 21 October 2024), so it is dated 21 October 2024.
    await post(api, "admin", arrival(S002, "2024-10-21", "BLZ", 2, "military",
                                     "Belize Defence Force"))  # fmt: skip
    # S002:71 "on 3 January 2025, 75 troops of the Guatemalan Army Military police and 8 airmen
    # of the Salvadoran Air Force would land in Port-au-Prince. 75 additional troops ... would
    # land the next day"; S002:100-101 "El Salvador 8", "Guatemala 150".
    await post(api, "admin", arrival(S002, "2025-01-03", "GTM", 75, "military",
                                     "Guatemalan Army military police"))  # fmt: skip
    await post(api, "admin", arrival(S002, "2025-01-03", "SLV", 8, "military",
                                     "Salvadoran Air Force"))  # fmt: skip
    await post(api, "admin", arrival(S002, "2025-01-04", "GTM", 75, "military",
                                     "Guatemalan Army military police"))  # fmt: skip
    # A misreading to retract: S002:67 "alongside 20 officers from Jamaica and Belize" taken
    # for a new Jamaican arrival, when it names the Jamaicans of 12 September and Belize's 2.
    jamaica_again = await post(
        api, "jamaica",
        arrival(S002, "2024-10-21", "JAM", 20, "military", "Jamaica Defence Force"),
    )  # fmt: skip

    # --- the correction, then the retraction, each recorded at a later instant ---------------
    clock.advance(days=1)
    before_correction = instant(clock)
    clock.advance(days=1)
    # S003:52 "The first 200 Kenyan police officers arrived in Haiti on 25 June 2024".
    await post(api, "kenya", cited(S003, body("EventCorrected", "2025-01-05", {
        "event_id": kenya_first["id"],
        "data": {"country": "KEN", "personnel": 200, "category": "police",
                 "unit": "Kenya Police", "location": "Port-au-Prince"},
        "reason": "S003:52 gives 200 for the first contingent; S002:106 totals Kenya at 400",
    })))  # fmt: skip
    clock.advance(days=1)
    after_correction = before_retraction = instant(clock)
    clock.advance(days=1)
    await post(api, "jamaica", cited(S002, body("EventRetracted", "2025-01-05", {
        "event_id": jamaica_again["id"],
        "reason": "duplicate: S002:67's 20 from Jamaica and Belize were already recorded",
    })))  # fmt: skip
    clock.advance(days=1)
    after_retraction = instant(clock)
    return Seeded(kenya_first, jamaica_again, before_correction, after_correction,
                  before_retraction, after_retraction)  # fmt: skip


def table(answer: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(country, deployed, pledged) rows of a force-strength answer, in its order."""
    return [(c["country"], c["deployed"], c["pledged"]) for c in answer["by_country"]]


async def test_force_strength_is_the_seed_personnel_table(haiti: Api, clock: Clock) -> None:
    await seed_history(haiti, clock)
    # S002:95-107 "Current personnel deployed to the mission as of 3 January 2025": Bahamas 6,
    # Belize 2, El Salvador 8, Guatemala 150, Jamaica 24, Kenya 400, "Total 590"; S002:13
    # "Size 590". The table counts Guatemala's second 75, who landed on 4 January (S002:71),
    # so the full table is the strength as of 5 January 2025.
    full = await read(haiti, "force-strength", as_of="2025-01-05")
    assert full["as_of"] == "2025-01-05"
    assert full["deployed"] == 590
    # Pledged: KEN 1,000 (S004:7), GTM 150 (S002:71), BHS 150 (S002:71), BEN 2,000 (S002:53).
    assert full["pledged"] == 3300
    assert full["personnel_ceiling"] is None  # no seed gives a ceiling
    # Most deployed first; Benin, pledged but not deployed, last.
    assert table(full) == [
        ("KEN", 400, 1000),  # S002:106 "Kenya 400 400 police officers (Kenya Police)"
        ("GTM", 150, 150),  # S002:101 "Guatemala 150 150 military police (Guatemalan Army)"
        ("JAM", 24, 0),  # S002:102 "Jamaica 24"
        ("SLV", 8, 0),  # S002:100 "El Salvador 8 8 airmen (Salvadoran Air Force)"
        ("BHS", 6, 150),  # S002:98 "Bahamas 6 6 soldiers"; S002:71 "initially promised 150"
        ("BLZ", 2, 0),  # S002:99 "Belize 2 2 soldiers (Belize Defence Force)"
        ("BEN", 0, 2000),  # S002:53 "Benin pledged to provide 2,000 soldiers"
    ]
    rows = {c["country"]: c for c in full["by_country"]}
    assert rows["KEN"]["by_category"] == NO_CATEGORY | {"police": 400}  # S002:106
    # S002:102-104 "20 soldiers (Jamaica Defence Force)", "4 police officers (... Constabulary)"
    assert rows["JAM"]["by_category"] == NO_CATEGORY | {"military": 20, "police": 4}
    assert rows["GTM"]["by_category"] == NO_CATEGORY | {"military": 150}  # S002:101
    assert all(c["female"] == 0 for c in full["by_country"])  # no seed counts women
    # Six countries deployed (S002:20 "Kenya, Jamaica, Belize, the Bahamas, Guatemala, and El
    # Salvador").
    assert sum(1 for c in full["by_country"] if c["deployed"] > 0) == 6

    # S002:20 "As of 3 January 2025, only just over 500 personnel ... have been deployed": on
    # that day only the first 75 Guatemalans had landed (S002:71): 400+75+24+8+6+2 = 515.
    jan3 = await read(haiti, "force-strength", as_of="2025-01-03")
    assert jan3["deployed"] == 515 and 500 < jan3["deployed"] < 550
    assert [(c, d) for c, d, _ in table(jan3)] == [
        ("KEN", 400), ("GTM", 75), ("JAM", 24), ("SLV", 8), ("BHS", 6), ("BLZ", 2), ("BEN", 0)
    ]  # fmt: skip

    # S002:67 "As of late October 2024 ... Kenya deploying only 400 troops".
    october = await read(haiti, "force-strength", as_of="2024-10-31")
    assert table(october)[0] == ("KEN", 400, 1000)
    assert october["deployed"] == 400 + 24 + 6 + 2  # Jamaica 12 Sep, Bahamas 18 Oct, Belize

    # S003:52 / S002:18 first arrivals on 25 June 2024; nobody the day before.
    assert (await read(haiti, "force-strength", as_of="2024-06-24"))["deployed"] == 0
    june = await read(haiti, "force-strength", as_of="2024-06-25")
    assert june["deployed"] == 200  # S003:52 "The first 200 Kenyan police officers"
    # S002:65 the second Kenyan contingent of 200 "arrived on 16 July".
    assert (await read(haiti, "force-strength", as_of="2024-07-16"))["deployed"] == 400


async def test_funding_by_march_2024_is_the_trust_fund_deposits(haiti: Api, clock: Clock) -> None:
    await seed_history(haiti, clock)
    # S002:57 "During March 2024, the U.N. indicated that ... only $10.8 million was deposited,
    # by Canada and France"; S001:45 "US$100 million in support" (pledged, none deposited).
    march = await read(haiti, "funding", as_of="2024-03-31")
    assert march["currency"] == "USD"
    assert march["deposited"] == "10800000.00"
    assert march["pledged"] == "100000000.00"
    assert march["committed"] == "0.00"
    assert march["outstanding"] == "100000000.00"  # USA's 100M; CAN, FRA pledged nothing
    assert march["requirement"] is None and march["coverage"] is None  # no budget recorded
    assert march["by_channel"]["trust_fund"] == {
        "pledged": "0.00", "committed": "0.00", "deposited": "10800000.00"
    }  # fmt: skip
    assert march["by_channel"]["bilateral"]["pledged"] == "100000000.00"
    donors = {d["donor"]: d for d in march["by_donor"]}
    assert set(donors) == {"USA", "CAN", "FRA"}  # S002:57 "by Canada and France"; S001:45
    # The split is the test's own (the seed gives only the total): 5.4M + 5.4M = 10.8M.
    assert donors["CAN"]["deposited"] == donors["FRA"]["deposited"] == "5400000.00"
    assert donors["CAN"]["outstanding"] == donors["FRA"]["outstanding"] == "0.00"
    assert donors["USA"] == {"donor": "USA", "pledged": "100000000.00", "committed": "0.00",
                             "deposited": "0.00", "outstanding": "100000000.00"}  # fmt: skip
    # S000:10 (15 December 2023) "The United Nations is establishing a Trust Fund": no deposit
    # yet, but the US pledge of Sept 2023 (S001:45) stands.
    december = await read(haiti, "funding", as_of="2023-12-15")
    assert december["deposited"] == "0.00" and december["pledged"] == "100000000.00"


async def test_correction_and_retraction_as_known_before_and_after(
    haiti: Api, clock: Clock
) -> None:
    seeded = await seed_history(haiti, clock)
    # Before the correction: the first report of 400 (S002:65) stands, and so does the
    # misread Jamaican arrival (S002:67): Kenya 400 + 200, Jamaica 24 + 20.
    first = await read(haiti, "force-strength", as_of="2025-01-05",
                       known_at=seeded.before_correction)  # fmt: skip
    assert first["known_at"] == seeded.before_correction
    assert first["deployed"] == 590 + 200 + 20
    assert table(first)[:3] == [("KEN", 600, 1000), ("GTM", 150, 150), ("JAM", 44, 0)]
    june = await read(haiti, "force-strength", as_of="2024-06-30",
                      known_at=seeded.before_correction)  # fmt: skip
    assert june["deployed"] == 400  # S002:65 "first contingent of 400"

    # After the correction to S003:52's 200, before the retraction.
    fixed = await read(haiti, "force-strength", as_of="2025-01-05",
                       known_at=seeded.after_correction)  # fmt: skip
    assert fixed["deployed"] == 590 + 20
    assert table(fixed)[:3] == [("KEN", 400, 1000), ("GTM", 150, 150), ("JAM", 44, 0)]
    june = await read(haiti, "force-strength", as_of="2024-06-30",
                      known_at=seeded.after_correction)  # fmt: skip
    assert june["deployed"] == 200  # S003:52 "The first 200 Kenyan police officers"
    october = await read(haiti, "force-strength", as_of="2024-10-21",
                         known_at=seeded.before_retraction)  # fmt: skip
    assert {c["country"]: c["deployed"] for c in october["by_country"]}["JAM"] == 44

    # After the retraction: the table of S002:95-107 again, Jamaica 24 (S002:102).
    for known_at in (seeded.after_retraction, None):
        params = {"known_at": known_at} if known_at else {}
        now = await read(haiti, "force-strength", as_of="2025-01-05", **params)
        assert now["deployed"] == 590  # S002:107 "Total 590"
        assert table(now)[:3] == [("KEN", 400, 1000), ("GTM", 150, 150), ("JAM", 24, 0)]
    october = await read(haiti, "force-strength", as_of="2024-10-21",
                         known_at=seeded.after_retraction)  # fmt: skip
    assert {c["country"]: c["deployed"] for c in october["by_country"]}["JAM"] == 24

    # The stored events themselves are unchanged: the first report still says 400.
    stored = (await haiti.get(f"/v1/events/{seeded.kenya_first['id']}")).json()
    assert stored["data"]["personnel"] == 400 and stored["source"] == {"title": S002}
    stream = (await haiti.get("/v1/streams/contingent:mss-haiti:KEN")).json()
    assert [e["type"] for e in stream["events"]][-1] == "EventCorrected"
    assert stream["events"][-1]["source"] == {"title": S003}


async def test_mandate_in_2024_is_resolution_2699(haiti: Api, clock: Clock) -> None:
    await seed_history(haiti, clock)
    # S000:8-9 / S003:54: S/RES/2699 (2023) adopted 2 October 2023, twelve months from adoption.
    june = await read(haiti, "mandate", as_of="2024-06-25")  # S003:52 the first arrivals
    assert june["status"] == "active"
    assert june["resolution"] == "S/RES/2699 (2023)"
    assert june["authorized_on"] == "2023-10-02"
    assert june["expires_on"] == "2024-10-02"
    assert june["days_remaining"] == 99  # 25 June -> 2 October 2024
    assert june["personnel_ceiling"] is None
    assert june["history"] == [
        {"type": "MandateAuthorized", "resolution": "S/RES/2699 (2023)",
         "occurred_on": "2023-10-02", "expires_on": "2024-10-02"}
    ]  # fmt: skip
    last = await read(haiti, "mandate", as_of="2024-10-02")  # active through its expiry day
    assert last["status"] == "active" and last["days_remaining"] == 0
    # The seeds record no renewal, so on the day after the twelve months the mandate lapsed.
    after = await read(haiti, "mandate", as_of="2024-10-03")
    assert after["status"] == "lapsed" and after["resolution"] == "S/RES/2699 (2023)"
    # The day before adoption (S000:8 "on 2 October 2023") there was no mandate yet.
    before = await read(haiti, "mandate", as_of="2023-10-01")
    assert before["status"] == "pending" and before["resolution"] is None
