"""The liaison's outbox: events kept on disk until a server has stored or refused each one.

The outbox is a SQLite file (WAL, ``synchronous=FULL``: what it says it holds survives a power
cut). Each event is known by its content — the SHA-256 of its canonical JSON — so queueing the
same event again adds nothing, and it gets its own ``Idempotency-Key`` once, when first queued.

:class:`sitrep.sending.Sender` sends what is queued, oldest first (one global order, so
every stream's events reach the server in the order they were queued). Runs of queued events
go as batches; a batch's members and key are written down here before its first attempt and
the same batch is sent again, byte for byte, until the server answers it for sure. Only a
definite refusal (which stored nothing: a batch is all or none) lets its events go out again in
other requests. So an answer lost on the way back, a crash of this process or a restarted
server never stores an event twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from sitrep.client import ApiProblem

log = logging.getLogger(__name__)

DEFAULT_OUTBOX = "./.sitrep-outbox.db"
SCHEMA_VERSION = 1
#: Most events per batch request (the API takes up to 1000) and most bytes (it takes 2 MiB).
BATCH_SIZE = 100
BATCH_BYTES = 1_000_000

State = Literal["queued", "sent", "refused"]
STATES: tuple[State, ...] = ("queued", "sent", "refused")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    idempotency_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_with TEXT,
    first_sent_at TEXT,
    in_flight INTEGER NOT NULL DEFAULT 0,
    unanswered INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    digest TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    type TEXT,
    mission TEXT,
    occurred_on TEXT,
    queued_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'refused')),
    batch_id INTEGER REFERENCES batches (id),
    solo INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    sent_with TEXT,
    first_sent_at TEXT,
    in_flight INTEGER NOT NULL DEFAULT 0,
    unanswered INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    answered_at TEXT,
    status INTEGER,
    problem TEXT,
    event_id TEXT,
    position INTEGER,
    stream TEXT,
    version INTEGER
);
CREATE INDEX IF NOT EXISTS events_queued ON events (seq) WHERE state = 'queued';
"""


class OutboxError(Exception):
    """The outbox file cannot be used (not an outbox, locked by another run, unreadable)."""


def content_digest(event: Any) -> str:
    """What an event is known by: SHA-256 of its canonical JSON (keys sorted)."""
    return hashlib.sha256(canonical(event)).hexdigest()


