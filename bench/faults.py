"""Load and fault runs against real ``sitrep serve`` processes on loopback (issue 7).

Three scenarios, each driving 32 concurrent liaison clients (asyncio + httpx) that retry like
field links do — same body, same ``Idempotency-Key`` — until each write is answered:

* **scale-out**: two independent ``sitrep serve`` instances on one PostgreSQL database (one with
  ``--workers 2``), clients spread over both and switching instance on failure, some writes
  re-sent on purpose to the other instance, some carrying ``expected_version``; a tailing
  reader pages ``GET /v1/events`` the whole time; a dashboard reader polls the read models on
  both; every worker runs the deadline scheduler every second.
* **kill -9**: one server (SQLite or PostgreSQL) killed with SIGKILL — its whole process group,
  as a container runtime would — a third of the way in, restarted half a second later.
* **database restart**: a private PostgreSQL cluster (``initdb`` in a temporary directory, its
  own port) stopped with ``pg_ctl -m fast`` under load and started again; clients must get
  ``503`` problems quickly, never hang, and the service must recover without a restart.

Each run is then audited from the outside: every acknowledged (201) event is stored with the
id, position and version it was acknowledged with (lost = 0), no write is stored twice
(duplicated = 0: each event carries a unique ``notes`` marker), a write answered 409/422 left
nothing behind, positions are unique and increasing, stream versions are 1..n, the tailing
reader saw every position exactly once and in order, ``sitrep verify`` accepts the hash chain,
and the read models on every instance equal a fold of the stored events both before and after
``sitrep rebuild``.

``python -m bench.faults`` runs the long forms (10,000 events a scenario); ``--quick`` the short
forms the test suite runs (tests/ops). Figures: acknowledged events per second, request
latency p50/p99 (201s), retries, 503s, the longest answer while the database was down.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from bench.append import new_schema_name, postgres_schema
from bench.http import create_token, free_port, sitrep_command, sitrep_url

MISSION = "mss-load"
COUNTRIES = ("KEN", "JAM", "BHS", "BLZ", "GTM", "SLV", "BEN", "TCD")
START_TIMEOUT = 40.0
REQUEST_TIMEOUT = 15.0  # a client gives up on one attempt after this long...
HANG = 5.0  # ...but any answer slower than this during a fault counts as a hang
GIVE_UP = 90.0  # and on a write after this long (it is then "unresolved")
DAYS = 300  # the days the reported events span


# --- processes -----------------------------------------------------------------------------


def server_env(database_url: str, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    env["SITREP_DATABASE_URL"] = database_url
    env.update({f"SITREP_{k.upper()}": v for k, v in settings.items()})
    return env


class Server:
    """One ``sitrep serve`` instance (a process group: uvicorn's supervisor and its workers)."""

    def __init__(self, database_url: str, workdir: Path, *, workers: int = 1,
                 port: int | None = None, **settings: str) -> None:  # fmt: skip
        self.database_url = database_url
        self.workdir = workdir
        self.workers = workers
        self.port = port or free_port()
        self.settings = {"scheduler_enabled": "false", **settings}
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [*sitrep_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)],
                env=server_env(self.database_url, **self.settings),
                cwd=self.workdir, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, so kill -9 takes the workers too
            )  # fmt: skip
        self.wait_ready()
        return self

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"sitrep serve exited:\n{self.output()}")
            with suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/readyz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"sitrep serve not ready in {START_TIMEOUT}s:\n{self.output()}")

    def kill9(self) -> None:
        assert self.process is not None
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._reap()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self._reap()
            return
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill9()
        self._reap()

    def _reap(self) -> None:
        # Workers left behind by a dead supervisor would keep the port; kill the group.
        assert self.process is not None
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


