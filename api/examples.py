"""One example request body per event type, from the MSS Haiti record, for the OpenAPI docs."""

from __future__ import annotations

from typing import Any

_UN = {"title": "UN News", "url": "https://news.un.org/en/story/2024/06/1151286"}
_EVENT_ID = "01a20a36-934a-762b-b902-4c607b380523"


def _event(type_: str, occurred_on: str, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"mission": "mss-haiti", "type": type_, "occurred_on": occurred_on, "data": data,
            "source": _UN, **extra}  # fmt: skip


EXAMPLES: dict[str, dict[str, Any]] = {
    "MissionRegistered": _event("MissionRegistered", "2023-10-02", {
        "name": "Multinational Security Support mission in Haiti", "lead_country": "KEN",
        "host_country": "HTI"}),
    "MandateAuthorized": _event("MandateAuthorized", "2023-10-02", {
        "resolution": "S/RES/2699 (2023)", "expires_on": "2024-10-02", "personnel_ceiling": 2500}),
    "MandateRenewed": _event("MandateRenewed", "2024-09-30", {
        "resolution": "S/RES/2751 (2024)", "expires_on": "2025-10-02"}),
    "MandateEnded": _event("MandateEnded", "2025-10-02", {
        "reason": "succeeded by a new force", "successor_mission": "gsf-haiti"}),
    "ReviewScheduled": _event("ReviewScheduled", "2023-10-02", {
        "review_id": "sg-report-2024-01", "body": "secretary_general", "due_on": "2024-01-02",
        "title": "Secretary-General's report on the mission"}),
    "ReviewCompleted": _event("ReviewCompleted", "2024-01-05", {
        "review_id": "sg-report-2024-01", "outcome": "presented to the Council"}),
    "BudgetRequirementSet": _event("BudgetRequirementSet", "2024-02-01", {
        "amount_usd": "600000000.00", "period_start": "2024-01-01", "period_end": "2024-12-31"}),
    "PersonnelPledged": _event("PersonnelPledged", "2023-07-29", {
        "country": "KEN", "personnel": 1000, "category": "police"}),
    "PledgeWithdrawn": _event("PledgeWithdrawn", "2024-03-12", {
        "country": "BEN", "personnel": 500, "category": "police"}),
    "ContingentArrived": _event("ContingentArrived", "2024-06-25", {
        "country": "KEN", "personnel": 200, "category": "police", "unit": "first contingent",
        "location": "Port-au-Prince", "female": 12}, expected_version=0),
    "ContingentDeparted": _event("ContingentDeparted", "2025-01-20", {
        "country": "KEN", "personnel": 20, "category": "police", "reason": "rotation"}),
    "FundsPledged": _event("FundsPledged", "2023-09-22", {
        "donor": "USA", "amount": "100000000.00", "currency": "USD", "channel": "bilateral"}),
    "FundsCommitted": _event("FundsCommitted", "2024-01-15", {
        "donor": "CAN", "amount": "80900000.00", "currency": "CAD", "usd_rate": "0.74",
        "channel": "trust_fund", "agreement": "UN trust fund contribution agreement"}),
    "FundsDeposited": _event("FundsDeposited", "2024-03-01", {
        "donor": "USA", "amount": "10800000.00", "currency": "USD", "channel": "trust_fund"}),
    "EventCorrected": _event("EventCorrected", "2024-07-01", {
        "event_id": _EVENT_ID, "reason": "the first contingent was 200, not 400",
        "data": {"country": "KEN", "personnel": 200, "category": "police"}}),
    "EventRetracted": _event("EventRetracted", "2024-07-01", {
        "event_id": _EVENT_ID, "reason": "duplicate of an earlier report"}),
    "StrengthReported": _event("StrengthReported", "2025-02-06", {
        "country": "KEN", "category": "police", "personnel": 744}, source={
        "title": "Kenya Sends 144 More Police Officers to Haiti (Kenyans.co.ke)",
        "url": "https://www.kenyans.co.ke/news/108735-kenya-sends-144-more-police-officers-haiti"}),
    "DeadlineFlagged": _event("DeadlineFlagged", "2024-07-04", {
        "deadline": "mandate_expiry", "due_on": "2024-10-02", "days_remaining": 90,
        "threshold_days": 90, "resolution": "S/RES/2699 (2023)"}),
}  # fmt: skip


def openapi_examples() -> dict[str, dict[str, Any]]:
    """The examples in OpenAPI's ``examples`` form, one per event type."""
    return {name: {"summary": name, "value": body} for name, body in EXAMPLES.items()}
