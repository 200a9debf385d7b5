"""Request and response schemas of the HTTP API (what OpenAPI shows)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from events.envelope import RecordedEvent


class EventPublic(BaseModel):
    """A stored event as the API returns it (CONTRACT §2)."""

    id: str = Field(examples=["01a20a36-934a-762b-b902-4c607b380523"])
    mission: str = Field(examples=["mss-haiti"])
    type: str = Field(examples=["ContingentArrived"])
    stream: str = Field(examples=["contingent:mss-haiti:KEN"])
    version: int = Field(examples=[1])
    position: int = Field(examples=[42])
    occurred_on: date
    recorded_at: str = Field(examples=["2024-06-25T14:03:11.123456Z"])
    recorded_by: str = Field(examples=["kenya-desk"])
    data: dict[str, Any]
    source: dict[str, Any] | None = None
    notes: str | None = None
    hash: str = Field(examples=["5b76bbdf2da7108de6951bb276f2bd6be22d9bcd8724ba7d15f138fbd0c0d067"])


class EventBatchPublic(BaseModel):
    events: list[EventPublic]


class EventPage(BaseModel):
    """A page of events, oldest first (`order=asc`) or newest first (`order=desc`)."""

    events: list[EventPublic]
    next: int | None = Field(
        description="where the following page starts: its `after` with `order=asc` (null when "
        "no later matching event exists now), its `before` with `order=desc` (null when no "
        "earlier matching event exists: the page reached the first one)",
        examples=[42],
    )


class StreamPublic(BaseModel):
    stream: str
    version: int
    events: list[EventPublic]


def event_json(event: RecordedEvent) -> dict[str, Any]:
    """The contract's fields of a stored event, in JSON form."""
    return event.public_json()


class DeliveryPublic(BaseModel):
    """How sending one flag to one webhook went."""

    url: str = Field(
        examples=["https://alerts.example.org/sitrep"],
        description="the webhook URL without user info or query, which may hold a token",
    )
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_error: str | None = Field(examples=["HTTP 503"])
    delivered_at: str | None = Field(examples=["2024-07-04T06:00:01.532108Z"])
    next_attempt_at: str | None = Field(description="when a pending delivery is tried next")


class AlertPublic(BaseModel):
    """A flagged deadline (a `DeadlineFlagged` event) with its webhook deliveries."""

    id: str = Field(description="the flag's event id, also the webhooks' `webhook-id`")
    mission: str = Field(examples=["mss-haiti"])
    deadline: Literal["mandate_expiry", "review_due"]
    due_on: date
    days_remaining: int = Field(examples=[30])
    threshold_days: int = Field(examples=[30], description="0 once the due date has passed")
    resolution: str | None = Field(examples=["S/RES/2699 (2023)"])
    review_id: str | None = None
    occurred_on: date = Field(description="the day of the check that raised the flag")
    recorded_at: str = Field(examples=["2024-07-04T06:00:00.104223Z"])
    deliveries: list[DeliveryPublic]


class AlertList(BaseModel):
    alerts: list[AlertPublic]
