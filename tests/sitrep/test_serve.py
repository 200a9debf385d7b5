"""``sitrep serve`` as a real process over a real socket (CONTRACT §2, §5, §8).

The server is started from the installed console script, a token is created with the CLI while it
runs (the contract says such a token works at once), and the basic write/read/auth cycle is
driven over HTTP before the process is stopped with SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import arrived, registered
from tests.processes import free_port, wait_until_healthy

SITREP = Path(sys.executable).with_name("sitrep")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


def _env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    env.update(SITREP_DATABASE_URL=url, SITREP_SCHEDULER_ENABLED="false", **extra)
    return env


class Server:
    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        """SIGTERM, then the exit status; fails if the process outlives STOP_TIMEOUT."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"sitrep serve still running {STOP_TIMEOUT}s after SIGTERM")


@contextmanager
def serving(url: str, cwd: Path, **env: str) -> Iterator[Server]:
    """``sitrep serve`` on a free port over ``url``; ``env`` adds SITREP_* settings."""
    port = free_port()
    log = cwd / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [str(SITREP), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=_env(url, **env),
            cwd=cwd,  # keeps a developer's .env and ./sitrep.db out of the test
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_until_healthy(process, server.base_url, server.output, what="sitrep serve",
                           timeout=START_TIMEOUT)  # fmt: skip
        yield server
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _create_token(url: str, cwd: Path) -> str:
    result = subprocess.run(
        [str(SITREP), "token", "create", "--role", "admin", "--name", "serve-test"],
        env=_env(url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines, f"no output from sitrep token create: {result.stderr}"
    return lines[-1].strip()


def _is_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/problem+json"
    problem = response.json()
    for field in ("type", "title", "status", "detail"):
        assert field in problem, problem
    assert problem["status"] == status
    return problem


def test_serve_answers_over_a_socket_and_stops_on_sigterm(
    database_url: str, tmp_path: Path
) -> None:
    assert SITREP.exists(), f"no sitrep console script next to {sys.executable}"
    with serving(database_url, tmp_path) as server:
        # Created while the server runs: it must work at once (CONTRACT §5).
        token = _create_token(database_url, tmp_path)
        auth = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=server.base_url, timeout=10.0) as client:
            mission = client.post("/v1/events", json=registered(), headers=auth)
            assert mission.status_code == 201, mission.text
            assert mission.json()["type"] == "MissionRegistered"

            retry = {**auth, "Idempotency-Key": "k1"}
            first = client.post("/v1/events", json=arrived(200), headers=retry)
            assert first.status_code == 201, first.text
            again = client.post("/v1/events", json=arrived(200), headers=retry)
            assert again.status_code == 201, again.text
            assert (again.json()["id"], again.json()["position"]) == (
                first.json()["id"],
                first.json()["position"],
            )
            assert again.json() == first.json()

            other = client.post("/v1/events", json=arrived(201), headers=retry)
            _is_problem(other, 422)

            page = client.get("/v1/events", headers=auth)
            assert page.status_code == 200, page.text
            events = page.json()["events"]
            assert [e["id"] for e in events] == [mission.json()["id"], first.json()["id"]]
            assert [e["position"] for e in events] == [1, 2]
            assert page.json()["next"] is None

            anonymous = client.get("/v1/events")
            _is_problem(anonymous, 401)
            assert anonymous.headers.get("www-authenticate", "").lower().startswith("bearer")
            _is_problem(client.get("/v1/events", headers={"Authorization": "Bearer nope"}), 401)

        started = time.monotonic()
        status = server.stop()
        assert time.monotonic() - started < STOP_TIMEOUT
        # uvicorn shuts down gracefully, then re-raises the signal it caught, so the process
        # ends "killed by SIGTERM" (what service managers count as a clean stop); 0 is fine too.
        assert status in (0, -signal.SIGTERM), f"exit {status} after SIGTERM:\n{server.output()}"
        assert "Traceback" not in server.output(), server.output()


def test_serve_on_a_taken_port_fails_with_one_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(SITREP), "serve", "--port", str(port)],
            env=_env(f"sqlite:///{tmp_path}/taken.db"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
