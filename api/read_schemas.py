"""Response schemas of the read models (CONTRACT §4) and of the service endpoints.

The routes encode their answers through these models (:func:`encoder`), so what OpenAPI shows
is what is sent: the fields in the projections' order, nulls present, money a decimal string to
the cent, dates ISO dates and ``known_at`` the RFC 3339 instant the answer was read at.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from events.fields import ReviewBody

log = logging.getLogger(__name__)

# --- the ``known_at`` query parameter -----------------------------------------------------
#
# What events.envelope.parse_instant reads (datetime.fromisoformat plus a required offset) is
# far wider than RFC 3339: any separator, no seconds, `+0100`, `,5`, ... This pattern declares
# the RFC 3339 part of it, so that every string it matches is accepted (a property test holds
# the two together). It has to spell out the calendar: a real day of a real month (29 February
# in leap years only), years 0001 to 9999, no leap second, offsets under 24 hours. An instant
# in 0001 or 9999 is declared in UTC only: an offset could move it outside the range of dates.
# `[0-9]`, not `\d`: Python's `\d` matches other scripts' digits, which fromisoformat refuses;
# `$(?!\n)`: Python's `$` also matches before a final newline (ECMA-262's does not).

_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    r"|(?:0[13-9]|1[0-2])-(?:29|30)"
    r"|(?:0[13578]|1[02])-31)"
)
_YEAR_INSIDE = (  # 0002 to 9998
    r"(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
)
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_TIME = r"[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?"
_OFFSET = r"(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_UTC = r"(?:[Zz]|[+-]00:00)"

#: The ``known_at`` strings OpenAPI declares; each one is accepted by ``parse_instant``.
KNOWN_AT_PATTERN = (
    rf"^(?:(?:{_YEAR_INSIDE}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29){_TIME}{_OFFSET}"
    rf"|(?:0001|9999)-{_MONTH_DAY}{_TIME}{_UTC})$(?!\n)"
)

KNOWN_AT_SCHEMA = {"type": "string", "format": "date-time", "pattern": KNOWN_AT_PATTERN,
                   "examples": ["2024-07-01T00:00:00Z"]}  # fmt: skip

# --- dates in queries ---------------------------------------------------------------------

_ISO_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_day(value: Any) -> Any:
    """A query's date is written YYYY-MM-DD, as OpenAPI's `format: date` says; pydantic alone
    would also read `as_of=0` as 1970-01-01 (a Unix time), which schemathesis caught."""
    if isinstance(value, str) and not _ISO_DAY.match(value):
        raise ValueError("must be a date written YYYY-MM-DD")
    return value


#: A date parameter of a query: ``YYYY-MM-DD`` only.
QueryDay = Annotated[date, BeforeValidator(_iso_day)]

# --- field types --------------------------------------------------------------------------

Usd = Annotated[str, Field(pattern=r"^-?\d+\.\d{2}$", examples=["85000000.00"])]
#: An instant as the server writes it (``events.envelope.format_instant``).
Stamp = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$",
        examples=["2025-02-07T12:00:00.000000Z"],
        json_schema_extra={"format": "date-time"},
    ),
]
Mission = Annotated[str, Field(examples=["mss-haiti"])]
Status = Literal["pending", "active", "lapsed", "ended"]


def _open(schema: dict[str, Any]) -> None:
    schema.pop("additionalProperties", None)


class _Answer(BaseModel):
    # An answer with a field the model does not know is a bug to see, not a field to drop; the
    # document does not promise that, so clients may read answers of later versions.
    model_config = ConfigDict(extra="forbid", json_schema_extra=_open)


# --- GET /v1/missions ---------------------------------------------------------------------


class MissionPublic(_Answer):
    """A mission with its status on the day asked about (today), as known now."""

    mission: Mission
    name: str = Field(examples=["Multinational Security Support Mission in Haiti"])
    registered_on: date | None = Field(description="the date of its `MissionRegistered`")
    status: Status
    expires_on: date | None = Field(description="the mandate in force's expiry")
    deployed: int = Field(examples=[934], description="personnel deployed today")
    successor_mission: str | None = Field(description="the mission its `MandateEnded` names")
    predecessor_mission: str | None = Field(
        description="the mission whose `MandateEnded` names this one"
    )


class MissionList(_Answer):
    missions: list[MissionPublic] = Field(description="in id order")


# --- GET /v1/missions/{mission}/force-strength ------------------------------------------


class CategoryStrengthPublic(_Answer):
    police: int = Field(examples=[744])
    military: int = Field(examples=[0])
    civilian: int = Field(examples=[0])


class CountryStrengthPublic(_Answer):
    """A country's figures on `as_of`: every country with a pledge, a deployment or a
    headcount is listed."""

    country: str = Field(examples=["KEN"])
    deployed: int = Field(examples=[744])
    pledged: int = Field(examples=[1000])
    female: int = Field(examples=[24], description="women among the deployed")
    by_category: CategoryStrengthPublic = Field(description="deployed personnel per category")
    reported_on: date | None = Field(
        description="the date of the country's latest headcount on or before `as_of`"
    )
    unreconciled: int = Field(
        description="the unreconciled change of those latest headcounts, summed over "
        "categories; 0 without one"
    )


class ForceStrengthPublic(_Answer):
    """Deployed and pledged personnel on `as_of`, as known at `known_at`."""

    mission: Mission
    as_of: date
    known_at: Stamp
    deployed: int = Field(examples=[934])
    pledged: int = Field(examples=[3112])
    personnel_ceiling: int | None = Field(
        examples=[2500], description="the ceiling of the mandate in force"
    )
    by_country: list[CountryStrengthPublic] = Field(description="most deployed first")


# --- GET /v1/missions/{mission}/funding ---------------------------------------------------


class ChannelFundingPublic(_Answer):
    pledged: Usd
    committed: Usd
    deposited: Usd


class ChannelsPublic(_Answer):
    trust_fund: ChannelFundingPublic
    bilateral: ChannelFundingPublic
    in_kind: ChannelFundingPublic


class DonorFundingPublic(_Answer):
    """A donor's funds in USD on `as_of`, over every channel."""

    donor: str = Field(examples=["USA"])
    pledged: Usd
    committed: Usd
    deposited: Usd
    outstanding: Usd = Field(description="`max(pledged - deposited, 0)`")


