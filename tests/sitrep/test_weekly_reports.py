"""Weekly delivery of the situation report (CONTRACT §4, §8 ``SITREP_REPORT_WEEKDAY``): the
calendar, the message, once across racing passes, missed weeks, and two real ``sitrep serve``
instances restarted across the delivery day, with a receiver checking every signature."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from api import reports
from events.store import EventStore
from projections import alerts
from projections.alerts import webhook_deliveries
from projections.runner import Projector
from sitrep.app import create_app
from sitrep.database import open_store
from sitrep.deadlines import check_deadlines
from sitrep.scheduler import AlertScheduler
from sitrep.settings import Settings
from sitrep.webhooks import Dispatcher
from sitrep.weekly import (
    CATCH_UP,
    WeeklyReports,
    Window,
    bounded,
    message_id,
    newest_report_day,
    payload,
    report_days,
    weekly_reports,
    window,
)
from tests.alerting import SECRET, THRESHOLDS, Received, Receiver, receiving
from tests.conftest import Clock, append, arrived, authorized, body, make_settings, registered
from tests.processes import free_port, wait_until_healthy

MONDAY = 0
#: Mondays and the days around them in July 2024.
MON_1, MON_8, WED_10, THU_11, MON_15 = (
    date(2024, 7, 1), date(2024, 7, 8), date(2024, 7, 10), date(2024, 7, 11), date(2024, 7, 15),
)  # fmt: skip


# --- the calendar ---------------------------------------------------------------------------


def test_the_newest_report_day_is_on_or_before_today() -> None:
    assert newest_report_day(MON_8, MONDAY) == MON_8
    assert newest_report_day(date(2024, 7, 7), MONDAY) == MON_1  # a Sunday
    assert newest_report_day(WED_10, MONDAY) == MON_8
    assert newest_report_day(WED_10, 2) == WED_10
    assert newest_report_day(WED_10, 3) == date(2024, 7, 4)  # Thursday: the week before
    assert newest_report_day(date(2025, 1, 1), 6) == date(2024, 12, 29)  # across a year


def test_report_days_catch_up_back_to_the_last_one_queued() -> None:
    assert report_days(WED_10, MONDAY, None) == [MON_8]  # a fresh install: the newest only
    assert report_days(WED_10, MONDAY, MON_8) == []
    assert report_days(WED_10, MONDAY, MON_1) == [MON_8]  # down on Monday the 8th
    assert report_days(MON_15, MONDAY, MON_1) == [MON_8, MON_15]  # two missed, oldest first
    # bounded: after a long outage, the newest CATCH_UP weeks
    long_ago = date(2024, 1, 1)
    days = report_days(MON_15, MONDAY, long_ago)
    assert len(days) == CATCH_UP == 8
    assert days[-1] == MON_15 and days[0] == MON_15 - timedelta(weeks=7)
    assert all(b - a == timedelta(days=7) for a, b in itertools.pairwise(days))
    # the weekday changed from Monday to Friday: the Fridays since the last Monday report
    assert report_days(date(2024, 7, 13), 4, MON_1) == [date(2024, 7, 5), date(2024, 7, 12)]
    # a clock set back before the last report queues nothing
    assert report_days(date(2024, 7, 2), MONDAY, MON_8) == []


def test_the_window_is_the_seven_days_up_to_the_day_before() -> None:
    span = window(MON_8)
    assert span == Window(
        day=MON_8,
        start=date(2024, 6, 30),  # `from`: the report lists events dated after it
        end=date(2024, 7, 7),  # `to`: the Sunday before
        known_at=datetime(2024, 7, 8, tzinfo=UTC),
    )
    assert (span.end - span.start).days == 7


def test_message_ids_are_the_same_everywhere_and_apart_per_mission_and_week() -> None:
    first = message_id("mss-haiti", MON_8)
    assert first == message_id("mss-haiti", MON_8)
    assert len(first) == 36  # fits webhook_deliveries.event_id
    assert uuid.UUID(first).version == 5
    others = {message_id("mss-haiti", MON_1), message_id("gsf-haiti", MON_8)}
    assert first not in others and len(others) == 2


def test_the_weekday_setting() -> None:
    def weekday(value: Any) -> str | None:
        return Settings(_env_file=None, report_weekday=value).report_weekday

    assert weekday("Monday") == "monday"
    assert weekday(" SUNDAY ") == "sunday"
    assert weekday("") is None
    assert weekday(None) is None
    assert Settings(_env_file=None).report_weekday is None
    for wrong in ("mon", "monday,friday", "8", 1):
        with pytest.raises(pydantic.ValidationError, match="must be a day of the week"):
            weekday(wrong)


# --- the message ----------------------------------------------------------------------------


def _history(store: EventStore, clock: Clock, *others: str) -> None:
    """The MSS (and the ``others``) registered and authorized, 200 arrived (recorded 26 June
    2024); 20 more arrive on 2 July and 30 on 9 July, each recorded that day, and on 2 July comes
    the late report of 5 who arrived on 29 June."""
    clock.now = datetime(2024, 6, 26, 9, tzinfo=UTC)
    append(store, registered(), authorized(), arrived(200), recorded_by="mission-office")
    for other in others:
        append(store, registered(mission=other), authorized(mission=other),
               recorded_by="mission-office")  # fmt: skip
    clock.now = datetime(2024, 7, 2, 9, tzinfo=UTC)
    append(store, arrived(20, on="2024-07-02"))
    append(store, arrived(5, on="2024-06-29"))
    clock.now = datetime(2024, 7, 9, 9, tzinfo=UTC)
    append(store, arrived(30, on="2024-07-09"))


def test_the_message_carries_the_report_as_known_at_the_report_day(
    store: EventStore, clock: Clock
) -> None:
    _history(store, clock)
    span = window(MON_8)
    report = reports.compute(store, Projector(store), "mss-haiti", span.start, span.end,
                             span.known_at)  # fmt: skip
    message = json.loads(payload("mss-haiti", span, report))
    assert message["type"] == "report.weekly"
    assert message["timestamp"] == "2024-07-08T00:00:00.000000Z"
    data = message["data"]
    assert {k: data[k] for k in ("mission", "from", "to", "known_at")} == {
        "mission": "mss-haiti",
        "from": "2024-06-30",
        "to": "2024-07-07",
        "known_at": "2024-07-08T00:00:00.000000Z",
    }
    assert data["report"] == report
    assert data["omitted"] == {"events": 0, "restated_events": 0}
    assert data["report"]["strength"]["to"]["deployed"] == 225  # not the 9 July arrival
    assert [e["occurred_on"] for e in data["report"]["events"]] == ["2024-07-02"]
    assert data["summary"] == (
        "Weekly report of mss-haiti, 2024-07-01 to 2024-07-07: 225 personnel deployed (+20), "
        "USD 0.00 deposited (+0.00), 1 event, 1 restatement."
    )
    # the same document whenever it is computed: later events do not change it
    clock.advance(days=30)
    append(store, arrived(5, on="2024-07-03"))
    again = reports.compute(store, Projector(store), "mss-haiti", span.start, span.end,
                            span.known_at)  # fmt: skip
    assert payload("mss-haiti", span, again) == payload("mss-haiti", span, report)


def test_a_long_week_is_cut_to_the_budget_and_says_how_much(monkeypatch: Any) -> None:
    monkeypatch.setattr("sitrep.weekly.MAX_LISTED_BYTES", 1000)
    events = [{"id": str(n), "notes": "x" * 80} for n in range(20)]
    restated = [{"id": f"r{n}", "notes": "y" * 80} for n in range(5)]
    report = {"events": events, "restated": {"events": restated, "known_then": "t"}}
    cut, omitted = bounded(report)
    assert cut["events"] == events[: len(cut["events"])] and 0 < len(cut["events"]) < 20
    assert omitted == {"events": 20 - len(cut["events"]), "restated_events": 5}
    assert cut["restated"] == {"events": [], "known_then": "t"}
    assert report["events"] is events and len(events) == 20  # the report itself is untouched
    small = {"events": events[:2], "restated": {"events": []}}
    assert bounded(small) == (small, {"events": 0, "restated_events": 0})


# --- passes -----------------------------------------------------------------------------------


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, EventStore):
            thing.close()
        else:
            thing.close()


def _weekly(store: EventStore, *urls: str, closing: list[Any]) -> WeeklyReports:
    # Signed on the real clock, so the receiver's Standard Webhooks library accepts the times.
    sender = Dispatcher(store, list(urls), SECRET, clock=Clock(datetime.now(UTC)))
    closing.append(sender)
    return WeeklyReports(store, Projector(store), sender, "monday")


def _queued(store: EventStore) -> list[tuple[str, date, str]]:
    w = weekly_reports
    with store.engine.connect() as conn:
        rows = conn.execute(select(w.c.mission, w.c.report_on, w.c.event_id)).all()
    return sorted((r.mission, r.report_on, r.event_id) for r in rows)


def _outbox(store: EventStore) -> list[tuple[str, str]]:
    d = webhook_deliveries
    with store.engine.connect() as conn:
        return sorted((r.event_id, r.url) for r in conn.execute(select(d.c.event_id, d.c.url)))


def _weeks(receiver: Receiver) -> list[tuple[str, str, str]]:
    return [(r.json["data"]["mission"], r.json["data"]["from"], r.json["data"]["to"])
            for r in receiver.received if r.json["type"] == "report.weekly"]  # fmt: skip


def test_a_missed_week_is_delivered_when_the_server_comes_back(
    store: EventStore, clock: Clock, closing: list[Any]
) -> None:
    _history(store, clock)
    with receiving() as receiver:
        weekly = _weekly(store, receiver.url, closing=closing)
        # Monday 1 July: a pass that day (a fresh install: that week only)
        assert weekly.run(MON_1) == [message_id("mss-haiti", MON_1)]
        assert weekly.run(MON_1) == []
        # ... then nothing ran on Monday 8 July; the server is back on Wednesday
        assert weekly.run(WED_10) == [message_id("mss-haiti", MON_8)]
        assert weekly.run(WED_10) == []  # a later pass adds nothing
        assert weekly.run(THU_11) == []
        assert weekly.run(MON_15) == [message_id("mss-haiti", MON_15)]  # next Monday, a new one
        assert [a.state for a in weekly.dispatcher.run_once()] == ["delivered"] * 3
        assert weekly.dispatcher.run_once() == []
    assert _queued(store) == [
        ("mss-haiti", day, message_id("mss-haiti", day)) for day in (MON_1, MON_8, MON_15)
    ]
    assert sorted(_weeks(receiver)) == [
        ("mss-haiti", "2024-06-23", "2024-06-30"),
        ("mss-haiti", "2024-06-30", "2024-07-07"),
        ("mss-haiti", "2024-07-07", "2024-07-14"),
    ]
    assert all(r.signature_ok and r.library_ok for r in receiver.received)
    assert sorted(receiver.ids()) == sorted(message_id("mss-haiti", d) for d in
                                            (MON_1, MON_8, MON_15))  # fmt: skip
    week_8 = next(r for r in receiver.received if r.id == message_id("mss-haiti", MON_8))
    # computed on the Wednesday, it is still the report as known on the Monday
    assert week_8.json["data"]["report"]["strength"]["to"]["deployed"] == 225
    assert week_8.json["data"]["known_at"] == "2024-07-08T00:00:00.000000Z"


def test_several_missed_weeks_are_delivered_oldest_first_at_most_eight(
    store: EventStore, clock: Clock, closing: list[Any]
) -> None:
    _history(store, clock)
    weekly = _weekly(store, "http://127.0.0.1:9/hook", closing=closing)
    assert weekly.run(MON_1) == [message_id("mss-haiti", MON_1)]
    back = date(2024, 10, 2)  # a Wednesday 13 weeks later
    queued = weekly.run(back)
    days = [date(2024, 9, 30) - timedelta(weeks=n) for n in range(CATCH_UP)][::-1]
    assert queued == [message_id("mss-haiti", d) for d in days]
    assert [day for _, day, _ in _queued(store)] == [MON_1, *days]


def test_which_missions_get_a_report(store: EventStore, clock: Clock, closing: list[Any]) -> None:
    gone, ending, late = "old-force", "ends-force", "new-force"
    clock.now = datetime(2024, 6, 26, 9, tzinfo=UTC)
    for mission in ("mss-haiti", gone, ending):
        append(store, registered(mission=mission), authorized(mission=mission))
    clock.now = datetime(2024, 6, 29, 9, tzinfo=UTC)
    append(store, body("MandateEnded", "2024-06-28", {"reason": "succeeded"}, mission=gone))
    clock.now = datetime(2024, 7, 5, 9, tzinfo=UTC)
    append(store, body("MandateEnded", "2024-07-03", {"reason": "succeeded"}, mission=ending))
    clock.now = datetime(2024, 7, 9, 10, tzinfo=UTC)  # after Monday 8 July began
    append(store, registered(mission=late))
    weekly = _weekly(store, "http://127.0.0.1:9/hook", closing=closing)
    weekly.run(WED_10)
    # ended before the week (28 June <= 30 June): none; ended in the week: that last one;
    # not yet registered as known at the report's known_at: none
    assert [(m, d) for m, d, _ in _queued(store)] == [("ends-force", MON_8), ("mss-haiti", MON_8)]
    weekly.run(MON_15)
    assert [(m, d) for m, d, _ in _queued(store)] == [
        ("ends-force", MON_8), ("mss-haiti", MON_8), ("mss-haiti", MON_15), ("new-force", MON_15),
    ]  # fmt: skip


def test_racing_passes_queue_each_report_once(
    database_url: str, store: EventStore, clock: Clock, closing: list[Any], monkeypatch: Any
) -> None:
    _history(store, clock, "gsf-haiti")
    # Both passes skip the cheap look and go to the insert: only the primary key can decide.
    monkeypatch.setattr(WeeklyReports, "_is_queued", lambda self, mission, day: False)
    with receiving(delay=0.02) as receiver:
        passes = []
        for _ in range(3):
            own = open_store(make_settings(database_url), clock=Clock(clock.now))
            closing.append(own)
            passes.append(_weekly(own, receiver.url, closing=closing))
        for today in (MON_1, WED_10, MON_15):
            queued = _race(passes, today)
            day = newest_report_day(today, MONDAY)
            assert sorted(queued) == sorted(message_id(m, day) for m in ("gsf-haiti", "mss-haiti"))
    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == 6
    assert len(_queued(store)) == 6
    assert len(_outbox(store)) == 6
    assert all(r.signature_ok and r.library_ok for r in receiver.received)


def _race(passes: list[WeeklyReports], today: date) -> list[str]:
    """Run the pass of ``today`` in every one of ``passes`` at once, each then delivering what
    is due; returns the message ids queued, all passes together."""
    barrier = threading.Barrier(len(passes))
    results: list[list[str]] = []
    failures: list[BaseException] = []

    def run(weekly: WeeklyReports) -> None:
        try:
            barrier.wait()
            results.append(weekly.run(today))
            while weekly.dispatcher.run_once():
                pass
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in passes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    return [msg_id for result in results for msg_id in result]


def test_report_rows_leave_the_alerts_listing_as_it_was(
    store: EventStore, clock: Clock, closing: list[Any]
) -> None:
    _history(store, clock)
    [flag] = check_deadlines(store, Projector(store), date(2024, 7, 4), THRESHOLDS)
    with receiving() as receiver:
        weekly = _weekly(store, receiver.url, closing=closing)
        weekly.dispatcher.enqueue()
        weekly.run(WED_10)
        weekly.dispatcher.run_once()
    listing = alerts.listing(store)
    assert [a["id"] for a in listing] == [flag.id]
    assert [(d["state"], d["attempts"]) for d in listing[0]["deliveries"]] == [("delivered", 1)]
    assert sorted(receiver.ids()) == sorted([flag.id, message_id("mss-haiti", MON_8)])


# --- the scheduler ----------------------------------------------------------------------------


def _wait_for(condition: Any, timeout: float = 20.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_the_scheduler_runs_the_weekly_job_only_with_a_weekday_and_webhooks(
    store: EventStore,
) -> None:
    projector = Projector(store)
    hooks = {"webhook_urls": ["http://127.0.0.1:9/hook"], "webhook_secret": SECRET}
    on = AlertScheduler(store, projector, make_settings("sqlite://", report_weekday="Monday",
                                                        **hooks))  # fmt: skip
    off = AlertScheduler(store, projector, make_settings("sqlite://", report_weekday="monday"))
    unset = AlertScheduler(store, projector, make_settings("sqlite://", **hooks))
    try:
        assert on.weekly is not None and on.weekly.weekday == MONDAY
        assert off.weekly is None and off.report_weekly() == []
        assert unset.weekly is None
    finally:
        for scheduler in (on, off, unset):
            scheduler.shutdown()


async def test_the_lifespan_delivers_the_week_missed_at_start_up(database_url: str) -> None:
    # The injected clock says Wednesday 10 July 2024, 06:00: Monday's report is due.
    clock = Clock(datetime(2024, 7, 10, 6, tzinfo=UTC))
    with receiving() as receiver:
        settings = make_settings(
            database_url, scheduler_enabled=True, webhook_urls=[receiver.url],
            webhook_secret=SECRET, report_weekday="monday",
        )  # fmt: skip
        app = create_app(settings, clock=clock)
        store: EventStore = app.state.store
        _history(store, clock)
        clock.now = datetime(2024, 7, 10, 6, tzinfo=UTC)
        async with app.router.lifespan_context(app):
            scheduler: AlertScheduler = app.state.alert_scheduler
            jobs = {job.id: job for job in scheduler._scheduler.get_jobs()}
            assert set(jobs) == {"deadline-check", "weekly-report", "webhook-delivery"}
            job = jobs["weekly-report"]
            assert (job.coalesce, job.max_instances) == (True, 1)
            assert job.trigger.interval.total_seconds() == settings.alert_interval_seconds
            _wait_for(lambda: _weeks(receiver), what="the weekly report")
    assert _weeks(receiver) == [("mss-haiti", "2024-06-30", "2024-07-07")]
    [got] = [r for r in receiver.received if r.json["type"] == "report.weekly"]
    assert got.signature_ok and got.id == message_id("mss-haiti", MON_8)


# --- two real `sitrep serve` instances, restarted across the delivery day ----------------------

SITREP = Path(sys.executable).with_name("sitrep")
#: Run by the served interpreters before anything else (``PYTHONPATH``): moves the clock the
#: server's store and scheduler are built with (``events.store.utcnow``) by a whole number of
#: seconds, as a ``faketime`` would, so that "today" is a day the test chooses.
SHIFTED_CLOCK = """\
import os
from datetime import timedelta

