"""The event store: atomic, idempotent, hash-chained appends and reads (CONTRACT §2, §6).

Writes happen one transaction at a time (the recorder's writer lock), so positions are assigned
as ``head + 1`` and become visible in position order, and the hash chain is computed against
the true previous event inside the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Row, select

from events import catalogue, codes, rules, schema
from events.catalogue import AMENDMENT_TYPES, CATALOGUE, SCHEMA_VERSION
from events.envelope import GENESIS_HASH, RecordedEvent, canonical_json, chain_hash, format_instant
from events.errors import (
    ConflictingImport,
    EventNotFound,
    FieldError,
    IdempotencyKeyReused,
    InvalidEvent,
    MissionNotFound,
    RuleViolation,
    StreamNotFound,
    VersionConflict,
)
from events.ids import new_event_id
from events.recorders import Recorder, WriteTx, recorder_for

log = logging.getLogger(__name__)

MAX_BATCH = 1000
Clock = Callable[[], datetime]
#: Called for each event once its named event is resolved: (event, effective type, effective data).
Guard = Callable[[Any, str, dict[str, Any]], None]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class AppendResult:
    events: list[RecordedEvent]
    replayed: bool = False


@dataclass(frozen=True)
class Page:
    events: list[RecordedEvent]
    next: int | None


@dataclass(frozen=True)
class Preserved:
    """Server-assigned fields an import keeps from the exported file."""

    id: str
    recorded_at: datetime
    recorded_by: str


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    head_position: int | None
    head_hash: str | None
    first_bad_position: int | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ImportReport:
    imported: int
    skipped: int


class EventStore:
    """Append and read events on one database (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = utcnow,
        donor_organisations: Sequence[str] | None = None,
        idempotency_retention: timedelta = timedelta(hours=48),
        sqlite_synchronous: str = "NORMAL",
    ) -> None:
        options = {"synchronous": sqlite_synchronous} if engine.dialect.name == "sqlite" else {}
        self.recorder: Recorder = recorder_for(engine, **options)
        self.engine = engine
        self.clock = clock
        self.donor_organisations = tuple(donor_organisations or codes.DEFAULT_DONOR_ORGANISATIONS)
        self.idempotency_retention = idempotency_retention
        # Registration can be corrected but never retracted, so a positive answer never goes stale.
        self._registered: set[str] = set()
        self._last_purge: datetime | None = None

    # --- writing -----------------------------------------------------------------------

    def parse(self, body: Any) -> Any:
        """Validate one request body into a catalogue event (raises :class:`InvalidEvent`)."""
        return catalogue.parse_event(body, donor_organisations=self.donor_organisations)

    def append(
        self,
        events: Sequence[Any],
        *,
        recorded_by: str,
        idempotency_key: str | None = None,
        key_scope: str = "",
        guard: Guard | None = None,
        batch: bool = False,
    ) -> AppendResult:
        """Append all of ``events`` or none of them, in one transaction.

        With an ``idempotency_key`` a retry of the same request returns the first answer and
        appends nothing; the key with another request raises :class:`IdempotencyKeyReused`.
        ``batch`` names errors by index (``events[3].data.personnel``).
        """
        if not 1 <= len(events) <= MAX_BATCH:
            raise InvalidEvent([FieldError("events", f"must hold 1 to {MAX_BATCH} events")])
        request_hash = _request_hash(events, batch) if idempotency_key is not None else ""
        with self.recorder.write() as tx:
            if idempotency_key is not None:
                replay = self._replay(tx, key_scope, idempotency_key, request_hash)
                if replay is not None:
                    return AppendResult(replay, replayed=True)
            writer = _Writer(self, tx)
            for index, event in enumerate(events):
                try:
                    writer.add(event, recorded_by=recorded_by, guard=guard)
                except InvalidEvent as exc:
                    if not batch:
                        raise
                    raise exc.prefixed(f"events[{index}]") from None
            recorded = writer.flush()
            if idempotency_key is not None:
                ids = [e.id for e in recorded]
                tx.save_key(key_scope, idempotency_key, request_hash, ids, writer.now)
            self._purge_keys(tx, writer.now)
        for event in recorded:
            if event.type == "MissionRegistered":
                self._registered.add(event.mission)
        return AppendResult(recorded)

    def import_events(
        self, items: Iterable[tuple[Any, Preserved]], *, chunk: int = 500
    ) -> ImportReport:
        """Append exported events keeping their ids, ``recorded_at`` and ``recorded_by``.

        Every event passes the same rules as over the API; an id already stored with the same
        content is skipped, so importing a file twice changes nothing. All or nothing.
        """
        imported = skipped = 0
        with self.recorder.write() as tx:
            writer = _Writer(self, tx)
            for event, kept in items:
                existing = writer.lookup(kept.id)
                if existing is not None:
                    if not _same_content(existing, event, kept):
                        raise ConflictingImport(kept.id)
                    skipped += 1
                    continue
                writer.add(event, recorded_by=kept.recorded_by, preserved=kept)
                imported += 1
                if len(writer.pending) >= chunk:
                    writer.flush()
            writer.flush()
        return ImportReport(imported, skipped)

    def _replay(
        self, tx: WriteTx, scope: str, key: str, request_hash: str
    ) -> list[RecordedEvent] | None:
        found = tx.find_key(scope, key)
        if found is None:
            return None
        stored_hash, ids, created_at = found
        if created_at < self.clock() - self.idempotency_retention:
            tx.forget_key(scope, key)  # expired but not yet swept: the key is free again
            return None
        if stored_hash != request_hash:
            raise IdempotencyKeyReused(key)
        by_id = {e.id: e for e in tx.events_by_id(ids)}
        return [by_id[i] for i in ids]

    def _purge_keys(self, tx: WriteTx, now: datetime) -> None:
        # Keys are kept for the retention period (>= 24 h by contract); the sweep runs at most
        # hourly per process so it costs nothing on the hot path.
        if self._last_purge is not None and now - self._last_purge < timedelta(hours=1):
            return
        self._last_purge = now
        tx.purge_keys(now - self.idempotency_retention)

    # --- reading -----------------------------------------------------------------------

    def read(
        self,
        *,
        after: int = 0,
        limit: int = 100,
        mission: str | None = None,
        type: str | None = None,
        stream: str | None = None,
    ) -> Page:
        """Events after a position in global order; ``next`` is the following page's ``after``."""
        ev = schema.events
        where = [ev.c.position > after]
        if mission is not None:
            where.append(ev.c.mission == mission)
        if type is not None:
            where.append(ev.c.type == type)
        if stream is not None:
            where.append(ev.c.stream == stream)
        with self.recorder.read() as conn:
            found = self._select(conn, *where, limit=limit + 1)
        more = len(found) > limit
        found = found[:limit]
        return Page(found, found[-1].position if more else None)

    def get(self, event_id: str) -> RecordedEvent:
        with self.recorder.read() as conn:
            found = self._select(conn, schema.events.c.id == event_id)
        if not found:
            raise EventNotFound(event_id)
        return found[0]

    def stream(self, stream: str) -> list[RecordedEvent]:
        """A stream's events in version order."""
        ev = schema.events
        with self.recorder.read() as conn:
            rows = conn.execute(
                select(ev).where(ev.c.stream == stream).order_by(ev.c.version)
            ).all()
        if not rows:
            raise StreamNotFound(stream)
        return [_recorded(r) for r in rows]

    def is_registered(self, mission: str) -> bool:
        if mission in self._registered:
            return True
        with self.recorder.read() as conn:
            found = _registered(conn, mission)
        if found:
            self._registered.add(mission)
        return found

    def head(self) -> tuple[int, str] | None:
        """The last position and its hash, or None for an empty store."""
        ev = schema.events
        with self.recorder.read() as conn:
            row = conn.execute(
                select(ev.c.position, ev.c.hash).order_by(ev.c.position.desc()).limit(1)
            ).first()
        return (row.position, row.hash) if row else None

    def iter_events(self, *, after: int = 0, chunk: int = 1000) -> Iterator[RecordedEvent]:
        """Every event after a position in global order, read a chunk at a time."""
        while True:
            page = self.read(after=after, limit=chunk)
            yield from page.events
            if page.next is None:
                return
            after = page.next

    def verify(self, *, expected_head: str | None = None) -> VerifyReport:
        """Recompute the hash chain; name the first position where it breaks.

        ``expected_head`` is a hash anchored elsewhere earlier: the chain must still pass through
        it (events appended since are fine), else the newest events were lost.
        """
        previous, last_position, checked = GENESIS_HASH, 0, 0
        anchored = expected_head is None
        versions: dict[str, int] = {}
        for event in self.iter_events():
            checked += 1
            problem, bad_at = None, event.position
            if event.position != last_position + 1:
                problem = f"event at position {last_position + 1} is missing"
                bad_at = last_position + 1
            elif event.version != versions.get(event.stream, 0) + 1:
                problem = (
                    f"stream {event.stream} jumps from version {versions.get(event.stream, 0)} "
                    f"to {event.version}"
                )
            elif chain_hash(previous, event.envelope()) != event.hash:
                problem = "the stored hash does not match the event's content and its predecessor"
            if problem is not None:
                return VerifyReport(
                    False,
                    checked,
                    last_position or None,
                    previous or None,
                    first_bad_position=bad_at,
                    problem=problem,
                )
            previous, last_position = event.hash, event.position
            versions[event.stream] = event.version
            anchored = anchored or event.hash == expected_head
        if not anchored:
            return VerifyReport(
                False,
                checked,
                last_position or None,
                previous or None,
                first_bad_position=last_position + 1,
                problem=f"the anchored head {expected_head} is not in the chain, which ends at "
                f"position {last_position}: events after it were lost or the anchor is wrong",
            )
        return VerifyReport(True, checked, last_position or None, previous or None)

    def _select(
        self, conn: Connection, *where: Any, limit: int | None = None
    ) -> list[RecordedEvent]:
        ev = schema.events
        query = select(ev).where(*where).order_by(ev.c.position)
        if limit is not None:
            query = query.limit(limit)
        return [_recorded(r) for r in conn.execute(query)]


