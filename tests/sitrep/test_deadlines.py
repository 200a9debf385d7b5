"""The deadline rule of CONTRACT §7, one pass at a time, and passes running at the same moment."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from events.store import EventStore
from projections.runner import Projector
from sitrep import deadlines
from sitrep.database import open_store
from sitrep.deadlines import RECORDED_BY, check_deadlines, threshold_reached
from tests.alerting import THRESHOLDS, completed, ended, flag_key, renewed, review
from tests.conftest import Clock, append, authorized, body, make_settings, registered

SITREP = Path(sys.executable).with_name("sitrep")
MSS = "mss-haiti"
GSF = "gsf-haiti"
R2699, R2751 = "S/RES/2699 (2023)", "S/RES/2751 (2024)"

# (day checked, events recorded before the check, the flags that check appends)
# Thresholds 90, 60, 30, 14, 7, 1. S/RES/2699 expires 2024-10-02; S/RES/2751 renews it to
# 2025-10-02. Review sg-1 is due 2024-07-15 (completed on 2024-07-12), sg-2 2024-09-15 (never).
MSS_TIMELINE: list[tuple[str, list[Any], set[tuple[Any, ...]]]] = [
    ("2024-06-01", [review("sg-1", "2024-07-15", "2024-06-01"),
                    review("sg-2", "2024-09-15", "2024-06-01")],
     # 123 days to expiry: beyond every threshold. sg-1 is 44 days away: the 60 is reached.
     {(MSS, "review_due", "sg-1", "2024-07-15", 60, 44)}),
    ("2024-07-04", [],
     {(MSS, "mandate_expiry", R2699, "2024-10-02", 90, 90),
      # scheduled late for the 30: 11 days away, only the 14 is flagged, never the 30 late
      (MSS, "review_due", "sg-1", "2024-07-15", 14, 11),
      (MSS, "review_due", "sg-2", "2024-09-15", 90, 73)}),
    # the next day every deadline still stands at a threshold already flagged
    ("2024-07-05", [], set()),
    # sg-1 completed before its due date: never flagged again, not even once it has passed
    ("2024-07-16", [completed("sg-1", "2024-07-12")], set()),
    # nothing checked for six weeks: the 60 is the smallest threshold reached at 31 days
    ("2024-09-01", [],
     {(MSS, "mandate_expiry", R2699, "2024-10-02", 60, 31),
      (MSS, "review_due", "sg-2", "2024-09-15", 14, 14)}),
    # a gap over the 30: only the 14 is flagged; sg-2 has passed uncompleted: a single 0
    ("2024-09-20", [],
     {(MSS, "mandate_expiry", R2699, "2024-10-02", 14, 12),
      (MSS, "review_due", "sg-2", "2024-09-15", 0, -5)}),
    ("2024-09-21", [], set()),
    # the renewal moves the due date: 367 days away, nothing yet
    ("2024-09-30", [renewed()], set()),
    # the old expiry passes covered by the renewal: no lapse
    ("2024-10-03", [], set()),
    # the thresholds start again for the new due date
    ("2025-07-04", [], {(MSS, "mandate_expiry", R2751, "2025-10-02", 90, 90)}),
    # the last day of the mandate: 0 days remaining has reached the 1
    ("2025-10-02", [], {(MSS, "mandate_expiry", R2751, "2025-10-02", 1, 0)}),
    # lapsed with no renewal: one 0 flag, once
    ("2025-10-03", [], {(MSS, "mandate_expiry", R2751, "2025-10-02", 0, -1)}),
    ("2025-10-04", [], set()),
    ("2025-11-30", [], set()),
]  # fmt: skip


def _check(store: EventStore, day: str, thresholds: list[int] = THRESHOLDS) -> list[Any]:
    return check_deadlines(store, Projector(store), date.fromisoformat(day), thresholds)


def test_threshold_reached_is_the_smallest_threshold_at_or_above_the_days_left() -> None:
    assert threshold_reached(91, THRESHOLDS) is None
    assert threshold_reached(90, THRESHOLDS) == 90
    assert threshold_reached(31, THRESHOLDS) == 60
    assert threshold_reached(30, THRESHOLDS) == 30
    assert threshold_reached(1, THRESHOLDS) == 1
    assert threshold_reached(0, THRESHOLDS) == 1
    assert threshold_reached(-1, THRESHOLDS) == 0
    assert threshold_reached(-400, THRESHOLDS) == 0
    assert threshold_reached(5, []) is None


def test_mss_timeline_flags_each_threshold_once(store: EventStore) -> None:
    append(store, registered(), authorized(), recorded_by="mission-office")
    every: list[Any] = []
    for day, events, expected in MSS_TIMELINE:
        for event in events:
            append(store, event, recorded_by="mission-office")
        flags = _check(store, day)
        assert {flag_key(f) for f in flags} == expected, day
        assert len(flags) == len(expected), day
        for flag in flags:
            assert flag.type == "DeadlineFlagged"
            assert flag.stream == f"alerts:{MSS}"
            assert flag.occurred_on == date.fromisoformat(day)
            assert flag.recorded_by == RECORDED_BY
        every.extend(flags)
    stored = list(store.read(type="DeadlineFlagged", limit=1000).events)
    assert [e.id for e in stored] == [e.id for e in every]
    # the whole timeline again changes nothing: every threshold is flagged already
    for day, _, _ in MSS_TIMELINE:
        assert _check(store, day) == [], day


def test_an_ended_mandate_is_not_flagged(store: EventStore) -> None:
    gsf = {"mission": GSF}
    append(
        store,
        registered(**gsf),
        body("MandateAuthorized", "2025-09-30",
             {"resolution": "S/RES/2793 (2025)", "expires_on": "2026-10-01"}, **gsf),
        review("gsf-final", "2026-07-15", "2025-10-01", **gsf),
        recorded_by="mission-office",
    )  # fmt: skip
    assert _check(store, "2026-04-01") == []
    append(store, ended("2026-06-30", **gsf), recorded_by="mission-office")
    # 90 days before the expiry, but the mandate has ended; the review is still owed
    assert {flag_key(f) for f in _check(store, "2026-07-03")} == {
        (GSF, "review_due", "gsf-final", "2026-07-15", 14, 12)
    }
    # past the expiry: no lapse for an ended mandate, a single 0 for the overdue review
    assert {flag_key(f) for f in _check(store, "2026-10-05")} == {
        (GSF, "review_due", "gsf-final", "2026-07-15", 0, -82)
    }


def test_missions_are_checked_apart_and_thresholds_are_configurable(store: EventStore) -> None:
    append(store, registered(), authorized(), recorded_by="mission-office")
    append(
        store,
        registered(mission="other-force"),
        authorized(expires_on="2024-08-01", mission="other-force"),
        recorded_by="mission-office",
    )
    flags = _check(store, "2024-07-15", [30, 7])
    assert {flag_key(f) for f in flags} == {
        ("other-force", "mandate_expiry", R2699, "2024-08-01", 30, 17)
    }
    assert {flag_key(f) for f in _check(store, "2024-09-25", [30, 7])} == {
        (MSS, "mandate_expiry", R2699, "2024-10-02", 7, 7),
        ("other-force", "mandate_expiry", R2699, "2024-08-01", 0, -55),
    }


def test_a_pending_mandate_and_a_mission_without_one_are_not_flagged(store: EventStore) -> None:
    append(store, registered(), recorded_by="mission-office")
    # authorized later than the day checked: pending on that day
    append(store, authorized(occurred_on="2024-09-01"), recorded_by="mission-office")
    assert _check(store, "2024-08-01") == []
    append(store, registered(mission="no-mandate"), recorded_by="mission-office")
    assert {flag_key(f) for f in _check(store, "2024-09-01")} == {
        (MSS, "mandate_expiry", R2699, "2024-10-02", 60, 31)
    }


def test_a_retracted_flag_may_be_raised_again(store: EventStore) -> None:
    append(store, registered(), authorized(), recorded_by="mission-office")
    [flag] = _check(store, "2024-07-04")
    append(
        store,
        body("EventRetracted", "2024-07-05", {"event_id": flag.id, "reason": "sent in error"}),
        recorded_by=RECORDED_BY,
    )
    # a retracted flag does not count (as in the store's flag-once rule): the next pass
    # raises it again with that day's figures
    assert {flag_key(f) for f in _check(store, "2024-07-05")} == {
        (MSS, "mandate_expiry", R2699, "2024-10-02", 90, 89)
    }


# --- passes at the same moment -------------------------------------------------------------


def _seed(store: EventStore) -> None:
    append(store, registered(), authorized(), recorded_by="mission-office")
    append(
        store,
        *[review(f"r-{n}", f"2024-07-{n}", "2024-06-01") for n in (10, 11, 13, 14, 15, 16, 17, 18)],
        recorded_by="mission-office",
    )


# 2024-07-04: the mandate at 90 days, and eight reviews 6 to 14 days away (the 7 or the 14);
# none of them 8 days away, which would reach the 7 on the 5th
EXPECTED_ON_0704 = 9


def _assert_flagged_once(store: EventStore) -> None:
    stored = list(store.read(type="DeadlineFlagged", limit=1000).events)
    keys = Counter(flag_key(e)[:5] for e in stored)
    assert len(stored) == EXPECTED_ON_0704
    assert all(count == 1 for count in keys.values()), keys


def _gated(barrier: Any) -> Any:
    """``_flagged`` that waits, once it has read the flags, until every pass has read them:
    so every pass decides to flag everything and they all race to append the same flags."""
    read_flags = deadlines._flagged

    def gated(store: EventStore, mission: str) -> set[tuple[Any, ...]]:
        found = read_flags(store, mission)
        barrier.wait(60)
        return found

    return gated


def test_threads_running_a_pass_at_once_flag_once(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(database_url)
    stores = [open_store(settings, clock=Clock()) for _ in range(4)]
    try:
        _seed(stores[0])
        monkeypatch.setattr(deadlines, "_flagged", _gated(threading.Barrier(len(stores))))
        results: list[list[Any]] = [[] for _ in stores]
        failures: list[BaseException] = []

        def run(index: int) -> None:
            try:
                results[index] = check_deadlines(
                    stores[index], Projector(stores[index]), date(2024, 7, 4), THRESHOLDS
                )
            except BaseException as exc:  # reported below
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(stores))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
        assert sum(len(r) for r in results) == EXPECTED_ON_0704
        _assert_flagged_once(stores[0])
    finally:
        for store in stores:
            store.close()


def _process_pass(url: str, barrier: Any, queue: Any, today: str) -> None:
    deadlines._flagged = _gated(barrier)
    store = open_store(make_settings(url))
    try:
        flags = check_deadlines(store, Projector(store), date.fromisoformat(today), THRESHOLDS)
        queue.put([f.id for f in flags])
    except BaseException as exc:
        queue.put(f"{type(exc).__name__}: {exc}")
    finally:
        store.close()


# Passes of one day replay each other's flags (same idempotency key); a pass of the next day
# (another instance just past midnight) is refused by the store's flag-once rule.
@pytest.mark.parametrize("days", [["2024-07-04"] * 3, ["2024-07-04", "2024-07-04", "2024-07-05"]])
def test_processes_running_a_pass_at_once_flag_once(
    database_url: str, store: EventStore, days: list[str]
) -> None:
    _seed(store)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(days))
    queue = context.Queue()
    processes = [
        context.Process(target=_process_pass, args=(database_url, barrier, queue, day))
        for day in days
    ]
    for process in processes:
        process.start()
    answers = [queue.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    assert all(isinstance(a, list) for a in answers), answers
    ids = [i for a in answers for i in a]
    assert len(ids) == len(set(ids))
    stored = list(store.read(type="DeadlineFlagged", limit=1000).events)
    assert sorted(ids) == sorted(e.id for e in stored)
    # on the 5th every deadline stands at the same threshold as on the 4th
    keys = Counter(flag_key(e)[:5] for e in stored)
    assert len(stored) == EXPECTED_ON_0704
    assert all(count == 1 for count in keys.values()), keys


def _cli_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    env["SITREP_DATABASE_URL"] = url
    return env


def test_two_cli_passes_at_once_flag_once(
    database_url: str, store: EventStore, tmp_path: Path
) -> None:
    _seed(store)
    command = [str(SITREP), "deadlines", "check", "--today", "2024-07-04"]
    runs = [
        subprocess.Popen(
            command, env=_cli_env(database_url), cwd=tmp_path, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]  # fmt: skip
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    lines = [line for out, _ in outputs for line in out.splitlines()]
    assert len(lines) == EXPECTED_ON_0704, outputs
    assert all(line.startswith("flagged mss-haiti ") for line in lines)
    assert len(set(lines)) == len(lines)
    for _, err in outputs:
        assert "no webhooks configured" in err
    _assert_flagged_once(store)


@pytest.mark.parametrize("today", ["2024-7-4", "yesterday", "2024-02-30"])
def test_cli_refuses_a_day_that_is_not_a_date(tmp_path: Path, today: str) -> None:
    from typer.testing import CliRunner

    from sitrep.cli import app

    url = f"sqlite:///{tmp_path}/s.db"
    result = CliRunner().invoke(
        app, ["deadlines", "check", "--today", today], env={"SITREP_DATABASE_URL": url}
    )
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output
