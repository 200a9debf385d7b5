"""Append-only enforcement in the database and the hash chain's tamper evidence."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from events.store import EventStore
from events.verify import verify
from sitrep.database import open_store
from tests.conftest import append, arrived, make_settings, registered


def run(engine: Engine, sql: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(sql)


def drop_guards(engine: Engine) -> None:
    """What someone with direct database access would do before tampering."""
    if engine.dialect.name == "sqlite":
        run(engine, "DROP TRIGGER events_refuse_update")
        run(engine, "DROP TRIGGER events_refuse_delete")
    else:
        run(engine, "DROP TRIGGER events_refuse_change ON events")


@pytest.fixture
def filled(store: EventStore) -> EventStore:
    append(store, registered())
    for n in range(1, 6):
        append(store, arrived(n * 10))
    return store


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE events SET notes = 'edited' WHERE position = 2",
        "DELETE FROM events WHERE position = 2",
        "DELETE FROM events",
    ],
)
def test_database_refuses_update_and_delete(filled: EventStore, sql: str) -> None:
    with pytest.raises(DBAPIError, match="append-only"):
        run(filled.engine, sql)
    assert verify(filled).ok
    assert verify(filled).checked == 6


def test_postgres_refuses_truncate(postgres_url: str) -> None:
    store = open_store(make_settings(postgres_url))
    append(store, registered())
    with pytest.raises(DBAPIError, match="append-only"):
        run(store.engine, "TRUNCATE events")
    assert verify(store).checked == 1
    store.engine.dispose()


def test_verify_reports_head_of_an_intact_chain(filled: EventStore) -> None:
    report = verify(filled)
    head = filled.head()
    assert report.ok and report.checked == 6
    assert head is not None
    assert (report.head_position, report.head_hash) == head
    assert verify(filled, expected_head=head[1]).ok


def test_verify_catches_a_changed_row(filled: EventStore) -> None:
    drop_guards(filled.engine)
    data = '\'{"country": "KEN", "personnel": 999, "category": "police"}\''
    cast = "" if filled.engine.dialect.name == "sqlite" else "::jsonb"
    run(filled.engine, f"UPDATE events SET data = {data}{cast} WHERE position = 3")
    report = verify(filled)
    assert not report.ok
    assert report.first_bad_position == 3
    assert report.head_position == 2


def test_verify_catches_a_changed_timestamp(filled: EventStore) -> None:
    drop_guards(filled.engine)
    run(filled.engine, "UPDATE events SET recorded_by = 'someone-else' WHERE position = 5")
    assert verify(filled).first_bad_position == 5


def test_verify_catches_a_removed_row(filled: EventStore) -> None:
    drop_guards(filled.engine)
    run(filled.engine, "DELETE FROM events WHERE position = 4")
    report = verify(filled)
    assert not report.ok
    assert report.first_bad_position == 4
    assert "missing" in (report.problem or "")


def test_verify_catches_reordered_rows(filled: EventStore) -> None:
    drop_guards(filled.engine)
    # Swap the contents of positions 3 and 4, keeping each row's own hash.
    run(filled.engine, "UPDATE events SET position = -3 WHERE position = 3")
    run(filled.engine, "UPDATE events SET position = 3 WHERE position = 4")
    run(filled.engine, "UPDATE events SET position = 4 WHERE position = -3")
    report = verify(filled)
    assert not report.ok
    assert report.first_bad_position == 3


def test_an_anchored_head_stays_valid_as_the_chain_grows(filled: EventStore) -> None:
    head = filled.head()
    assert head is not None
    append(filled, arrived(7))
    assert verify(filled, expected_head=head[1]).ok
    assert not verify(filled, expected_head="0" * 64).ok


def test_head_catches_loss_of_the_newest_events(filled: EventStore) -> None:
    head = filled.head()
    assert head is not None
    drop_guards(filled.engine)
    run(filled.engine, "DELETE FROM events WHERE position = 6")
    assert verify(filled).ok  # the remaining chain is intact ...
    report = verify(filled, expected_head=head[1])
    assert not report.ok  # ... but it no longer ends where it was anchored
    assert report.first_bad_position == 6