def canonical(event: Any) -> bytes:
    return orjson.dumps(event, option=orjson.OPT_SORT_KEYS)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def token_fingerprint(token: str) -> str:
    """Which token sent a request, without keeping the token (keys are scoped to a token)."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Item:
    """One event in the outbox."""

    seq: int
    body: bytes
    idempotency_key: str
    source: str
    type: str | None
    mission: str | None
    occurred_on: str | None
    state: State
    batch_id: int | None
    solo: bool
    attempts: int
    last_error: str | None
    status: int | None
    problem: dict[str, Any] | None
    event_id: str | None
    position: int | None
    stream: str | None
    version: int | None

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = orjson.loads(self.body)
        return value

    @property
    def size(self) -> int:
        return len(self.body)


@dataclass(frozen=True)
class Batch:
    """A batch request written down before it is first sent: its key and members never change."""

    id: int
    idempotency_key: str
    members: tuple[Item, ...]


@dataclass(frozen=True)
class Added:
    """What queueing some events did."""

    new: list[int]
    known: list[int]
    #: Events given more than once in the same input (queued once).
    repeated: int

    @property
    def seqs(self) -> list[int]:
        return sorted(self.new + self.known)


_COLUMNS = (
    "seq, body, idempotency_key, source, type, mission, occurred_on, state, batch_id, solo, "
    "attempts, last_error, status, problem, event_id, position, stream, version"
)


def _item(row: sqlite3.Row | tuple[Any, ...]) -> Item:
    (seq, body, key, source, type_, mission, occurred_on, state, batch_id, solo, attempts,
     last_error, status, problem, event_id, position, stream, version) = row  # fmt: skip
    return Item(
        seq=seq, body=bytes(body), idempotency_key=key, source=source, type=type_,
        mission=mission, occurred_on=occurred_on, state=state, batch_id=batch_id,
        solo=bool(solo), attempts=attempts, last_error=last_error, status=status,
        problem=orjson.loads(problem) if problem else None, event_id=event_id,
        position=position, stream=stream, version=version,
    )  # fmt: skip


class Outbox:
    """The durable queue in one SQLite file; every change is one committed transaction."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise OutboxError(f"{self.path} was written by a newer sitrep (outbox v{version})")
            if version == 0 and self._db.execute("SELECT 1 FROM sqlite_master").fetchone():
                raise OutboxError(f"{self.path} is a SQLite file but not an outbox")
            if version < SCHEMA_VERSION:
                self._db.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;"
                )
        except (sqlite3.DatabaseError, OutboxError) as exc:
            with contextlib.suppress(Exception):
                self._db.close()
            if isinstance(exc, OutboxError):
                raise
            raise OutboxError(f"{self.path} cannot be used as an outbox: {exc}") from None

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE: a second process waits for the writer instead of failing half-way.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # --- queueing ------------------------------------------------------------------------

    def add(self, events: Iterable[tuple[dict[str, Any], str]]) -> Added:
        """Queue each ``(event, source)`` not already in the outbox, all in one transaction.

        An event already here (queued, sent or refused) is not queued again; ``source`` says
        where it came from (``file.jsonl:12``) for reports.
        """
        new: list[int] = []
        known: list[int] = []
        seen: set[str] = set()
        repeated = 0
        now = _now()
        with self._transaction() as db:
            for event, source in events:
                body = canonical(event)
                digest = hashlib.sha256(body).hexdigest()
                if digest in seen:
                    repeated += 1
                    continue
                seen.add(digest)
                row = db.execute("SELECT seq FROM events WHERE digest = ?", (digest,)).fetchone()
                if row is not None:
                    known.append(row[0])
                    continue
                cursor = db.execute(
                    "INSERT INTO events (digest, body, idempotency_key, source, type, mission, "
                    "occurred_on, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (digest, body, str(uuid.uuid4()), source, _text(event.get("type")),
                     _text(event.get("mission")), _text(event.get("occurred_on")), now),
                )  # fmt: skip
                assert cursor.lastrowid is not None
                new.append(cursor.lastrowid)
        return Added(new, known, repeated)

    # --- reading -------------------------------------------------------------------------

    def counts(self, seqs: Sequence[int] | None = None) -> dict[State, int]:
        """How many events are in each state (of ``seqs`` only, when given)."""
        found: dict[State, int] = dict.fromkeys(STATES, 0)
        if seqs is None:
            rows = self._db.execute("SELECT state, count(*) FROM events GROUP BY state")
            for state, count in rows:
                found[state] = count
            return found
        for item in self.items(seqs):
            found[item.state] += 1
        return found

    def items(self, seqs: Sequence[int]) -> list[Item]:
        result: list[Item] = []
        for start in range(0, len(seqs), 500):
            chunk = list(seqs[start : start + 500])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM events WHERE seq IN ({marks}) ORDER BY seq", chunk
            )
            result.extend(_item(row) for row in rows)
        return result

    def listed(self, state: State, limit: int | None = None) -> list[Item]:
        """The events in ``state``, oldest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE state = ? ORDER BY seq LIMIT ?",
            (state, -1 if limit is None else limit),
        )
        return [_item(row) for row in rows]

    def head(self) -> Item | None:
        """The oldest queued event: the next to go."""
        found = self.listed("queued", 1)
        return found[0] if found else None

    def batch(self, batch_id: int) -> Batch:
        key = self._db.execute(
            "SELECT idempotency_key FROM batches WHERE id = ?", (batch_id,)
        ).fetchone()[0]
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM events WHERE batch_id = ? ORDER BY seq", (batch_id,)
        )
        return Batch(batch_id, key, tuple(_item(row) for row in rows))

    # In doubt: an attempt went out and no answer came back (or the process died meanwhile),
    # so the server may hold it under the key and the token it was sent with.
    _IN_DOUBT = "(x.in_flight = 1 OR x.unanswered = 1)"

    def _count_in_doubt(self, condition: str, *args: Any) -> int:
        alone = self._db.execute(
            f"SELECT count(*) FROM events x WHERE x.state = 'queued' AND {self._IN_DOUBT} "
            f"AND {condition}",
            args,
        ).fetchone()[0]
        batched = self._db.execute(
            "SELECT count(*) FROM events e JOIN batches x ON x.id = e.batch_id "
            f"WHERE e.state = 'queued' AND {self._IN_DOUBT} AND {condition}",
            args,
        ).fetchone()[0]
        return int(alone) + int(batched)

    def in_doubt_with_other_token(self, fingerprint: str) -> int:
        """Queued events sent with another token that may have been stored unanswered."""
        return self._count_in_doubt("x.sent_with != ?", fingerprint)

    def in_doubt_since(self, before: datetime) -> int:
        """Queued events first sent before ``before`` that may have been stored unanswered."""
        cutoff = before.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
        return self._count_in_doubt("x.first_sent_at < ?", cutoff)

    # --- batches -------------------------------------------------------------------------

    def next_batch(self, size: int = BATCH_SIZE, max_bytes: int = BATCH_BYTES) -> Batch | None:
        """The batch to send next: the open one the oldest event belongs to, or a new one
        written down now from the run of queued events at the head; None when the head must
        go alone."""
        with self._transaction() as db:
            head = self.head()
            if head is None:
                return None
            if head.batch_id is not None:
                return self.batch(head.batch_id)
            if head.solo or size < 2:
                return None
            members: list[Item] = []
            total = 0
            for item in self.listed("queued", size):
                if item.solo or item.batch_id is not None or total + item.size > max_bytes:
                    break
                members.append(item)
                total += item.size + 1
            if len(members) < 2:
                return None
            key = str(uuid.uuid4())
            cursor = db.execute(
                "INSERT INTO batches (idempotency_key, created_at) VALUES (?, ?)", (key, _now())
            )
            batch_id = cursor.lastrowid
            assert batch_id is not None
            db.execute(
                f"UPDATE events SET batch_id = ? WHERE seq IN ({','.join('?' * len(members))})",
                [batch_id, *(m.seq for m in members)],
            )
        return self.batch(batch_id)

    def release(self, batch: Batch, solo: Iterable[int]) -> None:
        """Forget a batch the server refused for sure (so stored none of it); ``solo`` events
        go alone from now on, the others may join new batches."""
        solo = list(solo)
        with self._transaction() as db:
            db.execute("UPDATE events SET batch_id = NULL WHERE batch_id = ?", (batch.id,))
            if solo:
                marks = ",".join("?" * len(solo))
                db.execute(f"UPDATE events SET solo = 1 WHERE seq IN ({marks})", solo)
            db.execute("DELETE FROM batches WHERE id = ?", (batch.id,))

    # --- what happened ---------------------------------------------------------------------

    def attempting(self, target: Item | Batch, fingerprint: str) -> None:
        """Written before each attempt: from now on the server may hold what is sent.

        An event sent alone stays alone until answered: in a batch, under the batch's key, it
        would be stored a second time if the first attempt had been.
        """
        with self._transaction() as db:
            if isinstance(target, Batch):
                db.execute(
                    "UPDATE batches SET attempts = attempts + 1, sent_with = ?, in_flight = 1, "
                    "first_sent_at = coalesce(first_sent_at, ?) WHERE id = ?",
                    (fingerprint, _now(), target.id),
                )
            else:
                db.execute(
                    "UPDATE events SET attempts = attempts + 1, sent_with = ?, in_flight = 1, "
                    "solo = 1, first_sent_at = coalesce(first_sent_at, ?) WHERE seq = ?",
                    (fingerprint, _now(), target.seq),
                )

    def failed(self, target: Item | Batch, error: str) -> None:
        """An attempt that got no definite answer (it will be tried again)."""
        with self._transaction() as db:
            if isinstance(target, Batch):
                db.execute(
                    "UPDATE batches SET in_flight = 0, unanswered = 1, last_error = ? WHERE id = ?",
                    (error, target.id),
                )
                db.execute("UPDATE events SET last_error = ? WHERE batch_id = ?",
                           (error, target.id))  # fmt: skip
            else:
                db.execute(
                    "UPDATE events SET in_flight = 0, unanswered = 1, last_error = ? WHERE seq = ?",
                    (error, target.seq),
                )

    def answered(self, target: Item | Batch, error: str) -> None:
        """An attempt the server turned away without storing it (a 401, a token's 403)."""
        table, key = ("batches", "id") if isinstance(target, Batch) else ("events", "seq")
        ident = target.id if isinstance(target, Batch) else target.seq
        with self._transaction() as db:
            db.execute(
                f"UPDATE {table} SET in_flight = 0, last_error = ? WHERE {key} = ?",
                (error, ident),
            )

    def sent(
        self, items: Sequence[Item], stored: Sequence[Any], batch: Batch | None = None
    ) -> None:
        """The server stored ``items`` as ``stored`` (its events, in the same order)."""
        now = _now()
        with self._transaction() as db:
            for item, event in zip(items, stored, strict=True):
                db.execute(
                    "UPDATE events SET state = 'sent', batch_id = NULL, answered_at = ?, "
                    "status = 201, last_error = NULL, event_id = ?, position = ?, stream = ?, "
                    "version = ? WHERE seq = ?",
                    (now, event.id, event.position, event.stream, event.version, item.seq),
                )
            if batch is not None:
                db.execute("DELETE FROM batches WHERE id = ?", (batch.id,))

    def refused(self, item: Item, problem: ApiProblem) -> None:
        """The server refused ``item`` for good: kept with the problem, never sent again."""
        body = {
            "type": problem.type, "title": problem.title, "status": problem.status,
            "detail": problem.detail,
            "errors": [{"field": e.field, "message": e.message} for e in problem.errors],
        }  # fmt: skip
        with self._transaction() as db:
            db.execute(
                "UPDATE events SET state = 'refused', batch_id = NULL, answered_at = ?, "
                "status = ?, problem = ?, last_error = NULL WHERE seq = ?",
                (_now(), problem.status, orjson.dumps(body), item.seq),
            )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# --- one run at a time -----------------------------------------------------------------------


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the outbox for this run; another ``sitrep send`` on it fails at once."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: one run at a time is up to the user
        yield
        return
    lock_path = f"{os.fspath(path)}.lock"
    try:
        handle = open(lock_path, "a")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise OutboxError(f"cannot open {lock_path}: {exc.strerror or exc}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutboxError(f"another sitrep send is using {os.fspath(path)}") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