# --- one write transaction ---------------------------------------------------------------


@dataclass
class _Writer:
    store: EventStore
    tx: WriteTx
    pending: list[RecordedEvent] = field(default_factory=list)
    recorded: list[RecordedEvent] = field(default_factory=list)
    _versions: dict[str, int] = field(default_factory=dict)
    _histories: dict[str, list[rules.Entry]] = field(default_factory=dict)
    _by_id: dict[str, RecordedEvent] = field(default_factory=dict)
    _position: int = 0
    _hash: str = GENESIS_HASH
    now: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))
    _now_text: str = ""

    def __post_init__(self) -> None:
        head = self.tx.head()
        now = self.store.clock()
        if head is not None:
            self._position, self._hash, last_at = head
            # recorded_at never goes backwards along positions, even if the clock does.
            now = max(now, last_at)
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
            # Stored history plus this transaction's own events not yet flushed.
            unflushed = [_entry(e) for e in self.pending if e.stream == stream]
            self._histories[stream] = self.tx.history(stream) + unflushed
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


# --- helpers ------------------------------------------------------------------------------


def _registered(conn: Connection, mission: str) -> bool:
    ev = schema.events
    # MissionRegistered is always version 1 of its mission stream: nothing else may precede it.
    return (
        conn.execute(
            select(ev.c.position).where(
                ev.c.stream == catalogue.mission_stream(mission), ev.c.version == 1
            )
        ).first()
        is not None
    )


