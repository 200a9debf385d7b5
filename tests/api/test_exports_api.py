"""CSV exports with an HXL hashtag row, on SQLite and PostgreSQL: the JSON routes' figures."""

from __future__ import annotations

import csv
from typing import Any

import httpx

from tests.api.conftest import Api
from tests.api.test_events_api import assert_problem
from tests.conftest import Clock, arrived, authorized, body, corrected, deposit, pledged

FORCE = "/v1/missions/mss-haiti/force-strength"
FUNDING = "/v1/missions/mss-haiti/funding"


def read_csv(response: httpx.Response) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """The header row, the HXL hashtag row and the data rows of a CSV answer."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    header, hashtags, *rows = csv.reader(response.text.splitlines())
    assert len(hashtags) == len(header) and all(t.startswith("#") for t in hashtags), hashtags
    return header, hashtags, [dict(zip(header, row, strict=True)) for row in rows]


def tag(header: list[str], hashtags: list[str], column: str) -> str:
    return hashtags[header.index(column)]


def matches(hashtag: str, pattern: str) -> bool:
    """HXL's rule: a pattern matches a column with its hashtag and at least its attributes."""
    name, *attributes = hashtag.split("+")
    wanted, *needed = pattern.split("+")
    return name == wanted and set(needed) <= set(attributes)


async def test_force_strength_csv_matches_the_json(haiti: Api) -> None:
    await haiti.post("admin", authorized())
    await haiti.post("kenya", pledged(1000))
    await haiti.post("kenya", arrived(400, female=30))
    await haiti.post("jamaica", arrived(24, on="2024-07-16", country="JAM", category="military"))
    asked = {"as_of": "2025-01-05", "known_at": "2030-01-01T00:00:00Z"}
    answer = (await haiti.get(FORCE, **asked)).json()
    response = await haiti.get(f"{FORCE}.csv", **asked)
    disposition = 'attachment; filename="mss-haiti-force-strength-2025-01-05.csv"'
    assert response.headers["content-disposition"] == disposition
    header, hashtags, rows = read_csv(response)
    assert header == ["country", "country_name", "deployed", "pledged", "female", "police",
                      "military", "civilian", "reported_on", "unreconciled", "mission", "as_of",
                      "known_at"]  # fmt: skip
    assert tag(header, hashtags, "country") == "#country+code"
    assert tag(header, hashtags, "as_of") == "#date"
    assert matches(tag(header, hashtags, "female"), "#capacity+f")  # HXL: +f for women
    expected = [
        {"country": c["country"], "deployed": str(c["deployed"]), "pledged": str(c["pledged"]),
         "female": str(c["female"]), **{k: str(v) for k, v in c["by_category"].items()},
         "reported_on": "", "unreconciled": "0", "mission": "mss-haiti", "as_of": "2025-01-05",
         "known_at": answer["known_at"]}
        for c in answer["by_country"]
    ]  # fmt: skip
    assert [{k: v for k, v in r.items() if k != "country_name"} for r in rows] == expected
    assert [(r["country"], r["country_name"], r["deployed"]) for r in rows] == [
        ("KEN", "Kenya", "400"), ("JAM", "Jamaica", "24")
    ]  # fmt: skip
    assert sum(int(r["deployed"]) for r in rows) == answer["deployed"] == 424


async def test_force_strength_json_and_csv_carry_the_latest_headcount(
    haiti: Api, clock: Clock
) -> None:
    # CONTRACT §3 worked example: 400 moved in, a return of 600 before the fourth contingent
    # (unreconciled +200), then 144 arrivals, 24 of them women.
    await haiti.post("kenya", arrived(400, on="2024-06-25", female=30))
    count = {"country": "KEN", "category": "police", "personnel": 600}
    await haiti.post("kenya", body("StrengthReported", "2025-02-05", count))
    await haiti.post("kenya", arrived(144, on="2025-02-06", female=24))
    await haiti.post("jamaica", arrived(24, on="2024-07-16", country="JAM", category="military"))
    asked = {"as_of": "2025-02-10", "known_at": "2030-01-01T00:00:00Z"}
    answer = (await haiti.get(FORCE, **asked)).json()
    kenya, jamaica = answer["by_country"]
    assert (kenya["country"], kenya["deployed"], kenya["female"]) == ("KEN", 744, 54)
    assert (kenya["reported_on"], kenya["unreconciled"]) == ("2025-02-05", 200)
    assert (jamaica["reported_on"], jamaica["unreconciled"]) == (None, 0)
    before = (await haiti.get(FORCE, as_of="2025-02-04")).json()["by_country"][0]
    assert (before["deployed"], before["reported_on"], before["unreconciled"]) == (400, None, 0)
    header, hashtags, rows = read_csv(await haiti.get(f"{FORCE}.csv", **asked))
    by_country = {r["country"]: r for r in rows}
    assert {k: by_country["KEN"][k] for k in ("deployed", "reported_on", "unreconciled")} == {
        "deployed": "744", "reported_on": "2025-02-05", "unreconciled": "200"
    }  # fmt: skip
    assert (by_country["JAM"]["reported_on"], by_country["JAM"]["unreconciled"]) == ("", "0")
    assert matches(tag(header, hashtags, "reported_on"), "#date+occurred")
    # Neither new column is taken for the known_at column or for a deployed count.
    assert not matches(tag(header, hashtags, "reported_on"), "#date+reported")
    assert not matches(tag(header, hashtags, "unreconciled"), "#capacity+deployed")
    assert matches(tag(header, hashtags, "unreconciled"), "#capacity+personnel")


