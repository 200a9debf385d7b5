"""SQLite durability: WAL with synchronous=FULL by default, NORMAL when asked for."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine

from events.recorders import SqliteRecorder, prepare_sqlite
from events.store import EventStore
from sitrep.database import open_store
from sitrep.settings import Settings
from tests.conftest import append, make_settings, registered

FULL, NORMAL = 2, 1  # what PRAGMA synchronous answers


def pragmas(execute: Callable[[str], Any]) -> tuple[str, int]:
    """``(journal_mode, synchronous)`` through a driver's or SQLAlchemy's execute."""
    (mode,) = execute("PRAGMA journal_mode").fetchone()
    (level,) = execute("PRAGMA synchronous").fetchone()
    return str(mode).lower(), int(level)


def connection_pragmas(store: EventStore) -> list[tuple[str, int]]:
    """The pragmas of the append connection and of a pooled (reading) one."""
    recorder = store.recorder
    assert isinstance(recorder, SqliteRecorder)
    with recorder._writer_connection() as writer:
        found = [pragmas(writer.execute)]
    with store.engine.connect() as conn:
        found.append(pragmas(conn.exec_driver_sql))
    return found


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SITREP_SQLITE_SYNCHRONOUS", raising=False)


@pytest.fixture
def opened() -> Iterator[list[EventStore]]:
    stores: list[EventStore] = []
    yield stores
    for store in stores:
        store.close()


def open_sqlite(settings: Settings, stores: list[EventStore]) -> EventStore:
    store = open_store(settings)
    stores.append(store)
    append(store, registered())  # an acknowledged append, on the writer connection
    return store


def test_default_settings_give_wal_and_full(
    no_env: None, tmp_path: Path, opened: list[EventStore]
) -> None:
    settings = make_settings(f"sqlite:///{tmp_path}/sitrep.db")
    assert settings.sqlite_synchronous == "FULL"
    store = open_sqlite(settings, opened)
    assert connection_pragmas(store) == [("wal", FULL), ("wal", FULL)]


def test_environment_variable_normal_gives_normal(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, opened: list[EventStore]
) -> None:
    monkeypatch.setenv("SITREP_SQLITE_SYNCHRONOUS", "NORMAL")
    settings = make_settings(f"sqlite:///{tmp_path}/sitrep.db")
    assert settings.sqlite_synchronous == "NORMAL"
    store = open_sqlite(settings, opened)
    assert connection_pragmas(store) == [("wal", NORMAL), ("wal", NORMAL)]


def test_setting_is_case_insensitive_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SITREP_SQLITE_SYNCHRONOUS", "normal")
    assert make_settings("sqlite://").sqlite_synchronous == "NORMAL"
    for bad in ("OFF", "EXTRA", "1", "FULL; DROP TABLE events"):
        monkeypatch.setenv("SITREP_SQLITE_SYNCHRONOUS", bad)
        with pytest.raises(ValidationError):
            make_settings("sqlite://")


def test_store_on_a_bare_engine_defaults_to_full(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/bare.db")
    store = EventStore(engine)
    try:
        with engine.connect() as conn:
            assert pragmas(conn.exec_driver_sql) == ("wal", FULL)
    finally:
        store.close()


@pytest.mark.parametrize("bad", ["OFF", "", "FULL; DROP TABLE events", "2"])
def test_only_known_levels_reach_the_pragma(bad: str) -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(ValueError, match="synchronous"):
        prepare_sqlite(engine, synchronous=bad)
    assert not getattr(engine, "_sitrep_prepared", False)


@pytest.mark.parametrize(("level", "thread", "autocheckpoint"), [
    ("FULL", False, 1000),  # SQLite's own checkpoints: the thread's syncs would compete
    ("NORMAL", True, 0),  # a background thread checkpoints; no append pays for one
])  # fmt: skip
def test_who_checkpoints_the_wal_depends_on_the_level(
    level: str, thread: bool, autocheckpoint: int, tmp_path: Path, opened: list[EventStore]
) -> None:
    store = open_sqlite(make_settings(f"sqlite:///{tmp_path}/s.db", sqlite_synchronous=level),
                        opened)  # fmt: skip
    recorder = store.recorder
    assert isinstance(recorder, SqliteRecorder)
    assert (recorder._checkpointer is not None) is thread
    with recorder._writer_connection() as writer:
        assert writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == autocheckpoint
