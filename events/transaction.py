"""One append transaction: resolves, checks, numbers and hash-chains events, then inserts them.

It keeps what it has read (stream versions and histories) and what it has added but not yet
flushed, so the events of one batch see each other and each stream is read at most once.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from events import catalogue, rules
from events.catalogue import AMENDMENT_TYPES, CATALOGUE, SCHEMA_VERSION
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

if TYPE_CHECKING:
    from events.store import EventStore, Guard, Preserved


@dataclass
class AppendTransaction:
    store: EventStore
    tx: WriteTx
    pending: list[RecordedEvent] = field(default_factory=list)
    recorded: list[RecordedEvent] = field(default_factory=list)
    _versions: dict[str, int] = field(default_factory=dict)
    _histories: dict[str, list[rules.Entry]] = field(default_factory=dict)
    # The committed part of each history read, for the store to remember once committed.
    read_histories: dict[str, list[rules.Entry]] = field(default_factory=dict)
    _by_id: dict[str, RecordedEvent] = field(default_factory=dict)
    _position: int = 0
    _hash: str = GENESIS_HASH
    now: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    _now_text: str = ""
    _last_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))

    def __post_init__(self) -> None:
        head = self.tx.head()
        now = self.store.clock()
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
            guard(event, kind_of, named.data if named else data)

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

    def flush(self) -> list[RecordedEvent]:
        if self.pending:
            self.tx.insert(self.pending)
            self.pending = []
        return self.recorded

    def lookup(self, event_id: str) -> RecordedEvent | None:
        if event_id in self._by_id:
            return self._by_id[event_id]
        found = self.tx.events_by_id([event_id])
        return found[0] if found else None

    def _registered(self, mission: str) -> bool:
        if mission in self.store._registered:
            return True
        # MissionRegistered is always version 1 of its stream: nothing else may precede it.
        return self._version(catalogue.mission_stream(mission)) > 0

    def _version(self, stream: str) -> int:
        if stream not in self._versions:
            self._versions[stream] = self.tx.stream_version(stream)
        return self._versions[stream]

    def _history(self, stream: str) -> list[rules.Entry]:
        if stream not in self._histories:
            # Stored history (what this process already read of it, plus what was appended
            # since: stored events never change) and this transaction's own unflushed events.
            known = self.store.histories.get(stream)
            after = known[-1].version if known else 0
            stored = [*known, *self.tx.history(stream, after_version=after)]
            self.read_histories[stream] = stored
            unflushed = [_entry(e) for e in self.pending if e.stream == stream]
            self._histories[stream] = stored + unflushed
        return self._histories[stream]

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
            model = catalogue.parse_event(body, donor_organisations=self.store.donor_organisations)
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
        if named is None and (kind == "funding" or type_ in rules.ADDITIVE_TYPES):
            return  # nothing in the history can forbid these
        facts = rules.fold(self._history(stream))
        if named is None:
            changed = rules.Fact(event_id, type_, version, event.occurred_on, data)
            facts[event_id] = changed
            blame = "data"
        else:
            # An amendment is not a fact of its own; check_amendable refuses to amend one.
            target = facts.get(named.id) or rules.Fact(
                named.id, named.type, named.version, named.occurred_on, named.data
            )
            rules.check_amendable(target, type_)
            if type_ == "EventCorrected":
                on = event.data.occurred_on or target.occurred_on
                changed = replace(target, data=data["data"], occurred_on=on)
                blame = "data.data"
            else:
                changed = replace(target, retracted=True)
                blame = "data.event_id"
            facts[named.id] = changed
        rules.check(kind, facts, changed, blame=blame)


def _entry(event: RecordedEvent) -> rules.Entry:
    return rules.Entry(event.id, event.type, event.version, event.occurred_on, event.data)