import events.store

_shift = timedelta(seconds=float(os.environ["SITREP_TEST_CLOCK_SHIFT_SECONDS"]))
_real = events.store.utcnow
events.store.utcnow = lambda: _real() + _shift
"""


class Instance:
    """One ``sitrep serve`` process whose clock is moved to ``now``."""

    def __init__(self, url: str, receiver: Receiver, now: datetime, cwd: Path, name: str) -> None:
        hook = cwd / "clock"
        hook.mkdir(exist_ok=True)
        (hook / "sitecustomize.py").write_text(SHIFTED_CLOCK)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
        env.update(
            SITREP_DATABASE_URL=url,
            SITREP_WEBHOOK_URLS=receiver.url,
            SITREP_WEBHOOK_SECRET=SECRET,
            SITREP_REPORT_WEEKDAY="Monday",
            SITREP_TEST_CLOCK_SHIFT_SECONDS=str(int((now - datetime.now(UTC)).total_seconds())),
            PYTHONPATH=str(hook),
        )
        self.port = free_port()
        self.log = cwd / f"{name}.log"
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(SITREP), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_healthy(self) -> None:
        wait_until_healthy(self.process, f"http://127.0.0.1:{self.port}", self.output,
                           what="sitrep serve", timeout=30)  # fmt: skip

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        assert "Traceback" not in self.output(), self.output()


def _verified_with_the_library(got: Received) -> bool:
    """The signature checked by the ``standardwebhooks`` package: its ``verify`` also refuses a
    timestamp minutes off the real clock, which the moved clock is, so its ``sign`` is used."""
    at = datetime.fromtimestamp(int(got.headers["webhook-timestamp"]), UTC)
    expected = Webhook(SECRET).sign(got.id, at, got.raw.decode())
    return expected in got.headers["webhook-signature"].split(" ")


def test_two_instances_restarted_across_the_report_day_deliver_each_week_once(
    database_url: str, tmp_path: Path
) -> None:
    assert SITREP.exists(), f"no sitrep console script next to {sys.executable}"
    seeding = open_store(make_settings(database_url))  # recorded on the real clock, now
    try:
        append(seeding, registered(), authorized(expires_on="2099-10-02"), arrived(200),
               recorded_by="mission-office")  # fmt: skip
    finally:
        seeding.close()
    real = datetime.now(UTC).date()
    # A Monday at least eight days ahead, so every week reported was known by its report day.
    monday = real + timedelta(days=8 + (MONDAY - (real + timedelta(days=8)).weekday()) % 7)
    sunday_before, wednesday_after, next_monday = (
        monday - timedelta(days=1), monday + timedelta(days=2), monday + timedelta(days=7),
    )  # fmt: skip

    def at(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=9)

    def phase(day: date, receiver: Receiver, expected: int, names: tuple[str, ...]) -> None:
        """Start instances ``names`` together on ``day``, wait for ``expected`` reports in all,
        give everyone time for a duplicate to show, stop them."""
        instances = [Instance(database_url, receiver, at(day), tmp_path, n) for n in names]
        try:
            for instance in instances:
                instance.wait_healthy()
            _wait_for(lambda: len(_weeks(receiver)) >= expected, what=f"{expected} reports")
            time.sleep(2)  # each instance's start-up pass has run and delivered by now
            assert len(_weeks(receiver)) == expected
        finally:
            for instance in instances:
                instance.stop()

    with receiving() as receiver:
        # Sunday: both start on a fresh install: the newest week only, once.
        phase(sunday_before, receiver, 1, ("a", "b"))
        # Down on Monday; both back on Wednesday: Monday's report comes, once.
        phase(wednesday_after, receiver, 2, ("a", "b"))
        # A restart later that Wednesday: nothing new.
        phase(wednesday_after, receiver, 2, ("a",))
        # Next Monday, both up: that week's report, once.
        phase(next_monday, receiver, 3, ("b", "a"))
    weeks = [sunday_before - timedelta(days=6), monday, next_monday]
    assert _weeks(receiver) == [
        ("mss-haiti", (d - timedelta(days=8)).isoformat(), (d - timedelta(days=1)).isoformat())
        for d in weeks
    ]
    reports_got = [r for r in receiver.received if r.json["type"] == "report.weekly"]
    assert [r.id for r in reports_got] == [message_id("mss-haiti", d) for d in weeks]
    for got in reports_got:
        assert got.signature_ok, got.headers
        assert _verified_with_the_library(got), got.headers
        assert got.json["data"]["report"]["strength"]["to"]["deployed"] == 200
    assert all(r.json["type"] == "report.weekly" for r in receiver.received)


def test_a_cron_pass_queues_and_delivers_the_weekly_report(
    database_url: str, store: EventStore, clock: Clock
) -> None:
    """With the scheduler off, ``sitrep deadlines check`` (from cron) sends the weekly reports."""
    from typer.testing import CliRunner

    from sitrep.cli import app

    _history(store, clock)
    with receiving() as receiver:
        env = {
            "SITREP_DATABASE_URL": database_url, "SITREP_SCHEDULER_ENABLED": "false",
            "SITREP_WEBHOOK_URLS": receiver.url, "SITREP_WEBHOOK_SECRET": SECRET,
            "SITREP_REPORT_WEEKDAY": "monday",
        }  # fmt: skip
        runner = CliRunner()
        first = runner.invoke(app, ["deadlines", "check", "--today", "2024-07-10"], env=env)
        assert first.exit_code == 0, first.output
        (line,) = [x for x in first.stdout.splitlines() if x.startswith("queued a weekly")]
        assert message_id("mss-haiti", date(2024, 7, 8)) in line
        again = runner.invoke(app, ["deadlines", "check", "--today", "2024-07-11"], env=env)
        assert "queued a weekly" not in again.stdout
        reports_sent = [r for r in receiver.received if r.json["type"] == "report.weekly"]
        assert [r.json["data"]["to"] for r in reports_sent] == ["2024-07-07"]
        assert all(r.signature_ok for r in reports_sent)
