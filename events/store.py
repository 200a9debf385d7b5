"""The event store: atomic, idempotent, hash-chained appends and reads (CONTRACT §2, §6).

Writes happen one transaction at a time (the recorder's writer lock), so positions are assigned
as ``head + 1`` and become visible in position order, and the hash chain is computed against
the true previous event inside the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, select

from events import catalogue, codes, personnel, schema
from events.envelope import GENESIS_HASH, RecordedEvent, canonical_json, chain_hash
from events.errors import (
    ConflictingImport,
    EventNotFound,
    FieldError,
    IdempotencyKeyReused,
    InvalidEvent,
    StreamNotFound,
)
from events.recorders import Recorder, WriteTx, recorder_for
from events.transaction import AppendTransaction

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
        sqlite_synchronous: str = "FULL",
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
        self.balances = personnel.BalanceCache()

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
            writer = AppendTransaction(self, tx)
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
        self.balances.publish(writer.committed_balances())  # committed now
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
            writer = AppendTransaction(self, tx)
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
        self.balances.publish(writer.committed_balances())
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
        before: int | None = None,
        limit: int = 100,
        mission: str | None = None,
        type: str | None = None,
        stream: str | None = None,
        order: Literal["asc", "desc"] = "asc",
    ) -> Page:
        """Events with ``after < position < before`` (no ``before``: up to the newest) in global
        order, oldest first or with ``order="desc"`` newest first.

        ``next`` is the following page's ``after`` (ascending) or ``before`` (descending): the
        last position of this page, None when no further matching event exists now.
        """
        # Appends commit in position order (the recorder's writer lock), so the one statement
        # below sees every position up to its snapshot's head and none above: a descending page
        # starts at the newest event an ascending reader could see at the same moment, never
        # above a gap that a slower transaction is still to fill.
        if order not in ("asc", "desc"):
            raise ValueError(f"order must be asc or desc, not {order!r}")
        p = self.recorder.placeholder
        where: list[str] = [f"position > {p}"]
        params: list[Any] = [after]
        if before is not None:
            where.append(f"position < {p}")
            params.append(before)
        for column, value in (("mission", mission), ("type", type), ("stream", stream)):
            if value is not None:
                where.append(f"{column} = {p}")
                params.append(value)
        # One row past the page tells whether another page exists, without a second query.
        found = self.recorder.select_events(
            " AND ".join(where),
            params,
            order="position DESC" if order == "desc" else "position",
            limit=limit + 1,
        )
        more = len(found) > limit
        found = found[:limit]
        return Page(found, found[-1].position if more else None)

    def get(self, event_id: str) -> RecordedEvent:
        found = self.recorder.select_events(f"id = {self.recorder.placeholder}", [event_id])
        if not found:
            raise EventNotFound(event_id)
        return found[0]

    def get_many(self, event_ids: Iterable[str]) -> dict[str, RecordedEvent]:
        """The events with these ids that exist, by id (one query per 500 ids)."""
        ids, found = sorted(set(event_ids)), {}
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ", ".join([self.recorder.placeholder] * len(part))
            for event in self.recorder.select_events(f"id IN ({marks})", part):
                found[event.id] = event
        return found

    def stream(self, stream: str) -> list[RecordedEvent]:
        """A stream's events in version order."""
        found = self.recorder.select_events(
            f"stream = {self.recorder.placeholder}", [stream], order="version"
        )
        if not found:
            raise StreamNotFound(stream)
        return found

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
