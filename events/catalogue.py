"""The event catalogue, schema version 1 (CONTRACT §3).

Every event type is a frozen pydantic model with ``extra="forbid"``; :data:`NewEvent` is the one
discriminated union on ``type``. Shape, codes and ranges are checked here; rules that need the
stream's history live in :mod:`events.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from events import codes, money
from events.errors import FieldError, InvalidEvent
from events.fields import (
    EARLIEST_DATE,
    LATEST_DATE,
    Category,
    Channel,
    Count,
    CountryCode,
    CurrencyCode,
    DeadlineKind,
    DepartureReason,
    DonorCode,
    EventId,
    ISODate,
    LongText,
    MissionId,
    Money,
    Personnel,
    Rate,
    ReviewBody,
    ReviewId,
    Role,
    ShortText,
    Source,
    _Model,
)

SCHEMA_VERSION = 1
CALENDAR_DAYS = (LATEST_DATE - EARLIEST_DATE).days


def _too_much(field: str, value: Any, message: str) -> ValidationError:
    # A model validator's error would name the whole ``data``; this names the field at fault.
    error = PydanticCustomError("too_much_money", message)
    return ValidationError.from_exception_data(
        "bound", [InitErrorDetails(type=error, loc=(field,), input=value)]
    )


# --- data of each event type ---------------------------------------------------------------


class MissionRegisteredData(_Model):
    name: ShortText
    lead_country: CountryCode
    host_country: CountryCode


class MandateAuthorizedData(_Model):
    resolution: ShortText
    expires_on: ISODate
    personnel_ceiling: Annotated[int, Strict(), Field(gt=0, le=1_000_000)] | None = None


class MandateRenewedData(MandateAuthorizedData):
    pass


class MandateEndedData(_Model):
    reason: LongText
    successor_mission: MissionId | None = None


class ReviewScheduledData(_Model):
    review_id: ReviewId
    body: ReviewBody
    due_on: ISODate
    title: ShortText


class ReviewCompletedData(_Model):
    review_id: ReviewId
    outcome: ShortText
    summary: LongText | None = None


class BudgetRequirementSetData(_Model):
    amount_usd: Money
    period_start: ISODate
    period_end: ISODate

    @field_validator("amount_usd")
    @classmethod
    def _bounded(cls, value: Decimal) -> Decimal:
        if value > money.MAX_USD_PER_EVENT:
            raise ValueError(f"must not exceed {money.MAX_USD_PER_EVENT:,} US dollars")
        return value

    @model_validator(mode="after")
    def _period(self) -> BudgetRequirementSetData:
        if self.period_end < self.period_start:
            raise ValueError("period_end must not be before period_start")
        return self


class PersonnelPledgedData(_Model):
    country: CountryCode
    personnel: Personnel
    category: Category


class PledgeWithdrawnData(PersonnelPledgedData):
    pass


class ContingentArrivedData(_Model):
    country: CountryCode
    personnel: Personnel
    category: Category
    unit: ShortText | None = None
    location: ShortText | None = None
    female: Annotated[int, Strict(), Field(ge=0, le=100_000)] | None = None

    @model_validator(mode="after")
    def _female(self) -> ContingentArrivedData:
        if self.female is not None and self.female > self.personnel:
            raise ValueError("female must not exceed personnel")
        return self


class ContingentDepartedData(_Model):
    country: CountryCode
    personnel: Personnel
    category: Category
    reason: DepartureReason


class StrengthReportedData(_Model):
    """A headcount return: how many were deployed at the end of ``occurred_on``."""

    country: CountryCode
    category: Category
    personnel: Annotated[int, Strict(), Field(ge=0, le=100_000)]
    female: Annotated[int, Strict(), Field(ge=0, le=100_000)] | None = None

    @model_validator(mode="after")
    def _female(self) -> StrengthReportedData:
        if self.female is not None and self.female > self.personnel:
            raise ValueError("female must not exceed personnel")
        return self


class _FundsData(_Model):
    donor: DonorCode
    amount: Money
    currency: CurrencyCode
    usd_rate: Rate | None = None
    channel: Channel

    @field_validator("donor")
    @classmethod
    def _known_donor(cls, value: str, info: ValidationInfo) -> str:
        context = info.context or {}
        organisations = context.get("donor_organisations", codes.DEFAULT_DONOR_ORGANISATIONS)
        if codes.is_country(value) or value in organisations:
            return value
        raise ValueError(
            f"{value!r} is neither an ISO 3166-1 alpha-3 country code nor a known organisation "
            f"({', '.join(organisations)})"
        )

    @model_validator(mode="after")
    def _rate(self) -> _FundsData:
        if self.currency == "USD":
            if self.usd_rate is not None and self.usd_rate != 1:
                raise ValueError("usd_rate of a USD amount must be 1 or omitted")
        elif self.usd_rate is None:
            raise ValueError(
                f"usd_rate (USD per {self.currency}) is required unless currency is USD"
            )
        if self.usd() > money.MAX_USD_PER_EVENT:
            usd = self.currency == "USD"
            raise _too_much(
                "amount", self.amount,
                f"{self.usd():,f} US dollars{'' if usd else ' (amount times usd_rate)'} is "
                f"more than the {money.MAX_USD_PER_EVENT:,} one event may carry: check the "
                f"amount{'' if usd else ' and the rate'}",
            )  # fmt: skip
        return self

    def usd(self) -> Decimal:
        """The amount in US dollars at the event's own rate."""
        return money.usd_value(self.amount, self.usd_rate)


