"""The two storage backends behind one interface: SQLite (embedded) and PostgreSQL (psycopg 3).

The append path talks to the driver directly through a :class:`WriteTx`, and so do reads of
events (:meth:`Recorder.select_events`): SQLAlchemy's per-statement and per-row overhead (about
40-50 us a statement and ~15 us a row on this kind of machine) was several times the cost of
the statements themselves, and appends, paging and projection rebuilds are where that shows.
Both recorders write the same text and types SQLAlchemy would, so either path reads what the
other wrote.

Every stored row becomes an event in one place, :meth:`Recorder.event`, which upcasts the
``data`` of a row stored in an older schema version (``events.upcasting``); the raw-JSON path
:meth:`Recorder.event_json` hands such a row to it and keeps its own speed for current rows.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, date, datetime
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb
from sqlalchemy import Connection, Engine, event
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from events import upcasting
from events.catalogue import SCHEMA_VERSION
from events.envelope import RecordedEvent, UpcastEvent, format_instant
from events.errors import SitrepError, StoreUnavailable
from events.rules import Entry

log = logging.getLogger(__name__)

COLUMNS = (
    "position",
    "id",
    "mission",
    "stream",
    "version",
    "type",
    "schema_version",
    "occurred_on",
    "recorded_at",
    "recorded_by",
    "data",
    "source",
    "notes",
    "hash",
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM events"


class WriteTx:
    """One append transaction on a raw driver connection; the recorder's writer lock is held."""

    def __init__(self, recorder: Recorder, dbapi: Any) -> None:
        self.recorder = recorder
        self.dbapi = dbapi
        self.p = recorder.placeholder

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.dbapi.execute(sql, params).fetchone()

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self.dbapi.execute(sql, params).fetchall())

    def _run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.dbapi.execute(sql, params)

    def head(self) -> tuple[int, str, datetime] | None:
        """Last position, its hash and its recorded_at."""
        row = self._one(
            "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1"
        )
        if row is None:
            return None
        return row[0], row[1], self.recorder.instant(row[2])

    def stream_version(self, stream: str) -> int:
        row = self._one(
            # ORDER BY ... LIMIT 1 rather than max(): psycopg prepares repeated statements, and
            # PostgreSQL's generic plan for max() planned on a young table scanned the whole
            # stream, so appends slowed as streams grew (13k -> 5k events/s over 100k events).
            f"SELECT version FROM events WHERE stream = {self.p} ORDER BY version DESC LIMIT 1",
            (stream,),
        )
        return 0 if row is None else int(row[0])

    def has_version(self, stream: str, version: int) -> bool:
        sql = f"SELECT 1 FROM events WHERE stream = {self.p} AND version = {self.p}"
        return self._one(sql, (stream, version)) is not None

    def history(self, stream: str, *, after_version: int = 0) -> list[Entry]:
        rows = self._all(
            "SELECT id, type, version, occurred_on, data, schema_version FROM events "
            f"WHERE stream = {self.p} AND version > {self.p} ORDER BY version",
            (stream, after_version),
        )
        r, upcast = self.recorder, upcasting.upcast_stored
        # The rules judge the data in the current shape, like every other reader.
        return [Entry(i, t, v, r.day(o), upcast(t, s, r.json(d))) for i, t, v, o, d, s in rows]

    # --- what the rules keep (events.personnel) -------------------------------------------

    def balances(
        self, stream: str, measure: str, category: str, *, since: date, until: date | None
    ) -> tuple[int, list[tuple[date, int, int, int | None]]]:
        """A key's balance before ``since`` (0 without a row) and its rows (day, moved, balance,
        reset) dated from ``since`` and before ``until`` (None: no end), in one statement: an
        append pays one round trip."""
        p, r = self.p, self.recorder
        key = f"stream = {p} AND measure = {p} AND category = {p}"
        sql = (
            f"SELECT day, moved, balance, reset FROM personnel_balances WHERE {key} AND day >= "
            f"coalesce((SELECT max(day) FROM personnel_balances WHERE {key} AND day < {p}), {p})"
        )
        first = r.day_param(since)
        params: list[Any] = [stream, measure, category, stream, measure, category, first, first]
        if until is not None:
            sql += f" AND day < {p}"
            params.append(r.day_param(until))
        rows = [
            (r.day(d), int(m), int(b), None if x is None else int(x))
            for d, m, b, x in self._all(sql + " ORDER BY day", params)
        ]
        if rows and rows[0][0] < since:
            return rows[0][2], rows[1:]
        return 0, rows

    def headcounts(self, stream: str, category: str, day: date) -> dict[int, int]:
        """The live headcounts of a contingent's category on a date: version -> personnel."""
        p = self.p
        rows = self._all(
            f"SELECT version, personnel FROM personnel_headcounts WHERE stream = {p} "
            f"AND category = {p} AND day = {p}",
            (stream, category, self.recorder.day_param(day)),
        )
        return {int(v): int(n) for v, n in rows}

    def save_headcounts(self, found: Sequence[tuple[str, str, date, dict[int, int]]]) -> None:
        """Replace the live headcounts of each (stream, category, day) given."""
        p, r = self.p, self.recorder
        for stream, category, day, live in found:
            where = (stream, category, r.day_param(day))
            self._run(
                f"DELETE FROM personnel_headcounts WHERE stream = {p} AND category = {p} "
                f"AND day = {p}",
                where,
            )
            for version, personnel in sorted(live.items()):
                self._run(
                    "INSERT INTO personnel_headcounts (stream, category, day, version, "
                    f"personnel) VALUES ({p}, {p}, {p}, {p}, {p})",
                    (*where, version, personnel),
                )

    def save_balances(
        self, rows: Sequence[tuple[str, str, str, date, int, int, int | None]]
    ) -> None:
        """Upsert (stream, measure, category, day, moved, balance, reset) rows."""
        # One statement of many rows: a batch touching a dozen contingents pays one round trip.
        p, r = self.p, self.recorder
        for start in range(0, len(rows), 1000):
            part = rows[start : start + 1000]
            marks = ", ".join([f"({p}, {p}, {p}, {p}, {p}, {p}, {p})"] * len(part))
            self._run(
                "INSERT INTO personnel_balances (stream, measure, category, day, moved, "
                f"balance, reset) VALUES {marks} ON CONFLICT (stream, measure, category, day) "
                "DO UPDATE SET moved = excluded.moved, balance = excluded.balance, "
                "reset = excluded.reset",
                [v for s, m, c, d, mv, b, x in part for v in (s, m, c, r.day_param(d), mv, b, x)],
            )

    def amended(self, event_id: str) -> tuple[date, dict[str, Any], bool] | None:
        """A corrected or retracted event as it now stands: (occurred_on, data, retracted)."""
        row = self._one(
            f"SELECT occurred_on, data, retracted FROM amended_events WHERE event_id = {self.p}",
            (event_id,),
        )
        if row is None:
            return None
        return self.recorder.day(row[0]), self.recorder.json(row[1]), bool(row[2])

    def save_amended(self, rows: Sequence[tuple[str, str, date, dict[str, Any], bool]]) -> None:
        p, r = self.p, self.recorder
        self.recorder.execute_many(
            self.dbapi,
            "INSERT INTO amended_events (event_id, stream, occurred_on, data, retracted) "
            f"VALUES ({p}, {p}, {p}, {p}, {p}) ON CONFLICT (event_id) DO UPDATE SET "
            "occurred_on = excluded.occurred_on, data = excluded.data, "
            "retracted = excluded.retracted",
            [(i, s, r.day_param(o), r.json_param(d), int(x)) for i, s, o, d, x in rows],
        )

    def events_by_id(self, ids: Sequence[str]) -> list[RecordedEvent]:
        if not ids:
            return []
        marks = ", ".join([self.p] * len(ids))
        rows = self._all(f"{_SELECT} WHERE id IN ({marks}) ORDER BY position", tuple(ids))
        return [self.recorder.event(row) for row in rows]

    def insert(self, rows: Sequence[RecordedEvent]) -> None:
        if len(rows) == 1:
            self.dbapi.execute(self.recorder.insert_sql, self.recorder.values(rows[0]))
        else:
            self.recorder.insert_many(self.dbapi, rows)

    def find_key(self, scope: str, key: str) -> tuple[str, list[str], datetime] | None:
        row = self._one(
            f"SELECT request_hash, event_ids, created_at FROM idempotency_keys "
            f"WHERE scope = {self.p} AND key = {self.p}",
            (scope, key),
        )
        if row is None:
            return None
        return row[0], self.recorder.json(row[1]), self.recorder.instant(row[2])

    def forget_key(self, scope: str, key: str) -> None:
        self._run(
            f"DELETE FROM idempotency_keys WHERE scope = {self.p} AND key = {self.p}", (scope, key)
        )

    def save_key(
        self, scope: str, key: str, request_hash: str, ids: list[str], now: datetime
    ) -> None:
        self._run(
            "INSERT INTO idempotency_keys (scope, key, request_hash, event_ids, created_at) "
            f"VALUES ({self.p}, {self.p}, {self.p}, {self.p}, {self.p})",
            (scope, key, request_hash, _text(ids), self.recorder.instant_param(now)),
        )

    def purge_keys(self, before: datetime) -> None:
        self._run(
            f"DELETE FROM idempotency_keys WHERE created_at < {self.p}",
            (self.recorder.instant_param(before),),
        )


