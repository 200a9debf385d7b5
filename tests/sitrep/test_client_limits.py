"""What one client can hold of ``sitrep serve``: header and request-line sizes, slow heads and
bodies, the number of event streams, stalled stream readers (CONTRACT §5: never a 500).

One live server serves the module, with timeouts shortened through its settings; every client
here is bounded in count and time and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from api.tokens import create_token
from events.catalogue import Role
from sitrep.database import open_store
from tests.conftest import arrived, make_settings, registered
from tests.processes import free_port, wait_until_healthy
from tests.sitrep.test_serve import SITREP, START_TIMEOUT, STOP_TIMEOUT, Server

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 1.0
SEND_TIMEOUT = 1.0
MAX_STREAMS = 2
SLACK = 1.5  # seconds a refusal may take beyond its timeout on a busy test machine


class Live:
    def __init__(self, server: Server, port: int, token: str) -> None:
        self.server = server
        self.port = port
        self.token = token
        self.client = httpx.Client(base_url=server.base_url, timeout=10.0)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10.0)
        return sock

    def healthz_seconds(self) -> float:
        started = time.monotonic()
        response = self.client.get("/healthz")
        assert response.status_code == 200, response.text
        return time.monotonic() - started

    def rss_kib(self) -> int:
        status = Path(f"/proc/{self.server.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    cwd = tmp_path_factory.mktemp("limits")
    url = f"sqlite:///{cwd}/limits.db"
    store = open_store(make_settings(url))
    _, token = create_token(store.engine, role=Role.ADMIN, name="limits", now=datetime.now(UTC))
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    env.update(
        SITREP_DATABASE_URL=url,
        SITREP_SCHEDULER_ENABLED="false",
        SITREP_PUBLIC_READS="true",
        SITREP_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        SITREP_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT),
        SITREP_EVENT_STREAM_SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT),
        SITREP_MAX_EVENT_STREAMS=str(MAX_STREAMS),
    )
    port = free_port()
    log = cwd / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            # -v: the INFO lines the stalled-reader test looks for.
            [str(SITREP), "-v", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_healthy(process, server.base_url, server.output, what="sitrep serve",
                           timeout=START_TIMEOUT)  # fmt: skip
        live = Live(server, port, token)
        with live.client:
            yield live
        server.stop()
        assert "Traceback" not in server.output(), server.output()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _answer(sock: socket.socket, wait: float = 10.0) -> bytes:
    """Everything the server sends until it closes the connection (or ``wait`` passes)."""
    sock.settimeout(wait)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return received


def _problem(answer: bytes, status: int, slug: str) -> dict[str, str]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith(f"HTTP/1.1 {status} "), answer[:500]
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    assert f'"type":"/problems/{slug}"'.encode() in body, body
    assert f'"status":{status}'.encode() in body, body
    return headers


@pytest.mark.parametrize(
    "setting",
    [
        {"max_header_bytes": 100},
        {"max_request_line_bytes": 0},
        {"header_timeout_seconds": 0},
        {"body_timeout_seconds": -1},
        {"max_event_streams": 0},
        {"event_stream_send_timeout_seconds": 0},
    ],
)
def test_limits_out_of_range_are_refused_at_start_up(setting: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        make_settings("sqlite://", **setting)


def test_a_64_kib_header_is_refused_with_431_and_the_server_stays_healthy(live: Live) -> None:
    response = live.client.get("/healthz", headers={"X-Padding": "a" * 65536})
    assert response.status_code == 431, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/headers-too-large"
    # Many small fields count together.
    many = {f"X-Field-{n}": "b" * 1000 for n in range(40)}
    assert live.client.get("/healthz", headers=many).status_code == 431
    # What the limit allows still works.
    assert live.client.get("/healthz", headers={"X-Padding": "a" * 16000}).status_code == 200
    assert live.healthz_seconds() < 1.0


def test_unfinished_huge_headers_are_refused_as_they_arrive(live: Live) -> None:
    """Ten clients each start a 4 MiB header that never ends: each is answered 431 long before
    it has sent it, and the server's memory does not grow with what they send."""
    before = live.rss_kib()
    chunk = b"a" * 65536
    with ExitStack() as stack:
        socks = [stack.enter_context(live.connect()) for _ in range(10)]
        sent = []
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ")
            total = 0
            with selectors.DefaultSelector() as selector:
                selector.register(sock, selectors.EVENT_READ)
                while total < 4 * 2**20 and not selector.select(timeout=0.005):
                    try:
                        sock.sendall(chunk)
                    except OSError:  # the server cut it after its answer: read that
                        break
                    total += len(chunk)
                if total < 4 * 2**20:
                    selector.select(timeout=5.0)
            sent.append(total)
            _problem(_answer(sock), 431, "headers-too-large")
    assert max(sent) < 4 * 2**20, sent  # each was answered before its header was sent
    grown = live.rss_kib() - before
    assert grown < 20 * 1024, f"the server grew by {grown} KiB"
    assert live.healthz_seconds() < 1.0


def test_a_huge_request_line_is_refused_with_414(live: Live) -> None:
    response = live.client.get("/v1/events", params={"mission": "m" * 20000})
    assert response.status_code == 414, response.text
    assert response.json()["type"] == "/problems/request-line-too-long"
    with live.connect() as sock:  # a request line that never ends
        sock.sendall(b"GET /" + b"a" * 100_000)
        _problem(_answer(sock), 414, "request-line-too-long")
    assert live.healthz_seconds() < 1.0