class FundsPledgedData(_FundsData):
    pass


class FundsCommittedData(_FundsData):
    agreement: ShortText | None = None


class FundsDepositedData(_FundsData):
    pass


class EventCorrectedData(_Model):
    event_id: EventId
    data: dict[str, Any]
    occurred_on: ISODate | None = None
    reason: LongText


class EventRetractedData(_Model):
    event_id: EventId
    reason: LongText


class DeadlineFlaggedData(_Model):
    deadline: DeadlineKind
    due_on: ISODate
    # Any two dates of the calendar the catalogue accepts (a check day of 2999 for a 1900 due).
    days_remaining: Annotated[int, Strict(), Field(ge=-CALENDAR_DAYS, le=CALENDAR_DAYS)]
    threshold_days: Count
    resolution: ShortText | None = None
    review_id: ReviewId | None = None


# --- envelopes -----------------------------------------------------------------------------


class _Envelope(_Model):
    mission: MissionId
    occurred_on: ISODate
    source: Source | None = None
    notes: LongText | None = None
    expected_version: Annotated[int, Strict(), Field(ge=0)] | None = None


class MissionRegistered(_Envelope):
    type: Literal["MissionRegistered"]
    data: MissionRegisteredData


class MandateAuthorized(_Envelope):
    type: Literal["MandateAuthorized"]
    data: MandateAuthorizedData

    @model_validator(mode="after")
    def _expiry(self) -> MandateAuthorized:
        if self.data.expires_on <= self.occurred_on:
            raise ValueError("data.expires_on must be after occurred_on")
        return self


class MandateRenewed(_Envelope):
    type: Literal["MandateRenewed"]
    data: MandateRenewedData


class MandateEnded(_Envelope):
    type: Literal["MandateEnded"]
    data: MandateEndedData


class ReviewScheduled(_Envelope):
    type: Literal["ReviewScheduled"]
    data: ReviewScheduledData


class ReviewCompleted(_Envelope):
    type: Literal["ReviewCompleted"]
    data: ReviewCompletedData


class BudgetRequirementSet(_Envelope):
    type: Literal["BudgetRequirementSet"]
    data: BudgetRequirementSetData


class PersonnelPledged(_Envelope):
    type: Literal["PersonnelPledged"]
    data: PersonnelPledgedData


class PledgeWithdrawn(_Envelope):
    type: Literal["PledgeWithdrawn"]
    data: PledgeWithdrawnData


class ContingentArrived(_Envelope):
    type: Literal["ContingentArrived"]
    data: ContingentArrivedData


class ContingentDeparted(_Envelope):
    type: Literal["ContingentDeparted"]
    data: ContingentDepartedData


class StrengthReported(_Envelope):
    type: Literal["StrengthReported"]
    data: StrengthReportedData


class FundsPledged(_Envelope):
    type: Literal["FundsPledged"]
    data: FundsPledgedData


class FundsCommitted(_Envelope):
    type: Literal["FundsCommitted"]
    data: FundsCommittedData


class FundsDeposited(_Envelope):
    type: Literal["FundsDeposited"]
    data: FundsDepositedData


class EventCorrected(_Envelope):
    type: Literal["EventCorrected"]
    data: EventCorrectedData


class EventRetracted(_Envelope):
    type: Literal["EventRetracted"]
    data: EventRetractedData


class DeadlineFlagged(_Envelope):
    type: Literal["DeadlineFlagged"]
    data: DeadlineFlaggedData


NewEvent = Annotated[
    MissionRegistered
    | MandateAuthorized
    | MandateRenewed
    | MandateEnded
    | ReviewScheduled
    | ReviewCompleted
    | BudgetRequirementSet
    | PersonnelPledged
    | PledgeWithdrawn
    | ContingentArrived
    | ContingentDeparted
    | FundsPledged
    | FundsCommitted
    | FundsDeposited
    | EventCorrected
    | EventRetracted
    | StrengthReported
    | DeadlineFlagged,
    Field(discriminator="type"),
]


# --- what each type is ----------------------------------------------------------------------

ADMIN = frozenset({Role.ADMIN})
FIELD = frozenset({Role.ADMIN, Role.LIAISON})
SYSTEM = frozenset({Role.SYSTEM})


