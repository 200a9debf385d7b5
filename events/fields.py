"""Field types of the catalogue: codes, dates, money, text, and the enumerations of §3."""

from __future__ import annotations

import re
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


def _iso_date(value: Any) -> Any:
    # pydantic's lax date also takes Unix timestamps and datetimes; a report's date is a date.
    if isinstance(value, date) and type(value) is date:
        return value
    if isinstance(value, str) and _ISO_DATE.match(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD")


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


ISODate = Annotated[date, BeforeValidator(_iso_date)]
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
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(value: str) -> str:
    # PostgreSQL cannot store NUL at all, and no report needs control characters; refusing
    # them here keeps both backends accepting exactly the same events.
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


ShortText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_printable),
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=4000),
    AfterValidator(_printable),
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
