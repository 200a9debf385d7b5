"""``sitrep demo`` as a real process (CONTRACT §8, issue 6).

It builds a fresh store in ./.sitrep-demo from the bundled timeline, prints the dashboard URL
and an admin token, and serves with public reads and the scheduler on. Re-running starts clean,
and neither run touches the database SITREP_DATABASE_URL names.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sitrep.demo import read_timeline
from tests.processes import free_port, wait_until_healthy
from tests.sitrep.test_serve import SITREP, START_TIMEOUT, STOP_TIMEOUT

ARRIVALS = sum(1 for line in read_timeline() if line.body["type"] == "ContingentArrived")
EVENTS = len(read_timeline())  # 36: the seeds' and the public record's facts


@dataclass
class Demo:
    base_url: str
    stdout: Path
    stderr: Path

    def lines(self) -> list[str]:
        return self.stdout.read_text().splitlines()

    def token(self) -> str:
        found = [line for line in self.lines() if line.startswith("srp_")]
        assert len(found) == 1, self.stdout.read_text()
        return found[0]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    # A configured database the demo must leave alone.
    env["SITREP_DATABASE_URL"] = f"sqlite:///{tmp_path}/configured.db"
    return env


@contextmanager
def running_demo(cwd: Path, port: int) -> Iterator[Demo]:
    stdout, stderr = cwd / "demo.out", cwd / "demo.err"
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        process = subprocess.Popen(
            [str(SITREP), "demo", "--port", str(port)],
            env=_env(cwd),
            cwd=cwd,
            stdout=out,
            stderr=err,
        )
    demo = Demo(f"http://127.0.0.1:{port}", stdout, stderr)
    try:
        wait_until_healthy(process, demo.base_url, stderr.read_text, what="sitrep demo",
                           timeout=START_TIMEOUT)  # fmt: skip
        yield demo
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=STOP_TIMEOUT) in (0, -signal.SIGTERM)
        assert "Traceback" not in stderr.read_text(), stderr.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


def _arrivals(client: httpx.Client) -> int:
    page = client.get("/v1/events", params={"type": "ContingentArrived", "limit": 1000})
    assert page.status_code == 200, page.text
    return len(page.json()["events"])


def test_demo_prints_url_and_token_and_serves_the_timeline(tmp_path: Path) -> None:
    port = free_port()
    with running_demo(tmp_path, port) as demo, httpx.Client(base_url=demo.base_url) as client:
        assert f"  Dashboard  http://127.0.0.1:{port}/" in demo.lines()
        assert demo.lines()[0].startswith(
            f"sitrep demo: {EVENTS} events of the MSS Haiti timeline loaded into "
        )
        token = demo.token()
        (report,) = [x.split()[-1] for x in demo.lines() if x.startswith("  Report  ")]
        week = client.get(report.removeprefix(demo.base_url))
        assert week.status_code == 200 and "as reported then" in week.text.lower()
        assert 'data-figure="restated.strength.deployed_then">632<' in week.text

        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")

        # public reads: no token needed for the seeds' figures
        strength = client.get(
            "/v1/missions/mss-haiti/force-strength", params={"as_of": "2025-01-05"}
        )
        assert strength.status_code == 200, strength.text
        assert strength.json()["deployed"] == 590
        assert _arrivals(client) == ARRIVALS
        # Kenya's headcount return of 600 before its fourth contingent: 200 more than the
        # movements gave.
        returned = client.get(
            "/v1/missions/mss-haiti/force-strength", params={"as_of": "2025-02-05"}
        ).json()
        kenya = next(c for c in returned["by_country"] if c["country"] == "KEN")
        assert (kenya["deployed"], kenya["reported_on"], kenya["unreconciled"]) == (
            600, "2025-02-05", 200
        )  # fmt: skip

        # the MSS ended on 2 October 2025, succeeded by the GSF, whose mandate has expired
        listed = {m["mission"]: m for m in client.get("/v1/missions").json()["missions"]}
        assert listed["mss-haiti"]["status"] == "ended"
        assert listed["mss-haiti"]["successor_mission"] == "gsf-haiti"
        assert listed["gsf-haiti"]["predecessor_mission"] == "mss-haiti"
        assert listed["gsf-haiti"]["expires_on"] == "2026-09-30"
        # deployed today: the MSS as on its last day (Kenya's return of 744 and 190 others), the
        # GSF its Kenyan return of about 700
        assert (listed["mss-haiti"]["deployed"], listed["gsf-haiti"]["deployed"]) == (934, 700)

        # the scheduler is on: its start-up pass flags the expired mandate (not the ended one)
        deadline = time.monotonic() + 10
        while not client.get("/v1/alerts").json()["alerts"] and time.monotonic() < deadline:
            time.sleep(0.2)
        alerts = client.get("/v1/alerts").json()["alerts"]
        assert alerts, "the scheduler flagged nothing"
        assert {(a["mission"], a["deadline"], a["due_on"]) for a in alerts} == {
            ("gsf-haiti", "mandate_expiry", "2026-09-30")
        }

        # the token posts; without it, writing is refused
        arrival = {
            "mission": "mss-haiti",
            "type": "ContingentArrived",
            "occurred_on": "2025-02-01",
            "data": {"country": "JAM", "personnel": 10, "category": "police"},
        }
        assert client.post("/v1/events", json=arrival).status_code == 401
        posted = client.post(
            "/v1/events", json=arrival, headers={"Authorization": f"Bearer {token}"}
        )
        assert posted.status_code == 201, posted.text
        assert _arrivals(client) == ARRIVALS + 1

    assert (tmp_path / ".sitrep-demo" / "demo.db").is_file()
    assert not (tmp_path / "configured.db").exists()

    # Re-running starts clean: the posted event and the old token are gone.
    with running_demo(tmp_path, port) as again, httpx.Client(base_url=again.base_url) as client:
        assert _arrivals(client) == ARRIVALS
        assert again.token() != token
        refused = client.post(
            "/v1/events", json=arrival, headers={"Authorization": f"Bearer {token}"}
        )
        assert refused.status_code == 401


def test_demo_on_a_taken_port_fails_with_one_line_and_keeps_the_old_store(
    tmp_path: Path,
) -> None:
    store = tmp_path / ".sitrep-demo" / "demo.db"
    store.parent.mkdir()
    store.write_bytes(b"the demo still serving on that port")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(SITREP), "demo", "--port", str(port)],
            env=_env(tmp_path),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
    assert store.read_bytes() == b"the demo still serving on that port"