_EnvelopeClass = type[_Envelope]
_DataClass = type[_Model]


@dataclass(frozen=True)
class EventSpec:
    """Catalogue facts of one event type: its stream kind, who may post it, its scope key."""

    type: str
    model: _EnvelopeClass
    data_model: _DataClass
    stream_kind: Literal["mission", "contingent", "funding", "alerts", "named"]
    roles: frozenset[Role]
    scope_field: Literal["country", "donor"] | None = None


def _spec(
    model: type[_Envelope], kind: Any, roles: frozenset[Role], scope: Any = None
) -> EventSpec:
    name = model.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    data_model = model.model_fields["data"].annotation
    return EventSpec(name, model, data_model, kind, roles, scope)  # type: ignore[arg-type]


CATALOGUE: dict[str, EventSpec] = {
    spec.type: spec
    for spec in (
        _spec(MissionRegistered, "mission", ADMIN),
        _spec(MandateAuthorized, "mission", ADMIN),
        _spec(MandateRenewed, "mission", ADMIN),
        _spec(MandateEnded, "mission", ADMIN),
        _spec(ReviewScheduled, "mission", ADMIN),
        _spec(ReviewCompleted, "mission", ADMIN),
        _spec(BudgetRequirementSet, "mission", ADMIN),
        _spec(PersonnelPledged, "contingent", FIELD, "country"),
        _spec(PledgeWithdrawn, "contingent", FIELD, "country"),
        _spec(ContingentArrived, "contingent", FIELD, "country"),
        _spec(ContingentDeparted, "contingent", FIELD, "country"),
        _spec(FundsPledged, "funding", FIELD, "donor"),
        _spec(FundsCommitted, "funding", FIELD, "donor"),
        _spec(FundsDeposited, "funding", FIELD, "donor"),
        _spec(EventCorrected, "named", FIELD),
        _spec(EventRetracted, "named", FIELD),
        _spec(StrengthReported, "contingent", FIELD, "country"),
        _spec(DeadlineFlagged, "alerts", SYSTEM),
    )
}

EVENT_TYPES: tuple[str, ...] = tuple(CATALOGUE)
MANDATE_TYPES = frozenset({"MandateAuthorized", "MandateRenewed", "MandateEnded"})
AMENDMENT_TYPES = frozenset({"EventCorrected", "EventRetracted"})


def stream_of(mission: str, type_: str, data: dict[str, Any]) -> str:
    """The stream an event of ``type_`` belongs to (not for corrections and retractions)."""
    kind = CATALOGUE[type_].stream_kind
    if kind == "mission":
        return f"mission:{mission}"
    if kind == "contingent":
        return f"contingent:{mission}:{data['country']}"
    if kind == "funding":
        return f"funding:{mission}:{data['donor']}"
    if kind == "alerts":
        return f"alerts:{mission}"
    raise ValueError(f"{type_} takes the stream of the event it names")


def mission_stream(mission: str) -> str:
    return f"mission:{mission}"


# --- parsing -------------------------------------------------------------------------------

_ADAPTER: TypeAdapter[Any] = TypeAdapter(NewEvent)


def parse_event(obj: Any, *, donor_organisations: tuple[str, ...] | None = None) -> Any:
    """Validate one request body into a catalogue model, or raise :class:`InvalidEvent`."""
    context = {"donor_organisations": donor_organisations or codes.DEFAULT_DONOR_ORGANISATIONS}
    try:
        return _ADAPTER.validate_python(obj, context=context)
    except ValidationError as exc:
        raise InvalidEvent(_field_errors(exc, tagged=True)) from None


def parse_data(type_: str, obj: Any, *, donor_organisations: tuple[str, ...] | None = None) -> Any:
    """Validate a ``data`` object of the named type (used for corrections)."""
    context = {"donor_organisations": donor_organisations or codes.DEFAULT_DONOR_ORGANISATIONS}
    try:
        return CATALOGUE[type_].data_model.model_validate(obj, context=context)
    except ValidationError as exc:
        raise InvalidEvent(_field_errors(exc, tagged=False)) from None


def _field_errors(exc: ValidationError, *, tagged: bool) -> list[FieldError]:
    errors = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        # A discriminated union puts the chosen tag first in the location; the client never
        # wrote that segment, so it is dropped.
        if tagged and loc and isinstance(loc[0], str) and loc[0] in CATALOGUE:
            loc = loc[1:]
        field = ".".join(str(part) for part in loc)
        message = err["msg"]
        if err["type"] == "union_tag_invalid":
            field = "type"
            message = f"unknown event type; expected one of {', '.join(CATALOGUE)}"
        elif err["type"] == "union_tag_not_found":
            field = "type"
            message = "field required"
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        errors.append(FieldError(field, message))
    return errors
