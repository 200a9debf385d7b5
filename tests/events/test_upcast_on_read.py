"""Events stored in an older schema version read in the current shape on every read path.

A pretend schema version 0 is registered for the test: its ``ContingentArrived`` said ``count``
where version 1 says ``personnel``, and its ``DeadlineFlagged`` said ``days_left`` for
``days_remaining``. Such events are inserted as rows (the store only appends the current
version), chained like any other, and then read through the store, the raw-JSON paths, the read
models and the API: each sees ``personnel`` and ``days_remaining``.

What is stored is never changed: the hash chain covers it. So the envelope, ``sitrep verify``
and the export keep the stored form, with its ``schema_version``: an exported file is a copy of
what the chain covers and verifies line by line on its own; an export of the upcast data under
the old hashes would not verify, and one under recomputed hashes would be a different chain.
"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection

from events import upcasting
from events.catalogue import SCHEMA_VERSION
from events.envelope import GENESIS_HASH, RecordedEvent, UpcastEvent, chain_hash
from events.ids import new_event_id
from events.recorders import COLUMNS
from events.store import EventStore
from events.transfer import import_events, read_jsonl, write_jsonl
from events.upcasting import Upcasters
from events.verify import verify
from projections import alerts, force_strength
from projections.runner import Projector
from sitrep.database import open_store
from tests.api.test_stream_api import connect, live_api
from tests.conftest import (
    MISSION,
    Clock,
    append,
    arrived,
    authorized,
    make_settings,
    registered,
)

OLD_ARRIVAL = {"country": "KEN", "count": 150, "category": "police"}
UPCAST_ARRIVAL = {"country": "KEN", "personnel": 150, "category": "police"}
OLD_FLAG = {"deadline": "mandate_expiry", "due_on": "2024-10-02", "days_left": 79,
            "threshold_days": 90, "resolution": "S/RES/2699 (2023)"}  # fmt: skip
UPCAST_FLAG = {"deadline": "mandate_expiry", "due_on": "2024-10-02", "days_remaining": 79,
               "threshold_days": 90, "resolution": "S/RES/2699 (2023)"}  # fmt: skip


@pytest.fixture(autouse=True)
def version_zero(monkeypatch: pytest.MonkeyPatch) -> Upcasters:
    """A registry knowing schema version 0, in the project's registry's place for one test."""
    registry = Upcasters()

    @registry.register("ContingentArrived", 0)
    def count_to_personnel(data: dict[str, Any]) -> dict[str, Any]:
        # Changes its argument in place on purpose: the stored form must not change with it.
        data["personnel"] = data.pop("count")
        return data

    @registry.register("DeadlineFlagged", 0)
    def days_left_to_days_remaining(data: dict[str, Any]) -> dict[str, Any]:
        return {("days_remaining" if k == "days_left" else k): v for k, v in data.items()}

    monkeypatch.setattr(upcasting, "UPCASTERS", registry)
    return registry


def insert_stored(
    store: EventStore, type_: str, stream: str, occurred_on: str, data: dict[str, Any],
    *, now: datetime, schema_version: int = 0,
) -> RecordedEvent:  # fmt: skip
    """Store ``data`` as an event of ``schema_version`` the way an older release did: the next
    position and stream version, chained to the head (the rows the rules keep are not touched)."""
    with store.recorder.write() as tx:
        head = tx.head()
        position, previous, last_at = head or (0, GENESIS_HASH, now)
        unhashed = RecordedEvent(
            id=new_event_id(), mission=MISSION, type=type_, stream=stream,
            version=tx.stream_version(stream) + 1, position=position + 1,
            occurred_on=date.fromisoformat(occurred_on), recorded_at=max(now, last_at),
            recorded_by="old-release", data=data, source=None, notes=None, hash="",
            schema_version=schema_version,
        )  # fmt: skip
        event = replace(unhashed, hash=chain_hash(previous, unhashed.envelope()))
        tx.insert([event])
    return event


def _raw_rows(store: EventStore) -> list[Any]:
    with store.recorder._pooled_connection() as dbapi:
        cursor = dbapi.cursor()
        try:
            sql = f"SELECT {', '.join(COLUMNS)} FROM events ORDER BY position"
            return list(cursor.execute(sql).fetchall())
        finally:
            cursor.close()


def test_every_store_read_gives_the_upcast_event(store: EventStore, clock: Clock) -> None:
    append(store, registered(), authorized())
    (first,) = append(store, arrived(400))
    old = insert_stored(store, "ContingentArrived", first.stream, "2024-07-01", dict(OLD_ARRIVAL),
                        now=clock())  # fmt: skip
    (later,) = append(store, arrived(24, country="JAM"))  # the chain goes on after it
    assert type(first) is type(later) is type(store.get(later.id)) is RecordedEvent

    def check(event: RecordedEvent) -> None:
        assert isinstance(event, UpcastEvent)
        assert event.id == old.id
        assert event.data == UPCAST_ARRIVAL
        assert (event.schema_version, event.stored_data) == (0, OLD_ARRIVAL)
        assert event.envelope()["data"] == OLD_ARRIVAL  # what the hash covers
        assert event.public_json()["data"] == UPCAST_ARRIVAL  # what the API answers

    streamed = store.stream(first.stream)
    assert [e.data["personnel"] for e in streamed] == [400, 150]
    check(streamed[1])
    for order in ("asc", "desc"):
        page = store.read(order=order, limit=10)
        check(next(e for e in page.events if e.id == old.id))
    check(store.read(after=3, limit=1).events[0])  # a page that starts on it
    check(store.read(type="ContingentArrived", stream=first.stream, limit=10).events[1])
    check(store.get(old.id))
    check(store.get_many([old.id, first.id])[old.id])
    check(next(e for e in store.iter_events() if e.id == old.id))
    # The raw-JSON path (the report's envelopes) takes the old row through the mapper.
    raw = _raw_rows(store)
    assert [store.recorder.event_json(row) for row in raw] == [
        e.public_json() for e in store.iter_events()
    ]
    assert store.recorder.event_json(raw[3])["data"] == UPCAST_ARRIVAL
    # The upcaster changed the dict it was given, but not the stored one.
    assert store.get(old.id).envelope()["data"] == OLD_ARRIVAL

    report = verify(store)
    assert report.ok, report.problem
    assert report.checked == 5


def test_the_rules_and_the_alerts_fold_the_upcast_history(store: EventStore, clock: Clock) -> None:
    append(store, registered(), authorized())
    flag = insert_stored(store, "DeadlineFlagged", f"alerts:{MISSION}", "2024-07-15",
                         dict(OLD_FLAG), now=clock())  # fmt: skip
    with store.recorder.write() as tx:  # what the append's rules read of a stream's history
        (entry,) = tx.history(f"alerts:{MISSION}")
    assert (entry.id, entry.data) == (flag.id, UPCAST_FLAG)
    (listed,) = alerts.listing(store, MISSION)
    assert (listed["id"], listed["days_remaining"]) == (flag.id, 79)
    assert verify(store).ok


def test_the_read_models_count_the_upcast_personnel(store: EventStore, clock: Clock) -> None:
    append(store, registered(), authorized())
    (first,) = append(store, arrived(400))
    insert_stored(store, "ContingentArrived", first.stream, "2024-07-01", dict(OLD_ARRIVAL),
                  now=clock())  # fmt: skip
    projector = Projector(store)
    known_at = datetime.max.replace(tzinfo=UTC)

    def strength(conn: Connection, generation: int) -> dict[str, Any]:
        return force_strength.as_of(conn, generation, MISSION, date(2024, 7, 31), known_at)

    assert projector.catch_up() == 4
    assert projector.query(strength, caught_up=True)["deployed"] == 550
    assert projector.rebuild() == 4  # a rebuild reads the same way
    assert projector.query(strength, caught_up=True)["deployed"] == 550


def test_the_export_keeps_the_stored_form_and_verifies(store: EventStore, clock: Clock) -> None:
    append(store, registered(), authorized())
    (first,) = append(store, arrived(400))
    old = insert_stored(store, "ContingentArrived", first.stream, "2024-07-01",
                        dict(OLD_ARRIVAL), now=clock())  # fmt: skip
    append(store, arrived(24, country="JAM"))
    out = io.StringIO()
    assert write_jsonl(store.iter_events(), out) == 5
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    exported = next(line for line in lines if line["id"] == old.id)
    assert (exported["schema_version"], exported["data"]) == (0, OLD_ARRIVAL)
    assert all(line["schema_version"] == 1 for line in lines if line["id"] != old.id)
    previous = GENESIS_HASH  # the file verifies on its own, the old line included
    for line in lines:
        body = {k: v for k, v in line.items() if k != "hash"}
        assert chain_hash(previous, body) == line["hash"], line["position"]
        previous = line["hash"]


def test_an_export_holding_an_old_event_imports_in_todays_shape(
    tmp_path: Path, clock: Clock
) -> None:
    """The export keeps the stored form (it verifies on its own); importing it upcasts the old
    line, which the target then stores, and chains, at today's schema version."""
    source = open_store(make_settings(f"sqlite:///{tmp_path}/source.db"), clock=clock)
    target = open_store(make_settings(f"sqlite:///{tmp_path}/target.db"), clock=clock)
    try:
        append(source, registered(), authorized())
        (first,) = append(source, arrived(400))
        insert_stored(source, "ContingentArrived", first.stream, "2024-07-01",
                      dict(OLD_ARRIVAL), now=clock())  # fmt: skip
        out = io.StringIO()
        write_jsonl(source.iter_events(), out)
        import_events(target, read_jsonl(out.getvalue().splitlines(), target))
        imported = target.stream(first.stream)[1]
        assert imported.data == UPCAST_ARRIVAL and imported.schema_version == SCHEMA_VERSION
        assert verify(target).ok
    finally:
        source.close()
        target.close()


