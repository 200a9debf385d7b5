"""Load and fault tests, short forms (issue 7; the long forms are ``make bench``).

Real ``sitrep serve`` processes on loopback, 32 concurrent retrying clients, audited from the
outside by :func:`bench.faults.audit`: no acknowledged event lost, none duplicated, every
position seen once by a tailing reader, read models equal to a fold of the events before and
after a rebuild.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench import faults
from tests.conftest import need_postgres

pytestmark = pytest.mark.slow
CLIENTS = 32


def _sound(report: faults.Report) -> None:
    faults.print_reports([report])  # shown by pytest when the test fails
    assert report.problems == []
    assert report.lost == 0 and report.duplicated == 0 and report.unresolved == 0
    assert report.positions_ok and report.versions_ok and report.tail_ok
    assert report.read_models_ok and report.rebuild_ok and report.chain_ok
    assert report.replays_same > 0


def test_two_instances_on_postgresql_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    need_postgres()
    report = faults.scale_out(faults.QUICK["scale_out"], CLIENTS, tmp_path)
    _sound(report)
    assert report.events >= faults.QUICK["scale_out"] * 0.8  # the rest: 409s asked for
    assert report.conflicts > 0  # expected_version was exercised across instances
    assert report.flags == 2  # three schedulers racing, each deadline flagged once


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_under_load_loses_no_acknowledged_event(backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        need_postgres()
    report = faults.kill_nine(faults.QUICK["kill"], CLIENTS, tmp_path, backend)
    _sound(report)
    assert 0 < report.fault["acked_before_kill"] < report.events
    assert report.fault["no_answer_attempts"] > 0  # the kill was felt by the clients


def test_database_restart_gives_503s_then_recovers(tmp_path: Path) -> None:
    need_postgres()
    if faults.find_postgres_bindir() is None:
        message = "no PostgreSQL server binaries to run a private cluster"
        if os.environ.get("SITREP_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    report = faults.database_restart(
        faults.QUICK["restart"], CLIENTS, tmp_path, faults.QUICK["outage"]
    )
    _sound(report)
    assert report.fault["503_during"] > 0
    assert report.fault["slowest_answer_during_s"] < faults.HANG
    assert report.fault["readyz_503_seen"] and report.fault["readyz_200_after_s"] is not None
