"""One append transaction: resolves, checks, numbers and hash-chains events, then inserts them.

It keeps what it has read (stream versions, the personnel balances of events.personnel, the
small mission and alert histories) and what it has added but not yet flushed, so the events of
one batch see each other and each thing is read at most once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from events import catalogue, personnel, rules
from events.catalogue import AMENDMENT_TYPES, CATALOGUE, SCHEMA_VERSION
from events.context import AppendContext
from events.envelope import GENESIS_HASH, RecordedEvent, chain_hash, format_instant
from events.errors import (
    EventNotFound,
    FieldError,
    InvalidEvent,
    MissionNotFound,
    RuleViolation,
    VersionConflict,
)
from events.ids import new_event_id
from events.recorders import WriteTx

#: Called for each event once its named event is resolved: (event, effective type, effective data).
Guard = Callable[[Any, str, dict[str, Any]], None]


@dataclass(frozen=True)
class Preserved:
    """Server-assigned fields an import keeps from the exported file."""

    id: str
    recorded_at: datetime
    recorded_by: str


@dataclass
class AppendTransaction:
    context: AppendContext
    tx: WriteTx
    pending: list[RecordedEvent] = field(default_factory=list)
    recorded: list[RecordedEvent] = field(default_factory=list)
    _versions: dict[str, int] = field(default_factory=dict)
    _committed: dict[str, int] = field(default_factory=dict)
    _histories: dict[str, list[rules.Entry]] = field(default_factory=dict)
    _by_id: dict[str, RecordedEvent] = field(default_factory=dict)
    # Events amended in this transaction as they now stand, and those not yet written.
    _amended: dict[str, rules.Fact] = field(default_factory=dict)
    _amended_unsaved: dict[str, str] = field(default_factory=dict)  # event id -> stream
    _position: int = 0
    _hash: str = GENESIS_HASH
    now: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    _now_text: str = ""
    _last_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))

    def __post_init__(self) -> None:
        self.ledger = personnel.PersonnelLedger(
            self.tx, self.context.balances, self._committed_version
        )
        head = self.tx.head()
        now = self.context.clock()
        # The latest date a fact may carry (CONTRACT §3): today on the server's clock, plus a
        # day for a liaison whose evening is already tomorrow in UTC. From the clock, not from
        # recorded_at, which a clock set back never lets fall.
        self.latest_day = now.astimezone(UTC).date() + timedelta(days=1)
        if head is not None:
            self._position, self._hash, self._last_at = head
            # recorded_at never goes backwards along positions, even if the clock does.
            now = max(now, self._last_at)
        self.now = now
        self._now_text = format_instant(now)

    def add(
        self,
        event: Any,
        *,
        recorded_by: str,
        guard: Guard | None = None,
        preserved: Preserved | None = None,
    ) -> None:
        mission, type_ = event.mission, event.type
        if type_ != "DeadlineFlagged":  # a flag's date is the scheduler's own check day
            self._happened(event.occurred_on, "occurred_on")
            if type_ == "EventCorrected" and event.data.occurred_on is not None:
                self._happened(event.data.occurred_on, "data.occurred_on")
        data = event.data.model_dump(mode="json", exclude_none=True)
        if type_ != "MissionRegistered" and not self._registered(mission):
            raise MissionNotFound(mission)

        named: RecordedEvent | None = None
        if type_ in AMENDMENT_TYPES:
            named = self.lookup(event.data.event_id)
            if named is None:
                raise EventNotFound(event.data.event_id)
            if named.mission != mission:
                raise RuleViolation(
                    "data.event_id", f"event {named.id} belongs to mission {named.mission!r}"
                )
            stream, kind_of = named.stream, named.type
        else:
            stream, kind_of = catalogue.stream_of(mission, type_, data), type_

        if guard is not None:
            # Authorised before judged: amending an amendment is refused as a rule (422), but
            # only to whoever may post the event it amends; anyone else gets the 403.
            guard(event, *self._authority(named, kind_of, data))

        current = self._version(stream)
        if event.expected_version is not None and event.expected_version != current:
            raise VersionConflict(stream, event.expected_version, current)

        event_id = preserved.id if preserved else new_event_id()
        occurred_on = event.occurred_on
        if type_ == "EventCorrected":
            data["data"] = self._replacement(event, named)  # type: ignore[arg-type]
        self._check(event, type_, stream, kind_of, event_id, current + 1, data, named)

        self._position += 1
        source = event.source.model_dump(mode="json", exclude_none=True) if event.source else None
        recorded_at = preserved.recorded_at if preserved else self.now
        if recorded_at < self._last_at:
            # Only an import can get here. known_at answers assume recorded_at follows the
            # positions; an older event after a newer one would rewrite what was known when.
            raise RuleViolation(
                "recorded_at",
                f"{format_instant(recorded_at)} is earlier than the event before it "
                f"({format_instant(self._last_at)}): import into an empty store, in the "
                "exported order",
            )
        self._last_at = recorded_at
        envelope = {
            "id": event_id,
            "mission": mission,
            "type": type_,
            "stream": stream,
            "version": current + 1,
            "position": self._position,
            "occurred_on": occurred_on.isoformat(),
            "recorded_at": format_instant(recorded_at) if preserved else self._now_text,
            "recorded_by": recorded_by,
            "data": data,
            "source": source,
            "notes": event.notes,
            "schema_version": SCHEMA_VERSION,
        }
        recorded = RecordedEvent(
            id=event_id,
            mission=mission,
            type=type_,
            stream=stream,
            version=current + 1,
            position=self._position,
            occurred_on=occurred_on,
            recorded_at=recorded_at,
            recorded_by=recorded_by,
            data=data,
            source=source,
            notes=event.notes,
            hash=chain_hash(self._hash, envelope),
            schema_version=SCHEMA_VERSION,
        )
        self._hash = recorded.hash
        self._versions[stream] = current + 1
        self._by_id[event_id] = recorded
        if stream in self._histories:
            self._histories[stream].append(_entry(recorded))
        self.recorded.append(recorded)
        self.pending.append(recorded)

    def _happened(self, day: date, field: str) -> None:
        if day > self.latest_day:
            today = self.latest_day - timedelta(days=1)
            raise InvalidEvent(
                [FieldError(field, f"{day.isoformat()} is in the future: a fact is reported "
                            f"once it has happened, by {self.latest_day.isoformat()} at the "
                            f"latest (today is {today.isoformat()}, UTC)")]
            )  # fmt: skip

    def flush(self) -> list[RecordedEvent]:
        if self.pending:
            self.tx.insert(self.pending)
            self.pending = []
        self.ledger.flush()
        if self._amended_unsaved:
            self.tx.save_amended(
                [(i, stream, self._amended[i].occurred_on, self._amended[i].data,
                  self._amended[i].retracted) for i, stream in self._amended_unsaved.items()]
            )  # fmt: skip
            self._amended_unsaved.clear()
        return self.recorded

    def lookup(self, event_id: str) -> RecordedEvent | None:
        if event_id in self._by_id:
            return self._by_id[event_id]
        found = self.tx.events_by_id([event_id])
        return found[0] if found else None

    def _registered(self, mission: str) -> bool:
        if self.context.registered.known(mission):
            return True
        # MissionRegistered is always version 1 of its stream: nothing else may precede it.
        return self._version(catalogue.mission_stream(mission)) > 0

    def _version(self, stream: str) -> int:
        if stream not in self._versions:
            self._versions[stream] = self._committed[stream] = self.tx.stream_version(stream)
        return self._versions[stream]

    def _committed_version(self, stream: str) -> int:
        """The stream's version before this transaction added to it."""
        if stream not in self._committed:
            self._version(stream)
        return self._committed[stream]

    def committed_balances(self) -> list[tuple[personnel.Key, int, Any]]:
        """What the ledger leaves, for the store's cache once this transaction committed."""
        return self.ledger.committed(self._version)

    def _history(self, stream: str) -> list[rules.Entry]:
        # Only a mission's own stream and its alerts are folded: a few events a month, written
        # by admins and the scheduler. Contingents, where liaisons write, use the ledger.
        if stream not in self._histories:
            stored = self.tx.history(stream)
            unflushed = [_entry(e) for e in self.pending if e.stream == stream]
            self._histories[stream] = stored + unflushed
        return self._histories[stream]

    def _effective(self, named: RecordedEvent) -> rules.Fact:
        """An event as its corrections and retraction recorded so far leave it."""
        if named.id in self._amended:
            return self._amended[named.id]
        fact = rules.Fact(named.id, named.type, named.version, named.occurred_on, named.data)
        found = self.tx.amended(named.id)
        if found is not None:
            on, data, retracted = found
            fact = replace(fact, occurred_on=on, data=data, retracted=retracted)
        return fact

    def _authority(
        self, named: RecordedEvent | None, kind_of: str, data: dict[str, Any]
    ) -> tuple[str, dict[str, Any]]:
        """The type and data whose posting rights an event needs (CONTRACT §3)."""
        if named is None:
            return kind_of, data
        if named.type in AMENDMENT_TYPES:
            original = self.lookup(named.data["event_id"])
            if original is not None:
                return original.type, original.data
        return named.type, named.data

    def _replacement(self, event: Any, named: RecordedEvent) -> dict[str, Any]:
        """The correction's replacement ``data``, validated as the named type and normalised."""
        spec = CATALOGUE[named.type]
        body = {
            "mission": named.mission,
            "type": named.type,
            "occurred_on": (event.data.occurred_on or named.occurred_on).isoformat(),
            "data": event.data.data,
        }
        try:
            model = catalogue.parse_event(
                body, donor_organisations=self.context.donor_organisations
            )
        except InvalidEvent as exc:
            raise InvalidEvent(
                [
                    FieldError(
                        f"data.{e.field or 'data'}",
                        e.message,
                    )
                    for e in exc.errors
                ]
            ) from None
        replacement: dict[str, Any] = model.data.model_dump(mode="json", exclude_none=True)
        if spec.scope_field and replacement[spec.scope_field] != named.data[spec.scope_field]:
            raise RuleViolation(
                f"data.data.{spec.scope_field}",
                f"a correction cannot move an event to another {spec.scope_field}; retract it "
                "and report it again",
            )
        return replacement

    def _check(
        self,
        event: Any,
        type_: str,
        stream: str,
        kind_of: str,
        event_id: str,
        version: int,
        data: dict[str, Any],
        named: RecordedEvent | None,
    ) -> None:
        kind = CATALOGUE[kind_of].stream_kind
        if named is None:
            changed = rules.Fact(event_id, type_, version, event.occurred_on, data)
            if kind == "contingent":
                effect, count = personnel.effect_of(changed), personnel.count_of(changed)
                self.ledger.move(
                    stream, [] if effect is None else [effect],
                    counts=[] if count is None else [count], country=data["country"],
                    blame="data",
                )  # fmt: skip
                return
            if kind == "funding":
                return  # nothing in the history can forbid these
            if kind == "alerts":
                self._check_flag(event, data)
            facts = rules.fold(self._history(stream))
            facts[event_id] = changed
            rules.check(kind, facts, changed, blame="data")
            return
        # An amendment is not a fact of its own; check_amendable refuses to amend one.
        target = self._effective(named)
        rules.check_amendable(target, type_)
        if type_ == "EventCorrected":
            on = event.data.occurred_on or target.occurred_on
            changed = replace(target, data=data["data"], occurred_on=on)
            blame = "data.data"
        else:
            changed = replace(target, retracted=True)
            blame = "data.event_id"
        if kind == "contingent":
            undo, redo = personnel.effect_of(target), personnel.effect_of(changed)
            changes = [] if undo is None else [(*undo[:3], -undo[3])]
            changes += [] if redo is None else [redo]
            gone, now = personnel.count_of(target), personnel.count_of(changed)
            counts: list[personnel.Count] = [] if gone is None else [(*gone[:3], None)]
            counts += [] if now is None else [now]
            self.ledger.move(
                stream, changes, counts=counts, country=named.data["country"], blame=blame
            )
        elif kind != "funding":
            facts = rules.fold(self._history(stream))
            facts[named.id] = changed
            rules.check(kind, facts, changed, blame=blame)
        self._amended[named.id] = changed
        self._amended_unsaved[named.id] = stream

    def _check_flag(self, event: Any, data: dict[str, Any]) -> None:
        """A deadline flag names a deadline its mission has, counted from its own date."""
        due_on = date.fromisoformat(data["due_on"])
        days = (due_on - event.occurred_on).days
        if data["days_remaining"] != days:
            raise RuleViolation(
                "data.days_remaining",
                f"must be due_on - occurred_on = {days} ({data['due_on']} counted from "
                f"{event.occurred_on.isoformat()})",
            )
        mission = rules.fold(self._history(catalogue.mission_stream(event.mission))).values()
        rules.check_flag_names_deadline([f for f in mission if not f.retracted], data)


def _entry(event: RecordedEvent) -> rules.Entry:
    return rules.Entry(event.id, event.type, event.version, event.occurred_on, event.data)
