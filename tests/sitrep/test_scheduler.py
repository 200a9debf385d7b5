"""The scheduler in the app's lifespan (CONTRACT §7): a pass at start-up, delivery, clean stop."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from api.metrics import Metrics
from events.store import EventStore
from projections.runner import Projector
from sitrep.app import create_app
from sitrep.scheduler import AlertScheduler
from tests.alerting import SECRET, receiving
from tests.conftest import Clock, append, authorized, make_settings, registered


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("timed out")
        time.sleep(0.02)


async def test_the_lifespan_runs_a_pass_at_start_up_and_delivers_it(database_url: str) -> None:
    # The injected clock says 2024-07-04: the MSS mandate is 90 days from expiry.
    clock = Clock(datetime(2024, 7, 4, 6, 0, tzinfo=UTC))
    with receiving() as receiver:
        settings = make_settings(
            database_url,
            scheduler_enabled=True,
            webhook_urls=[receiver.url],
            webhook_secret=SECRET,
        )
        app = create_app(settings, clock=clock)
        store: EventStore = app.state.store
        append(store, registered(), authorized(), recorded_by="mission-office")
        async with app.router.lifespan_context(app):
            scheduler: AlertScheduler = app.state.alert_scheduler
            jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
            assert set(jobs) == {"deadline-check", "webhook-delivery"}
            check = jobs["deadline-check"]
            assert (check.coalesce, check.max_instances) == (True, 1)
            assert check.trigger.interval.total_seconds() == settings.alert_interval_seconds
            _wait_for(lambda: len(receiver.received) == 1)
        assert not scheduler._scheduler.running
    [got] = receiver.received
    assert got.signature_ok
    assert got.json["data"]["days_remaining"] == 90
    assert got.json["data"]["occurred_on"] == "2024-07-04"


async def test_the_scheduler_is_off_when_disabled(database_url: str) -> None:
    app = create_app(make_settings(database_url, scheduler_enabled=False))
    async with app.router.lifespan_context(app):
        assert app.state.alert_scheduler is None


def test_a_pass_that_fails_is_logged_and_the_next_one_runs(store: EventStore) -> None:
    append(store, registered(), authorized(), recorded_by="mission-office")
    settings = make_settings("sqlite://", scheduler_enabled=True)
    scheduler = AlertScheduler(
        store, _Broken(), settings, clock=lambda: datetime(2024, 7, 4, tzinfo=UTC)
    )
    assert scheduler.dispatcher is None
    assert scheduler.check() == []  # logged, not raised into APScheduler


class _Broken:
    def query(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("read models unavailable")


def test_a_pass_sets_the_last_run_metric_and_counts_flags(store: EventStore) -> None:
    # Authorized 2023-10-02 until 2024-10-02: on 2024-07-04 it is 90 days away.
    append(store, registered(), authorized(), recorded_by="mission-office")
    settings = make_settings("sqlite://", scheduler_enabled=True)
    metrics = Metrics()
    scheduler = AlertScheduler(
        store, Projector(store), settings, metrics=metrics,
        clock=lambda: datetime(2024, 7, 4, tzinfo=UTC),
    )  # fmt: skip
    flags = scheduler.check()
    assert len(flags) == 1
    text = metrics.exposition().decode()
    assert "sitrep_deadline_flags_total 1.0" in text
    last_run = [line for line in text.splitlines()
                if line.startswith("sitrep_scheduler_last_run_timestamp_seconds ")]  # fmt: skip
    assert float(last_run[0].split()[1]) > 0
