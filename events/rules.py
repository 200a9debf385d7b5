"""Business rules that need a stream's history (CONTRACT §3).

Each rule is a pure function of the stream's *effective* history — every event as it stands after
the corrections and retractions recorded so far — and the change being made. The store loads
a mission's own stream and its alerts (short, written by admins and the scheduler) inside its
write transaction and calls :func:`check`; contingents' date invariant is kept in balances
instead (:mod:`events.personnel`), so it never reads their history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from events.catalogue import AMENDMENT_TYPES, MANDATE_TYPES
from events.errors import RuleViolation


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored event of a stream, as the rules need it."""

    id: str
    type: str
    version: int
    occurred_on: date
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Fact:
    """An original event as it stands after its corrections and retraction."""

    id: str
    type: str
    version: int
    occurred_on: date
    data: dict[str, Any]
    retracted: bool = False


def fold(entries: Iterable[Entry]) -> dict[str, Fact]:
    """The effective history of a stream, keyed by event id, in version order."""
    facts: dict[str, Fact] = {}
    for entry in entries:
        if entry.type == "EventCorrected":
            named = facts.get(entry.data["event_id"])
            if named is not None:
                on = entry.data.get("occurred_on")
                facts[named.id] = replace(
                    named,
                    data=entry.data["data"],
                    occurred_on=date.fromisoformat(on) if on else named.occurred_on,
                )
        elif entry.type == "EventRetracted":
            named = facts.get(entry.data["event_id"])
            if named is not None:
                facts[named.id] = replace(named, retracted=True)
        else:
            facts[entry.id] = Fact(
                entry.id, entry.type, entry.version, entry.occurred_on, entry.data
            )
    return facts


def check_amendable(named: Fact, amendment: str) -> None:
    """Whether ``named`` may be corrected or retracted at all."""
    if named.type in AMENDMENT_TYPES:
        raise RuleViolation(
            "data.event_id",
            f"event {named.id} is itself a {named.type}; amend the original event instead",
        )
    if named.retracted:
        what = "retracted again" if amendment == "EventRetracted" else "corrected"
        raise RuleViolation("data.event_id", f"event {named.id} was retracted and cannot be {what}")
    if amendment == "EventRetracted" and named.type == "MissionRegistered":
        raise RuleViolation(
            "data.event_id",
            "a mission's registration cannot be retracted; correct it instead",
        )


def check(stream_kind: str, facts: dict[str, Fact], changed: Fact, *, blame: str) -> None:
    """Raise :class:`RuleViolation` unless ``facts`` (already holding ``changed``) is valid.

    ``blame`` is the field path the error names: ``data`` for a new event, ``data.data`` for a
    correction's replacement, ``data.event_id`` for a retraction.
    """
    live = [f for f in facts.values() if not f.retracted]
    if stream_kind == "mission":
        _mission_history(live, changed, blame)
    elif stream_kind == "alerts":
        _flag_once(live, changed, blame)


