"""Field types of the catalogue: codes, dates, money, text, and the enumerations of §3."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    Strict,
    StringConstraints,
    WithJsonSchema,
)

from events import codes

MISSION_PATTERN = r"^[a-z0-9][a-z0-9-]{1,31}$"


class Role(StrEnum):
    ADMIN = "admin"
    LIAISON = "liaison"
    READER = "reader"
    SYSTEM = "system"


class Category(StrEnum):
    POLICE = "police"
    MILITARY = "military"
    CIVILIAN = "civilian"


class DepartureReason(StrEnum):
    ROTATION = "rotation"
    REPATRIATION = "repatriation"
    CASUALTY = "casualty"
    MEDICAL = "medical"
    END_OF_TOUR = "end_of_tour"
    OTHER = "other"


class Channel(StrEnum):
    TRUST_FUND = "trust_fund"
    BILATERAL = "bilateral"
    IN_KIND = "in_kind"


class ReviewBody(StrEnum):
    SECURITY_COUNCIL = "security_council"
    SECRETARY_GENERAL = "secretary_general"
    OVERSIGHT = "oversight"
    OTHER = "other"


class DeadlineKind(StrEnum):
    MANDATE_EXPIRY = "mandate_expiry"
    REVIEW_DUE = "review_due"


# --- field types ---------------------------------------------------------------------------

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
#: Every date an event may carry. A mission fact before 1900 or after 2999 is a typing error,
#: and the bound keeps every date the read models derive (steps, countdowns, a year's window)
#: inside the calendar Python can represent.
EARLIEST_DATE, LATEST_DATE = date(1900, 1, 1), date(2999, 12, 31)


def _iso_date(value: Any) -> Any:
    # pydantic's lax date also takes Unix timestamps and datetimes; a report's date is a date.
    if isinstance(value, date) and type(value) is date:
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


def _in_calendar(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(
            f"must be a date from {EARLIEST_DATE.isoformat()} to {LATEST_DATE.isoformat()}"
        )
    return value


def _country(value: str) -> str:
    if not codes.is_country(value):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-3 country code")
    return value


def _currency(value: str) -> str:
    if not codes.is_currency(value):
        raise ValueError(f"{value!r} is not an ISO 4217 currency code")
    return value


def _finite(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite decimal number")
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http or https URL")
    return value


def _plain_decimal(value: Decimal) -> str:
    # "1E+3" and "1000" are the same amount; JSON always carries the fixed-point form.
    return format(value, "f")


ISODate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(_in_calendar)]
MissionId = Annotated[str, StringConstraints(pattern=MISSION_PATTERN)]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_country)]
CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]
DonorCode = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9]{1,15}$")]
Personnel = Annotated[int, Strict(), Field(gt=0, le=100_000)]


def _not_binary_float(value: Any) -> Any:
    # A JSON number arrives as a binary float and may already have lost cents; money travels
    # as decimal strings (whole numbers are exact and accepted too).
    if isinstance(value, float):
        raise ValueError('send money as a decimal string such as "10800000.00", not a JSON number')
    if isinstance(value, bool):
        raise ValueError("must be a decimal string")
    return value


Money = Annotated[
    Decimal,
    BeforeValidator(_not_binary_float),
    Field(gt=0, max_digits=20, decimal_places=4),
    AfterValidator(_finite),
    PlainSerializer(_plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]{1,16}(\.[0-9]{1,4})?$", "examples": ["10800000.00"]}
    ),
]
Rate = Annotated[
    Decimal,
    BeforeValidator(_not_binary_float),
    Field(gt=0, max_digits=24, decimal_places=12),
    AfterValidator(_finite),
    PlainSerializer(_plain_decimal, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": r"^[0-9]{1,12}(\.[0-9]{1,12})?$", "examples": ["0.74"]}
    ),
]
# C0 controls but tab, newline and carriage return; DEL and the C1 controls; the bidirectional
# embeddings, overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _printable(value: Any) -> Any:
    # PostgreSQL cannot store NUL at all, and no report needs control characters; refusing
    # them here keeps both backends accepting exactly the same events. Bidirectional
    # overrides make a name or a note display other than it reads ("Trojan Source"), so a
    # dashboard or a report would show readers something that was never written.
    # Run before whitespace is stripped: U+0085 and U+000B count as whitespace and would
    # otherwise vanish from either end unnoticed.
    if isinstance(value, str) and (found := _CONTROL.search(value)):
        raise ValueError(f"must not contain {_describe(found.group())}")
    return value


def _describe(character: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``; controls have no name, only their category."""
    code = f"U+{ord(character):04X}"
    name = unicodedata.name(character, None)
    return f"{code} ({name})" if name else f"{code} (a control character)"


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    BeforeValidator(_printable),
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    BeforeValidator(_printable),
]
ReviewId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")]
EventId = Annotated[
    str,
    StringConstraints(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    ),
]
Count = Annotated[int, Strict(), Field(ge=0, le=1_000_000)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Source(_Model):
    """Where a reported fact comes from."""

    title: ShortText
    url: (
        Annotated[
            str,
            StringConstraints(max_length=2000),
            AfterValidator(_printable),
            AfterValidator(_http_url),
        ]
        | None
    ) = None
