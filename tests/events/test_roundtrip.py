"""Export to JSON Lines and import into an empty store: same ids, order, hashes."""

from __future__ import annotations

import contextlib
import io
import tempfile
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.errors import ConflictingImport, InvalidEvent, RuleViolation
from events.store import EventStore
from events.transfer import import_events, read_jsonl, write_jsonl
from events.verify import verify
from sitrep.database import open_store
from tests.conftest import (
    Clock,
    append,
    arrived,
    authorized,
    corrected,
    departed,
    deposit,
    make_settings,
    registered,
    retracted,
)
from tests.events.test_properties import valid_bodies


def export(store: EventStore) -> str:
    out = io.StringIO()
    write_jsonl(store.iter_events(), out)
    return out.getvalue()


def import_text(store: EventStore, text: str) -> Any:
    return import_events(store, read_jsonl(io.StringIO(text), store))


def fill(store: EventStore, clock: Clock) -> None:
    append(
        store, registered(source={"title": "UN News", "url": "https://news.un.org/"}), authorized()
    )
    clock.advance(days=1)
    (first,) = append(store, arrived(400, female=12))
    append(store, departed(50, on="2024-08-01"), deposit("10800000.00"))
    clock.advance(days=3)
    append(store, corrected(first.id, {"country": "KEN", "personnel": 200, "category": "police"}))
    (dep,) = append(store, deposit("5.5", donor="CAN", currency="CAD", usd_rate="0.73"))
    append(store, retracted(dep.id) | {"notes": "duplicate report"})


def test_export_import_keeps_ids_order_and_hashes(
    store: EventStore, clock: Clock, tmp_path: Any
) -> None:
    fill(store, clock)
    text = export(store)
    target = open_store(make_settings(f"sqlite:///{tmp_path}/copy.db"))
    report = import_text(target, text)
    assert (report.imported, report.skipped) == (8, 0)
    assert export(target) == text
    assert target.head() == store.head()
    assert verify(target).ok
    again = import_text(target, text)
    assert (again.imported, again.skipped) == (0, 8)
    assert export(target) == text


def test_import_into_postgres_from_sqlite_and_back(
    store: EventStore, clock: Clock, tmp_path: Any
) -> None:
    # Whichever backend the fixture is, the copy goes to SQLite; the chain must not depend on it.
    fill(store, clock)
    copy = open_store(make_settings(f"sqlite:///{tmp_path}/copy.db"))
    import_text(copy, export(store))
    assert [e.to_json() for e in copy.iter_events()] == [e.to_json() for e in store.iter_events()]


def test_import_refuses_bad_lines_and_imports_nothing(
    store: EventStore, clock: Clock, tmp_path: Any
) -> None:
    fill(store, clock)
    lines = export(store).splitlines()
    target = open_store(make_settings(f"sqlite:///{tmp_path}/copy.db"))
    broken = [*lines[:3], lines[3].replace('"personnel":50', '"personnel":-5'), *lines[4:]]
    with pytest.raises(InvalidEvent) as info:
        import_text(target, "\n".join(broken))
    assert info.value.errors[0].field.startswith("line 4.data.personnel")
    assert target.head() is None
    with pytest.raises(InvalidEvent, match="not JSON"):
        import_text(target, lines[0] + "\n{nope\n")
    assert target.head() is None
    # A rule violation part-way through also leaves nothing behind.
    out_of_order = [lines[0], lines[3]]  # a departure with no arrival before it
    with pytest.raises(RuleViolation):
        import_text(target, "\n".join(out_of_order))
    assert target.head() is None


def test_import_keeps_recorded_at_in_position_order(
    store: EventStore, clock: Clock, tmp_path: Any
) -> None:
    fill(store, clock)
    lines = export(store).splitlines()
    target = open_store(make_settings(f"sqlite:///{tmp_path}/copy.db"))
    # An event recorded later than the events after it: refused, and nothing is kept.
    with pytest.raises(RuleViolation) as info:
        import_text(target, "\n".join([lines[0], lines[2], lines[1], *lines[3:]]))
    assert info.value.errors[0].field.endswith("recorded_at")
    assert target.head() is None
    # A store that already holds newer events does not take older ones after them.
    later = datetime(2030, 1, 1, tzinfo=UTC)
    newer = open_store(make_settings(f"sqlite:///{tmp_path}/newer.db"), clock=lambda: later)
    append(newer, registered(mission="mss-later"))
    with pytest.raises(RuleViolation):
        import_text(newer, "\n".join(lines))


def test_import_refuses_an_id_stored_with_other_content(store: EventStore, clock: Clock) -> None:
    fill(store, clock)
    text = export(store).replace(
        '"name":"Multinational Security Support mission"', '"name":"Renamed"'
    )
    with pytest.raises(ConflictingImport):
        import_text(store, text)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(bodies=st.lists(valid_bodies, min_size=1, max_size=12))
def test_any_valid_sequence_round_trips(bodies: list[dict[str, Any]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        source = open_store(make_settings(f"sqlite:///{tmp}/a.db"))
        append(source, registered())
        for raw in bodies:
            # e.g. a second registration is refused; the store keeps what is valid
            with contextlib.suppress(RuleViolation, InvalidEvent):
                append(source, raw)
        target = open_store(make_settings(f"sqlite:///{tmp}/b.db"))
        text = export(source)
        import_text(target, text)
        assert export(target) == text
        assert verify(target).ok
        source.engine.dispose()
        target.engine.dispose()