async def test_a_correction_changes_the_csv_but_not_what_was_known(
    haiti: Api, clock: Clock
) -> None:
    first = (await haiti.post("kenya", arrived(400))).json()
    before_fix = clock.now.isoformat().replace("+00:00", "Z")
    clock.advance(days=1)
    old = await haiti.get(f"{FORCE}.csv", as_of="2025-01-05")
    assert read_csv(old)[2][0]["deployed"] == "400"
    fixed = {"country": "KEN", "personnel": 200, "category": "police"}
    await haiti.post("kenya", corrected(first["id"], fixed))
    again = await haiti.client.get(
        f"{FORCE}.csv", params={"as_of": "2025-01-05"},
        headers=haiti.auth("reader") | {"If-None-Match": old.headers["etag"]},
    )  # fmt: skip
    assert again.status_code == 200 and again.headers["etag"] != old.headers["etag"]
    assert read_csv(again)[2][0]["deployed"] == "200"
    unchanged = await haiti.client.get(
        f"{FORCE}.csv", params={"as_of": "2025-01-05"},
        headers=haiti.auth("reader") | {"If-None-Match": again.headers["etag"]},
    )  # fmt: skip
    assert unchanged.status_code == 304
    then = await haiti.get(f"{FORCE}.csv", as_of="2025-01-05", known_at=before_fix)
    assert read_csv(then)[2][0]["deployed"] == "400"


async def test_funding_csv_matches_the_json(haiti: Api) -> None:
    await haiti.post("admin", body("FundsPledged", "2023-09-22", {
        "donor": "CAN", "amount": "10000000", "currency": "CAD", "usd_rate": "0.74",
        "channel": "trust_fund"}))  # fmt: skip
    await haiti.post("admin", deposit("10800000.00"))
    await haiti.post("kenya", body("FundsCommitted", "2024-02-01", {
        "donor": "EU", "amount": "5000000", "currency": "EUR", "usd_rate": "1.08",
        "channel": "bilateral"}))  # fmt: skip
    answer = (await haiti.get(FUNDING, as_of="2024-03-31")).json()
    response = await haiti.get(f"{FUNDING}.csv", as_of="2024-03-31")
    assert 'filename="mss-haiti-funding-2024-03-31.csv"' in response.headers["content-disposition"]
    header, hashtags, rows = read_csv(response)
    assert header == ["donor", "donor_name", "pledged", "committed", "deposited", "outstanding",
                      "currency", "mission", "as_of", "known_at"]  # fmt: skip
    assert tag(header, hashtags, "donor_name") == "#org+name+funder"
    assert tag(header, hashtags, "as_of") == "#date"
    # HDX reads "funding received" (its percent funded divides it by the requirement) so.
    assert matches(tag(header, hashtags, "deposited"), "#value+funding+total+usd")
    assert not matches(tag(header, hashtags, "pledged"), "#value+funding+total")
    money = ("pledged", "committed", "deposited", "outstanding")
    assert [{k: r[k] for k in ("donor", *money)} for r in rows] == [
        {k: d[k] for k in ("donor", *money)} for d in answer["by_donor"]
    ]
    by_donor = {r["donor"]: r for r in rows}
    assert by_donor["CAN"]["pledged"] == "7400000.00"
    assert by_donor["USA"]["deposited"] == "10800000.00"
    assert by_donor["EU"]["committed"] == "5400000.00"
    assert [by_donor[d]["donor_name"] for d in ("CAN", "USA", "EU")] == [
        "Canada", "United States", "European Union"
    ]  # fmt: skip
    assert {r["currency"] for r in rows} == {"USD"}
    assert {(r["mission"], r["as_of"]) for r in rows} == {("mss-haiti", "2024-03-31")}


async def test_a_mission_without_figures_has_the_two_header_rows(haiti: Api) -> None:
    for path in (FORCE, FUNDING):
        header, hashtags, rows = read_csv(await haiti.get(f"{path}.csv"))
        assert header and hashtags and rows == []


async def test_refusals_are_problems(haiti: Api) -> None:
    for name in ("force-strength", "funding"):
        unknown = await haiti.get(f"/v1/missions/gss-nowhere/{name}.csv")
        assert_problem(unknown, 404, "mission-not-found")
        bad_day = await haiti.get(f"/v1/missions/mss-haiti/{name}.csv", as_of="2024-13-01")
        problem: dict[str, Any] = assert_problem(bad_day, 422, "invalid-request")
        assert problem["errors"][0]["field"] == "query.as_of"
        no_zone = await haiti.get(
            f"/v1/missions/mss-haiti/{name}.csv", known_at="2024-07-01T00:00:00"
        )
        assert_problem(no_zone, 422, "invalid-request")
        anonymous = await haiti.get(f"/v1/missions/mss-haiti/{name}.csv", who=None)
        assert_problem(anonymous, 401, "unauthenticated")
