"""A stored row in the API's JSON form, read straight from the row (``Recorder.event_json``),
equals the event built first and then encoded (``RecordedEvent.public_json``): both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from events.recorders import COLUMNS
from events.store import EventStore
from tests.conftest import Clock, append, arrived, deposit, registered


def test_a_row_reads_as_the_event_encoded(store: EventStore, clock: Clock) -> None:
    append(store, registered())
    # The clock moves on a microsecond before each reading: recorded at a whole second.
    clock.now = datetime(2026, 11, 24, 11, 59, 59, 999_999, tzinfo=UTC)
    with_source = {**arrived(200), "source": {"title": "UN", "url": "https://press.un.org/x"},
                   "notes": "first flight"}  # fmt: skip
    append(store, with_source, deposit("1.50", donor="CAN", currency="CAD", usd_rate="0.73"))
    clock.advance(microseconds=123_457)
    append(store, arrived(5, on="2024-06-26", female=2))
    rows = store.recorder.select_events()  # the events as built, in position order
    with store.recorder._pooled_connection() as dbapi:  # the same rows, raw
        cursor = dbapi.cursor()
        raw = cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY position")
        found = [store.recorder.event_json(row) for row in raw.fetchall()]
        cursor.close()
    assert found == [event.public_json() for event in rows]
    assert found[1]["recorded_at"] == "2026-11-24T12:00:00.000000Z"
    assert found[1]["source"] == {"title": "UN", "url": "https://press.un.org/x"}
    assert found[0]["source"] is None