class Recorder:
    """Backend-specific parts of the store."""

    name = "generic"
    placeholder = "?"
    driver_errors: tuple[type[Exception], ...] = ()
    unavailable_errors: tuple[type[Exception], ...] = ()

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        marks = ", ".join([self.placeholder] * len(COLUMNS))
        self.insert_sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({marks})"

    @contextmanager
    def write(self) -> Iterator[WriteTx]:
        """A transaction in which this process is the only writer of the event table."""
        with self.translated(), self._writer_connection() as dbapi:
            self._begin_write(dbapi)
            try:
                yield WriteTx(self, dbapi)
            except BaseException:
                self._rollback(dbapi)
                raise
            self._commit(dbapi)

    def _writer_connection(self) -> AbstractContextManager[Any]:
        """A driver connection for one append (SQLite keeps one of its own)."""
        return self._pooled_connection()

    @contextmanager
    def _pooled_connection(self) -> Iterator[Any]:
        """A driver connection from the pool and back (discarded if broken)."""
        pooled = self.engine.raw_connection()
        try:
            yield pooled.driver_connection
        except self.unavailable_errors:
            pooled.invalidate()
            raise
        finally:
            pooled.close()

    def select_events(
        self,
        where: str = "",
        params: Sequence[Any] = (),
        *,
        order: str = "position",
        limit: int | None = None,
    ) -> list[RecordedEvent]:
        """Events matching a SQL condition (placeholders :attr:`placeholder`), in ``order``."""
        sql = f"{_SELECT}{' WHERE ' + where if where else ''} ORDER BY {order}"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        # One statement is one consistent snapshot on both backends; the pool ends the
        # transaction PostgreSQL opened when the connection goes back.
        with self.translated(), self._pooled_connection() as dbapi:
            cursor = dbapi.cursor()
            try:
                rows = cursor.execute(sql, tuple(params)).fetchall()
            finally:
                cursor.close()
        event = self.event
        return [event(row) for row in rows]

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (one consistent snapshot on both backends)."""
        with self.translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    def _begin_write(self, dbapi: Any) -> None:
        raise NotImplementedError

    def insert_many(self, dbapi: Any, rows: Sequence[RecordedEvent]) -> None:
        cursor = dbapi.cursor()
        try:
            cursor.executemany(self.insert_sql, [self.values(e) for e in rows])
        finally:
            cursor.close()

    def close(self) -> None:
        """Release connections this recorder holds (the engine's pool keeps its own)."""

    def _commit(self, dbapi: Any) -> None:
        dbapi.commit()

    def _rollback(self, dbapi: Any) -> None:
        try:
            dbapi.rollback()
        except self.driver_errors:
            log.warning("rollback failed; the connection is discarded")

    # conversions between driver values and Python values
    def values(self, event: RecordedEvent) -> tuple[Any, ...]:
        raise NotImplementedError

    def instant(self, value: Any) -> datetime:
        raise NotImplementedError

    def instant_param(self, value: datetime) -> Any:
        raise NotImplementedError

    def day(self, value: Any) -> date:
        raise NotImplementedError

    def day_param(self, value: date) -> Any:
        raise NotImplementedError

    def json(self, value: Any) -> Any:
        raise NotImplementedError

    def json_param(self, value: Any) -> Any:
        return _text(value)

    def execute_many(self, dbapi: Any, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if len(rows) == 1:
            dbapi.execute(sql, rows[0])
            return
        cursor = dbapi.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()

    def event(self, row: Sequence[Any]) -> RecordedEvent:
        """The one mapper from a stored row (:data:`COLUMNS`) to an event: a row stored in an
        older schema version becomes an :class:`UpcastEvent`, its ``data`` upcast."""
        (
            position,
            id_,
            mission,
            stream,
            version,
            type_,
            schema_version,
            occurred_on,
            recorded_at,
            recorded_by,
            data,
            source,
            notes,
            hash_,
        ) = row
        event = RecordedEvent(
            id=id_,
            mission=mission,
            type=type_,
            stream=stream,
            version=version,
            position=position,
            occurred_on=self.day(occurred_on),
            recorded_at=self.instant(recorded_at),
            recorded_by=recorded_by,
            data=self.json(data),
            source=None if source is None else self.json(source),
            notes=notes,
            hash=hash_,
            schema_version=schema_version,
        )
        if schema_version < SCHEMA_VERSION:
            return UpcastEvent.of(event, upcasting.upcast_stored(type_, schema_version, event.data))
        return event

    def event_json(self, row: Sequence[Any]) -> dict[str, Any]:
        """A row of :data:`COLUMNS` in the API's JSON form (``RecordedEvent.public_json``),
        without building the event first: a report lists tens of thousands. A row stored in an
        older schema version goes through :meth:`event`, which upcasts it."""
        (position, id_, mission, stream, version, type_, schema_version, occurred_on,
         recorded_at, recorded_by, data, source, notes, hash_) = row  # fmt: skip
        if schema_version < SCHEMA_VERSION:
            return self.event(row).public_json()
        return {
            "id": id_, "mission": mission, "type": type_, "stream": stream, "version": version,
            "position": position, "occurred_on": self.day_text(occurred_on),
            "recorded_at": self.instant_text(recorded_at), "recorded_by": recorded_by,
            "data": self.json(data), "source": None if source is None else self.json(source),
            "notes": notes, "hash": hash_,
        }  # fmt: skip

    def day_text(self, value: Any) -> str:
        """A stored date as ISO text."""
        return self.day(value).isoformat()

    def instant_text(self, value: Any) -> str:
        """A stored instant as RFC 3339 text (``format_instant``)."""
        return format_instant(self.instant(value))

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Database errors as the store's own: unreachable or busy is :class:`StoreUnavailable`."""
        try:
            yield
        except SitrepError:
            raise
        except IntegrityError as exc:
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
        except self.unavailable_errors as exc:
            log.warning("database unavailable: %s", _first_line(exc))
            raise StoreUnavailable(
                f"the database cannot be reached or is busy: {_first_line(exc)}"
            ) from exc
        except self.driver_errors as exc:
            # Under the writer lock a constraint violation means someone wrote around the store.
            log.error("database error in the event store: %s", exc)
            raise StoreUnavailable(f"the database refused the write: {_first_line(exc)}") from exc


class SqliteRecorder(Recorder):
    """SQLite in WAL mode; ``BEGIN IMMEDIATE`` makes each append the single writer."""

    name = "sqlite"
    placeholder = "?"
    driver_errors = (sqlite3.Error,)
    unavailable_errors = (sqlite3.OperationalError,)

    def __init__(self, engine: Engine, *, synchronous: str = "FULL") -> None:
        super().__init__(engine)
        prepare_sqlite(engine, synchronous=synchronous)
        # SQLite has one writer at a time anyway, so each process keeps one connection for
        # its appends and queues its own threads on a lock instead of on SQLite's busy timeout.
        self._writer_lock = threading.Lock()
        self._writer: Any = None
        self._last_instant: tuple[datetime | None, str] = (None, "")
        self._stop = threading.Event()
        self._checkpointer: threading.Thread | None = None

    @contextmanager
    def _writer_connection(self) -> Iterator[Any]:
        with self._writer_lock:
            if self._writer is None:
                self._writer = self.engine.raw_connection()
                writer = self._writer.driver_connection
                if writer.execute("PRAGMA synchronous").fetchone()[0] == 1:  # NORMAL
                    self._start_checkpointer(writer)
            dbapi = self._writer.driver_connection
            try:
                yield dbapi
            except sqlite3.OperationalError:
                self._rollback(dbapi)  # e.g. a failed COMMIT: leave no transaction open
                raise

    def close(self) -> None:
        self._stop.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
            self._checkpointer = None
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    def _start_checkpointer(self, writer: Any) -> None:
        # At synchronous=NORMAL a commit that crosses SQLite's auto-checkpoint threshold copies
        # the WAL into the database and syncs it, inside that commit: one append in a few
        # hundred took 2-6 ms and every append queued behind it. So appends never checkpoint;
        # a thread does, without blocking readers or writers (PASSIVE), twice a second. At FULL
        # (the default) every commit syncs anyway and the thread's syncs compete with them:
        # 4,000 appends measured ~1,000-1,240/s with it against ~1,600-1,800/s with SQLite's
        # own auto-checkpoint, p99 1.7-3.6 ms against 1.5-2.2 ms; so FULL keeps SQLite's.
        writer.execute("PRAGMA wal_autocheckpoint=0")
        self._stop.clear()
        self._checkpointer = threading.Thread(
            target=self._checkpoint_loop, name="sqlite-checkpointer", daemon=True
        )
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        pooled = self.engine.raw_connection()
        connection: Any = pooled.driver_connection
        try:
            while not self._stop.wait(0.5):
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # a busy moment; the next pass catches up
                    log.debug("checkpoint skipped: %s", exc)
        finally:
            pooled.close()

    def _begin_write(self, dbapi: Any) -> None:
        dbapi.execute("BEGIN IMMEDIATE")

    def _commit(self, dbapi: Any) -> None:
        dbapi.execute("COMMIT")

    def _rollback(self, dbapi: Any) -> None:
        if dbapi.in_transaction:
            try:
                dbapi.execute("ROLLBACK")
            except sqlite3.Error:
                log.warning("rollback failed")

    def values(self, event: RecordedEvent) -> tuple[Any, ...]:
        # The same text forms SQLAlchemy's Date, DateTime and JSON types write on SQLite.
        return (
            event.position,
            event.id,
            event.mission,
            event.stream,
            event.version,
            event.type,
            event.schema_version,
            event.occurred_on.isoformat(),
            self.instant_param(event.recorded_at),
            event.recorded_by,
            _text(event.data),
            None if event.source is None else _text(event.source),
            event.notes,
            event.hash,
        )

    def instant(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def day_text(self, value: Any) -> str:
        return str(value)  # stored as ISO text already

    def instant_text(self, value: Any) -> str:
        # Stored as "YYYY-MM-DD HH:MM:SS.ffffff" in UTC (instant_param, and SQLAlchemy's own
        # SQLite DATETIME format): RFC 3339 by two string operations, not a parse and a format.
        if isinstance(value, str) and len(value) == 26 and value[10] == " ":
            return f"{value[:10]}T{value[11:]}Z"
        return format_instant(self.instant(value))

    def instant_param(self, value: datetime) -> Any:
        # Every event of one append shares its recorded_at, and a projection chunk's rows share
        # a few: format each once. The pair is read and replaced whole, so threads formatting
        # other instants cannot mix them up.
        last = self._last_instant
        if value is last[0] or value == last[0]:
            return last[1]
        text = value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
        self._last_instant = (value, text)
        return text

    def day(self, value: Any) -> date:
        return date.fromisoformat(value)

    def day_param(self, value: date) -> Any:
        return value.isoformat()

    def json(self, value: Any) -> Any:
        return orjson.loads(value)


class PostgresRecorder(Recorder):
    """PostgreSQL: a transaction-scoped advisory lock serialises appends.

    Why: positions come from ``max(position) + 1`` read inside the transaction. Without the lock
    two writers could commit out of order (the one with position 11 before the one with 10),
    and a reader tailing ``position > 10`` would pass over 10 for ever — the gap problem that
    sequences have because they are handed out before commit. Holding the lock from before the
    head is read until commit makes commit order equal position order: PostgreSQL makes a
    commit visible before it releases the transaction's locks. The lock is keyed on the schema
    so that separate stores in one database do not wait on each other, and it is an advisory
    lock rather than ``LOCK TABLE`` so that autovacuum and readers never queue behind it.
    """

    name = "postgresql"
    placeholder = "%s"
    driver_errors = (psycopg.Error,)
    unavailable_errors = (psycopg.OperationalError,)

    def _begin_write(self, dbapi: Any) -> None:
        with dbapi.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(1936292210, hashtext(current_schema()))")

    def insert_many(self, dbapi: Any, rows: Sequence[RecordedEvent]) -> None:
        # COPY sends the whole batch in one stream; executemany would send a statement per row
        # (psycopg pipelines them, but the per-row cost was four fifths of a batch append).
        with dbapi.cursor() as cursor, cursor.copy(_COPY) as copy:
            for event in rows:
                copy.write_row(self.copy_values(event))

    def copy_values(self, event: RecordedEvent) -> tuple[Any, ...]:
        source = None if event.source is None else _text(event.source)
        return (
            event.position, event.id, event.mission, event.stream, event.version, event.type,
            event.schema_version, event.occurred_on, event.recorded_at, event.recorded_by,
            _text(event.data), source, event.notes, event.hash,
        )  # fmt: skip

    def values(self, event: RecordedEvent) -> tuple[Any, ...]:
        return (
            event.position,
            event.id,
            event.mission,
            event.stream,
            event.version,
            event.type,
            event.schema_version,
            event.occurred_on,
            event.recorded_at,
            event.recorded_by,
            Jsonb(event.data, _text),
            None if event.source is None else Jsonb(event.source, _text),
            event.notes,
            event.hash,
        )

    def instant(self, value: Any) -> datetime:
        return value.astimezone(UTC)

    def instant_param(self, value: datetime) -> Any:
        return value

    def day(self, value: Any) -> date:
        return value

    def day_param(self, value: date) -> Any:
        return value

    def json(self, value: Any) -> Any:
        return value  # psycopg decodes json and jsonb itself

    def json_param(self, value: Any) -> Any:
        return Jsonb(value, _text)


_COPY = f"COPY events ({', '.join(COLUMNS)}) FROM STDIN"


def _text(value: Any) -> str:
    return orjson.dumps(value).decode("utf-8")


SQLITE_SYNCHRONOUS = ("FULL", "NORMAL", "EXTRA")


def prepare_sqlite(engine: Engine, *, synchronous: str = "FULL") -> None:
    """Pragmas and transaction control for pysqlite (see SQLAlchemy's pysqlite notes).

    ``synchronous``: ``FULL`` (the default) syncs the WAL at every commit, so an acknowledged
    append survives a power cut; ``NORMAL`` only survives a crash of the process. The first
    call for an engine wins: later ones (e.g. a store opened on a prepared engine) change nothing.
    """
    # Formatted into the PRAGMA below, so only known words get through.
    level = str(synchronous).upper()
    if level not in SQLITE_SYNCHRONOUS:
        raise ValueError(
            f"SQLite synchronous must be one of {', '.join(SQLITE_SYNCHRONOUS)}, "
            f"not {synchronous!r}"
        )
    if getattr(engine, "_sitrep_prepared", False):
        return
    engine._sitrep_prepared = True  # type: ignore[attr-defined]

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={level}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        if conn.get_execution_options().get("sitrep_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def recorder_for(engine: Engine, **options: Any) -> Recorder:
    """The recorder for the engine's dialect."""
    if engine.dialect.name == "sqlite":
        return SqliteRecorder(engine, **options)
    if engine.dialect.name == "postgresql":
        return PostgresRecorder(engine)
    raise ValueError(f"unsupported database: {engine.dialect.name}")


def _first_line(error: object) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
