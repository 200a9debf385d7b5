"""The fold: how one stored event changes the read models (pure decisions, then writes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, select

from events import money
from events.envelope import RecordedEvent
from projections import headcounts
from projections.book import ALL, Book, Version
from projections.schema import headcounts as headcount_rows
from projections.schema import mission_facts

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

AMENDMENTS = frozenset({"EventCorrected", "EventRetracted"})
#: Measures also summed over all their keys (key :data:`ALL`), so that a chart reads one total
#: per point instead of one per country or donor.
SUMMED = frozenset({"deployed", "pledged", "pledged_usd", "deposited_usd"})

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
        rate = data.get("usd_rate")
        usd = money.usd_value(Decimal(data["amount"]), Decimal(rate) if rate else None)
        return [(FUNDS_MEASURES[type_], f"{data['donor']}/{data['channel']}", usd)]
    return []


Lookup = Callable[[str], RecordedEvent]


def apply(book: Book, event: RecordedEvent, lookup: Lookup) -> None:
    """Apply one event, at its own ``recorded_at``, to the book's generation."""
    at = event.recorded_at
    if event.type in AMENDMENTS:
        named = lookup(event.data["event_id"])
        current_on = _current_date(book, named)  # before the undo forgets it
        _undo(book, named, at)
        standing = _report_amend(book, event, named, current_on)
        if event.type == "EventCorrected":
            on = event.data.get("occurred_on")
            occurred_on = date.fromisoformat(on) if on else current_on
            # A corrected fact keeps its place among facts of one date (its own version), as
            # the store's rules see it: a correction fixes a report, it does not re-issue it.
            _do(book, named, event.data["data"], occurred_on, at, named.version)
            book.open_version(Version(
                named.mission, named.id, occurred_on, event.data["data"],
                [*(standing.corrected_by or []), event.id] if standing else [event.id],
                named.position, at,
            ))  # fmt: skip
        return
    _do(book, event, event.data, event.occurred_on, at, event.version)
    book.open_version(
        Version(event.mission, event.id, event.occurred_on, None, None, event.position, at)
    )
    book.record_change(event.mission, at, event.position, event.id, None, event.occurred_on)


def _report_amend(
    book: Book, event: RecordedEvent, named: RecordedEvent, current_on: date
) -> Version | None:
    """End the named event's report version; record the amendment against the earlier of
    the dates it moves the event from and to (either one's figures change)."""
    standing = book.current_version(named.id)
    book.close_version(named.id, event.recorded_at)
    dated = standing.occurred_on if standing else current_on
    on = event.data.get("occurred_on") if event.type == "EventCorrected" else None
    if on:
        dated = min(dated, date.fromisoformat(on))
    book.record_change(event.mission, event.recorded_at, event.position, event.id, named.id,
                       dated)  # fmt: skip
    return standing


def _conn(book: Book) -> Connection:
    assert book.conn is not None
    return book.conn


def _do(
    book: Book,
    event: RecordedEvent,
    data: dict[str, Any],
    occurred_on: date,
    at: datetime,
    version: int,
) -> None:
    if event.type in MISSION_TYPES:
        # Few and small: written at once rather than batched.
        _conn(book).execute(
            mission_facts.insert(),
            {"generation": book.generation, "mission": event.mission, "event_id": event.id,
             "type": event.type, "occurred_on": occurred_on, "data": data, "version": version,
             "recorded_from": at, "recorded_to": None},
        )  # fmt: skip
        return
    if event.type == headcounts.TYPE:
        # A headcount is a fact, not a delta: kept as a version, read with the totals.
        key = headcounts.key_of(data)
        _conn(book).execute(
            headcount_rows.insert(),
            {"generation": book.generation, "mission": event.mission, "key": key,
             "day": occurred_on, "version": version, "event_id": event.id,
             "personnel": data["personnel"], "female": data.get("female"),
             "recorded_from": at, "recorded_to": None},
        )  # fmt: skip
        book.register_key(event.mission, headcounts.KEYS, key)
        return
    found = [
        (event.mission, m, k, occurred_on, amount) for m, k, amount in effects_of(event.type, data)
    ]
    for mission, measure, key, on, amount in found:
        _add(book, mission, measure, key, on, amount, at)
    book.record_effects(event.id, found)


def _add(
    book: Book, mission: str, measure: str, key: str, on: date, amount: Decimal, at: datetime
) -> None:
    book.add(mission, measure, key, on, amount, at)
    if measure in SUMMED:
        book.add(mission, measure, ALL, on, amount, at)


def _versioned(type_: str) -> Table | None:
    """The table keeping this type's facts as versions (recorded_from/recorded_to), if any."""
    if type_ in MISSION_TYPES:
        return mission_facts
    return headcount_rows if type_ == headcounts.TYPE else None


def _current_version(table: Table, book: Book, event_id: str) -> Any:
    return (
        (table.c.generation == book.generation)
        & (table.c.event_id == event_id)
        & (table.c.recorded_to.is_(None))
    )


def _undo(book: Book, named: RecordedEvent, at: datetime) -> None:
    table = _versioned(named.type)
    if table is not None:
        # A fact's version ends where the amendment begins.
        _conn(book).execute(
            table.update().where(_current_version(table, book, named.id)).values(recorded_to=at)
        )
        return
    for mission, measure, key, on, amount in book.take_effects(named.id):
        _add(book, mission, measure, key, on, money.CONTEXT.minus(amount), at)


def _current_date(book: Book, named: RecordedEvent) -> date:
    """The named event's date as its latest correction left it (a correction may omit it)."""
    table = _versioned(named.type)
    if table is not None:
        day = table.c.occurred_on if table is mission_facts else table.c.day
        found = (
            _conn(book)
            .execute(select(day).where(_current_version(table, book, named.id)).limit(1))
            .scalar()
        )
        return found or named.occurred_on
    return book.effect_date(named.id) or named.occurred_on
