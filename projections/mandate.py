"""The mandate read model: status, resolution in force, history and reviews (CONTRACT §4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from events.fields import DeadlineKind
from projections.schema import mission_facts

f = mission_facts
MANDATE_EXPIRY, REVIEW_DUE = DeadlineKind.MANDATE_EXPIRY.value, DeadlineKind.REVIEW_DUE.value


@dataclass(frozen=True)
class Fact:
    event_id: str
    type: str
    occurred_on: date
    version: int
    data: dict[str, Any]


def facts_by_mission(
    conn: Connection, generation: int, known_at: datetime, mission: str | None = None
) -> list[tuple[str, Fact]]:
    """(mission, fact) pairs as they stood at ``known_at``, in (date, version) order."""
    query = select(
        f.c.mission, f.c.event_id, f.c.type, f.c.occurred_on, f.c.version, f.c.data
    ).where(
        f.c.generation == generation,
        f.c.recorded_from <= known_at,
        or_(f.c.recorded_to.is_(None), f.c.recorded_to > known_at),
    )
    if mission is not None:
        query = query.where(f.c.mission == mission)
    found = [
        (r.mission, Fact(r.event_id, r.type, r.occurred_on, r.version, r.data))
        for r in conn.execute(query)
    ]
    return sorted(found, key=lambda pair: (pair[1].occurred_on, pair[1].version))


def facts(conn: Connection, generation: int, mission: str, known_at: datetime) -> list[Fact]:
    """One mission's facts as they stood at ``known_at``, in (date, version) order."""
    return [fact for _, fact in facts_by_mission(conn, generation, known_at, mission)]


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def fold(mission: str, known: list[Fact], as_of: date) -> dict[str, Any]:
    """The mandate on ``as_of`` from the facts known (pure)."""
    seen = [x for x in known if x.occurred_on <= as_of]
    history, status = [], "pending"
    resolution = expires_on = authorized_on = ceiling = None
    for x in seen:
        if x.type in ("MandateAuthorized", "MandateRenewed"):
            resolution, expires_on = x.data["resolution"], _day(x.data["expires_on"])
            ceiling = x.data.get("personnel_ceiling", ceiling)
            if x.type == "MandateAuthorized" and authorized_on is None:
                authorized_on = x.occurred_on
            history.append({"type": x.type, "resolution": resolution,
                            "occurred_on": x.occurred_on.isoformat(),
                            "expires_on": expires_on.isoformat()})  # fmt: skip
        elif x.type == "MandateEnded":
            status = "ended"
            ended = {"type": x.type, "resolution": None, "occurred_on": x.occurred_on.isoformat()}
            history.append({**ended, "expires_on": None})
    if status != "ended" and expires_on is not None:
        status = "active" if as_of <= expires_on else "lapsed"
    completed = {x.data["review_id"]: x for x in seen if x.type == "ReviewCompleted"}
    reviews = []
    for x in seen:
        if x.type != "ReviewScheduled":
            continue
        done = completed.get(x.data["review_id"])
        reviews.append({
            "review_id": x.data["review_id"], "body": x.data["body"], "due_on": x.data["due_on"],
            "title": x.data["title"],
            "completed_on": done.occurred_on.isoformat() if done else None,
            "outcome": done.data["outcome"] if done else None,
        })  # fmt: skip
    reviews.sort(key=lambda r: (r["due_on"], r["review_id"]))
    active_days = (
        (expires_on - as_of).days if expires_on and status in ("active", "lapsed") else None
    )
    return {
        "mission": mission,
        "as_of": as_of.isoformat(),
        "status": status,
        "resolution": resolution,
        "authorized_on": authorized_on.isoformat() if authorized_on else None,
        "expires_on": expires_on.isoformat() if expires_on else None,
        "days_remaining": active_days,
        "personnel_ceiling": ceiling,
        "history": history,
        "reviews": reviews,
    }


def open_deadlines(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The open deadlines of a :func:`fold` answer: the expiry of a mandate in force or lapsed
    (not of an ended or pending one) and every review not completed (a final report is still
    owed after a mandate ends), each with ``deadline``, ``due_on`` and what it names."""
    found: list[dict[str, Any]] = []
    if state["status"] in ("active", "lapsed") and state["expires_on"]:
        found.append({"deadline": MANDATE_EXPIRY, "due_on": _day(state["expires_on"]),
                      "resolution": state["resolution"]})  # fmt: skip
    for review in state["reviews"]:
        if review["completed_on"] is None:
            found.append({"deadline": REVIEW_DUE, "due_on": _day(review["due_on"]),
                          "review_id": review["review_id"]})  # fmt: skip
    return found


def as_of(
    conn: Connection, generation: int, mission: str, day: date, known_at: datetime
) -> dict[str, Any]:
    return fold(mission, facts(conn, generation, mission, known_at), day)


def name_of(known: list[Fact]) -> str | None:
    names = [x.data["name"] for x in known if x.type == "MissionRegistered"]
    return names[-1] if names else None
