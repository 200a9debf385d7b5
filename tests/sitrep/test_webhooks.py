"""Webhook delivery of flags (CONTRACT §7) to real HTTP receivers on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from events.store import EventStore
from projections.alerts import public_url, webhook_deliveries
from projections.runner import Projector
from sitrep.cli import app
from sitrep.database import open_store
from sitrep.deadlines import check_deadlines
from sitrep.webhooks import Dispatcher, payload, signed_headers
from tests.alerting import SECRET, THRESHOLDS, Receiver, expected_signature, receiving, review
from tests.conftest import Clock, append, authorized, make_settings, registered
from tests.processes import free_port


@pytest.fixture
def clock() -> Clock:
    # Near the real time, so the receiver's Standard Webhooks library accepts the timestamps.
    return Clock(datetime.now(UTC))


@pytest.fixture
def flagged(store: EventStore) -> list[Any]:
    """The MSS mandate and a review, checked on 2024-07-04: two flags."""
    append(store, registered(), authorized(), review("sg-1", "2024-07-15", "2024-06-01"),
           recorded_by="mission-office")  # fmt: skip
    flags = check_deadlines(store, Projector(store), date(2024, 7, 4), THRESHOLDS)
    assert len(flags) == 2
    return flags


def dispatcher(store: EventStore, *urls: str, **options: Any) -> Dispatcher:
    options.setdefault("clock", store.clock)
    options.setdefault("backoff_base", timedelta(0))  # retries are due at once
    return Dispatcher(store, list(urls), SECRET, **options)


@pytest.fixture
def closing() -> Iterator[list[Any]]:
    """Things to close after the test (dispatchers, stores)."""
    things: list[Any] = []
    yield things
    for thing in reversed(things):
        if isinstance(thing, EventStore):
            thing.close()
        else:
            thing.close()


def rows(store: EventStore) -> list[Any]:
    d = webhook_deliveries
    with store.engine.connect() as conn:
        return list(conn.execute(select(d).order_by(d.c.event_id, d.c.url)).all())


def test_each_flag_reaches_every_webhook_signed(
    store: EventStore, flagged: list[Any], closing: list[Any]
) -> None:
    with receiving() as first, receiving() as second:
        sender = dispatcher(store, first.url, second.url)
        closing.append(sender)
        attempts = sender.run_once()
        assert Counter(a.state for a in attempts) == {"delivered": 4}
        assert sender.run_once() == []  # delivered once, never again
        for receiver in (first, second):
            assert sorted(receiver.ids()) == sorted(f.id for f in flagged)
            for got in receiver.received:
                assert got.signature_ok and got.library_ok
                assert got.headers["content-type"] == "application/json"
                assert abs(int(got.headers["webhook-timestamp"]) - store.clock().timestamp()) < 5
    by_id = {r.id: r for r in first.received}
    mandate = next(f for f in flagged if f.data["deadline"] == "mandate_expiry")
    assert by_id[mandate.id].json == {
        "type": "deadline.flagged",
        "timestamp": by_id[mandate.id].json["data"]["recorded_at"],
        "data": {
            "event_id": mandate.id,
            "mission": "mss-haiti",
            "deadline": "mandate_expiry",
            "due_on": "2024-10-02",
            "days_remaining": 90,
            "threshold_days": 90,
            "resolution": "S/RES/2699 (2023)",
            "review_id": None,
            "occurred_on": "2024-07-04",
            "recorded_at": by_id[mandate.id].json["data"]["recorded_at"],
            "summary": "The mandate of mss-haiti (S/RES/2699 (2023)) expires on 2024-10-02: "
            "90 days left.",
        },
    }
    assert all(r.state == "delivered" and r.attempts == 1 for r in rows(store))


def test_signature_matches_the_standard_webhooks_example() -> None:
    # The example of the Standard Webhooks specification's reference implementations.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = '{"test": 2432232314}'
    at = datetime.fromtimestamp(1614265330, UTC)
    headers = signed_headers(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, body)
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }
    assert headers["webhook-signature"] == "v1," + expected_signature(
        secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body.encode()
    )


def test_a_receiver_down_then_up_gets_each_alert_once_after_a_restart(
    database_url: str, store: EventStore, flagged: list[Any], closing: list[Any]
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/sitrep"
    before = dispatcher(store, url)
    closing.append(before)
    attempts = before.run_once()
    assert [a.state for a in attempts] == ["pending", "pending"]
    assert all(a.error and a.error.startswith("ConnectError") for a in attempts)
    assert before.pending() == 2
    # meanwhile another instance flags another deadline
    other = open_store(make_settings(database_url), clock=Clock(datetime.now(UTC)))
    closing.append(other)
    later = check_deadlines(other, Projector(other), date(2024, 9, 1), THRESHOLDS)
    assert len(later) == 2  # the 60 of the mandate, the 0 of the overdue review
    before.close()
    store.close()

    # a restart: new store, new dispatcher; the receiver is up now
    restarted = open_store(make_settings(database_url), clock=Clock(datetime.now(UTC)))
    closing.append(restarted)
    with receiving(port=port) as receiver:
        after = dispatcher(restarted, url)
        closing.append(after)
        attempts = after.run_once()
        assert Counter(a.state for a in attempts) == {"delivered": 4}
        assert after.run_once() == []
        ids = receiver.ids()
    assert sorted(ids) == sorted(f.id for f in flagged + later)
    assert all(r.signature_ok for r in receiver.received)
    attempts_by_id = {r.event_id: r.attempts for r in rows(restarted)}
    assert attempts_by_id == {
        **{f.id: 2 for f in flagged},  # refused once, then delivered
        **{f.id: 1 for f in later},
    }


def test_retries_keep_the_webhook_id_and_sign_each_attempt(
    store: EventStore, flagged: list[Any], closing: list[Any]
) -> None:
    with receiving(answers=[503, 500], default=200) as receiver:
        sender = dispatcher(store, receiver.url)
        closing.append(sender)
        first = sender.run_once()
        assert Counter(a.state for a in first) == {"pending": 2}
        assert {a.error for a in first} == {"HTTP 503", "HTTP 500"}
        assert Counter(a.state for a in sender.run_once()) == {"delivered": 2}
    assert Counter(receiver.ids()) == Counter({f.id: 2 for f in flagged})
    assert all(r.signature_ok for r in receiver.received)
    assert [(r.state, r.attempts, r.last_error) for r in rows(store)] == [
        ("delivered", 2, None),
        ("delivered", 2, None),
    ]


def test_failed_attempts_back_off_with_jitter_then_give_up(
    store: EventStore, flagged: list[Any], clock: Clock, closing: list[Any]
) -> None:
    with receiving(default=500) as receiver:
        sender = dispatcher(
            store, receiver.url, backoff_base=timedelta(seconds=10), max_attempts=3,
            jitter=lambda: 1.0,
        )  # fmt: skip
        closing.append(sender)
        assert len(sender.run_once()) == 2
        assert sender.run_once() == []  # not due yet
        clock.advance(seconds=9)
        assert sender.run_once() == []
        clock.advance(seconds=2)
        assert [a.attempts for a in sender.run_once()] == [2, 2]
        clock.advance(seconds=15)
        assert sender.run_once() == []  # the second wait is 20 s
        clock.advance(seconds=6)
        assert {(a.state, a.attempts) for a in sender.run_once()} == {("failed", 3)}
        clock.advance(days=1)
        assert sender.run_once() == []
        assert sender.pending() == 0
    assert len(receiver.received) == 6
    assert {(r.state, r.last_error) for r in rows(store)} == {("failed", "HTTP 500")}


def test_backoff_doubles_up_to_the_cap_with_jitter(store: EventStore) -> None:
    sender = Dispatcher(store, ["http://127.0.0.1:9/x"], SECRET, jitter=lambda: 0.0)
    try:
        waits = [sender.backoff(n).total_seconds() for n in range(1, 11)]
        assert waits == [15, 30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
        sender.jitter = lambda: 1.0
        assert sender.backoff(1) == timedelta(seconds=30)
    finally:
        sender.close()


def test_two_dispatchers_never_send_one_delivery_at_once(
    database_url: str, store: EventStore, closing: list[Any]
) -> None:
    append(store, registered(), authorized(), recorded_by="mission-office")
    append(store, *[review(f"r-{n}", "2024-07-20", "2024-06-01") for n in range(7)],
           recorded_by="mission-office")  # fmt: skip
    assert len(check_deadlines(store, Projector(store), date(2024, 7, 4), THRESHOLDS)) == 8
    with receiving(delay=0.05) as receiver:
        senders = []
        for _ in range(3):
            own = open_store(make_settings(database_url), clock=Clock(datetime.now(UTC)))
            closing.append(own)
            senders.append(dispatcher(own, receiver.url, batch_size=1))
            closing.append(senders[-1])
        barrier = threading.Barrier(len(senders))
        failures: list[BaseException] = []
        results: list[Any] = []

        def run(sender: Dispatcher) -> None:
            try:
                barrier.wait()
                while attempts := sender.run_once():
                    results.extend(attempts)
            except BaseException as exc:
                failures.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in senders]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert failures == []
    assert len(receiver.ids()) == 8
    assert len(set(receiver.ids())) == 8
    assert len(results) == 8
    assert all(r.state == "delivered" and r.attempts == 1 for r in rows(store))


def test_a_lease_of_a_crashed_dispatcher_runs_out(
    store: EventStore, flagged: list[Any], clock: Clock, closing: list[Any]
) -> None:
    with receiving() as receiver:
        crashed = dispatcher(store, receiver.url)
        closing.append(crashed)
        crashed.enqueue()
        assert len(crashed._claim(10)) == 2  # and then the process dies before sending
        survivor = dispatcher(store, receiver.url)
        closing.append(survivor)
        assert survivor.run_once() == []
        clock.advance(seconds=61)
        assert Counter(a.state for a in survivor.run_once()) == {"delivered": 2}
    assert sorted(receiver.ids()) == sorted(f.id for f in flagged)


def test_the_outbox_survives_a_rebuild(
    store: EventStore, flagged: list[Any], closing: list[Any]
) -> None:
    with receiving() as receiver:
        sender = dispatcher(store, receiver.url)
        closing.append(sender)
        assert len(sender.run_once()) == 2
        Projector(store).rebuild()
        assert sender.run_once() == []
        assert len(rows(store)) == 2
    assert len(receiver.received) == 2


def test_a_removed_url_is_no_longer_sent_to(
    store: EventStore, flagged: list[Any], closing: list[Any]
) -> None:
    port = free_port()
    gone = f"http://127.0.0.1:{port}/old"
    first = dispatcher(store, gone)
    closing.append(first)
    first.run_once()
    with receiving() as receiver:
        second = dispatcher(store, receiver.url)
        closing.append(second)
        second.run_once()
        # flags queued before the URL was configured are not sent to it; new ones are
        assert receiver.received == []
        check_deadlines(store, Projector(store), date(2024, 9, 1), THRESHOLDS)
        assert len(second.run_once()) == 2
        assert second.pending() == 0
    assert first.pending() == 2


def test_no_secret_or_url_token_in_logs_or_errors(
    store: EventStore, flagged: list[Any], closing: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    url = f"http://hook-user:pa55word@127.0.0.1:{port}/hooks?token=t0ps3cret"
    sender = dispatcher(store, url, max_attempts=2)
    closing.append(sender)
    with caplog.at_level(logging.DEBUG):
        sender.run_once()
        sender.run_once()
    shown = public_url(url)
    assert shown == f"http://127.0.0.1:{port}/hooks?…"
    assert shown in caplog.text
    stored_errors = " ".join(r.last_error or "" for r in rows(store))
    key = SECRET.removeprefix("whsec_")
    for secret in ("pa55word", "t0ps3cret", key):
        assert secret not in caplog.text
        assert secret not in stored_errors


def test_payload_names_a_review_and_an_overdue_deadline(
    store: EventStore, flagged: list[Any]
) -> None:
    [late, _] = sorted(
        check_deadlines(store, Projector(store), date(2024, 9, 1), THRESHOLDS),
        key=lambda f: f.data["deadline"],
        reverse=True,
    )
    data = orjson_loads(payload(late))["data"]
    assert data["deadline"] == "review_due"
    assert data["review_id"] == "sg-1"
    assert data["resolution"] is None
    assert (data["days_remaining"], data["threshold_days"]) == (-48, 0)
    assert data["summary"] == (
        "Review sg-1 of mss-haiti was due on 2024-07-15 and is not recorded as completed."
    )


def orjson_loads(text: str) -> Any:
    import json

    return json.loads(text)


# --- the command line ----------------------------------------------------------------------


def cli(url: str, *args: str, **env: str) -> Any:
    return CliRunner().invoke(
        app,
        ["deadlines", "check", *args],
        env={"SITREP_DATABASE_URL": url, "SITREP_WEBHOOK_SECRET": SECRET, **env},
    )


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # keeps a developer's .env out


def test_cli_flags_prints_and_delivers_before_exiting(
    database_url: str, store: EventStore, in_tmp: None
) -> None:
    append(store, registered(), authorized(), recorded_by="mission-office")
    with receiving() as receiver:
        result = cli(database_url, "--today", "2024-07-04", SITREP_WEBHOOK_URLS=receiver.url)
        assert result.exit_code == 0, result.output
        assert len(receiver.received) == 1
    [line] = result.stdout.splitlines()
    flag_id = receiver.received[0].id
    assert line == (
        "flagged mss-haiti mandate_expiry S/RES/2699 (2023) due 2024-10-02: "
        f"90 days remaining (threshold 90) [{flag_id}]"
    )
    assert "1 new flag; 1 webhook delivered" in result.stderr
    again = cli(database_url, "--today", "2024-07-04", SITREP_WEBHOOK_URLS=receiver.url)
    assert again.exit_code == 0
    assert again.stdout == ""
    assert "0 new flags; 0 webhooks delivered" in again.stderr


def test_cli_leaves_undelivered_webhooks_pending_after_its_wait(
    database_url: str, store: EventStore, in_tmp: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(store, registered(), authorized(), recorded_by="mission-office")
    monkeypatch.setattr(Dispatcher, "backoff", lambda self, attempt: timedelta(0))
    port = free_port()
    url = f"http://127.0.0.1:{port}/down"
    result = cli(database_url, "--today", "2024-10-03", "--wait", "0", SITREP_WEBHOOK_URLS=url)
    assert result.exit_code == 0, result.output
    assert "due 2024-10-02: expired 1 day ago, no renewal recorded (threshold 0)" in result.stdout
    assert "0 webhooks delivered, 1 pending (retried by the next run or sitrep serve)" in (
        result.stderr
    )
    with receiving(port=port) as receiver:
        # the next run (of cron, a day later) delivers it, nothing new being flagged
        later = cli(database_url, "--today", "2024-10-04", "--wait", "5", SITREP_WEBHOOK_URLS=url)
        assert later.exit_code == 0, later.output
    assert len(receiver.received) == 1
    assert later.stdout == ""
    assert "0 new flags; 1 webhook delivered" in later.stderr


def test_cli_webhooks_without_a_secret_is_one_error_line(tmp_path: Path, in_tmp: None) -> None:
    result = CliRunner().invoke(
        app,
        ["deadlines", "check"],
        env={
            "SITREP_DATABASE_URL": f"sqlite:///{tmp_path}/s.db",
            "SITREP_WEBHOOK_URLS": "https://alerts.example.org/hook?token=abc",
        },
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: invalid setting SITREP_WEBHOOK_SECRET: webhooks are signed: set it to a "
        "whsec_... secret"
    )
    assert "abc" not in result.output


def test_receiver_fixture_sanity() -> None:
    # The receiver refuses a forged signature (so the checks above can fail).
    receiver = Receiver()
    receiver.record(
        {"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"}, b"{}"
    )
    assert receiver.received[0].signature_ok is False


def test_a_stopping_dispatcher_gives_back_the_rows_it_did_not_send(
    store: EventStore, flagged: list[Any], closing: list[Any]
) -> None:
    with receiving() as receiver:
        sender = dispatcher(store, receiver.url)
        closing.append(sender)
        sent: list[Any] = []
        assert len(sender.run_once(stopping=lambda: len(receiver.received) >= 1)) == 1
        assert len(receiver.received) == 1
        # the other row is free at once, not leased until the lease runs out
        other = dispatcher(store, receiver.url)
        closing.append(other)
        sent.extend(other.run_once())
        assert [a.state for a in sent] == ["delivered"]
    assert sorted(receiver.ids()) == sorted(f.id for f in flagged)