def _recorded(row: Row[Any]) -> RecordedEvent:
    m = row._mapping
    return RecordedEvent(
        id=m["id"],
        mission=m["mission"],
        type=m["type"],
        stream=m["stream"],
        version=m["version"],
        position=m["position"],
        occurred_on=m["occurred_on"],
        recorded_at=m["recorded_at"],
        recorded_by=m["recorded_by"],
        data=m["data"],
        source=m["source"],
        notes=m["notes"],
        hash=m["hash"],
        schema_version=m["schema_version"],
    )


def _entry(event: RecordedEvent) -> rules.Entry:
    return rules.Entry(event.id, event.type, event.version, event.occurred_on, event.data)


def _request_hash(events: Sequence[Any], batch: bool) -> str:
    body = [e.model_dump(mode="json", exclude_none=True) for e in events]
    return hashlib.sha256(canonical_json({"batch": batch, "events": body}).encode()).hexdigest()


def _same_content(existing: RecordedEvent, event: Any, kept: Preserved) -> bool:
    return (
        existing.type == event.type
        and existing.mission == event.mission
        and existing.occurred_on == event.occurred_on
        and existing.recorded_by == kept.recorded_by
        and existing.recorded_at == kept.recorded_at
        and existing.data == event.data.model_dump(mode="json", exclude_none=True)
    )


def as_date(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)
