"""Response schemas of the situation report (CONTRACT §4), as OpenAPI shows them.

Money is a decimal string to the cent; dates are ISO dates; ``known_at`` an RFC 3339 instant.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from api.read_schemas import CountryStrengthPublic, DonorFundingPublic, Stamp
from api.schemas import EventPublic

USD = Field(pattern=r"^-?\d+\.\d{2}$", examples=["85000000.00"])


class Effective(BaseModel):
    occurred_on: date
    data: dict[str, Any]


class ReportEvent(EventPublic):
    """A stored event as it stands at ``known_at``: its corrections applied."""

    effective: Effective
    corrected_by: list[str] = Field(description="ids of the corrections applied, oldest first")
    unreconciled: int | None = Field(
        default=None,
        description="a headcount return's change beyond the previous return and the movements "
        "since (`StrengthReported` only)",
    )


class Concerned(BaseModel):
    """The report a restatement is about, as reported then and as known now (null: not yet
    recorded then, or retracted now)."""

    event_id: str
    type: str
    then: Effective | None
    now: Effective | None


class Restatement(EventPublic):
    """A late report, correction or retraction recorded in the period about the time before."""

    concerns: Concerned


class Strength(BaseModel):
    deployed: int = Field(examples=[934])
    pledged: int = Field(examples=[3112])


class CountryChange(BaseModel):
    country: str = Field(examples=["KEN"])
    deployed_from: int
    deployed_to: int
    pledged_from: int
    pledged_to: int


class StrengthPart(BaseModel):
    from_: Strength = Field(alias="from")
    to: Strength
    personnel_ceiling: int | None = Field(examples=[2500])
    by_country: list[CountryChange]


class Funds(BaseModel):
    pledged: str = USD
    committed: str = USD
    deposited: str = USD


class DonorChange(BaseModel):
    donor: str = Field(examples=["USA"])
    pledged_from: str = USD
    committed_from: str = USD
    deposited_from: str = USD
    pledged_to: str = USD
    committed_to: str = USD
    deposited_to: str = USD


class FundingPart(BaseModel):
    from_: Funds = Field(alias="from")
    to: Funds
    requirement: str | None = Field(pattern=r"^\d+\.\d{2}$", examples=["600000000.00"])
    coverage: float | None = Field(description="deposits up to `to` over the requirement")
    by_donor: list[DonorChange]


class MandatePart(BaseModel):
    status: Literal["pending", "active", "lapsed", "ended"]
    resolution: str | None = Field(examples=["S/RES/2751 (2024)"])
    expires_on: date | None
    days_remaining: int | None = Field(description="`expires_on` - `to`")


class CountryRestated(BaseModel):
    country: str
    deployed_then: int
    deployed_now: int
    pledged_then: int
    pledged_now: int


class StrengthRestated(BaseModel):
    deployed_then: int
    deployed_now: int
    pledged_then: int
    pledged_now: int
    by_country: list[CountryRestated] = Field(description="the countries whose figures changed")


class DonorRestated(BaseModel):
    donor: str
    pledged_then: str = USD
    committed_then: str = USD
    deposited_then: str = USD
    pledged_now: str = USD
    committed_now: str = USD
    deposited_now: str = USD


class FundingRestated(BaseModel):
    pledged_then: str = USD
    committed_then: str = USD
    deposited_then: str = USD
    pledged_now: str = USD
    committed_now: str = USD
    deposited_now: str = USD
    by_donor: list[DonorRestated] = Field(description="the donors whose figures changed")


class Restated(BaseModel):
    """What was learned during the period about the time before it: the figures as of `from`,
    as known at the end of that day and as known at `known_at`."""

    known_then: str = Field(examples=["2025-01-01T23:59:59.999999Z"])
    strength: StrengthRestated
    funding: FundingRestated
    events: list[Restatement]


class Deadline(BaseModel):
    deadline: Literal["mandate_expiry", "review_due"]
    due_on: date
    days_remaining: int = Field(description="`due_on` - `to`; negative when overdue")
    resolution: str | None = None
    review_id: str | None = None


class ReportPublic(BaseModel):
    """The situation report of the period after `from` up to `to`, as known at `known_at`."""

    mission: str = Field(examples=["mss-haiti"])
    name: str | None = Field(examples=["Multinational Security Support Mission in Haiti"])
    from_: date = Field(alias="from")
    to: date
    known_at: str = Field(examples=["2025-01-08T00:00:00Z"])
    strength: StrengthPart
    funding: FundingPart
    mandate: MandatePart
    events: list[ReportEvent]
    restated: Restated
    deadlines: list[Deadline]
    alerts: list[ReportEvent] = Field(description="the `DeadlineFlagged` events of the period")


class _Asked(BaseModel):
    mission: str = Field(examples=["mss-haiti"])
    as_of: date
    known_at: Stamp


class CountryReports(CountryStrengthPublic, _Asked):
    """A country's force-strength entry and the reports behind it (where a figure comes from)."""

    events: list[ReportEvent] = Field(description="the reports, in date order")


class DonorReports(DonorFundingPublic, _Asked):
    """A donor's funding entry and the reports behind it (where a figure comes from)."""

    events: list[ReportEvent] = Field(description="the reports, in date order")
