"""The two storage backends behind one interface: SQLite (embedded) and PostgreSQL (psycopg 3).

Both speak SQLAlchemy Core; what differs is how a write transaction serialises against other
writers and how driver errors are translated into the domain's own error classes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from events.errors import SitrepError, StoreUnavailable

log = logging.getLogger(__name__)


class Recorder:
    """Backend-specific parts of the store."""

    name = "generic"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction in which this process is the only writer of the event table."""
        with self._translated(), self.engine.connect() as conn, conn.begin():
            self._lock(conn)
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (one consistent snapshot on both backends)."""
        with self._translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    def _lock(self, conn: Connection) -> None:
        raise NotImplementedError

    # The append path talks to the driver directly: SQLAlchemy's per-statement overhead
    # (~40-50 us here) was four times the cost of the statements themselves. Everything else
    # goes through SQLAlchemy Core.
    placeholder = "?"

    def head(self, conn: Connection) -> tuple[int, str, datetime] | None:
        """Last position, its hash and its recorded_at, read inside the write transaction."""
        row = _raw(conn).execute(
            "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return row[0], row[1], self._instant(row[2])

    def stream_version(self, conn: Connection, stream: str) -> int:
        row = _raw(conn).execute(
            f"SELECT coalesce(max(version), 0) FROM events WHERE stream = {self.placeholder}",
            (stream,),
        ).fetchone()
        return int(row[0])

    def insert(self, conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
        p = self.placeholder
        columns = ", ".join(_COLUMNS)
        values = ", ".join([p] * len(_COLUMNS))
        cursor = _raw(conn).cursor()
        try:
            cursor.executemany(
                f"INSERT INTO events ({columns}) VALUES ({values})",
                [self._values(row) for row in rows],
            )
        finally:
            cursor.close()

    def _values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        raise NotImplementedError

    def _instant(self, value: Any) -> datetime:
        raise NotImplementedError

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except SitrepError:
            raise
        except IntegrityError as exc:
            # Under the writer lock a unique violation means someone wrote around the store.
            log.error("integrity error in the event store: %s", exc.orig)
            raise StoreUnavailable("the store refused a write that broke its constraints") from exc
        except OperationalError as exc:
            log.warning("database unavailable: %s", _first_line(exc.orig))
            raise StoreUnavailable(
                f"the database cannot be reached or is busy: {_first_line(exc.orig)}"
            ) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable("the database connection was lost") from exc
            raise


class SqliteRecorder(Recorder):
    """SQLite in WAL mode; ``BEGIN IMMEDIATE`` makes each append the single writer."""

    name = "sqlite"

    def __init__(self, engine: Engine, *, synchronous: str = "NORMAL") -> None:
        super().__init__(engine)
        prepare_sqlite(engine, synchronous=synchronous)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._translated(), self.engine.connect() as conn:
            conn = conn.execution_options(sitrep_write=True)
            with conn.begin():
                yield conn

    def _lock(self, conn: Connection) -> None:  # BEGIN IMMEDIATE already took it
        pass

    def _values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        # The same text forms SQLAlchemy's Date, DateTime and JSON types write on SQLite.
        source = row["source"]
        return (
            row["position"], row["id"], row["mission"], row["stream"], row["version"],
            row["type"], row["schema_version"], row["occurred_on"].isoformat(),
            _sqlite_instant(row["recorded_at"]), row["recorded_by"], json.dumps(row["data"]),
            None if source is None else json.dumps(source), row["notes"], row["hash"],
        )

    def _instant(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)


class PostgresRecorder(Recorder):
    """PostgreSQL: a transaction-scoped advisory lock serialises appends.

    Why: positions come from ``max(position) + 1`` read inside the transaction. Without the lock
    two writers could commit out of order (the one with position 11 before the one with 10),
    and a reader tailing ``position > 10`` would pass over 10 for ever — the gap problem that
    sequences have because they are handed out before commit. Holding the lock from before the
    head is read until commit makes commit order equal position order; PostgreSQL makes a
    commit visible before it releases the transaction's locks. The lock is keyed on the schema
    so that separate stores in one database do not wait on each other, and it is an advisory
    lock rather than ``LOCK TABLE`` so that autovacuum and readers never queue behind it.
    """

    name = "postgresql"

    def _lock(self, conn: Connection) -> None:
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(1936292210, hashtext(current_schema()))")

    placeholder = "%s"

    def _values(self, row: dict[str, Any]) -> tuple[Any, ...]:
        from psycopg.types.json import Jsonb

        source = row["source"]
        return (
            row["position"], row["id"], row["mission"], row["stream"], row["version"],
            row["type"], row["schema_version"], row["occurred_on"], row["recorded_at"],
            row["recorded_by"], Jsonb(row["data"]), None if source is None else Jsonb(source),
            row["notes"], row["hash"],
        )

    def _instant(self, value: Any) -> datetime:
        return value.astimezone(UTC)


def prepare_sqlite(engine: Engine, *, synchronous: str = "NORMAL") -> None:
    """Pragmas and transaction control for pysqlite (see SQLAlchemy's pysqlite notes)."""
    if getattr(engine, "_sitrep_prepared", False):
        return
    engine._sitrep_prepared = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("sitrep_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


_COLUMNS = (
    "position", "id", "mission", "stream", "version", "type", "schema_version", "occurred_on",
    "recorded_at", "recorded_by", "data", "source", "notes", "hash",
)


def _raw(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _sqlite_instant(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def recorder_for(engine: Engine, **options: Any) -> Recorder:
    """The recorder for the engine's dialect."""
    if engine.dialect.name == "sqlite":
        return SqliteRecorder(engine, **options)
    if engine.dialect.name == "postgresql":
        return PostgresRecorder(engine)
    raise ValueError(f"unsupported database: {engine.dialect.name}")


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
