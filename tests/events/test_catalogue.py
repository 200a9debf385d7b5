"""Shape, codes and ranges of the catalogue (no database needed)."""

from __future__ import annotations

import types
import unicodedata
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
from pydantic import BaseModel

from events import catalogue, fields
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
        "StrengthReported",
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


# --- text fields (issue 12) ----------------------------------------------------------------

#: Characters no text field may hold: C0 controls but tab, newline and carriage return; DEL and
#: the C1 controls; the bidirectional embeddings, overrides and isolates.
REFUSED = (
    [chr(c) for c in range(0x20) if chr(c) not in "\t\n\r"]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)
#: Ordinary text from the mission's languages and beyond, which every text field keeps as sent.
ORDINARY = [
    "Café de la Paix, Pétion-Ville",
    "Français : façade, garçon, œuvre",
    "Kreyòl ayisyen: Polis Nasyonal d Ayiti",
    "بعثة الدعم الأمني المتعددة الجنسيات",
    "多国安全支援团 / 多国籍安全支援ミッション / 다국적 안보지원",
    "Ελληνικά, русский, עברית, हिन्दी, emoji 🇭🇹",
]


def _free_text(model: type[BaseModel], prefix: str = "") -> dict[str, list[Any]]:
    """Every free-text field of ``model`` and the models in it (a ``str`` without a pattern),
    by dotted path, with the metadata that validates it."""
    found: dict[str, list[Any]] = {}
    for name, info in model.model_fields.items():
        annotation, metadata = info.annotation, list(info.metadata)
        if get_origin(annotation) in (Union, types.UnionType):
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        if get_origin(annotation) is Annotated:
            annotation, *more = get_args(annotation)
            metadata += more
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            found |= _free_text(annotation, f"{prefix}{name}.")
        elif annotation is str and not any(getattr(m, "pattern", None) for m in metadata):
            found[f"{prefix}{name}"] = metadata
    return found


def text_fields() -> dict[str, set[str]]:
    """The free-text fields of each event type, e.g. ``{"MissionRegistered": {"data.name",
    "notes", "source.title", "source.url"}, ...}``."""
    return {type_: set(_free_text(spec.model)) for type_, spec in catalogue.CATALOGUE.items()}


def test_every_free_text_field_refuses_controls_and_bidirectional_overrides() -> None:
    envelope = {"notes", "source.title", "source.url"}
    assert text_fields() == {
        "MissionRegistered": envelope | {"data.name"},
        "MandateAuthorized": envelope | {"data.resolution"},
        "MandateRenewed": envelope | {"data.resolution"},
        "MandateEnded": envelope | {"data.reason"},
        "ReviewScheduled": envelope | {"data.title"},
        "ReviewCompleted": envelope | {"data.outcome", "data.summary"},
        "BudgetRequirementSet": envelope,
        "PersonnelPledged": envelope,
        "PledgeWithdrawn": envelope,
        "ContingentArrived": envelope | {"data.unit", "data.location"},
        "ContingentDeparted": envelope,
        "FundsPledged": envelope,
        "FundsCommitted": envelope | {"data.agreement"},
        "FundsDeposited": envelope,
        "EventCorrected": envelope | {"data.reason"},
        "EventRetracted": envelope | {"data.reason"},
        "DeadlineFlagged": envelope | {"data.resolution"},
        "StrengthReported": envelope,
    }
    # A new text field must go through the same check (tests/api/test_text_fields.py then
    # asks for a case of it).
    for spec in catalogue.CATALOGUE.values():
        for path, metadata in _free_text(spec.model).items():
            checks = [getattr(m, "func", None) for m in metadata]
            assert fields._printable in checks, f"{spec.type}.{path} skips _printable"


@pytest.mark.parametrize("character", REFUSED, ids=[f"U+{ord(c):04X}" for c in REFUSED])
def test_a_refused_character_is_named_wherever_it_stands(character: str) -> None:
    name = unicodedata.name(character, None)
    expected = f"must not contain U+{ord(character):04X} ({name or 'a control character'})"
    # At either end too: U+0085 and U+000B are whitespace and would be stripped unseen.
    for text in (f"MSS{character}Haiti", f"{character}MSS", f"MSS{character}"):
        assert errors(registered(notes=text)) == {"notes": expected}


def test_the_message_names_a_bidirectional_override() -> None:
    raw = registered()
    raw["data"]["name"] = "Mission \u202eitiaH"
    assert errors(raw) == {"data.name": "must not contain U+202E (RIGHT-TO-LEFT OVERRIDE)"}
    raw["data"]["name"] = "Mission \u2067Haiti\u2069"
    assert errors(raw) == {"data.name": "must not contain U+2067 (RIGHT-TO-LEFT ISOLATE)"}
    url = "https://example.org/\x85report"
    found = errors(registered(source={"title": "UN", "url": url}))
    assert found == {"source.url": "must not contain U+0085 (a control character)"}


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_non_ascii_text_is_kept(text: str) -> None:
    event = catalogue.parse_event(arrived(10, unit=text, location=text) | {"notes": text})
    assert (event.data.unit, event.data.location, event.notes) == (text, text, text)
    # Tab, newline and carriage return inside a note are ordinary too.
    assert catalogue.parse_event(registered(notes="a\tb\r\nc")).notes == "a\tb\r\nc"
