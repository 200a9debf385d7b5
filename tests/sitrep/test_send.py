"""``sitrep send`` (CONTRACT §8): the outbox, the client's retries, and the real thing.

The outbox and the retry rules are tested against ``httpx.MockTransport``. The rest runs real
processes: ``sitrep serve`` (SQLite and PostgreSQL) behind a TCP proxy on loopback that drops
connections at random — before forwarding a request, half-way through one, and after the
server's answer started coming back (so after the server committed) — while ``sitrep send`` is
killed mid-run and the server is killed and started again on the same port and database.
Every event must then be stored exactly once, each stream in file order, the refused ones
reported and never retried.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import random
import re
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from typer.testing import CliRunner

from sitrep.cli import app
from sitrep.client import ApiProblem, Client, is_retryable, retry_after_seconds
from sitrep.outbox import Outbox, OutboxError, content_digest
from sitrep.sending import Policy, Sender, Stopped
from tests.conftest import arrived, authorized, body, departed, registered
from tests.processes import free_port, wait_until_healthy

SITREP = Path(sys.executable).with_name("sitrep")
START_TIMEOUT = 20.0
runner = CliRunner()


# --- helpers: stored events as a server would answer them ------------------------------------


class FakeServer:
    """A scripted API for ``httpx.MockTransport``: answers from a list, then stores events."""

    def __init__(self, script: list[Any] | None = None) -> None:
        self.script = list(script or [])
        self.requests: list[httpx.Request] = []
        self.stored: dict[str, Any] = {}  # idempotency key -> answer
        self.position = 0

    def _event(self, event: dict[str, Any]) -> dict[str, Any]:
        self.position += 1
        return {
            **event, "id": f"00000000-0000-4000-8000-{self.position:012d}",
            "stream": f"contingent:{event['mission']}:{event['data'].get('country', 'X')}",
            "version": self.position, "position": self.position,
            "recorded_at": "2026-12-01T00:00:00.000000Z", "recorded_by": "field",
            "hash": "0" * 64, "source": None, "notes": None,
        }  # fmt: skip

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "GET":
            return httpx.Response(200, json={"events": [], "next": None})
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if callable(answer):
                answer = answer(request)
            if answer is not None:
                return answer
        key = request.headers["idempotency-key"]
        if key not in self.stored:
            sent = orjson.loads(request.content)
            if request.url.path.endswith("/batch"):
                self.stored[key] = {"events": [self._event(e) for e in sent["events"]]}
            else:
                self.stored[key] = self._event(sent)
        return httpx.Response(201, json=self.stored[key])

    def posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST"]


def problem(status: int, detail: str, errors: list[dict[str, str]] | None = None,
            type_: str = "rule-violation", retry_after: str | None = None,
            ) -> httpx.Response:  # fmt: skip
    return httpx.Response(
        status,
        json={"type": f"/problems/{type_}", "title": type_.replace("-", " ").capitalize(),
              "status": status, "detail": detail, "errors": errors or []},
        headers={"content-type": "application/problem+json",
                 **({"Retry-After": retry_after} if retry_after else {})},
    )  # fmt: skip


def some_events(n: int) -> list[tuple[dict[str, Any], str]]:
    start = date(2024, 6, 1)
    return [(arrived(10 + i, on=str(start + timedelta(days=i))), f"f:{i + 1}") for i in range(n)]


@dataclass
class Run:
    sender: Sender
    sleeps: list[float]
    server: FakeServer


def sender_for(outbox: Outbox, server: FakeServer, **policy: Any) -> Run:
    sleeps: list[float] = []
    client = Client("http://sitrep.test", "secret", transport=httpx.MockTransport(server))
    policy.setdefault("max_delay", 5.0)
    sender = Sender(outbox, client, "secret", policy=Policy(**policy), sleep=sleeps.append,
                    random=lambda: 1.0)  # fmt: skip
    return Run(sender, sleeps, server)


# --- the outbox ----------------------------------------------------------------------------


def test_the_outbox_knows_an_event_by_its_content_and_keeps_its_key(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    first, second = arrived(10), arrived(20)
    with Outbox(path) as outbox:
        added = outbox.add([(first, "a:1"), (second, "a:2"), (dict(first), "a:3")])
        assert (len(added.new), added.known, added.repeated) == (2, [], 1)
        keys = [i.idempotency_key for i in outbox.listed("queued")]
    # Reopened (a new run), the same events with their keys in another order: nothing new.
    with Outbox(path) as outbox:
        again = outbox.add([(dict(reversed(list(second.items()))), "b:1"), (first, "b:2")])
        assert again.new == [] and sorted(again.known) == added.new
        assert [i.idempotency_key for i in outbox.listed("queued")] == keys
        assert len(set(keys)) == 2
        assert [i.source for i in outbox.listed("queued")] == ["a:1", "a:2"]
        assert outbox.counts() == {"queued": 2, "sent": 0, "refused": 0}
    assert content_digest(first) == content_digest(dict(reversed(list(first.items()))))
    # Not an outbox (say, the server's own database): refused, left as it was.
    other = tmp_path / "sitrep.db"
    with contextlib.closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE events (position INTEGER)")
    with pytest.raises(OutboxError, match="not an outbox"):
        Outbox(other)
    (tmp_path / "junk.db").write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(OutboxError, match="cannot be used as an outbox"):
        Outbox(tmp_path / "junk.db")


def test_a_batch_is_written_down_before_it_is_sent_and_survives_a_restart(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path) as outbox:
        outbox.add(some_events(5))
        batch = outbox.next_batch(size=3)
        assert batch is not None and [m.seq for m in batch.members] == [1, 2, 3]
    with Outbox(path) as outbox:
        # The same batch again, key and members, however many events are queued now.
        outbox.add(some_events(8))
        again = outbox.next_batch(size=100)
        assert again is not None
        assert (again.id, again.idempotency_key) == (batch.id, batch.idempotency_key)
        assert [m.seq for m in again.members] == [1, 2, 3]
        # Refused for sure: the second goes alone, the first starts a new batch that stops
        # short of it.
        outbox.release(again, solo=[2])
    with Outbox(path) as outbox:
        assert outbox.next_batch(size=100) is None  # [1] alone: too short for a batch
        head = outbox.head()
        assert head is not None and head.seq == 1 and head.batch_id is None


# --- retries and refusals --------------------------------------------------------------------


def test_what_is_retried() -> None:
    assert retry_after_seconds("3") == 3.0
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert retry_after_seconds(later, now=now) == 90.0
    assert retry_after_seconds("soon") is None
    for status in (408, 429, 500, 502, 503):
        assert is_retryable(ApiProblem(status, "x"))
    for status in (400, 401, 403, 404, 409, 413, 422):
        assert not is_retryable(ApiProblem(status, "x"))
    assert is_retryable(ApiProblem(400, "x", type="/problems/client-disconnected"))
    policy = Policy(base_delay=0.5, max_delay=4.0)
    assert [policy.delay(a, 1.0) for a in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert policy.delay(3, 0.0) == 0.0  # full jitter: anywhere from 0 to the ceiling
    assert policy.delay(0, 0.5, retry_after=7.0) == 7.0


def test_no_answer_408_429_and_5xx_are_retried_with_the_same_key(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.add(some_events(1))
        run = sender_for(outbox, FakeServer([
            httpx.ReadError("connection reset"),
            problem(503, "down", type_="store-unavailable"),
            problem(429, "slow down", type_="too-many", retry_after="3"),
            problem(408, "late", type_="request-timeout"),
            httpx.ReadTimeout("timed out"),
        ]))  # fmt: skip
        delivery = run.sender.run()
        assert len(delivery.sent) == 1 and outbox.counts()["sent"] == 1
        keys = {r.headers["idempotency-key"] for r in run.server.posts()}
        assert len(run.server.posts()) == 6 and len(keys) == 1
        assert run.sleeps == [0.5, 1.0, 3.0, 4.0, 5.0]  # the 429's Retry-After honoured


def test_a_refused_event_is_kept_with_its_problem_and_not_retried(tmp_path: Path) -> None:
    bad = {"field": "events[1].data.personnel", "message": "departs more than are deployed"}
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.add(some_events(4))
        run = sender_for(outbox, FakeServer([
            problem(422, "not allowed", [bad]),  # the batch of 4: the second is the culprit
            None,  # the first alone (too short for a batch)
            problem(422, "not allowed", [{**bad, "field": "data.personnel"}]),  # the second
        ]))  # fmt: skip
        delivery = run.sender.run()
        paths = [(r.url.path, len(orjson.loads(r.content).get("events", [0]))) for r in
                 run.server.posts()]  # fmt: skip
        assert paths == [("/v1/events/batch", 4), ("/v1/events", 1), ("/v1/events", 1),
                         ("/v1/events/batch", 2)]  # fmt: skip
        assert [i.seq for i in delivery.sent] == [1, 3, 4]
        [(item, refusal)] = delivery.refused
        assert item.seq == 2 and refusal.detail == "not allowed"
        [kept] = outbox.listed("refused")
        assert kept.problem is not None and kept.problem["errors"][0]["field"] == "data.personnel"
        assert outbox.counts() == {"queued": 0, "sent": 3, "refused": 1}
        # Nothing queued: a new run sends nothing at all.
        assert sender_for(outbox, run.server).sender.run().requests == 0
        assert len(run.server.posts()) == 4


def test_a_bad_token_stops_the_run_and_keeps_everything_queued(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.add(some_events(3))
        run = sender_for(outbox, FakeServer([problem(401, "the token is unknown or revoked",
                                                     type_="unauthenticated")]))  # fmt: skip
        with pytest.raises(Stopped, match="refused the token: 401"):
            run.sender.run()
        assert outbox.counts() == {"queued": 3, "sent": 0, "refused": 0}
        # A reader's token: forbidden by role on the first event, also the token's fault.
        forbids = problem(403, "a reader token may not post ContingentArrived (allowed: admin)",
                          type_="forbidden")  # fmt: skip
        with pytest.raises(Stopped, match="may not post"):
            sender_for(outbox, FakeServer([forbids, forbids])).sender.run()
        assert outbox.counts() == {"queued": 3, "sent": 0, "refused": 0}
        # Turned away for sure, so nothing is in doubt: the right token may send them now.
        right = FakeServer()
        client = Client("http://sitrep.test", "right", transport=httpx.MockTransport(right))
        assert len(Sender(outbox, client, "right", sleep=lambda _: None).run().sent) == 3


def test_it_gives_up_after_the_last_attempt_and_keeps_the_events(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.add(some_events(1))
        run = sender_for(outbox, FakeServer([problem(503, "down")] * 5), max_attempts=3)
        with pytest.raises(Stopped, match="gave up after 3 attempts: 503"):
            run.sender.run()
        [item] = outbox.listed("queued")
        assert item.attempts == 3 and item.last_error is not None and "503" in item.last_error
        # It may be stored under its key, which the server keeps for this token only.
        other = Client("http://sitrep.test", "other", transport=httpx.MockTransport(FakeServer()))
        with pytest.raises(Stopped, match="sent with another token"):
            Sender(outbox, other, "other", sleep=lambda _: None).run()
        # Unanswered since it was first sent: the command warns once that is over 24 hours.
        now = datetime.now(UTC)
        assert outbox.in_doubt_since(now + timedelta(minutes=1)) == 1
        assert outbox.in_doubt_since(now - timedelta(minutes=1)) == 0


def test_an_event_sent_alone_without_an_answer_never_joins_a_batch(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.add(some_events(1))
        server = FakeServer([httpx.ReadError("reset")] * 2)
        with pytest.raises(Stopped, match="gave up"):
            sender_for(outbox, server, max_attempts=2).sender.run()
        # The server may hold it under its own key: it goes alone, with that key, first.
        outbox.add(some_events(4))
        sender_for(outbox, server).sender.run()
        posts = server.posts()
        assert [r.url.path for r in posts] == ["/v1/events"] * 3 + ["/v1/events/batch"]
        assert len({r.headers["idempotency-key"] for r in posts[:3]}) == 1
        assert len(orjson.loads(posts[3].content)["events"]) == 3
        assert outbox.counts() == {"queued": 0, "sent": 4, "refused": 0}


def test_a_batch_refused_without_naming_an_event_is_sent_one_by_one(tmp_path: Path) -> None:
    scope = problem(403, "donor CAN is outside this liaison token's scope (KEN)",
                    type_="forbidden")  # fmt: skip
    with Outbox(tmp_path / "o.db") as outbox:
        outbox.add(some_events(3))
        run = sender_for(outbox, FakeServer([scope, None, scope, None]))
        delivery = run.sender.run()
        assert [r.url.path for r in run.server.posts()] == ["/v1/events/batch"] + ["/v1/events"] * 3
        assert [i.seq for i in delivery.sent] == [1, 3]
        assert [(i.seq, p.status) for i, p in delivery.refused] == [(2, 403)]


async def test_the_async_client_reads_and_appends_like_the_sync_one() -> None:
    from sitrep.client import AsyncClient

    server = FakeServer([None, problem(404, "no mission zz", type_="mission-not-found")])
    seen: list[httpx.Request] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/force-strength"):
            return httpx.Response(200, json={
                "mission": "mss-haiti", "as_of": "2024-07-01",
                "known_at": "2024-07-01T00:00:00.000000Z", "deployed": 5, "pledged": 0,
                "personnel_ceiling": None, "by_country": [], "a_later_field": True,
            })  # fmt: skip
        return server(request)

    async with AsyncClient(
        "http://sitrep.test/", "tok", transport=httpx.MockTransport(handler)
    ) as api:
        stored = await api.append(arrived(5), idempotency_key="k1")
        assert stored.position == 1 and stored.data["personnel"] == 5
        with pytest.raises(ApiProblem) as refused:
            await api.append({**arrived(6), "mission": "zz"}, idempotency_key="k2")
        assert (refused.value.status, refused.value.slug) == (404, "mission-not-found")
        strength = await api.force_strength("mss-haiti", as_of=date(2024, 7, 1))
        assert strength.deployed == 5  # a ForceStrengthPublic; a newer server's field ignored
    assert seen[0].headers["authorization"] == "Bearer tok"
    assert seen[0].headers["idempotency-key"] == "k1"
    assert seen[-1].url.params["as_of"] == "2024-07-01"


# --- the command line without a server ------------------------------------------------------


def sitrep_send(*args: str, **env: str) -> Any:
    return runner.invoke(app, ["send", *args], env=env)


def test_a_wrong_url_is_one_error_line(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(orjson.dumps(arrived(5)) + b"\n")
    outbox = str(tmp_path / "o.db")
    nobody = f"http://127.0.0.1:{free_port()}"
    result = sitrep_send(str(events), "--url", nobody, "--token", "t", SITREP_OUTBOX=outbox)
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: cannot reach the server: cannot connect")
    ), result.stderr
    # One JSON array on stdin works the same; the event is already queued, so nothing new.
    array = orjson.dumps([arrived(5), arrived(6)])
    piped = runner.invoke(app, ["send", "-", "--url", nobody, "--token", "t"], input=array,
                          env={"SITREP_OUTBOX": outbox})  # fmt: skip
    assert piped.exit_code == 1
    assert "stdin: queued 1 new event, 1 already in the outbox" in piped.stderr
    missing = sitrep_send(str(events), "--token", "t", SITREP_OUTBOX=outbox)
    assert missing.exit_code == 1
    assert "error: no server to send to" in missing.stderr
    status = sitrep_send("--status", SITREP_OUTBOX=outbox)
    assert status.exit_code == 0 and re.search(r"queued\s*│\s*2", status.stdout), status.stdout

    class NotSitrep(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(404)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<h1>nothing here</h1>")

        def log_message(self, *args: Any) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotSitrep)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{other.server_address[1]}"
        result = sitrep_send("--url", url, "--token", "t", SITREP_OUTBOX=outbox)
    finally:
        other.shutdown()
    assert result.exit_code == 1
    assert "error: not a sitrep server? GET /v1/events answered 404" in result.stderr


def test_url_token_and_outbox_may_come_from_a_dotenv_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SITREP_URL", "SITREP_TOKEN", "SITREP_OUTBOX"):
        monkeypatch.delenv(name, raising=False)
    nobody = f"http://127.0.0.1:{free_port()}"
    (tmp_path / ".env").write_text(f"SITREP_URL={nobody}\nSITREP_TOKEN=t\nSITREP_OUTBOX=o.db\n")
    (tmp_path / "e.jsonl").write_bytes(orjson.dumps(arrived(5)) + b"\n")
    result = sitrep_send("e.jsonl")
    assert result.exit_code == 1
    assert "error: cannot reach the server" in result.stderr, result.stderr
    assert (tmp_path / "o.db").exists() and not (tmp_path / ".sitrep-outbox.db").exists()
    status = sitrep_send("--status")
    assert status.exit_code == 0 and "outbox o.db" in status.stdout
    assert sitrep_send("--status", "--outbox", "none.db").stderr.startswith("error: none.db:")


def test_an_unreadable_file_queues_nothing(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(orjson.dumps(arrived(5)) + b"\n[1, 2]\n")
    outbox = tmp_path / "o.db"
    result = sitrep_send(str(events), "--url", "http://x.test", "--token", "t",
                         SITREP_OUTBOX=str(outbox))  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {events}:2: an event is a JSON object, not list"
    assert not outbox.exists()


# --- the real thing: a server behind a proxy that drops connections -------------------------


@dataclass
class Seen:
    method: str
    path: str
    key: str | None
    fate: str
    #: Whether any of the server's answer was relayed back (the client may have seen it).
    answered: bool = False
    #: The status line the server began its answer with, if it did.
    status: str | None = None


_HEAD = re.compile(rb"^(GET|POST|PUT|PATCH|DELETE|HEAD) (\S+) HTTP/1\.[01]\r\n")
_KEY = re.compile(rb"\r\nidempotency-key: *([^\r\n]+)", re.IGNORECASE)
FATES = ("before", "mid-request", "after-answer")
#: The last is drawn twice as often: it is the drop that only idempotency survives.
DRAWN = (*FATES, "after-answer")


class DroppingProxy:
    """A TCP proxy on loopback that, per request, forwards it or drops the connection: before
    forwarding it, after forwarding part of it, or once the answer starts coming back."""

    def __init__(self, upstream_port: int, drop_rate: float, seed: int) -> None:
        self.upstream_port = upstream_port
        self.drop_rate = drop_rate
        self.rng = random.Random(seed)
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(conn,), daemon=True).start()

    def _request(self, chunk: bytes) -> Seen:
        head = _HEAD.match(chunk)
        key = _KEY.search(chunk)
        with self.lock:
            fate = "pass"
            if self.rng.random() < self.drop_rate:
                fate = self.rng.choice(DRAWN)
            seen = Seen(
                head.group(1).decode() if head else "?", head.group(2).decode() if head else "?",
                key.group(1).decode().strip() if key else None, fate,
            )  # fmt: skip
            self.seen.append(seen)
        return seen

    def _relay(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
        except OSError:
            client.close()  # the server is down: the client sees a dropped connection
            return
        request: Seen | None = None
        try:
            while True:
                ready, _, _ = select.select([client, upstream], [], [], 30)
                if not ready:
                    return
                if client in ready:
                    chunk = client.recv(65536)
                    if not chunk:
                        return
                    if _HEAD.match(chunk):
                        request = self._request(chunk)
                        if request.fate == "before":
                            return
                        if request.fate == "mid-request":
                            upstream.sendall(chunk[: max(len(chunk) // 2, 1)])
                            return
                    upstream.sendall(chunk)
                if upstream in ready:
                    chunk = upstream.recv(65536)
                    if not chunk:
                        return
                    if request is not None and request.status is None:
                        request.status = chunk.split(b"\r\n", 1)[0].decode(errors="replace")
                    if request is not None and request.fate == "after-answer":
                        client.sendall(chunk[:12])  # "HTTP/1.1 201": the server committed
                        return
                    client.sendall(chunk)
                    if request is not None:
                        request.answered = True
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def posts(self) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.method == "POST"]


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    env.update(SITREP_DATABASE_URL=database_url, SITREP_SCHEDULER_ENABLED="false", **extra)
    return env


class Serving:
    """``sitrep serve`` on a fixed port, which can be killed and started again."""

    def __init__(self, database_url: str, cwd: Path) -> None:
        self.database_url = database_url
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = cwd / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [str(SITREP), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=_env(self.database_url), cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        wait_until_healthy(self.process, self.url, self.log.read_text, what="sitrep serve",
                           timeout=START_TIMEOUT)  # fmt: skip

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def token(self, *args: str) -> str:
        # In this process (a token made by the CLI works at once on a running server): each
        # ``sitrep`` started costs a second of imports on a small machine.
        result = runner.invoke(app, ["token", "create", *args],
                               env={"SITREP_DATABASE_URL": self.database_url})  # fmt: skip
        assert result.exit_code == 0, result.output
        return result.stdout.strip().splitlines()[-1].strip()


@contextmanager
def serving(database_url: str, cwd: Path) -> Iterator[Serving]:
    server = Serving(database_url, cwd)
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def field_events() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A liaison's file (KEN, JAM, BHS and US funds, one day after another) with three events
    the server refuses in the middle: a departure larger than the strength (422 rule), an
    arrival of nobody (422 invalid field) and a donor outside the token's scope (403)."""
    events: list[dict[str, Any]] = []
    start = date(2024, 5, 1)
    for i in range(28):
        on = str(start + timedelta(days=i))
        for country in ("KEN", "JAM", "BHS"):
            if i % 3 == 2:
                events.append(departed(20, on, country=country))
            else:
                events.append(arrived(30 + i, on=on, country=country))
        if i % 4 == 0:
            events.append(
                body(
                    "FundsDeposited",
                    on,
                    {
                        "donor": "USA",
                        "amount": f"{1000 + i}.00",
                        "currency": "USD",
                        "channel": "trust_fund",
                    },
                )
            )
    refused = [
        departed(100_000, "2024-05-20", country="BHS"),
        arrived(0, on="2024-05-21", country="JAM"),
        body("FundsDeposited", "2024-05-22", {"donor": "CAN", "amount": "5.00",
                                              "currency": "USD", "channel": "trust_fund"}),
    ]  # fmt: skip
    events[60:60] = refused[:2]
    events[70:70] = refused[2:]
    return events, refused


