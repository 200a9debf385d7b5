"""The event store: atomic, idempotent, hash-chained appends and reads (CONTRACT §2, §6).

Writes happen one transaction at a time (the recorder's writer lock), so positions are assigned
as ``head + 1`` and become visible in position order, and the hash chain is computed against
the true previous event inside the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Connection, Engine, select

from events import catalogue, codes, personnel, schema
from events.context import AppendContext, Clock, RegisteredMissions
from events.envelope import RecordedEvent, canonical_json
from events.errors import (
    EventNotFound,
    FieldError,
    IdempotencyKeyReused,
    InvalidEvent,
    StreamNotFound,
)
from events.recorders import Recorder, WriteTx, recorder_for
from events.transaction import AppendTransaction, Guard
from events.transaction import Preserved as Preserved  # re-exported: callers import it here

log = logging.getLogger(__name__)

MAX_BATCH = 1000


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
        self._registered = RegisteredMissions()
        self._last_purge: datetime | None = None
        self.balances = personnel.BalanceCache()

    def close(self) -> None:
        """Release the recorder's resources and the engine's connections (the store is done)."""
        self.recorder.close()
        self.engine.dispose()

    def append_context(self) -> AppendContext:
        """What a transaction reads from this store: its clock, settings and caches as of now."""
        # Built per transaction, not once: the demo loader swaps ``clock`` between appends.
        return AppendContext(self.clock, self.donor_organisations, self._registered, self.balances)

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
            writer = AppendTransaction(self.append_context(), tx)
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
                self._registered.remember(event.mission)
        return AppendResult(recorded)

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
        if self._registered.known(mission):
            return True
        with self.recorder.read() as conn:
            found = _registered(conn, mission)
        if found:
            self._registered.remember(mission)
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