def sitrep_cli(database_url: str, workdir: Path, *args: str, timeout: float = 300) -> str:
    """Run a ``sitrep`` command against the database; its stdout, or an error with stderr."""
    done = subprocess.run(
        [*sitrep_command(), *args], env=server_env(database_url), cwd=workdir,
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"sitrep {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done.stdout


class PrivatePostgres:
    """A PostgreSQL cluster of our own (initdb in a temporary directory), to stop and start.

    As root, the server binaries run as the ``postgres`` user (initdb refuses root).
    """

    def __init__(self) -> None:
        self.bindir = find_postgres_bindir()
        if self.bindir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl) found")
        self.root = Path(tempfile.mkdtemp(prefix="sitrep-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                              check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed: {done.stdout}{done.stderr}")

    def init(self) -> PrivatePostgres:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\nmax_connections = 100\n"
            )
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w",
                  "-t", "30", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def remove(self) -> None:
        with suppress(RuntimeError, subprocess.TimeoutExpired):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def find_postgres_bindir() -> Path | None:
    """Where initdb and pg_ctl live (Debian keeps them off PATH), or None."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)  # fmt: skip
    return found[-1].parent if found else None


# --- the clients ---------------------------------------------------------------------------


@dataclass
class Attempt:
    started: float
    seconds: float
    status: int  # 0: no answer (connection refused, reset, timeout)
    problem: str = ""


@dataclass
class Write:
    """One logical write (a single event or a batch) and how it ended."""

    bodies: list[dict[str, Any]]
    key: str
    outcome: str = "unresolved"  # acked, conflict, rejected, unresolved
    events: list[dict[str, Any]] = field(default_factory=list)
    attempts: int = 0


@dataclass
class Load:
    """The shared state of one run's clients."""

    urls: list[str]
    token: str
    budget: int  # events to write
    clients: int = 32
    seed: int = 7
    resend_every: int = 20  # every n-th acknowledged write is sent again to another instance
    issued: int = 0
    writes: list[Write] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    replays: Counter[str] = field(default_factory=Counter)
    tailed: list[int] = field(default_factory=list)
    tail_errors: int = 0
    reads: int = 0
    read_errors: Counter[int] = field(default_factory=Counter)
    done: bool = False
    acked_events: int = 0
    started: float = 0.0
    finished: float = 0.0

    def progress(self) -> float:
        return self.acked_events / self.budget


