"""Where a figure comes from (CONTRACT §4): the effective reports behind a country or a donor.

A country's or donor's reports are its stream's events. As known at an instant, each original
report stands as its corrections recorded by then leave it (a corrected ``occurred_on`` moves
it) and a retraction recorded by then takes it out; the answer lists those dated on or before
``as_of``, in date order, each with the ids of the corrections applied to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from events.envelope import RecordedEvent

CONTINGENT_TYPES = frozenset({
    "PersonnelPledged", "PledgeWithdrawn", "ContingentArrived", "ContingentDeparted",
    "StrengthReported",
})  # fmt: skip
FUNDS_TYPES = frozenset({"FundsPledged", "FundsCommitted", "FundsDeposited"})


@dataclass
class Report:
    """An original report as it stands: its stored envelope, effective date and data."""

    event: RecordedEvent
    occurred_on: date
    data: dict[str, Any]
    corrected_by: list[str] = field(default_factory=list)


def reports(
    events: list[RecordedEvent], types: frozenset[str], day: date, known_at: datetime
) -> list[Report]:
    """The stream's effective reports of ``types`` dated on or before ``day`` (pure)."""
    standing: dict[str, Report] = {}
    for e in sorted(events, key=lambda e: e.version):
        if e.recorded_at > known_at:
            break  # versions follow recording order within a stream
        if e.type == "EventCorrected":
            named = standing.get(e.data["event_id"])
            if named is not None:
                on = e.data.get("occurred_on")
                named.occurred_on = date.fromisoformat(on) if on else named.occurred_on
                named.data = e.data["data"]
                named.corrected_by.append(e.id)
        elif e.type == "EventRetracted":
            standing.pop(e.data["event_id"], None)
        elif e.type in types:
            standing[e.id] = Report(e, e.occurred_on, e.data)
    found = [r for r in standing.values() if r.occurred_on <= day]
    return sorted(found, key=lambda r: (r.occurred_on, r.event.version))
