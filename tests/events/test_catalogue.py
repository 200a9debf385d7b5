"""Shape, codes and ranges of the catalogue (no database needed)."""

from __future__ import annotations

from typing import Any

import pytest

from events import catalogue
from events.errors import InvalidEvent
from tests.conftest import arrived, body, deposit, registered


def errors(raw: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidEvent) as info:
        catalogue.parse_event(raw)
    return {e.field: e.message for e in info.value.errors}


def test_every_contract_type_is_in_the_catalogue() -> None:
    assert set(catalogue.EVENT_TYPES) == {
        "MissionRegistered",
        "MandateAuthorized",
        "MandateRenewed",
        "MandateEnded",
        "ReviewScheduled",
        "ReviewCompleted",
        "BudgetRequirementSet",
        "PersonnelPledged",
        "PledgeWithdrawn",
        "ContingentArrived",
        "ContingentDeparted",
        "FundsPledged",
        "FundsCommitted",
        "FundsDeposited",
        "EventCorrected",
        "EventRetracted",
        "DeadlineFlagged",
    }
    for spec in catalogue.CATALOGUE.values():
        assert spec.model.model_config["frozen"] and spec.model.model_config["extra"] == "forbid"


def test_unknown_and_missing_type() -> None:
    assert "type" in errors({"mission": "mss-haiti", "type": "ContingentTeleported"})
    assert errors({"mission": "mss-haiti"}) == {"type": "field required"}


def test_field_paths_and_messages() -> None:
    found = errors(
        {
            "mission": "MSS Haiti!",
            "type": "ContingentArrived",
            "occurred_on": "25/06/2024",
            "data": {"country": "XKE", "personnel": 0, "category": "navy", "colour": "blue"},
        }
    )
    assert set(found) == {
        "mission",
        "occurred_on",
        "data.country",
        "data.personnel",
        "data.category",
        "data.colour",
    }
    assert "ISO 3166-1 alpha-3" in found["data.country"]


@pytest.mark.parametrize("bad", [200.0, "200", True, -1, 0])
def test_personnel_is_a_positive_whole_number(bad: Any) -> None:
    raw = arrived(1)
    raw["data"]["personnel"] = bad
    assert "data.personnel" in errors(raw)


@pytest.mark.parametrize("bad", [1718000000, "2024-06-25T10:00:00", "2024-6-5", "2024-02-30"])
def test_dates_are_calendar_dates(bad: Any) -> None:
    assert "occurred_on" in errors(arrived(1, on=bad) | {"occurred_on": bad})


def test_female_not_more_than_personnel() -> None:
    assert "data" in errors(arrived(10, female=11))


def test_money_is_decimal_and_fixed_point() -> None:
    event = catalogue.parse_event(deposit("1E+3"))
    assert event.model_dump(mode="json")["data"]["amount"] == "1000"
    assert "data.amount" in errors(deposit("NaN"))
    assert "data.amount" in errors(deposit("-5"))
    assert "data.amount" in errors(deposit("0.00001"))
    assert "data" in errors(deposit("5", currency="USD", usd_rate="1.2"))


def test_donor_organisations_are_configurable() -> None:
    raw = deposit("100", donor="AU")
    assert "data.donor" in errors(raw)
    event = catalogue.parse_event(raw, donor_organisations=("AU",))
    assert event.data.donor == "AU"


def test_stream_ids() -> None:
    assert catalogue.stream_of("mss-haiti", "MissionRegistered", {}) == "mission:mss-haiti"
    assert (
        catalogue.stream_of("mss-haiti", "ContingentArrived", {"country": "KEN"})
        == "contingent:mss-haiti:KEN"
    )
    assert (
        catalogue.stream_of("mss-haiti", "FundsDeposited", {"donor": "EU"})
        == "funding:mss-haiti:EU"
    )
    assert catalogue.stream_of("mss-haiti", "DeadlineFlagged", {}) == "alerts:mss-haiti"


def test_source_url_must_be_http() -> None:
    assert "source.url" in errors(registered(source={"title": "x", "url": "javascript:alert(1)"}))
    ok = catalogue.parse_event(
        registered(source={"title": "UN News", "url": "https://news.un.org/"})
    )
    assert ok.source.url == "https://news.un.org/"


def test_budget_period_order() -> None:
    raw = body(
        "BudgetRequirementSet",
        "2024-01-01",
        {"amount_usd": "600000000", "period_start": "2024-10-01", "period_end": "2024-01-01"},
    )
    assert "data" in errors(raw)