def _headers(token: str, key: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return headers


async def post(http: httpx.AsyncClient, load: Load, url: str, path: str, payload: Any,
               key: str) -> tuple[Attempt, httpx.Response | None]:  # fmt: skip
    started = time.monotonic()
    try:
        response = await http.post(f"{url}{path}", json=payload, headers=_headers(load.token, key))
    except (httpx.TransportError, httpx.TimeoutException) as exc:
        attempt = Attempt(started, time.monotonic() - started, 0, type(exc).__name__)
        load.attempts.append(attempt)
        return attempt, None
    problem = ""
    if response.status_code >= 400:
        problem = response.json().get("type", "") if _is_problem(response) else "not-a-problem"
    attempt = Attempt(started, time.monotonic() - started, response.status_code, problem)
    load.attempts.append(attempt)
    return attempt, response


def _is_problem(response: httpx.Response) -> bool:
    return response.headers.get("content-type", "").startswith("application/problem+json")


async def send(http: httpx.AsyncClient, load: Load, write: Write, prefer: int) -> None:
    """Send ``write`` until it is answered, like a liaison's client: same body, same key."""
    path, payload = (
        ("/v1/events", write.bodies[0]) if len(write.bodies) == 1
        else ("/v1/events/batch", {"events": write.bodies})
    )  # fmt: skip
    began = time.monotonic()
    pause = 0.05
    instance = prefer
    while time.monotonic() - began < GIVE_UP:
        write.attempts += 1
        url = load.urls[instance % len(load.urls)]
        _, response = await post(http, load, url, path, payload, write.key)
        if response is not None and response.status_code == 201:
            answer = response.json()
            write.events = answer.get("events", [answer])
            write.outcome = "acked"
            load.acked_events += len(write.events)
            return
        if response is not None and response.status_code == 409:
            write.outcome = "conflict"
            return
        if response is not None and response.status_code == 422:
            write.outcome = "rejected"
            return
        if response is not None and response.status_code < 500:
            raise AssertionError(f"unexpected {response.status_code}: {response.text}")
        # No answer or 5xx: back off with jitter and try again, on another instance if any.
        instance += 1
        await asyncio.sleep(pause * random.uniform(0.5, 1.5))
        pause = min(pause * 2, 1.0)


async def resend(http: httpx.AsyncClient, load: Load, write: Write, instance: int) -> None:
    """A retry arriving after the answer was lost: must replay the original answer."""
    path, payload = (
        ("/v1/events", write.bodies[0]) if len(write.bodies) == 1
        else ("/v1/events/batch", {"events": write.bodies})
    )  # fmt: skip
    for _ in range(50):
        _, response = await post(http, load, load.urls[instance % len(load.urls)], path,
                                 payload, write.key)  # fmt: skip
        if response is None or response.status_code >= 500:
            instance += 1
            await asyncio.sleep(0.2)
            continue
        answer = response.json()
        events = answer.get("events", [answer]) if response.status_code == 201 else []
        same = [e["id"] for e in events] == [e["id"] for e in write.events] and [
            e["position"] for e in events
        ] == [e["position"] for e in write.events]
        replayed = response.headers.get("idempotency-replayed") == "true"
        load.replays["same" if same and replayed else "different"] += 1
        return
    load.replays["unanswered"] += 1


class Liaison:
    """One client: reports arrivals (some in batches), a few departures and deposits."""

    def __init__(self, load: Load, number: int, day0: date) -> None:
        self.load = load
        self.number = number
        self.random = random.Random(load.seed * 1000 + number)
        self.day0 = day0
        self.arrived: Counter[str] = Counter()  # acknowledged arrivals of its own, by country
        self.versions: dict[str, int] = {}
        self.sequence = 0

    def _notes(self) -> str:
        self.sequence += 1
        return f"load {self.number}/{self.sequence}"

    def _event(self, type_: str, on: date, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "mission": MISSION,
            "type": type_,
            "occurred_on": on.isoformat(),
            "data": data,
            "notes": self._notes(),
            "source": {"title": f"load client {self.number}"},
        }

    def next_write(self) -> Write | None:
        roll = self.random.random()
        size = 5 if roll < 0.1 else 1
        if self.load.issued + size > self.load.budget:
            size = 1
            if self.load.issued >= self.load.budget:
                return None
        self.load.issued += size
        country = self.random.choice(COUNTRIES)
        arrival_day = self._day()
        if size == 5:
            bodies = [self._arrival(self.random.choice(COUNTRIES)) for _ in range(5)]
        elif roll < 0.15 and self.arrived[country] > 0:
            # Departures are dated after every arrival, and never more than this client's own
            # acknowledged arrivals, so the store's rules accept them whatever others do.
            bodies = [self._event("ContingentDeparted", self.day0 + timedelta(days=DAYS + 100), {
                "country": country, "personnel": 1, "category": "police",
                "reason": "rotation"})]  # fmt: skip
        elif roll < 0.25:
            amount = Decimal(self.random.randrange(100, 10_000_000)) / 100
            bodies = [self._event("FundsDeposited", arrival_day, {
                "donor": country, "amount": str(amount), "currency": "USD",
                "channel": "trust_fund"})]  # fmt: skip
        else:
            bodies = [self._arrival(country)]
            stream = f"contingent:{MISSION}:{country}"
            if roll > 0.875 and stream in self.versions:
                bodies[0]["expected_version"] = self.versions[stream]
        return Write(bodies, key=str(uuid.uuid4()))

    def _day(self) -> date:
        """Reports follow the calendar as the run goes on (300 days), a few days late at most:
        a live mission. (Reports dated uniformly at random over the whole period make each one
        a late report that rewrites every later day of its totals: see README, Known limits.)"""
        today = int(DAYS * self.load.issued / self.load.budget)
        return self.day0 + timedelta(days=max(0, today - self.random.randrange(4)))

    def _arrival(self, country: str) -> dict[str, Any]:
        on = self._day()
        data = {"country": country, "personnel": self.random.randint(1, 40), "category": "police"}
        return self._event("ContingentArrived", on, data)

    def learn(self, write: Write) -> None:
        for event in write.events:
            self.versions[event["stream"]] = event["version"]
            if event["type"] == "ContingentArrived":
                self.arrived[event["data"]["country"]] += event["data"]["personnel"]
            elif event["type"] == "ContingentDeparted":
                self.arrived[event["data"]["country"]] -= event["data"]["personnel"]

    async def run(self, http: httpx.AsyncClient) -> None:
        acked = 0
        while (write := self.next_write()) is not None:
            self.load.writes.append(write)
            await send(http, self.load, write, prefer=self.number)
            if write.outcome == "acked":
                self.learn(write)
                acked += 1
                if acked % self.load.resend_every == 0:
                    await resend(http, self.load, write, self.number + 1)


async def tail(http: httpx.AsyncClient, load: Load) -> None:
    """Pages GET /v1/events from position 0 the whole run, recording every position once read."""
    after, turn = 0, 0
    headers = _headers(load.token)
    while True:
        finishing = load.done
        url = load.urls[turn % len(load.urls)]
        turn += 1
        try:
            response = await http.get(f"{url}/v1/events", params={"after": after, "limit": 1000},
                                      headers=headers)  # fmt: skip
        except (httpx.TransportError, httpx.TimeoutException):
            load.tail_errors += 1
            await asyncio.sleep(0.1)
            continue
        if response.status_code != 200:
            load.tail_errors += 1
            await asyncio.sleep(0.1)
            continue
        page = response.json()
        load.tailed.extend(e["position"] for e in page["events"])
        if page["events"]:
            after = page["events"][-1]["position"]
        if page["next"] is None:
            if finishing:
                return
            await asyncio.sleep(0.02)


async def watch(http: httpx.AsyncClient, load: Load) -> None:
    """A dashboard polling the read models on every instance while the load runs."""
    turn = 0
    while not load.done:
        url = load.urls[turn % len(load.urls)]
        path = ("force-strength", "funding", "timeline")[turn % 3]
        turn += 1
        try:
            response = await http.get(f"{url}/v1/missions/{MISSION}/{path}",
                                      headers=_headers(load.token))  # fmt: skip
            load.reads += 1
            if response.status_code != 200:
                load.read_errors[response.status_code] += 1
        except (httpx.TransportError, httpx.TimeoutException):
            load.read_errors[0] += 1
        await asyncio.sleep(0.05)


async def drive(load: Load, day0: date, *, fault: Any = None) -> None:
    """Run the clients, the tailing reader, the dashboard reader and ``fault`` (if any)."""
    limits = httpx.Limits(max_connections=load.clients * 2 + 8, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT, limits=limits) as http:
        liaisons = [Liaison(load, n, day0) for n in range(load.clients)]
        load.started = time.monotonic()
        reader = asyncio.create_task(tail(http, load))
        dashboard = asyncio.create_task(watch(http, load))
        extra = asyncio.create_task(fault(load)) if fault else None
        await asyncio.gather(*(liaison.run(http) for liaison in liaisons))
        load.finished = time.monotonic()
        if extra:
            await extra
        load.done = True
        await asyncio.wait_for(asyncio.gather(reader, dashboard), timeout=60)


# --- set-up and audit ----------------------------------------------------------------------


def set_up_mission(url: str, token: str, today: date) -> None:
    """The mission, a mandate expiring in 20 days and a review due in 5 (for the scheduler)."""
    bodies = [
        {"type": "MissionRegistered", "occurred_on": "2024-01-01",
         "data": {"name": "Load test mission", "lead_country": "KEN", "host_country": "HTI"}},
        {"type": "MandateAuthorized", "occurred_on": "2024-01-01",
         "data": {"resolution": "S/RES/9999 (2024)", "expires_on": str(today + timedelta(20)),
                  "personnel_ceiling": 100_000}},
        {"type": "ReviewScheduled", "occurred_on": "2024-01-02",
         "data": {"review_id": "load-review", "body": "secretary_general",
                  "due_on": str(today + timedelta(5)), "title": "Load review"}},
    ]  # fmt: skip
    for b in bodies:
        b["mission"] = MISSION
    response = httpx.post(f"{url}/v1/events/batch", json={"events": bodies},
                          headers=_headers(token), timeout=30)  # fmt: skip
    response.raise_for_status()


def all_events(url: str, token: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    after = 0
    with httpx.Client(timeout=60, headers=_headers(token)) as http:
        while True:
            page = http.get(f"{url}/v1/events", params={"after": after, "limit": 1000})
            page.raise_for_status()
            body = page.json()
            events.extend(body["events"])
            if body["next"] is None:
                return events
            after = body["next"]


def fold(events: list[dict[str, Any]]) -> tuple[dict[str, int], Decimal]:
    """What the read models must say, folded straight from the stored events."""
    deployed: Counter[str] = Counter()
    deposited = Decimal(0)
    for event in events:
        data = event["data"]
        if event["type"] == "ContingentArrived":
            deployed[data["country"]] += data["personnel"]
        elif event["type"] == "ContingentDeparted":
            deployed[data["country"]] -= data["personnel"]
        elif event["type"] == "FundsDeposited":
            deposited += Decimal(data["amount"])
    return {c: n for c, n in deployed.items() if n}, deposited


def read_models(url: str, token: str) -> tuple[dict[str, int], Decimal]:
    with httpx.Client(timeout=60, headers=_headers(token)) as http:
        force = http.get(f"{url}/v1/missions/{MISSION}/force-strength",
                         params={"as_of": "2030-12-31"}).json()  # fmt: skip
        funding = http.get(f"{url}/v1/missions/{MISSION}/funding",
                           params={"as_of": "2030-12-31"}).json()  # fmt: skip
    deployed = {r["country"]: r["deployed"] for r in force["by_country"] if r["deployed"]}
    return deployed, Decimal(str(funding["deposited"]))


@dataclass
class Report:
    scenario: str
    backend: str
    clients: int
    events: int = 0  # acknowledged events
    seconds: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    lost: int = 0
    duplicated: int = 0
    unresolved: int = 0
    left_behind: int = 0  # events of writes answered 409/422 that were stored anyway
    conflicts: int = 0
    rejected: int = 0
    retries: int = 0
    answers_503: int = 0
    other_5xx: int = 0
    replays_same: int = 0
    replays_wrong: int = 0
    positions_ok: bool = False
    versions_ok: bool = False
    tail_ok: bool = False
    chain_ok: bool = False
    read_models_ok: bool = False
    rebuild_ok: bool = False
    flags: int = -1  # DeadlineFlagged events (scale-out: scheduler on every worker)
    read_errors: dict[int, int] = field(default_factory=dict)
    fault: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def sound(self) -> bool:
        return not self.problems


def audit(load: Load, report: Report, database_url: str, workdir: Path) -> Report:
    """Check the run from the outside; fills ``report`` and lists what is wrong in it."""
    url = load.urls[0]
    stored = all_events(url, load.token)
    by_id = {e["id"]: e for e in stored}
    notes = Counter(e["notes"] for e in stored if e.get("notes"))
    acked = [w for w in load.writes if w.outcome == "acked"]
    report.events = sum(len(w.events) for w in acked)
    report.seconds = load.finished - load.started
    latencies = sorted(a.seconds for a in load.attempts if a.status == 201)
    if latencies:
        report.p50_ms = statistics.median(latencies) * 1000
        report.p99_ms = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    report.lost = sum(
        1 for w in acked for e in w.events
        if e["id"] not in by_id or by_id[e["id"]]["position"] != e["position"]
        or by_id[e["id"]]["version"] != e["version"]
    )  # fmt: skip
    report.duplicated = sum(n - 1 for n in notes.values() if n > 1)
    report.unresolved = sum(1 for w in load.writes if w.outcome == "unresolved")
    report.left_behind = sum(
        1 for w in load.writes if w.outcome in ("conflict", "rejected")
        for b in w.bodies if notes[b["notes"]]
    )  # fmt: skip
    report.conflicts = sum(1 for w in load.writes if w.outcome == "conflict")
    report.rejected = sum(1 for w in load.writes if w.outcome == "rejected")
    report.retries = sum(w.attempts - 1 for w in load.writes)
    report.answers_503 = sum(1 for a in load.attempts if a.status == 503)
    report.other_5xx = sum(1 for a in load.attempts if a.status >= 500 and a.status != 503)
    report.replays_same = load.replays["same"]
    report.replays_wrong = load.replays["different"] + load.replays["unanswered"]
    # Reads that found no server (0: the kill) or a database down (503) are the faults' own.
    report.read_errors = {k: v for k, v in load.read_errors.items() if k not in (0, 503)}
    positions = [e["position"] for e in stored]
    report.positions_ok = positions == sorted(set(positions))
    versions: defaultdict[str, list[int]] = defaultdict(list)
    for event in stored:
        versions[event["stream"]].append(event["version"])
    report.versions_ok = all(v == list(range(1, len(v) + 1)) for v in versions.values())
    report.tail_ok = load.tailed == positions
    report.flags = sum(1 for e in stored if e["type"] == "DeadlineFlagged")
    try:
        sitrep_cli(database_url, workdir, "verify")
        report.chain_ok = True
    except RuntimeError as exc:
        report.problems.append(str(exc))
    expected = fold(stored)
    seen = [read_models(u, load.token) for u in load.urls]
    report.read_models_ok = all(s == expected for s in seen)
    sitrep_cli(database_url, workdir, "rebuild")
    report.rebuild_ok = all(read_models(u, load.token) == expected for u in load.urls)
    for name in ("lost", "duplicated", "unresolved", "left_behind", "rejected", "other_5xx",
                 "replays_wrong"):  # fmt: skip
        if getattr(report, name):
            report.problems.append(f"{name}: {getattr(report, name)}")
    for name in ("positions_ok", "versions_ok", "tail_ok", "chain_ok", "read_models_ok",
                 "rebuild_ok"):  # fmt: skip
        if not getattr(report, name):
            report.problems.append(f"{name}: False")
    if report.read_errors:
        report.problems.append(f"read errors other than 503: {report.read_errors}")
    if not report.replays_same:
        report.problems.append("no write was re-sent: the replay check did not run")
    return report


# --- the scenarios -------------------------------------------------------------------------


def scale_out(events: int, clients: int, workdir: Path) -> Report:
    """Two instances (2 workers + 1) on one PostgreSQL database, every worker scheduling."""
    report = Report("scale-out", "postgresql", clients)
    with _database("postgresql", workdir) as url:
        sitrep_cli(url, workdir, "migrate")
        token = create_token(server_env(url), workdir)
        scheduling = {"scheduler_enabled": "true", "alert_interval_seconds": "1"}
        first = Server(url, workdir, workers=2, **scheduling)
        second = Server(url, workdir, workers=1, **scheduling)
        try:
            first.start()
            second.start()
            today = datetime.now(UTC).date()
            set_up_mission(first.base_url, token, today)
            load = Load([first.base_url, second.base_url], token, events, clients)
            asyncio.run(drive(load, date(2024, 6, 25)))
            time.sleep(2.5)  # a scheduler pass on every worker after the load, at least
            audit(load, report, url, workdir)
            if report.flags != 2:  # the mandate's 30-day and the review's 7-day threshold
                report.problems.append(f"DeadlineFlagged events: {report.flags}, expected 2")
            report.fault = {"instances": 2, "workers": 3}
        finally:
            first.stop()
            second.stop()
    return report


def kill_nine(
    events: int, clients: int, workdir: Path, backend: str, *, kill: bool = True
) -> Report:
    """One server killed with SIGKILL a third of the way in and restarted on the same port.

    With ``kill=False`` the same run without the fault: the baseline the others are put against.
    """
    report = Report("kill -9" if kill else "steady", backend, clients)
    with _database(backend, workdir) as url:
        sitrep_cli(url, workdir, "migrate")
        token = create_token(server_env(url), workdir)
        server = Server(url, workdir, workers=2).start()
        try:
            set_up_mission(server.base_url, token, datetime.now(UTC).date())
            load = Load([server.base_url], token, events, clients)

            async def fault(load: Load) -> None:
                while load.progress() < 1 / 3:
                    await asyncio.sleep(0.01)
                acked_before = load.acked_events
                await asyncio.to_thread(server.kill9)
                killed = time.monotonic()
                await asyncio.sleep(0.5)
                await asyncio.to_thread(server.start)
                report.fault = {"acked_before_kill": acked_before,
                                "down_seconds": round(time.monotonic() - killed, 2)}  # fmt: skip

            asyncio.run(drive(load, date(2024, 6, 25), fault=fault if kill else None))
            audit(load, report, url, workdir)
            unanswered = Counter(a.problem for a in load.attempts if a.status == 0)
            report.fault["no_answer_attempts"] = sum(unanswered.values())
            report.fault["no_answer_kinds"] = dict(unanswered)
        finally:
            server.stop()
    return report


def database_restart(events: int, clients: int, workdir: Path, outage: float) -> Report:
    """A private PostgreSQL cluster stopped (``-m fast``) under load, started ``outage`` s later."""
    report = Report("database restart", "postgresql", clients)
    cluster = PrivatePostgres().init()
    try:
        cluster.start()
        url = cluster.url
        sitrep_cli(url, workdir, "migrate")
        token = create_token(server_env(url), workdir)
        server = Server(url, workdir, workers=2).start()
        try:
            set_up_mission(server.base_url, token, datetime.now(UTC).date())
            load = Load([server.base_url], token, events, clients)
            ready: list[tuple[float, int]] = []

            async def probe() -> None:
                async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT) as http:
                    while not load.done:
                        try:
                            ready.append(
                                (
                                    time.monotonic(),
                                    (await http.get(f"{server.base_url}/readyz")).status_code,
                                )
                            )
                        except (httpx.TransportError, httpx.TimeoutException):
                            ready.append((time.monotonic(), 0))
                        await asyncio.sleep(0.1)

            window: dict[str, float] = {}

            async def fault(load: Load) -> None:
                prober = asyncio.create_task(probe())
                while load.progress() < 1 / 3:
                    await asyncio.sleep(0.01)
                window["down"] = time.monotonic()
                await asyncio.to_thread(cluster.stop, "fast")
                await asyncio.sleep(outage)
                await asyncio.to_thread(cluster.start)
                window["up"] = time.monotonic()
                while not load.done and load.finished == 0.0:
                    await asyncio.sleep(0.05)
                load.done = True
                await prober

            asyncio.run(drive(load, date(2024, 6, 25), fault=fault))
            down, up = window["down"], window["up"]
            during = [a for a in load.attempts if down <= a.started < up]
            after = sorted(a.started + a.seconds for a in load.attempts
                           if a.started >= up and a.status == 201)  # fmt: skip
            # Requests served before the database went (201, or a 409 that expected_version
            # asked for) are fine; what is not: no answer, another 5xx, a 503 that is not the
            # store-unavailable problem.
            refused = [
                a for a in during
                if a.status == 0 or (a.status >= 500 and a.status != 503)
                or (a.status == 503 and not a.problem.endswith("/store-unavailable"))
            ]  # fmt: skip
            report.fault = {
                "outage_seconds": round(up - down, 2),
                "answers_during": len(during),
                "503_during": sum(1 for a in during if a.status == 503),
                "not_503_problems": len(refused),
                "statuses_during": dict(Counter(a.status for a in during)),
                "slowest_answer_during_s": round(max((a.seconds for a in during), default=0), 3),
                "write_recovery_s": round(after[0] - up, 2) if after else None,
                "readyz_503_seen": any(s == 503 for t, s in ready if down <= t < up),
                "readyz_200_after_s": next(
                    (round(t - up, 2) for t, s in ready if t >= up and s == 200), None
                ),
            }
            audit(load, report, url, workdir)
            f = report.fault
            if f["slowest_answer_during_s"] > HANG:
                report.problems.append(f"an answer took {f['slowest_answer_during_s']} s")
            if not f["503_during"] or f["not_503_problems"]:
                report.problems.append(f"during the outage: {f}")
            if f["write_recovery_s"] is None or not f["readyz_503_seen"] or (
                    f["readyz_200_after_s"] is None):  # fmt: skip
                report.problems.append(f"no recovery seen: {f}")
        finally:
            server.stop()
    finally:
        cluster.remove()
    return report


@contextmanager
def _database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        path = workdir / f"load-{uuid.uuid4().hex[:8]}.db"
        yield f"sqlite:///{path}"
    else:
        with postgres_schema(new_schema_name()) as schema:
            yield sitrep_url("postgres", workdir, schema)


# --- report --------------------------------------------------------------------------------


def print_reports(reports: list[Report]) -> None:
    """The table; ``vs steady`` is throughput against the same backend's run without a fault."""
    steady = {r.backend: r.throughput for r in reports if r.scenario == "steady"}
    print(f"\n{'scenario':17} {'backend':10} {'events':>7} {'ev/s':>6} {'vs steady':>9} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'lost':>4} {'dup':>4} {'retries':>7} {'503s':>5}  "
          "checks")  # fmt: skip
    for r in reports:
        checks = "all pass" if r.sound else "; ".join(r.problems)
        base = steady.get(r.backend)
        ratio = f"{r.throughput / base:8.0%}" if base and r.scenario != "steady" else " " * 8
        print(f"{r.scenario:17} {r.backend:10} {r.events:7,} {r.throughput:6,.0f} {ratio:>9} "
              f"{r.p50_ms:7.1f} {r.p99_ms:7.1f} {r.lost:4} {r.duplicated:4} {r.retries:7,} "
              f"{r.answers_503:5}  {checks}")  # fmt: skip
    for r in reports:
        details = {**r.fault, "conflicts_409": r.conflicts, "replays_same": r.replays_same,
                   "flags": r.flags}  # fmt: skip
        print(f"  {r.scenario} / {r.backend}: {details}")


QUICK = {"scale_out": 1_500, "kill": 800, "restart": 800, "outage": 2.0}
LONG = {"scale_out": 10_000, "kill": 10_000, "restart": 10_000, "outage": 5.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the short forms CI runs")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--only", choices=["scale-out", "kill", "restart"])
    args = parser.parse_args()
    sizes = QUICK if args.quick else LONG
    reports: list[Report] = []
    with tempfile.TemporaryDirectory(prefix="sitrep-faults-") as tmp:
        workdir = Path(tmp)
        if args.only in (None, "scale-out"):
            reports.append(scale_out(int(sizes["scale_out"]), args.clients, workdir))
        if args.only in (None, "kill"):
            for backend in ("sqlite", "postgresql"):
                if not args.quick:
                    reports.append(kill_nine(int(sizes["kill"]), args.clients, workdir, backend,
                                             kill=False))  # fmt: skip
                reports.append(kill_nine(int(sizes["kill"]), args.clients, workdir, backend))
        if args.only in (None, "restart"):
            reports.append(database_restart(int(sizes["restart"]), args.clients, workdir,
                                            sizes["outage"]))  # fmt: skip
    print_reports(reports)
    if not all(r.sound for r in reports):
        sys.exit(1)


if __name__ == "__main__":
    main()