def test_slowloris_clients_are_answered_408_and_closed_while_healthz_stays_fast(
    live: Live,
) -> None:
    started = time.monotonic()
    clients = 20
    with ExitStack() as stack:
        socks = [stack.enter_context(live.connect()) for _ in range(clients)]
        for sock in socks:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            sock.setblocking(False)
        answers = {sock: b"" for sock in socks}
        closed_after: dict[socket.socket, float] = {}
        slowest_healthz = 0.0
        deadline = started + HEADER_TIMEOUT + SLACK + 2.0
        while len(closed_after) < clients and time.monotonic() < deadline:
            for sock in socks:
                if sock in closed_after:
                    continue
                try:
                    sock.send(b"X")  # one byte of a header field, every 0.1 s
                except BlockingIOError:
                    pass
                except OSError:
                    closed_after[sock] = time.monotonic() - started
                    continue
                try:
                    while chunk := sock.recv(65536):
                        answers[sock] += chunk
                    closed_after[sock] = time.monotonic() - started  # EOF
                except BlockingIOError:
                    pass
                except OSError:
                    closed_after[sock] = time.monotonic() - started
            slowest_healthz = max(slowest_healthz, live.healthz_seconds())
            time.sleep(0.1)
    assert len(closed_after) == clients, f"{clients - len(closed_after)} still open"
    assert max(closed_after.values()) < HEADER_TIMEOUT + SLACK, closed_after.values()
    assert min(closed_after.values()) >= HEADER_TIMEOUT - 0.1
    for answer in answers.values():
        _problem(answer, 408, "request-timeout")
    assert slowest_healthz < 1.0


def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    live: Live,
) -> None:
    with live.connect() as sock:
        started = time.monotonic()
        assert _answer(sock, wait=HEADER_TIMEOUT + SLACK) == b""
        assert HEADER_TIMEOUT - 0.1 <= time.monotonic() - started < HEADER_TIMEOUT + SLACK


def test_a_kept_alive_connection_times_out_its_next_head_too(live: Live) -> None:
    with live.connect() as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5.0)
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 200 "), first
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and no end
        started = time.monotonic()
        _problem(_answer(sock), 408, "request-timeout")
        assert time.monotonic() - started < HEADER_TIMEOUT + SLACK


def test_a_stalled_body_is_answered_408(live: Live) -> None:
    with live.connect() as sock:
        sock.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + live.token.encode() + b"\r\n"
            b'Content-Length: 100\r\n\r\n{"mission":'
        )
        started = time.monotonic()
        _problem(_answer(sock), 408, "request-timeout")
        assert BODY_TIMEOUT - 0.1 <= time.monotonic() - started < BODY_TIMEOUT + SLACK
    assert live.healthz_seconds() < 1.0


@contextmanager
def _stream(live: Live, **params: Any) -> Iterator[httpx.Response]:
    with (
        httpx.Client(base_url=live.server.base_url, timeout=10.0) as client,
        client.stream("GET", "/v1/events/stream", params=params) as response,
    ):
        yield response


def test_the_stream_cap_answers_503_with_retry_after_and_admits_again(live: Live) -> None:
    with ExitStack() as stack:
        first = stack.enter_context(_stream(live))
        assert first.status_code == 200
        with _stream(live) as second:
            assert second.status_code == 200
            refused = live.client.get("/v1/events/stream")
            assert refused.status_code == 503, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert int(refused.headers["retry-after"]) >= 1
            problem = refused.json()
            assert problem["type"] == "/problems/too-many-streams"
            assert str(MAX_STREAMS) in problem["detail"]
            assert live.healthz_seconds() < 1.0  # other routes are not capped
        # The second left: its slot is free again as soon as the server notices.
        deadline = time.monotonic() + 5.0
        while True:
            with _stream(live) as again:
                if again.status_code == 200:
                    break
                assert again.status_code == 503
            assert time.monotonic() < deadline, "no stream admitted after one closed"
            time.sleep(0.1)


def test_a_stalled_reader_is_dropped_with_one_info_line(live: Live) -> None:
    auth = {"Authorization": f"Bearer {live.token}"}
    assert live.client.post("/v1/events", json=registered(), headers=auth).status_code == 201
    # About 9 MB of messages: more than the kernel's socket buffers take on loopback.
    for _ in range(5):
        batch = {"events": [arrived(n + 1) | {"notes": "n" * 4000} for n in range(400)]}
        response = live.client.post("/v1/events/batch", json=batch, headers=auth)
        assert response.status_code == 201, response.text
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting
        sock.connect(("127.0.0.1", live.port))
        sock.sendall(b"GET /v1/events/stream?after=0 HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + SEND_TIMEOUT + 10.0
        while "accepted nothing" not in live.server.output():
            assert time.monotonic() < deadline, live.server.output()
            time.sleep(0.1)
        # Its slot is free: as many streams as the cap allows open again.
        with _stream(live) as one, _stream(live) as two:
            assert (one.status_code, two.status_code) == (200, 200)
        received = len(_answer(sock, wait=5.0))  # what the kernel had taken, then the end
        assert 0 < received < 9_000_000
    output = live.server.output()
    dropped = [line for line in output.splitlines() if "accepted nothing" in line]
    assert len(dropped) == 1, output
    assert dropped[0].startswith("INFO api.stream: "), dropped
    assert "Traceback" not in output and "ERROR" not in output, output