class FundingPublic(_Answer):
    """Pledged, committed, deposited and outstanding USD on `as_of`, as known at `known_at`."""

    mission: Mission
    as_of: date
    known_at: Stamp
    currency: Literal["USD"]
    pledged: Usd
    committed: Usd
    deposited: Usd
    outstanding: Usd = Field(description="each donor's `max(pledged - deposited, 0)`, summed")
    requirement: Usd | None = Field(description="the budget whose period contains `as_of`")
    coverage: float | None = Field(
        examples=[0.019233],
        description="deposits up to `as_of` over the requirement; null without one",
    )
    by_channel: ChannelsPublic
    by_donor: list[DonorFundingPublic] = Field(description="most pledged first")


# --- GET /v1/missions/{mission}/mandate ---------------------------------------------------


class MandateStepPublic(_Answer):
    type: Literal["MandateAuthorized", "MandateRenewed", "MandateEnded"]
    resolution: str | None = Field(examples=["S/RES/2699 (2023)"])
    occurred_on: date
    expires_on: date | None


class ReviewPublic(_Answer):
    review_id: str = Field(examples=["sg-report-2025-01"])
    body: ReviewBody  # the catalogue's own values: an answer can never hold one it refuses
    due_on: date
    title: str
    completed_on: date | None
    outcome: str | None


class MandatePublic(_Answer):
    """The mandate on `as_of`: status, the resolution in force, history and reviews."""

    mission: Mission
    as_of: date
    status: Status = Field(description="active through its `expires_on` day")
    resolution: str | None = Field(
        examples=["S/RES/2751 (2024)"], description="the latest authorization or renewal"
    )
    authorized_on: date | None = Field(description="the first authorization's date")
    expires_on: date | None
    days_remaining: int | None = Field(description="`expires_on` - `as_of`")
    personnel_ceiling: int | None = Field(examples=[2500])
    history: list[MandateStepPublic]
    reviews: list[ReviewPublic] = Field(description="in due date order")


# --- GET /v1/missions/{mission}/timeline --------------------------------------------------


class TimelinePoint(_Answer):
    day: date = Field(alias="date")
    deployed: int
    pledged: int
    pledged_usd: Usd
    deposited_usd: Usd


class TimelinePublic(_Answer):
    """Strength and money at each step from `from` to `to`, for charts."""

    mission: Mission
    from_: date = Field(alias="from")
    to: date
    interval: Literal["day", "week", "month"]
    known_at: Stamp
    points: list[TimelinePoint]


# --- /healthz, /readyz --------------------------------------------------------------------


class HealthPublic(BaseModel):
    status: Literal["ok"]


class ReadinessPublic(BaseModel):
    """The database answers and its schema is current."""

    status: Literal["ready"]
    migrations: str = Field("current", description="`current`, or where the schema stands")
    projection_lag: int = Field(0, description="events recorded but not yet in the read models")


class UnreadyPublic(BaseModel):
    """The schema is behind (with the figures of :class:`ReadinessPublic`), or the database
    does not answer (with `detail`, the error's class)."""

    status: Literal["not ready", "unavailable"]
    migrations: str | None = Field(None, examples=["at 0007, newest is 0008"])
    projection_lag: int | None = None
    detail: str | None = Field(None, examples=["OperationalError"])


# --- encoding -----------------------------------------------------------------------------


def encoder(model: type[BaseModel]) -> Callable[[Any], bytes]:
    """``answer(encode=...)`` through ``model``: the answer is validated against the model and
    written by it, so what is sent is what the document describes.

    An answer the model refuses is a defect of ours (a projection that grew a field, a value the
    model forgot), never the client's: it is logged as an error, with the fields at fault, and
    the projection's JSON is sent as it is, so a dashboard keeps its figures while it is fixed.
    The tests hold every answer to its model (tests/api/test_read_schemas.py).
    """
    validate = model.__pydantic_validator__.validate_python
    serializer = model.__pydantic_serializer__

    def encode(body: Any) -> bytes:
        try:
            return serializer.to_json(validate(body), by_alias=True)
        except ValidationError as exc:
            fields = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
            )
            log.error("answer does not match %s, sent as computed: %s", model.__name__, fields)
            return orjson.dumps(body)

    return encode