async def test_the_api_answers_the_upcast_event(database_url: str) -> None:
    async with live_api(database_url) as live:
        store = live.app.state.store
        await live.post(registered())
        await live.post(authorized())
        first = await live.post(arrived(400))

        async def get(path: str, **params: Any) -> Any:
            response = await live.client.get(path, params=params, headers=live.auth("reader"))
            assert response.status_code == 200, response.text
            return response.json()

        async with connect(live, after=3) as sse:
            now = datetime.now(UTC)
            old = insert_stored(store, "ContingentArrived", first["stream"], "2024-07-01",
                                dict(OLD_ARRIVAL), now=now)  # fmt: skip
            flag = insert_stored(store, "DeadlineFlagged", f"alerts:{MISSION}", "2024-07-15",
                                 dict(OLD_FLAG), now=now)  # fmt: skip
            streamed = [await sse.event(), await sse.event()]
        assert [(e["id"], e["data"]) for e in streamed] == [
            (old.id, UPCAST_ARRIVAL), (flag.id, UPCAST_FLAG)
        ]  # fmt: skip
        assert "schema_version" not in streamed[0]
        assert await get(f"/v1/events/{old.id}") == streamed[0]
        assert (await get("/v1/events", after=3))["events"] == streamed
        assert (await get("/v1/events", order="desc", limit=2))["events"] == streamed[::-1]
        assert (await get(f"/v1/streams/{first['stream']}"))["events"][1] == streamed[0]

        strength = await get(f"/v1/missions/{MISSION}/force-strength", as_of="2024-07-31")
        assert strength["deployed"] == 550
        assert strength["by_country"][0]["by_category"]["police"] == 550
        kenya = await get(f"/v1/missions/{MISSION}/force-strength/KEN", as_of="2024-07-31")
        assert kenya["deployed"] == 550
        behind = kenya["events"][1]
        assert (behind["id"], behind["data"], behind["effective"]["data"]) == (
            old.id, UPCAST_ARRIVAL, UPCAST_ARRIVAL
        )  # fmt: skip

        report = await get(f"/v1/missions/{MISSION}/report", **{"from": "2024-06-01",
                                                                "to": "2024-07-31"})  # fmt: skip
        assert report["strength"]["to"]["deployed"] == 550
        listed = {e["id"]: e for e in report["events"]}
        assert listed[old.id]["data"] == listed[old.id]["effective"]["data"] == UPCAST_ARRIVAL
        assert listed[flag.id]["data"] == UPCAST_FLAG
        assert [a["id"] for a in report["alerts"]] == [flag.id]
        (alert,) = (await get("/v1/alerts", mission=MISSION))["alerts"]
        assert (alert["id"], alert["days_remaining"]) == (flag.id, 79)
