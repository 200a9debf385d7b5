"""Every read answer typed in OpenAPI (issue 15): the document is valid, each JSON answer has
a schema, the answers are written by their models without a byte changed, and the declared
``known_at`` pattern admits only instants the server accepts."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from openapi_spec_validator import validate
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from api.read_schemas import (
    KNOWN_AT_PATTERN,
    ForceStrengthPublic,
    FundingPublic,
    MandatePublic,
    MissionList,
    TimelinePublic,
    encoder,
)
from api.report_schemas import CountryReports, DonorReports
from api.schemas import AlertList
from events.envelope import format_instant, parse_instant
from projections import alerts, force_strength, funding, mandate, missions, timeline
from sitrep.deadlines import check_deadlines
from tests.alerting import THRESHOLDS, completed, review
from tests.api.conftest import Api
from tests.conftest import (
    Clock,
    arrived,
    authorized,
    body,
    corrected,
    departed,
    deposit,
    pledged,
    registered,
    retracted,
)

KNOWN_AT = re.compile(KNOWN_AT_PATTERN)

# --- the document ---------------------------------------------------------------------------


async def _document(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    found: dict[str, Any] = response.json()
    return found


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


async def test_the_document_is_valid_openapi(api: Api) -> None:
    validate(await _document(api))  # raises on the first error


async def test_every_json_answer_has_a_schema(api: Api) -> None:
    doc = await _document(api)
    untyped, typed = [], []
    for path, method, op in _operations(doc):
        for status, response in op.get("responses", {}).items():
            schema = response.get("content", {}).get("application/json", {"schema": None})["schema"]
            if not status.startswith("2") or schema is None:
                continue
            if schema in ({}, {"type": "object"}, {"additionalProperties": True}):
                untyped.append(f"{method.upper()} {path} {status}")
            else:
                typed.append(op["operationId"])
    assert untyped == []
    assert {"listMissions", "getForceStrength", "getFunding", "getMandate", "getTimeline",
            "listAlerts", "healthz", "readyz"} <= set(typed)  # fmt: skip


async def test_the_read_answers_name_their_models(api: Api) -> None:
    doc = await _document(api)
    refs = {
        op["operationId"]: op["responses"]["200"]["content"]["application/json"]["schema"]
        for _, _, op in _operations(doc)
        if "application/json" in op.get("responses", {}).get("200", {}).get("content", {})
    }
    named = {
        "listMissions": "MissionList", "getForceStrength": "ForceStrengthPublic",
        "getFunding": "FundingPublic", "getMandate": "MandatePublic",
        "getTimeline": "TimelinePublic", "listAlerts": "AlertList", "healthz": "HealthPublic",
        "readyz": "ReadinessPublic",
    }  # fmt: skip
    for operation, model in named.items():
        assert refs[operation] == {"$ref": f"#/components/schemas/{model}"}
    schemas = doc["components"]["schemas"]
    funds = schemas["FundingPublic"]["properties"]
    assert funds["pledged"]["pattern"] == r"^-?\d+\.\d{2}$"
    assert funds["coverage"]["anyOf"] == [{"type": "number"}, {"type": "null"}]
    assert schemas["ForceStrengthPublic"]["properties"]["known_at"]["format"] == "date-time"
    assert schemas["ForceStrengthPublic"]["properties"]["as_of"]["format"] == "date"
    assert "from" in schemas["TimelinePublic"]["properties"]
    assert "date" in schemas["TimelinePoint"]["properties"]
    by_category = schemas["CountryReports"]["properties"]["by_category"]
    assert by_category["$ref"] == "#/components/schemas/CategoryStrengthPublic"


async def test_operation_ids_are_unique_and_plain(api: Api) -> None:
    ids = [op["operationId"] for _, _, op in _operations(await _document(api))]
    assert len(ids) == len(set(ids))
    assert not [i for i in ids if "_v1_" in i or "v1" in i.lower()]


async def test_known_at_is_declared_with_the_pattern_everywhere(api: Api) -> None:
    doc = await _document(api)
    declared = [
        (op["operationId"], p["schema"])
        for _, _, op in _operations(doc)
        for p in op.get("parameters", [])
        if p["name"] == "known_at"
    ]
    assert {"getForceStrength", "getFunding", "getMandate", "getTimeline", "getReport",
            "exportForceStrength", "getForceStrengthOfCountry",
            "getFundingOfDonor"} <= {o for o, _ in declared}  # fmt: skip
    for _, schema in declared:
        assert {"type": "string", "format": "date-time", "pattern": KNOWN_AT_PATTERN} in [
            {k: v for k, v in s.items() if k != "examples"} for s in schema["anyOf"]
        ]


# --- the known_at pattern against parse_instant --------------------------------------------


@given(st.from_regex(KNOWN_AT, fullmatch=True))
@example("0001-01-01T00:00:00Z")
@example("9999-12-31T23:59:59.999999999Z")
@example("2000-02-29t23:59:59-23:59")
@example("0004-02-29T00:00:00+23:59")
def test_every_declared_known_at_is_accepted(value: str) -> None:
    assert isinstance(parse_instant(value), datetime)


offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@given(st.datetimes(timezones=offsets), st.sampled_from(["T", "t"]), st.booleans())
@example(datetime(2024, 2, 29, tzinfo=UTC), "T", True)
def test_every_rfc3339_instant_the_server_accepts_is_declared(
    moment: datetime, sep: str, zulu: bool
) -> None:
    """The pattern leaves out only what parse_instant refuses, and instants in 0001 and 9999
    away from UTC (documented: an offset there may leave the range of dates)."""
    text = moment.isoformat(sep=sep)
    if zulu and moment.utcoffset() == timedelta(0):
        text = text.removesuffix("+00:00") + "Z"
    try:
        parse_instant(text)
    except ValueError:
        assert not KNOWN_AT.search(text)
        return
    if moment.year in (1, 9999) and moment.utcoffset() != timedelta(0):
        return
    assert KNOWN_AT.search(text), text


@pytest.mark.parametrize(
    "refused",
    ["2024-07-01T00:00:00", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z", "0000-01-01T00:00:00Z",
     "2024-07-01T24:00:00Z", "2024-07-01T23:59:60Z", "2024-07-01T00:00:00+24:00",
     "2024-04-31T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-00:01",
     "\uff12\uff10\uff12\uff14-07-01T00:00:00Z", "2024-07-01T00:00:00Z\n"],
)  # fmt: skip
def test_what_parse_instant_refuses_is_not_declared(refused: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(refused)
    assert not KNOWN_AT.search(refused)


async def test_a_bad_known_at_keeps_the_servers_message(haiti: Api) -> None:
    for path in ("/v1/missions/mss-haiti/force-strength", "/v1/missions/mss-haiti/report"):
        response = await haiti.get(path, known_at="2024-07-01T00:00:00")
        assert response.status_code == 422
        assert response.json()["errors"] == [{
            "field": "query.known_at",
            "message": "must be an RFC 3339 instant with an offset, e.g. 2024-07-01T00:00:00Z",
        }]  # fmt: skip
    for edge in ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z"):
        found = await haiti.get("/v1/missions/mss-haiti/force-strength", known_at=edge)
        assert found.status_code == 200, found.text


DATED_READS = [
    ("/v1/missions/mss-haiti/force-strength", "as_of"),
    ("/v1/missions/mss-haiti/funding", "as_of"),
    ("/v1/missions/mss-haiti/mandate", "as_of"),
    ("/v1/missions/mss-haiti/force-strength.csv", "as_of"),
    ("/v1/missions/mss-haiti/timeline", "to"),
    ("/v1/missions/mss-haiti/report", "to"),
    ("/v1/missions/mss-haiti/report.md", "to"),
]


@pytest.mark.parametrize(("path", "name"), DATED_READS)
async def test_a_date_in_a_query_is_written_as_a_date(haiti: Api, path: str, name: str) -> None:
    """`format: date` means YYYY-MM-DD: `as_of=0` was read as 1970-01-01 (a Unix time)."""
    for wrong in ("0", "1719792000", "20240701", "2024-7-1"):
        response = await haiti.get(path, **{name: wrong})
        assert response.status_code == 422, f"{name}={wrong}: {response.text}"
        assert response.json()["errors"][0]["field"] == f"query.{name}"
    right = await haiti.get(path, **{name: "2024-07-01"})
    assert right.status_code == 200, right.text


# --- the answers, byte for byte -------------------------------------------------------------


async def _posted(api: Api, who: str, event: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(who, event)
    assert response.status_code == 201, response.text
    found: dict[str, Any] = response.json()
    return found


def _funds(type_: str, on: str, donor: str, amount: str, channel: str, **extra: Any) -> Any:
    data = {"donor": donor, "amount": amount, "currency": "USD", "channel": channel, **extra}
    return body(type_, on, data)


async def _history(api: Api, clock: Clock) -> str:
    """A mission with mandate, reviews, budget, pledges, movements, a headcount, money on every
    channel, a correction and a retraction, and a successor; returns an instant before the
    corrections."""
    await _posted(api, "admin", authorized())
    await _posted(api, "admin", body("MandateRenewed", "2024-09-30", {
        "resolution": "S/RES/2751 (2024)", "expires_on": "2025-10-02"}))  # fmt: skip
    await _posted(api, "admin", review("sg-1", "2024-07-15", "2024-06-01"))
    await _posted(api, "admin", review("sc-2", "2025-01-15", "2024-06-01"))
    # Every review body the catalogue takes, "other" included (the demo's OAS review is one).
    other = review("oas-1", "2025-03-01", "2024-06-01")
    other["data"]["body"] = "other"
    await _posted(api, "admin", other)
    await _posted(api, "admin", completed("sg-1", "2024-07-12"))
    await _posted(api, "admin", body("BudgetRequirementSet", "2024-01-01", {
        "amount_usd": "600000000", "period_start": "2024-01-01",
        "period_end": "2024-12-31"}))  # fmt: skip
    countries = ["KEN", "JAM", "BHS", "BLZ", "GTM", "SLV", "BEN", "TCD"]
    for i, country in enumerate(countries):
        await _posted(api, "admin", pledged(100 * (i + 1), country=country))
        if i % 3 != 2:
            category = ["police", "military"][i % 2]
            await _posted(api, "admin", arrived(20 * (i + 1), country=country, female=i,
                                                category=category))  # fmt: skip
    first = await _posted(api, "admin", arrived(400, female=30))
    await _posted(api, "admin", departed(50, "2024-08-01"))
    await _posted(api, "admin", body("StrengthReported", "2024-09-01", {
        "country": "JAM", "category": "military", "personnel": 37, "female": 4}))  # fmt: skip
    await _posted(api, "admin", _funds("FundsPledged", "2023-09-22", "CAN", "10000000",
                                       "trust_fund"))  # fmt: skip
    await _posted(api, "admin", _funds("FundsCommitted", "2024-02-01", "USA", "15000000.5",
                                       "bilateral"))  # fmt: skip
    await _posted(api, "admin", deposit("10800000.00"))
    wrong = await _posted(api, "admin", _funds("FundsDeposited", "2024-03-05", "EU", "333.333",
                                               "in_kind"))  # fmt: skip
    await _posted(api, "admin", _funds("FundsDeposited", "2024-04-05", "CAN", "1000000.01",
                                       "trust_fund"))  # fmt: skip
    clock.advance(days=1)
    before = format_instant(clock.now)
    clock.advance(days=1)
    fixed = {"country": "KEN", "personnel": 200, "category": "police", "female": 30}
    await _posted(api, "admin", corrected(first["id"], fixed))
    await _posted(api, "admin", retracted(wrong["id"]))
    for mission in ("gsf-haiti", "other"):
        await _posted(api, "admin", registered(mission=mission))
    await _posted(api, "admin", body("MandateEnded", "2025-10-02", {
        "reason": "transition", "successor_mission": "gsf-haiti"}))  # fmt: skip
    await run_in_threadpool(check_deadlines, api.app.state.store, api.app.state.projector,
                            date(2024, 7, 4), THRESHOLDS)  # fmt: skip
    return before


def _same(response: Any, direct: dict[str, Any], model: type[BaseModel]) -> None:
    assert response.status_code == 200, response.text
    assert response.content == orjson.dumps(direct)
    redone = model.model_validate_json(response.content).model_dump_json(by_alias=True)
    assert redone.encode() == response.content


async def test_answers_unchanged_byte_for_byte(haiti: Api, clock: Clock) -> None:
    before = await _history(haiti, clock)
    after = format_instant(clock.now + timedelta(seconds=1))
    projector = haiti.app.state.projector
    m = "/v1/missions/mss-haiti"

    def direct(read: Any) -> dict[str, Any]:
        found: dict[str, Any] = projector.query(read)
        return found

    read_models: list[tuple[str, Any, type[BaseModel]]] = [
        ("force-strength", force_strength, ForceStrengthPublic),
        ("funding", funding, FundingPublic),
        ("mandate", mandate, MandatePublic),
    ]
    checked = set()
    for name, model, public in read_models:
        for day in ("0001-01-01", "2024-03-31", "2024-09-15", "2025-01-03", "9999-12-31"):
            for known in (before, after):
                at = parse_instant(known)
                response = await haiti.get(f"{m}/{name}", as_of=day, known_at=known)
                expected = direct(lambda c, g, model=model, day=day, at=at: model.as_of(
                    c, g, "mss-haiti", date.fromisoformat(day), at))  # fmt: skip
                _same(response, expected, public)
                checked.add(response.content)
    assert len(checked) > 10  # the dates and instants asked about do give different answers

    strength = orjson.loads((await haiti.get(f"{m}/force-strength", as_of="2024-09-15")).content)
    assert len(strength["by_country"]) >= 8 and strength["by_country"][0]["reported_on"] is None
    assert any(c["reported_on"] == "2024-09-01" for c in strength["by_country"])
    money = orjson.loads((await haiti.get(f"{m}/funding", as_of="2024-09-15")).content)
    assert isinstance(money["coverage"], float) and money["requirement"] == "600000000.00"

    for interval, start, end in (("day", "2024-06-20", "2024-07-20"),
                                 ("week", "2023-09-01", "2025-01-01"),
                                 ("month", "0001-01-01", "0001-03-01")):  # fmt: skip
        response = await haiti.get(f"{m}/timeline", known_at=after, interval=interval,
                                   **{"from": start, "to": end})  # fmt: skip
        expected = direct(lambda c, g, i=interval, s=start, e=end: timeline.as_of(
            c, g, "mss-haiti", date.fromisoformat(s), date.fromisoformat(e), i,
            parse_instant(after)))  # fmt: skip
        _same(response, expected, TimelinePublic)

    response = await haiti.get("/v1/missions")
    today, now = clock.now.date(), clock.now
    listed = direct(lambda c, g: {"missions": missions.listing(c, g, today, now)})
    _same(response, listed, MissionList)
    assert {x["successor_mission"] for x in listed["missions"]} == {"gsf-haiti", None}

    # The provenance answers are described by models built on the entries' own.
    provenance: list[tuple[str, type[BaseModel], str, str, str]] = [
        ("force-strength", CountryReports, "by_country", "country", "KEN"),
        ("funding", DonorReports, "by_donor", "donor", "CAN"),
    ]
    for name, report, listed, field, code in provenance:
        asked = {"as_of": "2024-09-15", "known_at": after}
        response = await haiti.get(f"{m}/{name}/{code}", **asked)
        assert response.status_code == 200, response.text
        found = report.model_validate_json(response.content).model_dump(mode="json")
        whole = (await haiti.get(f"{m}/{name}", **asked)).json()
        (entry,) = [e for e in whole[listed] if e[field] == code]
        assert {k: found[k] for k in entry} == entry and found["events"]

    response = await haiti.get("/v1/alerts")
    flags = {"alerts": alerts.listing(haiti.app.state.store)}
    assert len(flags["alerts"]) >= 2
    _same(response, flags, AlertList)


async def test_an_answer_its_model_does_not_describe_is_logged_and_sent_as_computed(
    haiti: Api, caplog: pytest.LogCaptureFixture
) -> None:
    """The models forbid extra fields, so a projection that grows one fails the byte-for-byte
    tests above; in service the answer still goes out, as computed, with an error logged."""
    encode = encoder(ForceStrengthPublic)
    answer = {"mission": "mss-haiti", "as_of": "2024-07-01",
              "known_at": "2024-07-01T00:00:00.000000Z", "deployed": 0, "pledged": 0,
              "personnel_ceiling": None, "by_country": []}  # fmt: skip
    assert encode(answer) == orjson.dumps(answer)
    assert not caplog.records
    for wrong, field in (({**answer, "surprise": 1}, "surprise"),
                         ({**answer, "known_at": "2024-07-01T00:00:00Z"}, "known_at")):  # fmt: skip
        caplog.clear()
        assert encode(wrong) == orjson.dumps(wrong)
        (record,) = caplog.records
        assert record.levelname == "ERROR" and "ForceStrengthPublic" in record.getMessage()
        assert field in record.getMessage()
        with pytest.raises(ValueError):
            ForceStrengthPublic.model_validate(wrong)
