"""Webhook delivery of deadline flags (CONTRACT §7) and weekly reports (``sitrep.weekly``): a
durable outbox, signed per Standard Webhooks.

The dispatcher puts every ``DeadlineFlagged`` event recorded after its cursor into the outbox,
one row per configured URL, whichever process appended the flag; then it sends the rows that are
due. A row not acknowledged with a 2xx is tried again with exponential backoff and jitter, up to
``max_attempts``, then marked failed. Rows live in the database, so a restart resumes them, and a
dispatcher leases the rows it is sending so that several instances never send one at once. The
``webhook-id`` is the flag's event id on every attempt, for receivers to drop repeats; other
messages (:meth:`Dispatcher.enqueue_message`) bring an id of their own.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection, Table, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from standardwebhooks import Webhook

from events.envelope import RecordedEvent, format_instant
from events.store import Clock, EventStore, utcnow
from projections.alerts import (
    DELIVERED,
    FAILED,
    PENDING,
    public_url,
    webhook_cursor,
    webhook_deliveries,
)
from sitrep.settings import Settings

log = logging.getLogger(__name__)

CURSOR = "deadline-flags"
EVENT_TYPE = "deadline.flagged"
MAX_ATTEMPTS = 12
#: Waits of up to 30 s, 1, 2, 4 … minutes, at most 2 h (jitter takes up to half off each):
#: twelve attempts span four to eight hours.
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=2)
#: Longer than one attempt can take (the HTTP timeout), so a lease never ends mid-send.
LEASE = timedelta(seconds=60)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)

d = webhook_deliveries


@dataclass(frozen=True)
class Attempt:
    """The outcome of one attempt to deliver one flag to one URL."""

    event_id: str
    url: str
    state: str
    attempts: int
    error: str | None = None


def payload(event: RecordedEvent) -> str:
    """The JSON body sent for a flag (Standard Webhooks' ``type``/``timestamp``/``data``)."""
    data = event.data
    body = {
        "type": EVENT_TYPE,
        "timestamp": format_instant(event.recorded_at),
        "data": {
            "event_id": event.id,
            "mission": event.mission,
            "deadline": data["deadline"],
            "due_on": data["due_on"],
            "days_remaining": data["days_remaining"],
            "threshold_days": data["threshold_days"],
            "resolution": data.get("resolution"),
            "review_id": data.get("review_id"),
            "occurred_on": event.occurred_on.isoformat(),
            "recorded_at": format_instant(event.recorded_at),
            "summary": summary(event.mission, data),
        },
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


def summary(mission: str, data: dict[str, Any]) -> str:
    """One sentence for people reading the alert in a chat channel or an inbox."""
    days, due_on = data["days_remaining"], data["due_on"]
    if data["deadline"] == "mandate_expiry":
        what = f"The mandate of {mission} ({data.get('resolution')})"
        if days < 0:
            return f"{what} expired on {due_on}: no renewal recorded."
        return f"{what} expires on {due_on}: {_days(days)} left."
    what = f"Review {data.get('review_id')} of {mission}"
    if days < 0:
        return f"{what} was due on {due_on} and is not recorded as completed."
    return f"{what} is due on {due_on}: {_days(days)} left."


def _days(n: int) -> str:
    return "1 day" if n == 1 else f"{n} days"


def signed_headers(secret: str, msg_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers for one attempt: the signature covers id, time and body."""
    timestamp = int(at.timestamp())
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature,
    }


class Dispatcher:
    """Fills the outbox from the flags in the store and delivers it to the webhook URLs."""

    def __init__(
        self,
        store: EventStore,
        urls: Sequence[str],
        secret: str,
        *,
        clock: Clock = utcnow,
        client: httpx.Client | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: timedelta = BACKOFF_BASE,
        backoff_cap: timedelta = BACKOFF_CAP,
        lease: timedelta = LEASE,
        jitter: Callable[[], float] = random.random,
        batch_size: int = 20,
    ) -> None:
        self.store = store
        self.engine = store.engine
        self.urls = list(dict.fromkeys(urls))
        self._secret = secret
        self.clock = clock
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.lease = lease
        self.jitter = jitter
        self.batch_size = batch_size
        self.owner = f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._own_client = client is None
        self.client = client or httpx.Client(
            timeout=TIMEOUT,
            follow_redirects=False,
            headers={"user-agent": f"sitrep-webhooks/{version('sitrep')}"},
        )

    @classmethod
    def from_settings(
        cls, store: EventStore, settings: Settings, *, clock: Clock = utcnow
    ) -> Dispatcher | None:
        """A dispatcher for the configured webhooks, or None when none is configured."""
        if not settings.webhook_urls or settings.webhook_secret is None:
            return None
        secret = settings.webhook_secret.get_secret_value()
        return cls(store, settings.webhook_urls, secret, clock=clock)

    def close(self) -> None:
        if self._own_client:
            self.client.close()

    # --- the outbox ---------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(sitrep_write=True)  # BEGIN IMMEDIATE on SQLite
            with conn.begin():
                yield conn

    def _insert_ignoring_duplicates(self, table: Any) -> Any:
        # Two dispatchers may enqueue the same flags at once: the second insert adds nothing.
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table).on_conflict_do_nothing()

    def enqueue(self) -> int:
        """Put the flags recorded since the cursor in the outbox; returns how many rows."""
        with self.engine.connect() as conn:
            cursor = conn.execute(
                select(webhook_cursor.c.position).where(webhook_cursor.c.name == CURSOR)
            ).scalar()
        after = cursor or 0
        head = self.store.head()
        # Appends commit in position order, so nothing at or below the head can appear later.
        until = head[0] if head else 0
        if until <= after:
            return 0
        rows: list[dict[str, Any]] = []
        now = self.clock()
        while True:
            page = self.store.read(after=after, limit=500, type="DeadlineFlagged")
            flags = [e for e in page.events if e.position <= until]
            for flag in flags:
                body = payload(flag)
                rows.extend({
                    "event_id": flag.id, "url": url, "mission": flag.mission, "body": body,
                    "state": PENDING, "attempts": 0, "next_attempt_at": now,
                    "created_at": now,
                } for url in self.urls)  # fmt: skip
            if page.next is None or len(flags) < len(page.events):
                break
            after = page.next
        with self._writing() as conn:
            if rows:
                conn.execute(self._insert_ignoring_duplicates(webhook_deliveries), rows)
            conn.execute(
                self._insert_ignoring_duplicates(webhook_cursor), {"name": CURSOR, "position": 0}
            )
            conn.execute(
                update(webhook_cursor)
                .where(webhook_cursor.c.name == CURSOR, webhook_cursor.c.position < until)
                .values(position=until)
            )
        if rows:
            log.info("queued %s webhook deliveries", len(rows))
        return len(rows)

    def enqueue_message(
        self, msg_id: str, mission: str, body: str, *, once: tuple[Table, dict[str, Any]]
    ) -> bool:
        """Put a message other than a flag in the outbox, one row per URL, in one transaction
        with ``once`` (a row whose primary key names the message); nothing when that row is
        there already (another process queued it). True when this call queued it."""
        table, row = once
        now = self.clock()
        with self._writing() as conn:
            # Insert-or-nothing, not look-then-insert: of two racing processes, the second
            # waits for the first's commit (or its write lock), then adds nothing.
            # RETURNING, not rowcount: through psycopg, an insert ON CONFLICT counts -1.
            insert = self._insert_ignoring_duplicates(table).returning(*table.primary_key)
            if conn.execute(insert, row).first() is None:
                return False
            conn.execute(
                self._insert_ignoring_duplicates(webhook_deliveries),
                [{
                    "event_id": msg_id, "url": url, "mission": mission, "body": body,
                    "state": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now,
                } for url in self.urls],
            )  # fmt: skip
        return True

    # --- delivering ---------------------------------------------------------------------

    def _free(self, now: datetime) -> Any:
        return or_(d.c.lease_until.is_(None), d.c.lease_until < now)

    def _claim(self, limit: int, due_by: datetime | None = None) -> list[Any]:
        """Lease up to ``limit`` deliveries due (by ``due_by`` at the latest) to this dispatcher."""
        now = self.clock()
        cutoff = min(now, due_by) if due_by is not None else now
        due = [d.c.state == PENDING, d.c.next_attempt_at <= cutoff, d.c.url.in_(self.urls)]
        # One order for everyone, so two claimers lock rows in the same order (no deadlock).
        query = (
            select(d.c.event_id, d.c.url)
            .where(*due, self._free(now))
            .order_by(d.c.next_attempt_at, d.c.event_id, d.c.url)
            .limit(limit)
        )
        # Looked at first without the write lock: on SQLite it is the one writer slot, which
        # appends need, and most runs find nothing due.
        with self.engine.connect() as conn:
            if not conn.execute(query).first():
                return []
        claimed = []
        with self._writing() as conn:
            candidates = conn.execute(query).all()
            for event_id, url in candidates:
                # Conditional on the row still being free: on PostgreSQL a concurrent claimer
                # waits for this transaction, then finds the lease taken and updates nothing.
                taken = conn.execute(
                    update(d)
                    .where(d.c.event_id == event_id, d.c.url == url, *due, self._free(now))
                    .values(lease_owner=self.owner, lease_until=now + self.lease)
                )
                if taken.rowcount == 1:
                    claimed.append((event_id, url))
            if not claimed:
                return []
            rows = conn.execute(
                select(d.c.event_id, d.c.url, d.c.body, d.c.attempts).where(
                    d.c.lease_owner == self.owner, d.c.state == PENDING
                )
            ).all()
        wanted = set(claimed)
        return [row for row in rows if (row.event_id, row.url) in wanted]

    def deliver_due(
        self, *, due_by: datetime | None = None, stopping: Callable[[], bool] = lambda: False
    ) -> list[Attempt]:
        """Send a batch of the deliveries that are due now (one attempt each)."""
        claimed = self._claim(self.batch_size, due_by)
        attempts = []
        for index, row in enumerate(claimed):
            if stopping():
                self._release(claimed[index:])
                break
            attempts.append(self._send(row))
        return attempts

    def _release(self, rows: list[Any]) -> None:
        """Give back leases not used (the process is stopping), for others to send at once."""
        with self._writing() as conn:
            for row in rows:
                conn.execute(
                    update(d)
                    .where(d.c.event_id == row.event_id, d.c.url == row.url)
                    .where(d.c.lease_owner == self.owner)
                    .values(lease_owner=None, lease_until=None)
                )

    def run_once(self, stopping: Callable[[], bool] = lambda: False) -> list[Attempt]:
        """Queue new flags, then try each delivery due at this moment once, a batch at a time
        (a retry that falls due meanwhile waits for the next run)."""
        self.enqueue()
        started = self.clock()
        attempts: list[Attempt] = []
        while not stopping() and (batch := self.deliver_due(due_by=started, stopping=stopping)):
            attempts.extend(batch)
        return attempts

    def _send(self, row: Any) -> Attempt:
        attempt = row.attempts + 1
        shown = public_url(row.url)
        headers = {
            **signed_headers(self._secret, row.event_id, self.clock(), row.body),
            "content-type": "application/json",
        }
        error: str | None = None
        try:
            response = self.client.post(row.url, content=row.body.encode(), headers=headers)
            if not 200 <= response.status_code < 300:
                error = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = _describe(exc, row.url)
        now = self.clock()
        values: dict[str, Any] = {"attempts": attempt, "lease_owner": None, "lease_until": None}
        if error is None:
            state = DELIVERED
            values.update(state=state, delivered_at=now, last_error=None)
            log.info("delivered %s to %s (attempt %s)", row.event_id, shown, attempt)
        elif attempt >= self.max_attempts:
            state = FAILED
            values.update(state=state, last_error=error)
            log.error("gave up delivering %s to %s after %s attempts: %s", row.event_id, shown,
                      attempt, error)  # fmt: skip
        else:
            state = PENDING
            retry_at = now + self.backoff(attempt)
            values.update(last_error=error, next_attempt_at=retry_at)
            log.warning("delivering %s to %s failed (attempt %s: %s); next try at %s",
                        row.event_id, shown, attempt, error, format_instant(retry_at))  # fmt: skip
        with self._writing() as conn:
            conn.execute(
                update(d)
                .where(d.c.event_id == row.event_id, d.c.url == row.url)
                .where(d.c.lease_owner == self.owner)
                .values(**values)
            )
        return Attempt(row.event_id, row.url, state, attempt, error)

    def backoff(self, attempt: int) -> timedelta:
        """The wait after failed attempt ``attempt``: doubling, capped, between half and all of
        it at random, so that many failed deliveries do not all come back at one instant."""
        full = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return full * (0.5 + self.jitter() / 2)

    def next_due(self) -> datetime | None:
        """When the earliest pending delivery to a configured URL may be tried, if any."""
        due_at = func.coalesce(d.c.lease_until, d.c.next_attempt_at)
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(d.c.next_attempt_at, d.c.lease_until)
                .where(d.c.state == PENDING, d.c.url.in_(self.urls))
                .order_by(due_at)
                .limit(1)
            ).all()
        if not rows:
            return None
        next_attempt_at, lease_until = rows[0]
        return max(next_attempt_at, lease_until) if lease_until else next_attempt_at

    def pending(self) -> int:
        """How many deliveries to the configured URLs are still to be sent."""
        with self.engine.connect() as conn:
            count = conn.execute(
                select(func.count()).where(d.c.state == PENDING, d.c.url.in_(self.urls))
            ).scalar()
        return int(count or 0)

    def drain(
        self,
        within: float,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> list[Attempt]:
        """Deliver until nothing is pending, or until the next try would come after ``within``
        seconds (then the rows stay pending for the next dispatcher run)."""
        end = monotonic() + within
        attempts = self.run_once()
        while (due_at := self.next_due()) is not None:
            wait = max((due_at - self.clock()).total_seconds(), 0.0)
            remaining = end - monotonic()
            if wait > remaining:
                break
            # Rows leased by another process are due when its lease ends; never spin meanwhile.
            sleep(max(wait, 0.1))
            attempts.extend(self.run_once())
        return attempts


def _describe(exc: httpx.HTTPError, url: str) -> str:
    """What went wrong, without the URL (it may carry a token) and in one short line."""
    text = str(exc).replace(url, public_url(url)).strip().splitlines()
    detail = text[0] if text else ""
    name = type(exc).__name__
    return f"{name}: {detail}"[:300] if detail else name
