"""The list of missions with their status, mandate expiry, deployed strength and succession (§4).

A mission's ``successor_mission`` is the one its ``MandateEnded`` names; its
``predecessor_mission`` is the mission whose ``MandateEnded`` names it. Both are read from the
mission facts as corrected or retracted by ``known_at``, and only once the end is dated on or
before the day asked about, as the status ``ended`` is.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from projections import force_strength, mandate


def ending(known: list[mandate.Fact], day: date) -> mandate.Fact | None:
    """The ``MandateEnded`` dated on or before ``day`` among a mission's facts, or None."""
    ended = [x for x in known if x.type == "MandateEnded" and x.occurred_on <= day]
    return ended[-1] if ended else None


def registered_on(known: list[mandate.Fact]) -> date | None:
    """The date of a mission's registration (as corrected), or None."""
    dates = [x.occurred_on for x in known if x.type == "MissionRegistered"]
    return dates[-1] if dates else None


def listing(
    conn: Connection, generation: int, day: date, known_at: datetime
) -> list[dict[str, Any]]:
    """Every registered mission on ``day`` as known at ``known_at``, in id order."""
    by_mission: dict[str, list[mandate.Fact]] = defaultdict(list)
    for mission_id, fact in mandate.facts_by_mission(conn, generation, known_at):
        by_mission[mission_id].append(fact)
    named = {m: known for m, known in by_mission.items() if mandate.name_of(known) is not None}

    successors: dict[str, str | None] = {}
    predecessors: dict[str, str] = {}
    ends: dict[str, tuple[date, str]] = {}
    for mission_id, known in named.items():
        end = ending(known, day)
        successor = end.data.get("successor_mission") if end else None
        successors[mission_id] = successor
        if end is None or successor is None or successor == mission_id:
            continue
        # Should two missions name the same successor, the one that ended last precedes it.
        key = (end.occurred_on, mission_id)
        if successor not in ends or key > ends[successor]:
            ends[successor], predecessors[successor] = key, mission_id

    missions = []
    for mission_id, known in sorted(named.items()):
        state = mandate.fold(mission_id, known, day)
        strength = force_strength.as_of(conn, generation, mission_id, day, known_at)
        registered = registered_on(known)
        missions.append({
            "mission": mission_id, "name": mandate.name_of(known),
            "registered_on": registered.isoformat() if registered else None,
            "status": state["status"], "expires_on": state["expires_on"],
            "deployed": strength["deployed"],
            "successor_mission": successors[mission_id],
            "predecessor_mission": predecessors.get(mission_id),
        })  # fmt: skip
    return missions
