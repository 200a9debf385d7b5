"""One deadline pass (CONTRACT §7): flag mandate expiries and open reviews once per threshold.

A pass reads every mission's mandate as of ``today`` and appends a ``DeadlineFlagged`` event for
each deadline that has reached a threshold not yet flagged for its due date. Passes may run at
the same moment in several threads or processes: each flag is appended with an idempotency key
naming what it flags and the day, so passes of one day replay the first one's flag, and the
store's flag-once rule (checked under its writer lock) refuses a second flag from a pass of
another day; so each threshold is flagged once whoever gets there first.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from events import rules
from events.catalogue import stream_of
from events.envelope import RecordedEvent
from events.errors import IdempotencyKeyReused, RuleViolation, StreamNotFound
from events.store import EventStore
from projections import mandate
from projections.runner import Projector

log = logging.getLogger(__name__)

#: ``recorded_by`` of the flags: the system principal that runs the scheduler.
RECORDED_BY = "scheduler"
#: Idempotency keys of the scheduler live apart from every token's (token ids are hex).
KEY_SCOPE = "system:scheduler"
MANDATE_EXPIRY, REVIEW_DUE = mandate.MANDATE_EXPIRY, mandate.REVIEW_DUE


@dataclass(frozen=True)
class Deadline:
    """A date something is due by: a mandate's expiry or an open review's due date."""

    mission: str
    deadline: str
    due_on: date
    resolution: str | None = None
    review_id: str | None = None

    def flag_key(self, threshold: int) -> tuple[Any, ...]:
        """What the flag-once rule compares (``events.rules``)."""
        return (self.deadline, self.due_on.isoformat(), threshold, self.resolution, self.review_id)

    def idempotency_key(self, threshold: int, today: date) -> str:
        """The key of the request "flag this threshold on this day": passes of the same day
        send the same request, and the store answers all but the first with the first flag."""
        ref = self.resolution or self.review_id or ""
        key = f"deadline:{self.mission}:{self.deadline}:{self.due_on}:{threshold}:{today}:{ref}"
        if len(key) > 255:  # a resolution may be 200 characters; the key column holds 255
            key = f"{key[:180]}:{hashlib.sha256(key.encode()).hexdigest()[:32]}"
        return key


def threshold_reached(days_remaining: int, thresholds: Sequence[int]) -> int | None:
    """The threshold a deadline this many days away stands at: the smallest one it has reached,
    ``0`` once it has passed, or None while it is further away than every threshold."""
    if days_remaining < 0:
        return 0
    reached = [t for t in thresholds if t > 0 and days_remaining <= t]
    return min(reached) if reached else None


def deadlines_of(mission: str, state: dict[str, Any]) -> list[Deadline]:
    """The open deadlines in a mandate read model answer (``projections.mandate.fold``)."""
    return [
        Deadline(mission, d["deadline"], d["due_on"], resolution=d.get("resolution"),
                 review_id=d.get("review_id"))
        for d in mandate.open_deadlines(state)
    ]  # fmt: skip


def check_deadlines(
    store: EventStore, projector: Projector, today: date, thresholds: Sequence[int]
) -> list[RecordedEvent]:
    """Flag every deadline that has reached a threshold not yet flagged; return the new flags."""
    known_at = store.clock()
    by_mission: dict[str, list[mandate.Fact]] = defaultdict(list)
    for mission_id, fact in projector.query(
        lambda conn, generation: mandate.facts_by_mission(conn, generation, known_at)
    ):
        by_mission[mission_id].append(fact)
    appended: list[RecordedEvent] = []
    for mission_id, known in sorted(by_mission.items()):
        if mandate.name_of(known) is None:
            continue
        state = mandate.fold(mission_id, known, today)
        flagged: set[tuple[Any, ...]] | None = None
        for deadline in deadlines_of(mission_id, state):
            days_remaining = (deadline.due_on - today).days
            threshold = threshold_reached(days_remaining, thresholds)
            if threshold is None:
                continue
            if flagged is None:
                flagged = _flagged(store, mission_id)
            if deadline.flag_key(threshold) in flagged:
                continue
            event = _flag(store, deadline, today, days_remaining, threshold)
            if event is not None:
                flagged.add(deadline.flag_key(threshold))
                appended.append(event)
    return appended


def _flagged(store: EventStore, mission: str) -> set[tuple[Any, ...]]:
    """The flag keys standing in a mission's alerts stream (retracted flags do not count)."""
    try:
        stored = store.stream(stream_of(mission, "DeadlineFlagged", {}))
    except StreamNotFound:
        return set()
    facts = rules.fold(rules.Entry(e.id, e.type, e.version, e.occurred_on, e.data) for e in stored)
    return {
        (
            f.data["deadline"], f.data["due_on"], f.data["threshold_days"],
            f.data.get("resolution"), f.data.get("review_id"),
        )
        for f in facts.values()
        if f.type == "DeadlineFlagged" and not f.retracted
    }  # fmt: skip


def _flag(
    store: EventStore, deadline: Deadline, today: date, days_remaining: int, threshold: int
) -> RecordedEvent | None:
    """Append one flag; None when another pass flagged it first."""
    data: dict[str, Any] = {
        "deadline": deadline.deadline,
        "due_on": deadline.due_on.isoformat(),
        "days_remaining": days_remaining,
        "threshold_days": threshold,
    }
    if deadline.resolution is not None:
        data["resolution"] = deadline.resolution
    if deadline.review_id is not None:
        data["review_id"] = deadline.review_id
    event = store.parse({
        "mission": deadline.mission, "type": "DeadlineFlagged",
        "occurred_on": today.isoformat(), "data": data,
    })  # fmt: skip
    try:
        result = store.append(
            [event],
            recorded_by=RECORDED_BY,
            idempotency_key=deadline.idempotency_key(threshold, today),
            key_scope=KEY_SCOPE,
        )
    except (RuleViolation, IdempotencyKeyReused):
        # Another pass flagged this threshold first, for another day (around midnight, or a
        # --today run): the rule refused the second flag. Either way it is flagged once.
        log.debug("%s %s due %s already flagged", deadline.mission, deadline.deadline,
                  deadline.due_on)  # fmt: skip
        return None
    if result.replayed:
        return None
    flag = result.events[0]
    log.info(
        "flagged %s %s due %s: %s days remaining (threshold %s)",
        deadline.mission, deadline.deadline, deadline.due_on, days_remaining, threshold,
    )  # fmt: skip
    return flag
