"""Concurrent writers: one winner per expected version, one event per idempotency key, and a
tailing reader that never passes over an event that commits later (the gap problem)."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from events.errors import RuleViolation, VersionConflict
from events.store import EventStore
from events.verify import verify
from sitrep.database import open_store
from tests.conftest import append, arrived, departed, make_settings, registered

WRITERS = 16


def _race(store: EventStore, attempt: Any) -> list[Any]:
    barrier = threading.Barrier(WRITERS)

    def one(_: int) -> Any:
        barrier.wait()
        try:
            return attempt()
        except VersionConflict as exc:
            return exc

    with ThreadPoolExecutor(WRITERS) as pool:
        return list(pool.map(one, range(WRITERS)))


def test_sixteen_threads_with_one_expected_version_one_wins(store: EventStore) -> None:
    append(store, registered(), arrived(10))
    results = _race(store, lambda: append(store, arrived(1) | {"expected_version": 1}))
    wins = [r for r in results if not isinstance(r, VersionConflict)]
    conflicts = [r for r in results if isinstance(r, VersionConflict)]
    assert len(wins) == 1 and len(conflicts) == WRITERS - 1
    assert all(c.current_version == 2 for c in conflicts)
    assert [e.version for e in store.stream("contingent:mss-haiti:KEN")] == [1, 2]


def test_sixteen_concurrent_retries_of_one_key_append_once(store: EventStore) -> None:
    append(store, registered())
    event = store.parse(arrived(10))
    results = _race(
        store,
        lambda: store.append(
            [event], recorded_by="liaison", idempotency_key="retry-1", key_scope="t"
        ),
    )
    ids = {r.events[0].id for r in results}
    assert len(ids) == 1
    assert sum(not r.replayed for r in results) == 1
    assert len(store.stream("contingent:mss-haiti:KEN")) == 1


def _process_append(url: str, start: Any, results: Any) -> None:
    store = open_store(make_settings(url))
    event = store.parse(arrived(1) | {"expected_version": 1})
    start.wait()
    try:
        store.append([event], recorded_by="process")
        results.put("won")
    except VersionConflict as exc:
        results.put(f"conflict {exc.current_version}")


def test_two_processes_with_one_expected_version_one_wins(
    store: EventStore, database_url: str
) -> None:
    append(store, registered(), arrived(10))
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_process_append, args=(database_url, start, results)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    time.sleep(0.5)
    start.set()
    outcomes = sorted(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert outcomes == ["conflict 2", "won"]


def _slow_writer(store: EventStore, count: int, seed: int) -> None:
    rng = random.Random(seed)

    def linger(*_: Any) -> None:
        # Keep the transaction open a random short while, as a slow client or a big batch would.
        time.sleep(rng.uniform(0, 0.004))

    for _ in range(count):
        country = rng.choice(["KEN", "JAM", "GTM", "SLV"])
        store.append([store.parse(arrived(1, country=country))], recorded_by="w", guard=linger)


def _process_writer(url: str, count: int) -> None:
    _slow_writer(open_store(make_settings(url)), count, seed=99)


def test_tailing_reader_sees_every_event_once_in_order(
    store: EventStore, database_url: str
) -> None:
    append(store, registered())
    per_writer, threads = 25, 4
    ctx = multiprocessing.get_context("spawn")
    other = ctx.Process(target=_process_writer, args=(database_url, per_writer))
    reader_store = open_store(make_settings(database_url))
    seen: list[int] = []
    done = threading.Event()

    def tail() -> None:
        after = 0
        while True:
            finished = done.is_set()
            page = reader_store.read(after=after, limit=7)
            seen.extend(e.position for e in page.events)
            if page.events:
                after = page.events[-1].position
            elif finished:
                return

    reader = threading.Thread(target=tail)
    reader.start()
    other.start()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: _slow_writer(store, per_writer, i), range(threads)))
    other.join(120)
    done.set()
    reader.join(60)
    total = 1 + per_writer * (threads + 1)
    assert seen == list(range(1, total + 1))
    assert verify(store).ok


def test_rules_see_what_another_process_appended(
    store: EventStore, settings: Any, clock: Any
) -> None:
    # The balances the rules read live in the database, not in a process; another store on
    # the same database stands for another process.
    other = open_store(settings, clock=clock)
    try:
        append(store, registered())
        append(store, arrived(10, on="2024-06-25"))
        append(store, departed(2, on="2024-07-01"))
        append(other, departed(8, on="2024-07-02"))  # the other empties the contingent
        with pytest.raises(RuleViolation):
            append(store, departed(1, on="2024-07-03"))
        # A refused batch leaves nothing behind: its valid half was never stored.
        with pytest.raises(RuleViolation):
            append(store, arrived(5, on="2024-07-04"), departed(9, on="2024-07-05"))
        with pytest.raises(RuleViolation):
            append(store, departed(1, on="2024-07-05"))
        append(other, arrived(3, on="2024-07-06"))
        append(store, departed(3, on="2024-07-07"))
        stream = "contingent:mss-haiti:KEN"
        assert [e.version for e in other.stream(stream)] == [1, 2, 3, 4, 5]
    finally:
        other.close()
