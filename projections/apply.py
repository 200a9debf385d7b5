"""The fold: how one stored event changes the read models (pure decisions, then writes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, select

from events.envelope import RecordedEvent
from projections import balances
from projections.schema import effects, mission_facts

MISSION_TYPES = frozenset({
    "MissionRegistered", "MandateAuthorized", "MandateRenewed", "MandateEnded",
    "ReviewScheduled", "ReviewCompleted", "BudgetRequirementSet",
})  # fmt: skip
FUNDS_MEASURES = {
    "FundsPledged": "pledged_usd",
    "FundsCommitted": "committed_usd",
    "FundsDeposited": "deposited_usd",
}
PERSONNEL = {
    "PersonnelPledged": ("pledged", 1),
    "PledgeWithdrawn": ("pledged", -1),
    "ContingentArrived": ("deployed", 1),
    "ContingentDeparted": ("deployed", -1),
}

Effect = tuple[str, str, Decimal]  # measure, key, amount


def effects_of(type_: str, data: dict[str, Any]) -> list[Effect]:
    """What an event adds to which running total (pure)."""
    if type_ in PERSONNEL:
        measure, sign = PERSONNEL[type_]
        key = f"{data['country']}/{data['category']}"
        found = [(measure, key, Decimal(sign * data["personnel"]))]
        if type_ == "ContingentArrived" and data.get("female"):
            found.append(("female", key, Decimal(data["female"])))
        return found
    if type_ in FUNDS_MEASURES:
        usd = Decimal(data["amount"]) * Decimal(data.get("usd_rate") or 1)
        return [(FUNDS_MEASURES[type_], f"{data['donor']}/{data['channel']}", usd)]
    return []


Lookup = Callable[[str], RecordedEvent]


def apply(conn: Connection, generation: int, event: RecordedEvent, lookup: Lookup) -> None:
    """Apply one event, at its own ``recorded_at``, to generation ``generation``."""
    at = event.recorded_at
    if event.type in ("EventCorrected", "EventRetracted"):
        named = lookup(event.data["event_id"])
        current_on = _current_date(conn, generation, named)  # before the undo forgets it
        _undo(conn, generation, named, at)
        if event.type == "EventCorrected":
            on = event.data.get("occurred_on")
            occurred_on = date.fromisoformat(on) if on else current_on
            _do(conn, generation, named, event.data["data"], occurred_on, at, event.version)
        return
    _do(conn, generation, event, event.data, event.occurred_on, at, event.version)


def _do(
    conn: Connection,
    generation: int,
    event: RecordedEvent,
    data: dict[str, Any],
    occurred_on: date,
    at: datetime,
    version: int,
) -> None:
    if event.type in MISSION_TYPES:
        conn.execute(
            mission_facts.insert(),
            {"generation": generation, "mission": event.mission, "event_id": event.id,
             "type": event.type, "occurred_on": occurred_on, "data": data, "version": version,
             "recorded_from": at, "recorded_to": None},
        )  # fmt: skip
        return
    for measure, key, amount in effects_of(event.type, data):
        balances.add(conn, generation, event.mission, measure, key, occurred_on, amount, at)
        conn.execute(
            effects.insert(),
            {"generation": generation, "event_id": event.id, "measure": measure,
             "mission": event.mission, "key": key, "valid_on": occurred_on, "amount": str(amount)},
        )  # fmt: skip


def _undo(conn: Connection, generation: int, named: RecordedEvent, at: datetime) -> None:
    if named.type in MISSION_TYPES:
        f = mission_facts
        conn.execute(
            f.update()
            .where(
                f.c.generation == generation, f.c.event_id == named.id, f.c.recorded_to.is_(None)
            )
            .values(recorded_to=at)
        )
        return
    e = effects
    mine = and_(e.c.generation == generation, e.c.event_id == named.id)
    for row in conn.execute(select(e).where(mine)).all():
        balances.add(
            conn,
            generation,
            row.mission,
            row.measure,
            row.key,
            row.valid_on,
            -Decimal(row.amount),
            at,
        )
    conn.execute(e.delete().where(mine))


def _current_date(conn: Connection, generation: int, named: RecordedEvent) -> date:
    """The named event's date as its latest correction left it (a correction may omit it)."""
    if named.type in MISSION_TYPES:
        f = mission_facts
        query = select(f.c.occurred_on).where(
            f.c.generation == generation, f.c.event_id == named.id, f.c.recorded_to.is_(None)
        )
    else:
        e = effects
        query = select(e.c.valid_on).where(e.c.generation == generation, e.c.event_id == named.id)
    found = conn.execute(query.limit(1)).scalar()
    return found or named.occurred_on
