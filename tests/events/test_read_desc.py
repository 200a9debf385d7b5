"""Reading newest first (CONTRACT §4, ``order=desc``), on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from events.envelope import RecordedEvent
from events.store import EventStore
from sitrep.database import open_store
from tests.conftest import append, arrived, deposit, make_settings, pledged, registered


def positions(events: list[RecordedEvent]) -> list[int]:
    return [e.position for e in events]


def walk(
    store: EventStore, order: Literal["asc", "desc"], limit: int, **filters: Any
) -> list[RecordedEvent]:
    """Every page of a read in ``order``, each page starting at the previous one's ``next``."""
    found: list[RecordedEvent] = []
    cursor: dict[str, Any] = {}
    for _ in range(10_000):
        page = store.read(order=order, limit=limit, **cursor, **filters)
        assert len(page.events) <= limit
        found.extend(page.events)
        if page.next is None:
            return found
        assert page.events and page.next == page.events[-1].position
        cursor = {"after": page.next} if order == "asc" else {"before": page.next}
    raise AssertionError("the pages never ended")


def test_desc_pages_newest_first_back_to_the_first_event(store: EventStore) -> None:
    append(store, registered(), registered(mission="mss-two"))
    for n in range(1, 6):
        append(store, arrived(n))
    append(store, arrived(3) | {"mission": "mss-two"})
    newest = store.read(order="desc", limit=3)
    assert positions(newest.events) == [8, 7, 6] and newest.next == 6
    older = store.read(order="desc", before=newest.next, limit=3)
    assert positions(older.events) == [5, 4, 3] and older.next == 3
    oldest = store.read(order="desc", before=older.next, limit=3)
    assert positions(oldest.events) == [2, 1] and oldest.next is None
    # A page that ends exactly on the first event says so: no older page to ask for.
    assert store.read(order="desc", before=4, limit=3).next is None
    assert store.read(order="desc", before=5, limit=3).next == 2
    assert store.read(order="desc", before=1).events == []
    assert positions(store.read(order="desc", before=10**12, limit=2).events) == [8, 7]


def test_desc_filters_and_the_first_matching_event(store: EventStore) -> None:
    append(store, registered(), registered(mission="mss-two"))
    append(store, arrived(5), arrived(1, country="JAM"), deposit("10"))
    append(store, arrived(2) | {"mission": "mss-two"}, arrived(4))
    mission = store.read(order="desc", mission="mss-two", limit=1)
    assert positions(mission.events) == [6] and mission.next == 6
    last = store.read(order="desc", mission="mss-two", before=6, limit=1)
    # Position 2 is mss-two's first event; events of other missions before it do not count.
    assert positions(last.events) == [2] and last.next is None
    typed = store.read(order="desc", type="ContingentArrived", limit=3)
    assert positions(typed.events) == [7, 6, 4] and typed.next == 4
    rest = store.read(order="desc", type="ContingentArrived", before=4, limit=3)
    assert positions(rest.events) == [3] and rest.next is None
    ken = store.read(order="desc", stream="contingent:mss-haiti:KEN", limit=2)
    assert positions(ken.events) == [7, 3] and ken.next is None
    assert [e.version for e in ken.events] == [2, 1]
    both = store.read(order="desc", mission="mss-haiti", type="FundsDeposited")
    assert positions(both.events) == [5] and both.next is None
    assert store.read(order="desc", mission="mss-none").events == []


def test_desc_of_an_empty_store(store: EventStore) -> None:
    page = store.read(order="desc")
    assert page.events == [] and page.next is None


_batches = itertools.count()

# One request of events in up to three missions registered for it: (mission index, kind, country).
requests = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(["arrived", "pledged", "deposit"]),
        st.sampled_from(["KEN", "JAM", "USA"]),
    ),
    max_size=20,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    planned=requests,
    limit=st.integers(1, 6),
    mission=st.none() | st.integers(0, 2),
    type_=st.none() | st.sampled_from(["ContingentArrived", "PersonnelPledged", "FundsDeposited"]),
    stream=st.none() | st.integers(0, 40),
    start=st.none() | st.integers(1, 60),
)
def test_walking_desc_pages_is_walking_asc_pages_backwards(
    store: EventStore,
    planned: list[tuple[int, str, str]],
    limit: int,
    mission: int | None,
    type_: str | None,
    stream: int | None,
    start: int | None,
) -> None:
    # The store keeps the events of earlier examples: the property holds for any store, and the
    # missions of each example are new ones.
    names = [f"desc-{next(_batches)}-{k}" for k in range(3)]
    append(store, *(registered(mission=name) for name in names))
    bodies = []
    for which, kind, country in planned:
        if kind == "arrived":
            made = arrived(1, country=country)
        elif kind == "pledged":
            made = pledged(1, country=country)
        else:
            made = deposit("10", donor=country)
        bodies.append(made | {"mission": names[which]})
    if bodies:
        append(store, *bodies)
    everything = list(store.iter_events())
    streams = sorted({e.stream for e in everything})
    filters: dict[str, Any] = {
        "mission": None if mission is None else names[mission],
        "type": type_,
        "stream": None if stream is None else streams[stream % len(streams)],
    }
    expected = [
        e for e in everything if all(v is None or getattr(e, k) == v for k, v in filters.items())
    ]
    asc = walk(store, "asc", limit, **filters)
    assert asc == expected
    assert walk(store, "desc", limit, **filters) == asc[::-1]
    if start is not None:
        # From any `before`, the pages hold exactly the matching events below it, newest first.
        older = [e for e in asc if e.position < start][::-1]
        first = store.read(order="desc", before=start, limit=limit, **filters)
        assert first.events == older[:limit]
        assert (first.next is None) == (len(older) <= limit)


def test_newest_page_never_shows_an_event_above_a_gap(store: EventStore, database_url: str) -> None:
    # The gap problem seen from the other end: while four threads append, each holding its
    # transaction open a moment, the newest page read through another store must be a dense run
    # of positions down from the head, all of which an ascending reader sees too.
    append(store, registered())
    reader = open_store(make_settings(database_url))
    done = threading.Event()
    tops: list[int] = []
    failures: list[BaseException] = []

    def writer(seed: int) -> None:
        rng = random.Random(seed)

        def linger(*_: Any) -> None:
            time.sleep(rng.uniform(0, 0.003))

        for _ in range(25):
            event = store.parse(arrived(1, country=rng.choice(["KEN", "JAM", "GTM"])))
            store.append([event], recorded_by="w", guard=linger)

    def read_newest() -> None:
        try:
            watch()
        except BaseException as exc:  # the thread's failure is the test's
            failures.append(exc)

    def watch() -> None:
        while not done.is_set():
            page = reader.read(order="desc", limit=8)
            found = positions(page.events)
            top = found[0]
            assert found == list(range(top, max(top - 8, 0), -1)), found
            assert not tops or top >= tops[-1], (tops[-1], top)
            # Whatever the newest page showed, an ascending read from just below it sees too.
            assert reader.read(after=top - 1, limit=1).events[0].position == top
            tops.append(top)

    watcher = threading.Thread(target=read_newest)
    watcher.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(writer, range(4)))
    finally:
        done.set()
        watcher.join(60)
        reader.close()
    if failures:
        raise failures[0]
    assert tops and tops[-1] <= 101
    assert positions(walk(store, "desc", 7)) == list(range(101, 0, -1))
