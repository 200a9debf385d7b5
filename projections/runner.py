"""Keeps the read models current and rebuilds them.

Read models are updated after the append, not inside it: appends stay as fast as the ledger
allows, and a reader first catches the models up to the newest committed position (one cheap
comparison when nothing is new). So a read right after a ``201`` already reflects that event,
and several processes can share one database: catching up and rebuilding take a lock of their
own (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on PostgreSQL) and re-read the position
under it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import Connection, select

from events.envelope import RecordedEvent
from events.store import EventStore
from projections.apply import AMENDMENTS, apply
from projections.book import Book
from projections.schema import (
    balance_keys,
    balances,
    effects,
    headcounts,
    mission_facts,
    projection_state,
    report_changes,
    report_events,
)

log = logging.getLogger(__name__)

STATE = "read-models"
#: Every read model's table: a generation's rows are in each.
TABLES = (
    balances, balance_keys, effects, mission_facts, headcounts, report_events, report_changes,
)  # fmt: skip
T = TypeVar("T")
Progress = Callable[[int, int], None]


class Projector:
    """Applies stored events to the read models and answers queries from a consistent state."""

    def __init__(
        self, store: EventStore, *, chunk: int = 200, rebuild_chunk: int = 10_000,
        keep_rows: int | None = None,
    ) -> None:  # fmt: skip
        self.store = store
        self.keep_rows = keep_rows  # per total, between a rebuild's chunks (Book.keep_rows)
        self.engine = store.engine
        # Catching up holds the read models' lock (on SQLite, the database's one writer slot)
        # per chunk, so its chunks are small; a rebuild writes a generation no one reads yet,
        # in large chunks (each commit costs SQLite a WAL checkpoint: 2,000 -> 10,000 events a
        # chunk took a 1M rebuild from 7.2k to 9.6k events/s, for 40 MB more memory).
        self.chunk = chunk
        self.rebuild_chunk = rebuild_chunk
        self._applied = -1
        self._lock = threading.Lock()

    # --- transactions ---------------------------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn = conn.execution_options(sitrep_write=True)  # BEGIN IMMEDIATE on SQLite
            with conn.begin():
                if self.engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(
                        "SELECT pg_advisory_xact_lock(1936292211, hashtext(current_schema()))"
                    )
                yield conn

    def _state(self, conn: Connection) -> tuple[int, int]:
        s = projection_state
        row = conn.execute(select(s.c.generation, s.c.position).where(s.c.name == STATE)).first()
        if row is None:
            conn.execute(s.insert(), {"name": STATE, "generation": 1, "position": 0})
            return 1, 0
        return row.generation, row.position

    def _save(self, conn: Connection, generation: int, position: int) -> None:
        s = projection_state
        conn.execute(
            s.update().where(s.c.name == STATE).values(generation=generation, position=position)
        )

    def _apply_all(self, book: Book, events: list[RecordedEvent]) -> None:
        """Apply a chunk; the events its amendments name, and their effects, read in one go."""
        named = {e.data["event_id"] for e in events if e.type in AMENDMENTS}
        if named:
            found = self.store.get_many(named)
            book.prefetch_effects(named)
            book.prefetch_versions(named)
        else:
            found = {}
        for event in events:
            apply(book, event, found.__getitem__)

    # --- keeping current ------------------------------------------------------------------

    def catch_up(self) -> int:
        """Apply every committed event not yet applied; returns the position reached."""
        head = self.store.head()
        target = head[0] if head else 0
        if target <= self._applied:
            return self._applied
        with self._lock, self.store.recorder.translated():
            while True:
                with self._writing() as conn:
                    generation, position = self._state(conn)
                    page = self.store.read(after=position, limit=self.chunk)
                    book = Book(generation, self.store.recorder)
                    book.conn = conn
                    self._apply_all(book, page.events)
                    book.flush()
                    if page.events:
                        position = page.events[-1].position
                        self._save(conn, generation, position)
                self._applied = position
                if page.next is None:
                    return position

    def query(self, read: Callable[[Connection, int], T], *, caught_up: bool = False) -> T:
        """Catch up (unless the caller just did), then run ``read(conn, generation)``."""
        if not caught_up:
            self.catch_up()
        with self.store.recorder.translated(), self.engine.connect() as conn, conn.begin():
            generation, _ = self._read_state(conn)
            return read(conn, generation)

    def _read_state(self, conn: Connection) -> tuple[int, int]:
        s = projection_state
        row = conn.execute(select(s.c.generation, s.c.position).where(s.c.name == STATE)).first()
        return (row.generation, row.position) if row else (1, 0)

    # --- rebuilding ----------------------------------------------------------------------

    def rebuild(self, progress: Progress | None = None) -> int:
        """Build every read model again from the events, beside the live ones, then swap.

        Readers keep answering from the current generation until the new one has caught up
        with the head; the swap is one transaction. Events are read and applied a chunk at a
        time; what stays in memory is each total's newest rows (see :class:`Book`), bounded by
        the number of totals, not by the number of events.
        """
        with self._writing() as conn:
            current, _ = self._state(conn)
            new = current + 1
            self._drop(conn, new)  # the leftovers of a rebuild that was interrupted
        position = 0
        book = Book(new, self.store.recorder, fresh=True, keep_rows=self.keep_rows)
        head = self.store.head()
        total = head[0] if head else 0
        while True:
            page = self.store.read(after=position, limit=self.rebuild_chunk)
            if page.next is None:
                break
            with self._writing() as conn:
                book.conn = conn
                self._apply_all(book, page.events)
                book.flush()
            position = page.events[-1].position
            if progress:
                progress(position, total)
        with self._lock, self._writing() as conn:
            # Under the read models' lock no one else applies events: finish and swap.
            book.conn = conn
            while True:
                page = self.store.read(after=position, limit=self.rebuild_chunk)
                self._apply_all(book, page.events)
                book.flush()
                if page.events:
                    position = page.events[-1].position
                if page.next is None:
                    break
            self._save(conn, new, position)
            self._applied = position
        if progress:
            progress(position, max(total, position))
        with self._writing() as conn:
            self._drop(conn, current)
        if self.engine.dialect.name == "postgresql":
            # Every row moved to a new generation, so the planner's statistics describe the old
            # one (with autovacuum off, or before it gets round to it, a report's seeks by id
            # became a scan of the whole generation): sample the tables again now.
            with self.engine.begin() as conn:
                for table in TABLES:
                    conn.exec_driver_sql(f"ANALYZE {table.name}")
        log.info("read models rebuilt to position %s (generation %s)", position, new)
        return position

    def _drop(self, conn: Connection, generation: int) -> None:
        for table in TABLES:
            conn.execute(table.delete().where(table.c.generation == generation))