def _mission_history(live: list[Fact], changed: Fact, blame: str) -> None:
    registrations = [f for f in live if f.type == "MissionRegistered"]
    if len(registrations) > 1:
        raise RuleViolation("type", "the mission is already registered")

    # Recording order first: once a mandate has ended nothing more may be said of it.
    if changed.type in MANDATE_TYPES:
        ended = [f for f in live if f.type == "MandateEnded" and f.id != changed.id]
        if ended and changed.version > ended[0].version:
            raise RuleViolation(
                "type",
                f"the mandate ended on {ended[0].occurred_on.isoformat()}; "
                "no further mandate events may follow",
            )

    in_force: date | None = None
    ended_on: date | None = None
    for fact in sorted(
        (f for f in live if f.type in MANDATE_TYPES), key=lambda f: (f.occurred_on, f.version)
    ):
        field = _blame(blame, fact, changed)
        if ended_on is not None:
            raise RuleViolation(
                "occurred_on" if fact.id == changed.id else field,
                f"the mandate ended on {ended_on.isoformat()}; no mandate event may be dated "
                "after it",
            )
        expires = _as_date(fact.data.get("expires_on"))
        if fact.type == "MandateAuthorized":
            in_force = expires
        elif in_force is None:
            raise RuleViolation(
                "type" if fact.id == changed.id else field,
                f"{fact.type} on {fact.occurred_on.isoformat()} needs an earlier MandateAuthorized",
            )
        elif fact.type == "MandateRenewed":
            assert expires is not None
            if expires <= in_force:
                raise RuleViolation(
                    f"{field}.expires_on" if not field.endswith("event_id") else field,
                    f"a renewal must extend the mandate: expires_on {expires.isoformat()} is "
                    f"not later than the expiry in force ({in_force.isoformat()})",
                )
            in_force = expires
        else:
            ended_on = fact.occurred_on

    scheduled: set[str] = set()
    completed: set[str] = set()
    for fact in sorted(live, key=lambda f: f.version):
        if fact.type not in ("ReviewScheduled", "ReviewCompleted"):
            continue
        field = _blame(blame, fact, changed)
        review_id = fact.data["review_id"]
        if fact.type == "ReviewScheduled":
            if review_id in scheduled:
                raise RuleViolation(
                    f"{field}.review_id", f"review {review_id!r} is already scheduled"
                )
            scheduled.add(review_id)
        elif review_id not in scheduled:
            raise RuleViolation(
                f"{field}.review_id" if not field.endswith("event_id") else field,
                f"review {review_id!r} was never scheduled in this mission",
            )
        elif review_id in completed:
            raise RuleViolation(f"{field}.review_id", f"review {review_id!r} is already completed")
        else:
            completed.add(review_id)


def check_flag_names_deadline(mission: list[Fact], data: dict[str, Any]) -> None:
    """A ``DeadlineFlagged`` names an expiry of one of the mission's live mandate events, or
    the due date of one of its live scheduled reviews."""
    due_on, resolution, review_id = data["due_on"], data.get("resolution"), data.get("review_id")
    if data["deadline"] == "mandate_expiry":
        if review_id is not None:
            raise RuleViolation("data.review_id", "a mandate expiry flag names no review")
        found = [
            f for f in mission
            if f.type in ("MandateAuthorized", "MandateRenewed")
            and _as_date(f.data["expires_on"]) == _as_date(due_on)
            and resolution in (None, f.data["resolution"])
        ]  # fmt: skip
        if not found:
            named = f" under {resolution}" if resolution is not None else ""
            raise RuleViolation(
                "data.due_on", f"the mission has no mandate{named} expiring on {due_on}"
            )
        return
    if resolution is not None:
        raise RuleViolation("data.resolution", "a review flag names its review, not a resolution")
    if review_id is None:
        raise RuleViolation("data.review_id", "a review flag names the review that is due")
    reviews = [
        f for f in mission if f.type == "ReviewScheduled" and f.data["review_id"] == review_id
    ]
    if not reviews:
        raise RuleViolation(
            "data.review_id", f"review {review_id!r} was never scheduled in this mission"
        )
    scheduled = reviews[0].data["due_on"]
    if _as_date(scheduled) != _as_date(due_on):
        raise RuleViolation(
            "data.due_on", f"review {review_id!r} is due on {scheduled}, not {due_on}"
        )


def _flag_once(live: list[Fact], changed: Fact, blame: str) -> None:
    def key(fact: Fact) -> tuple[Any, ...]:
        d = fact.data
        return (
            d["deadline"],
            d["due_on"],
            d["threshold_days"],
            d.get("resolution"),
            d.get("review_id"),
        )

    mine = key(changed)
    if any(f.id != changed.id and key(f) == mine for f in live):
        raise RuleViolation(
            blame,
            f"{mine[0]} due {mine[1]} is already flagged at the {mine[2]}-day threshold",
        )


def _blame(blame: str, fact: Fact, changed: Fact) -> str:
    # The error names the changed event's field when the changed event is the one at fault,
    # else the named event (a retraction or correction that breaks another event's premise).
    if fact.id == changed.id:
        return blame if blame != "data.event_id" else "data"
    return "data.event_id"


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)