def _content(event: dict[str, Any]) -> bytes:
    return orjson.dumps({k: event[k] for k in ("mission", "type", "occurred_on", "data")},
                        option=orjson.OPT_SORT_KEYS)  # fmt: skip


def _kill_when(count: Callable[[], int], threshold: int, action: Callable[[], None],
               done: threading.Event) -> threading.Thread:  # fmt: skip
    def watch() -> None:
        while not done.is_set():
            if count() >= threshold:
                action()
                return
            time.sleep(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_send_through_dropped_connections_a_crash_and_a_server_restart(
    database_url: str, tmp_path: Path
) -> None:
    with serving(database_url, tmp_path) as server:
        admin = server.token("--role", "admin", "--name", "hq")
        liaison = server.token("--role", "liaison", "--scope", "KEN,JAM,BHS,USA", "--name", "field")
        hq = {"Authorization": f"Bearer {admin}"}
        with httpx.Client(base_url=server.url, headers=hq, timeout=10) as direct:
            for setup in (registered(), authorized()):
                assert direct.post("/v1/events", json=setup).status_code == 201

        events, refused = field_events()
        file = tmp_path / "field.jsonl"
        file.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
        proxy = DroppingProxy(server.port, drop_rate=0.3, seed=20241201)
        sending = {
            "SITREP_URL": proxy.url, "SITREP_TOKEN": liaison,
            "SITREP_OUTBOX": str(tmp_path / "outbox.db"),
            "SITREP_SEND_BACKOFF_CAP": "0.05", "SITREP_SEND_MAX_ATTEMPTS": "1000",
        }  # fmt: skip
        env = {**_env(database_url), **sending}

        def send(*args: str, **extra: str) -> Ran:
            # In this process but for run 1, which is killed: the same code, less start-up.
            result = runner.invoke(app, ["send", *args], env={**sending, **extra})
            return Ran(result.exit_code, result.stdout, result.stderr)

        # A bad token: one error line, every event queued and none refused.
        wrong = send(str(file), "--batch-size", "8", SITREP_TOKEN="not-a-token")
        assert wrong.returncode == 1
        assert (
            wrong.stderr.strip()
            .splitlines()[-1]
            .startswith("error: the server refused the token: 401")
        ), wrong.stderr
        assert proxy.posts() == []

        # Run 1 is killed (SIGKILL) after a few requests...
        done = threading.Event()
        first = subprocess.Popen(
            [str(SITREP), "send", str(file), "--batch-size", "8"],
            env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _kill_when(lambda: len(proxy.posts()), 5, first.kill, done)
        first.communicate(timeout=120)
        assert first.returncode == -signal.SIGKILL, "run 1 finished before it was killed"

        # ... run 2 resumes (no FILE: what is queued), and the server is killed and started
        # again on the same port and database half-way through it.
        def restart() -> None:
            server.kill()
            server.start()

        restarter = _kill_when(lambda: len(proxy.posts()), 12, restart, done)
        second = send("--batch-size", "8")
        restarter.join(timeout=START_TIMEOUT + 10)
        done.set()
        assert len(proxy.posts()) > 12, "run 2 finished before the server was restarted"
        assert second.returncode == 1, second.stderr  # some were refused
        assert "Traceback" not in second.stderr, second.stderr
        assert re.search(r"refused 3, 0 still queued", second.stdout), second.stdout
        refusals = [line for line in second.stderr.splitlines() if line.startswith("refused:")]
        assert len(refusals) == 3, second.stderr
        assert any("departure" in r.lower() or "deployed" in r for r in refusals), refusals
        assert any("data.personnel" in r for r in refusals), refusals
        assert any("403" in r and "outside this liaison token's scope" in r for r in refusals)
        fates = {s.fate for s in proxy.seen}
        assert {"pass", *FATES} <= fates, fates
        # Answers lost after the server stored the events: the retries must have replayed them.
        lost = [s for s in proxy.posts() if s.fate == "after-answer" and s.status is not None]
        assert any(" 201 " in f"{s.status} " for s in lost), lost

        # The same file again: nothing new is queued, nothing is sent.
        before = len(proxy.seen)
        third = send(str(file))
        assert third.returncode == 1  # three of its events were refused (earlier)
        assert f"queued 0 new events, {len(events)} already in the outbox" in third.stderr
        assert "3 events refused earlier" in third.stderr
        assert len(proxy.seen) == before

        status = send("--status")
        assert status.returncode == 0, status.stderr
        assert re.search(rf"sent\s*│\s*{len(events) - 3}", status.stdout), status.stdout
        assert re.search(r"refused\s*│\s*3", status.stdout), status.stdout
        assert "outside this liaison token's scope" in status.stdout

        with httpx.Client(base_url=server.url, headers=hq, timeout=10) as direct:
            page = direct.get("/v1/events", params={"limit": 1000}).json()
        proxy.close()

    stored = [e for e in page["events"] if e["recorded_by"] == "field"]
    wanted = [e for e in events if _content(e) not in {_content(r) for r in refused}]
    # Every event exactly once...
    assert sorted(_content(e) for e in stored) == sorted(_content(e) for e in wanted)
    # ... and each stream in file order.
    version = {_content(e): (e["stream"], e["version"]) for e in stored}
    streams: dict[str, list[int]] = {}
    for event in wanted:
        stream, number = version[_content(event)]
        streams.setdefault(stream, []).append(number)
    assert len(streams) == 4
    for numbers in streams.values():
        assert numbers == sorted(numbers)
    # A refused event was answered once, and never sent again once its answer came back.
    with Outbox(tmp_path / "outbox.db") as outbox:
        keys = [item.idempotency_key for item in outbox.listed("refused")]
    assert len(keys) == 3
    for key in keys:
        answered = [s.answered for s in proxy.posts() if s.key == key]
        assert answered.count(True) == 1 and answered[-1], answered
