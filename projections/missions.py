"""The list of missions with their status, mandate expiry and deployed strength (§4)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from projections import force_strength, mandate


def listing(
    conn: Connection, generation: int, day: date, known_at: datetime
) -> list[dict[str, Any]]:
    by_mission: dict[str, list[mandate.Fact]] = defaultdict(list)
    for mission_id, fact in mandate.facts_by_mission(conn, generation, known_at):
        by_mission[mission_id].append(fact)
    missions = []
    for mission_id, known in sorted(by_mission.items()):
        name = mandate.name_of(known)
        if name is None:
            continue
        state = mandate.fold(mission_id, known, day)
        strength = force_strength.as_of(conn, generation, mission_id, day, known_at)
        missions.append({
            "mission": mission_id, "name": name, "status": state["status"],
            "expires_on": state["expires_on"], "deployed": strength["deployed"],
        })  # fmt: skip
    return missions
