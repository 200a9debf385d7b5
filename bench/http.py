"""HTTP append throughput and latency of sitrep, beside a ceiling measured in the same run.

Run ``python -m bench.http`` (full) or ``python -m bench.http --quick`` (under a minute);
``--json PATH`` also writes the results as JSON; ``--client httpx|wrk`` picks the load
generator (by default wrk when it is on the PATH, else httpx); ``--sqlite-synchronous NORMAL``
runs the ceiling and sitrep SQLite at ``synchronous=NORMAL`` instead of ``FULL``.

What is measured: single events appended with ``POST /v1/events`` by 1 and by 32 concurrent
clients, each client sending its requests one after another over its own keep-alive
connection, each request with its own ``Idempotency-Key`` (liaisons retry, so real clients send
one) and expecting ``201``. Each measurement reports requests per second, p50, p95 and p99
latency, and every answer that was not ``201``.

Targets, each a real server started for this run on a fresh database and stopped afterwards,
all served by uvicorn with log level warning and no access log:

* **ceiling**: ``bench/ceiling.py``, a bare FastAPI endpoint that validates a 10-field pydantic
  model and does one plain SQLite insert (WAL, the run's ``synchronous`` level) per request, one
  worker. Any FastAPI service that stores a report spends at least this; sitrep's share of its
  rate says what authentication, the event catalogue, idempotency and the hash chain cost.
* **sitrep SQLite**, one worker (``sitrep serve --workers 1``): the goals are about this one.
* **sitrep PostgreSQL**, two workers, in a fresh schema dropped afterwards: figures only.

Durability is the same on both SQLite targets: WAL and ``--sqlite-synchronous`` (``FULL`` by
default, sitrep's default: one fsync of the WAL per commit, so an acknowledged request survives
a power cut; ``NORMAL`` survives a crash of the process only). sitrep gets it through
``SITREP_SQLITE_SYNCHRONOUS``, the ceiling through ``SITREP_BENCH_CEILING_SYNCHRONOUS``, and
the ceiling's ``/healthz`` reports the level it runs at, which is checked.

Goals: sitrep SQLite reaches at least 60 % of the ceiling's requests per second at 32 clients
(the 1-client ratio is shown too), with p99 under 50 ms at 32 clients.

Load generators (``--client``; ``auto``, the default, takes wrk when it is installed):

* ``httpx`` (needs nothing beyond sitrep's own dependencies): a separate process
  (``python -m bench.http --load ...``) running httpx on asyncio (uvloop when installed), one
  task per client, each with its own ``AsyncClient`` holding one keep-alive connection. (One
  shared client with an N-connection pool costs about four times the CPU per request at 32
  concurrent requests, encode/httpx#3215, and this generator already needs over a millisecond
  of CPU per request.) It warms up with 200 requests at the same concurrency, then runs until
  a fixed number of requests is done or a time cap has passed, whichever comes first.
* ``wrk``: the C load generator, with a generated Lua script that gives every request its own
  key and tallies the answers; one thread, N connections. It is bounded by time only (a 1 s
  warm-up, then the time cap) and needs a few per cent of a core where httpx needs one, so the
  server gets the rest of the machine and the ceiling is measured rather than the client.

Everything runs on loopback, on one machine: the load generator competes with the server for
CPU. On a 2-core machine the httpx generator takes about one core and tops out near the rate
the ceiling can serve, so it holds the ceiling back more than sitrep and flatters the ratio,
and its queueing inflates latencies at 32 clients. The table shows the CPU used during each
timed part (100 % = one core) by the load generator, by the server's processes and by every
other process on the machine (Linux ``/proc``), so that a client-bound measurement, or one
taken on a busy machine, shows as such; a verdict that a client-bound measurement may have
decided is printed as ``PASS?`` or ``MISS?``.

After each target the rows in its database are counted: every ``201`` must have stored exactly
one row (wrk abandons the requests in flight when its time is up; those may be stored too).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from bench.append import POSTGRES_URL, drop_schema, new_schema_name, postgres_problem
from bench.ceiling import DB_ENV as CEILING_DB_ENV
from bench.ceiling import SYNCHRONOUS_ENV as CEILING_SYNCHRONOUS_ENV
from bench.ceiling import SYNCHRONOUS_LEVELS
from bench.ceiling import body as ceiling_body

ROOT = Path(__file__).resolve().parent.parent
MISSION = "mss-haiti"
COUNTRIES = ("KEN", "JAM", "GTM", "SLV", "BHS", "BLZ")
WARMUP = 200
WRK_WARMUP_SECONDS = 1
CLIENTS = (1, 32)
#: What ``PRAGMA synchronous`` answers for each level.
SYNCHRONOUS_VALUES = {"NORMAL": 1, "FULL": 2}
TOKEN_ENV = "SITREP_BENCH_TOKEN"
RATIO_GOAL = 0.60
P99_GOAL_MS = 50.0
CLIENT_BOUND = 0.85  # a load generator using this much of a core probably set the pace
SATURATED = 0.90  # of all cores busy: the machine, not the server, is the limit
BUSY_MACHINE = 0.25  # of a core used by other processes: worth a warning
CPUS = os.cpu_count() or 1
STARTUP_SECONDS = 60.0
REQUEST_TIMEOUT = 30.0


# --- the requests --------------------------------------------------------------------------


def registration() -> dict[str, Any]:
    return {
        "mission": MISSION,
        "type": "MissionRegistered",
        "occurred_on": "2023-10-02",
        "data": {"name": "MSS", "lead_country": "KEN", "host_country": "HTI"},
    }


def sitrep_body(index: int) -> dict[str, Any]:
    return {
        "mission": MISSION,
        "type": "ContingentArrived",
        "occurred_on": "2024-06-25",
        "data": {
            "country": COUNTRIES[index % len(COUNTRIES)],
            "personnel": 200,
            "category": "police",
        },
        "source": {"title": "UN News"},
    }


@dataclass(frozen=True)
class Kind:
    """What a load generator sends: the path, the bodies it cycles through, whether keyed."""

    path: str
    body: Callable[[int], dict[str, Any]]
    keyed: bool

    def bodies(self) -> list[bytes]:
        return [json.dumps(self.body(i)).encode() for i in range(len(COUNTRIES))]


KINDS = {
    "sitrep": Kind("/v1/events", sitrep_body, keyed=True),
    "ceiling": Kind("/reports", ceiling_body, keyed=False),
}


# --- measuring -----------------------------------------------------------------------------


@dataclass
class Measured:
    """One timed run of a load generator against a server."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    #: non-201 answers (warm-up included) by status; "0" counts transport errors
    errors: dict[str, int]
    #: the first few non-201 answers, verbatim (truncated)
    problems: list[str]
    #: 201 answers, warm-up included: each must have stored one row, unless replayed
    created: int
    #: answers marked Idempotency-Replayed (none expected: every key is fresh)
    replayed: int
    #: requests abandoned in flight (wrk stops mid-request): they may have stored a row
    abandoned: int
    #: CPU used during the timed part, in cores: load generator, server, everything else
    client_cpu: float | None
    server_cpu: float | None
    other_cpu: float | None


@dataclass(frozen=True)
class Load:
    """One measurement to run: where, what, how hard, for how long."""

    server: Server
    kind: Kind
    kind_name: str
    token: str | None
    clients: int
    sizes: Sizes
    directory: Path


class LoadFailed(RuntimeError):
    pass


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def tree_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of ``pid`` and all its descendants (Linux only, else None)."""
    try:
        names = os.listdir("/proc")
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, AttributeError, ValueError):
        return None
    stats: dict[int, tuple[int, float]] = {}  # pid -> (parent pid, CPU seconds)
    for name in names:
        if not name.isdigit():
            continue
        try:
            text = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # after "pid (comm) ": state, ppid, ..., utime and stime (fields 14 and 15 of proc(5))
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    if pid not in stats:
        return None
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        total += stats[current][1]
        todo += [child for child, (parent, _) in stats.items() if parent == current]
    return total


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def machine_cpu_seconds() -> float | None:
    """CPU seconds all processes on this machine have used since boot (Linux only, else None)."""
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, AttributeError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in first[1:8])
    return (user + nice + system + irq + softirq) / tick


@dataclass
class CpuWindow:
    """CPU used while a ``cpu_window`` was open, in cores (1.0 = one core busy throughout)."""

    client: float | None = None
    server: float | None = None
    other: float | None = None


def _delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


@contextmanager
def cpu_window(server_pid: int | None, client_seconds: Callable[[], float]) -> Iterator[CpuWindow]:
    """Measure the CPU of the load generator, of the server's process tree, and of the rest.

    ``client_seconds`` reads the load generator's CPU time: ``time.process_time`` in its own
    process, ``children_cpu_seconds`` around a wrk subprocess.
    """
    window = CpuWindow()
    server = tree_cpu_seconds(server_pid) if server_pid else None
    machine = machine_cpu_seconds()
    client = client_seconds()
    began = time.perf_counter()
    yield window
    wall = time.perf_counter() - began
    client = client_seconds() - client
    server = _delta(server, tree_cpu_seconds(server_pid) if server_pid else None)
    machine = _delta(machine, machine_cpu_seconds())
    if wall <= 0:
        return
    window.client = client / wall
    window.server = None if server is None else server / wall
    if machine is not None and server is not None:
        window.other = max(0.0, (machine - server - client) / wall)


# --- the httpx load generator (runs in its own process: python -m bench.http --load URL) ---


@dataclass
class Sample:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    replayed: int = 0
    seconds: float = 0.0


async def httpx_load(
    url: str,
    kind: Kind,
    token: str | None,
    clients: int,
    requests: int,
    seconds: float,
    warmup: int,
    server_pid: int | None,
) -> Measured:
    run = uuid.uuid4().hex[:12]
    bodies = kind.bodies()
    base = {"Content-Type": "application/json"}
    if token:
        base["Authorization"] = f"Bearer {token}"
    one = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with AsyncExitStack() as stack:
        pool = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, headers=base, limits=one, timeout=REQUEST_TIMEOUT)
            )
            for _ in range(clients)
        ]

        async def phase(indexes: range, cap: float) -> Sample:
            sample = Sample()
            taken = iter(indexes)  # shared by the clients: each index is sent once
            deadline = time.perf_counter() + cap

            async def client_loop(client: httpx.AsyncClient) -> None:
                for i in taken:
                    if time.perf_counter() > deadline:
                        return
                    headers = {"Idempotency-Key": f"bench-{run}-{i}"} if kind.keyed else None
                    began = time.perf_counter()
                    try:
                        response = await client.post(
                            kind.path, content=bodies[i % len(bodies)], headers=headers
                        )
                    except httpx.HTTPError as exc:
                        sample.statuses[0] += 1
                        if len(sample.problems) < 5:
                            sample.problems.append(f"{type(exc).__name__}: {exc}")
                        continue
                    sample.latencies.append(time.perf_counter() - began)
                    sample.statuses[response.status_code] += 1
                    if "idempotency-replayed" in response.headers:
                        sample.replayed += 1
                    if response.status_code != 201 and len(sample.problems) < 5:
                        sample.problems.append(f"{response.status_code}: {response.text[:300]}")

            began = time.perf_counter()
            await asyncio.gather(*(client_loop(client) for client in pool))
            sample.seconds = time.perf_counter() - began
            return sample

        warm = await phase(range(warmup), 120.0)
        with cpu_window(server_pid, time.process_time) as cpu:
            timed = await phase(range(warmup, warmup + requests), seconds)

    ordered = sorted(timed.latencies)
    both = timed.statuses + warm.statuses
    return Measured(
        requests=sum(timed.statuses.values()),
        seconds=timed.seconds,
        p50_ms=percentile(ordered, 50) * 1000,
        p95_ms=percentile(ordered, 95) * 1000,
        p99_ms=percentile(ordered, 99) * 1000,
        max_ms=(ordered[-1] if ordered else math.nan) * 1000,
        errors={str(k): v for k, v in sorted(both.items()) if k != 201},
        problems=warm.problems + timed.problems,
        created=both[201],
        replayed=warm.replayed + timed.replayed,
        abandoned=0,
        client_cpu=cpu.client,
        server_cpu=cpu.server,
        other_cpu=cpu.other,
    )


def run_load(args: argparse.Namespace) -> None:
    """The ``--load`` entry point: one measurement, printed as one JSON line."""
    main = httpx_load(
        args.load,
        KINDS[args.kind],
        os.environ.get(TOKEN_ENV),
        args.clients,
        args.requests,
        args.seconds,
        args.warmup,
        args.server_pid,
    )
    try:
        import uvloop
    except ImportError:
        measured = asyncio.run(main)
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            measured = runner.run(main)
    print(json.dumps(asdict(measured)))


def measure_httpx(load: Load) -> Measured:
    command = [sys.executable, "-m", "bench.http", "--load", load.server.url]
    command += ["--kind", load.kind_name, "--clients", str(load.clients)]
    command += ["--requests", str(load.sizes.requests), "--seconds", str(load.sizes.seconds)]
    command += ["--warmup", str(WARMUP), "--server-pid", str(load.server.pid)]
    env = dict(os.environ)
    if load.token:
        env[TOKEN_ENV] = load.token
    done = subprocess.run(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=False, timeout=600
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise LoadFailed(f"load generator exited with status {done.returncode}")
    return Measured(**json.loads(lines[-1]))


# --- the wrk load generator ----------------------------------------------------------------

WRK_SCRIPT = """\
-- Generated by bench/http.py: POST cycling bodies, a fresh Idempotency-Key per request,
-- tally of non-201 answers; done() prints one JSON line prefixed with BENCH-JSON.
local bodies = {%(bodies)s}
local path = %(path)s
local keyed = %(keyed)s
local run = %(run)s
local base = {["Content-Type"] = "application/json"%(auth)s}
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  sent, created, replayed, other, samples = 0, 0, 0, {}, {}
end

function request()
  sent = sent + 1
  local headers = base
  if keyed then
    headers = {}
    for k, v in pairs(base) do headers[k] = v end
    headers["Idempotency-Key"] = string.format("bench-%%s-%%d-%%d", run, id, sent)
  end
  return wrk.format("POST", path, headers, bodies[sent %% #bodies + 1])
end

function response(status, headers, body)
  if headers["Idempotency-Replayed"] or headers["idempotency-replayed"] then
    replayed = replayed + 1
  end
  if status == 201 then
    created = created + 1
  else
    local k = tostring(status)
    other[k] = (other[k] or 0) + 1
    if #samples < 5 then table.insert(samples, k .. ": " .. string.sub(body, 1, 300)) end
  end
end

local function quote(s)
  return '"' .. s:gsub('[%%c"\\\\]', function(c)
    return string.format("\\\\u%%04x", c:byte())
  end) .. '"'
end

function done(summary, latency, requests)
  local total_created, total_replayed, errors, problems = 0, 0, {}, {}
  for _, thread in ipairs(threads) do
    total_created = total_created + thread:get("created")
    total_replayed = total_replayed + thread:get("replayed")
    for k, v in pairs(thread:get("other")) do errors[k] = (errors[k] or 0) + v end
    for _, s in ipairs(thread:get("samples")) do table.insert(problems, quote(s)) end
  end
  local e = summary.errors
  local socket = e.connect + e.read + e.write + e.timeout
  if socket > 0 then errors["0"] = socket end
  local parts = {}
  for k, v in pairs(errors) do table.insert(parts, string.format('"%%s": %%d', k, v)) end
  io.write(string.format(
    'BENCH-JSON {"requests": %%d, "seconds": %%.6f, "p50_ms": %%.3f, "p95_ms": %%.3f, ' ..
    '"p99_ms": %%.3f, "max_ms": %%.3f, "errors": {%%s}, "problems": [%%s], "created": %%d, ' ..
    '"replayed": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(95) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    table.concat(parts, ", "), table.concat(problems, ", "), total_created, total_replayed))
end
"""


def lua_string(text: str) -> str:
    """A Lua string literal: JSON's, which Lua reads alike for printable ASCII text."""
    if not (text.isascii() and text.isprintable()):
        raise ValueError(f"not printable ASCII: {text!r}")
    return json.dumps(text)


def wrk_script(kind: Kind, token: str | None) -> str:
    auth = f', ["Authorization"] = {lua_string("Bearer " + token)}' if token else ""
    return WRK_SCRIPT % {
        "bodies": ", ".join(lua_string(b.decode()) for b in kind.bodies()),
        "path": lua_string(kind.path),
        "keyed": "true" if kind.keyed else "false",
        "run": lua_string(uuid.uuid4().hex[:12]),
        "auth": auth,
    }


def run_wrk(load: Load, seconds: float) -> tuple[dict[str, Any], CpuWindow]:
    """Run wrk once; its BENCH-JSON result and the CPU used meanwhile.

    Each run gets a script of its own: its run id keeps its idempotency keys apart from those
    of every other run against the same server.
    """
    script = load.directory / "load.lua"
    script.write_text(wrk_script(load.kind, load.token))
    command = ["wrk", "-t1", f"-c{load.clients}", f"-d{max(1, round(seconds))}s"]
    command += ["--timeout", f"{REQUEST_TIMEOUT:.0f}s", "-s", str(script), load.server.url]
    with cpu_window(load.server.pid, children_cpu_seconds) as cpu:
        done = subprocess.run(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", check=False, timeout=seconds + REQUEST_TIMEOUT + 30,
        )  # fmt: skip
    found = [line for line in done.stdout.splitlines() if line.startswith("BENCH-JSON ")]
    if done.returncode != 0 or not found:
        raise LoadFailed(f"wrk exited with status {done.returncode}: {done.stdout.strip()}")
    result: dict[str, Any] = json.loads(found[-1].removeprefix("BENCH-JSON "))
    return result, cpu


def measure_wrk(load: Load) -> Measured:
    warm, _ = run_wrk(load, WRK_WARMUP_SECONDS)
    timed, cpu = run_wrk(load, load.sizes.seconds)
    errors = Counter[str](warm["errors"]) + Counter[str](timed["errors"])
    return Measured(
        requests=int(timed["requests"]),
        seconds=float(timed["seconds"]),
        p50_ms=timed["p50_ms"],
        p95_ms=timed["p95_ms"],
        p99_ms=timed["p99_ms"],
        max_ms=timed["max_ms"],
        errors=dict(sorted(errors.items())),
        problems=[*warm["problems"], *timed["problems"]],
        created=int(warm["created"]) + int(timed["created"]),
        replayed=int(warm["replayed"]) + int(timed["replayed"]),
        abandoned=2 * load.clients,
        client_cpu=cpu.client,
        server_cpu=cpu.server,
        other_cpu=cpu.other,
    )


GENERATORS: dict[str, Callable[[Load], Measured]] = {"httpx": measure_httpx, "wrk": measure_wrk}


# --- servers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without SITREP_* settings (sitrep's defaults), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    env.update(extra)
    return env


def sitrep_command() -> list[str]:
    script = Path(sys.executable).parent / "sitrep"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sitrep.cli; sitrep.cli.main()"]


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ServerFailed(RuntimeError):
    pass


@contextmanager
def serving(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> Iterator[Server]:
    """Start a server in its own process group, wait for /healthz, and stop the group after."""
    port = free_port()
    full = [*command, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            full, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        server = Server(process, f"http://127.0.0.1:{port}", log)
        wait_healthy(server)
        yield server
    finally:
        stop(process)


def wait_healthy(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx.Client(base_url=server.url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise ServerFailed(
                    f"server exited with status {server.process.returncode}:\n{server.log_tail()}"
                )
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
    raise ServerFailed(f"server not healthy after {STARTUP_SECONDS:.0f} s:\n{server.log_tail()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (uvicorn and its workers), SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    process.poll()


# --- targets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    requests: int
    seconds: float


FULL = Sizes(requests=5_000, seconds=10.0)
QUICK = Sizes(requests=1_000, seconds=3.0)


@dataclass(frozen=True)
class Target:
    name: str
    label: str
    workers: int
    backend: str  # "ceiling", "sqlite" or "postgres"
    kind: str  # a key of KINDS


TARGETS = (
    Target("ceiling", "ceiling (FastAPI+sqlite3)", 1, "ceiling", "ceiling"),
    Target("sitrep-sqlite", "sitrep SQLite", 1, "sqlite", "sitrep"),
    Target("sitrep-pg", "sitrep PostgreSQL", 2, "postgres", "sitrep"),
)


@dataclass
class Result:
    target: str
    label: str
    workers: int
    clients: int
    measured: Measured | None = None
    failure: str | None = None

    @property
    def rate(self) -> float | None:
        m = self.measured
        return m.requests / m.seconds if m and m.seconds else None

    @property
    def client_bound(self) -> bool:
        """Whether the load generator probably set the pace.

        Either it kept a core busy, or every core was busy and it used more CPU than the
        server: then the server waited for CPU the client was using.
        """
        m = self.measured
        if m is None or m.client_cpu is None:
            return False
        if m.client_cpu >= CLIENT_BOUND:
            return True
        if m.server_cpu is None or m.other_cpu is None:
            return False
        busy = m.client_cpu + m.server_cpu + m.other_cpu
        return busy >= SATURATED * CPUS and m.client_cpu >= m.server_cpu

    @property
    def error_count(self) -> int:
        return sum(self.measured.errors.values()) if self.measured else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "label": self.label,
            "workers": self.workers,
            "clients": self.clients,
            "requests_per_second": self.rate,
            **(asdict(self.measured) if self.measured else {}),
            "failure": self.failure,
        }


def sitrep_url(backend: str, directory: Path, schema: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{directory / 'sitrep.db'}"
    url = POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1)
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}options=-csearch_path%3D{schema}"


def create_token(env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [*sitrep_command(), "token", "create", "--role", "admin", "--name", "bench"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ServerFailed(f"sitrep token create failed ({done.returncode}): {done.stderr.strip()}")
    return lines[-1].strip()


def register_mission(server: Server, token: str) -> None:
    response = httpx.post(
        f"{server.url}/v1/events",
        json=registration(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=REQUEST_TIMEOUT,
    )
    if response.status_code != 201:
        raise ServerFailed(f"registering the mission: {response.status_code} {response.text}")


def count_rows(target: Target, directory: Path, schema: str) -> int:
    if target.backend == "postgres":
        with psycopg.connect(POSTGRES_URL, options=f"-csearch_path={schema}") as conn:
            row = conn.execute("SELECT count(*) FROM events").fetchone()
        return int(row[0]) if row else 0
    if target.backend == "ceiling":
        path, table = directory / "ceiling.db", "reports"
    else:
        path, table = directory / "sitrep.db", "events"
    db = sqlite3.connect(path)
    try:
        (count,) = db.execute(f"SELECT count(*) FROM {table}").fetchone()
    finally:
        db.close()
    return int(count)


@contextmanager
def scratch_schema(target: Target) -> Iterator[str]:
    if target.backend != "postgres":
        yield ""
        return
    name = new_schema_name()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        drop_schema(name)


def check_ceiling_synchronous(server: Server, synchronous: str) -> None:
    answer = httpx.get(f"{server.url}/healthz", timeout=REQUEST_TIMEOUT).json()
    if answer.get("synchronous") != SYNCHRONOUS_VALUES[synchronous]:
        raise ServerFailed(
            f"the ceiling runs at synchronous={answer.get('synchronous')}, not {synchronous}"
        )


def run_target(
    target: Target, sizes: Sizes, generator: str, synchronous: str
) -> tuple[list[Result], str]:
    """Start the target's server, measure it at every client count, stop it; and a check line."""
    results = [Result(target.name, target.label, target.workers, n) for n in CLIENTS]
    measure = GENERATORS[generator]
    with (
        tempfile.TemporaryDirectory(prefix="sitrep-bench-http-") as tmp,
        scratch_schema(target) as schema,
    ):
        directory = Path(tmp)
        log = directory / "server.log"
        token: str | None = None
        if target.backend == "ceiling":
            env = clean_environment(PYTHONPATH=str(ROOT))
            env[CEILING_DB_ENV] = str(directory / "ceiling.db")
            env[CEILING_SYNCHRONOUS_ENV] = synchronous
            command = [sys.executable, "-m", "uvicorn", "bench.ceiling:app"]
            command += ["--workers", str(target.workers), "--log-level", "warning"]
            command += ["--no-access-log"]
        else:
            env = clean_environment(
                SITREP_DATABASE_URL=sitrep_url(target.backend, directory, schema),
                SITREP_SCHEDULER_ENABLED="false",
                SITREP_SQLITE_SYNCHRONOUS=synchronous,  # no effect on PostgreSQL
            )
            token = create_token(env, directory)
            command = [*sitrep_command(), "serve", "--workers", str(target.workers)]
        try:
            with serving(command, env, directory, log) as server:
                if token is not None:
                    register_mission(server, token)
                else:
                    check_ceiling_synchronous(server, synchronous)
                for result in results:
                    load = Load(
                        server, KINDS[target.kind], target.kind, token, result.clients, sizes,
                        directory,
                    )  # fmt: skip
                    try:
                        result.measured = measure(load)
                    except (LoadFailed, subprocess.TimeoutExpired) as exc:
                        result.failure = str(exc).splitlines()[0]
                    print_row(result)
                    if server.process.poll() is not None:
                        raise ServerFailed(f"server died:\n{server.log_tail()}")
        except ServerFailed as exc:
            for result in results:
                if result.measured is None and result.failure is None:
                    result.failure = str(exc).splitlines()[0]
            print(f"  {target.label}: {exc}")
            return results, f"{target.label}: not checked (server failed)"
        measured = [r.measured for r in results if r.measured]
        created = sum(m.created - m.replayed for m in measured)
        abandoned = sum(m.abandoned for m in measured)
        replayed = sum(m.replayed for m in measured)
        expected = created + (0 if token is None else 1)
        stored = count_rows(target, directory, schema)
        ok = expected <= stored <= expected + abandoned and replayed == 0
        wanted = f"{expected:,}" + (f" to {expected + abandoned:,}" if abandoned else "")
        check = f"{target.label}: {stored:,} rows stored, {wanted} expected"
        check += f", {replayed} replayed" if replayed else ""
        check += " (ok)" if ok else " (MISMATCH)"
        check += log_summary(log)
    return results, check


def log_summary(log: Path) -> str:
    """The server's logged problems (uvicorn logs at warning), counted by kind.

    A kind is the log line (ids masked) and, when a traceback follows, its final exception.
    """
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    found: Counter[str] = Counter()
    head: str | None = None
    last: str | None = None

    def flush() -> None:
        if head is not None:
            found[f"{head} -> {last}" if last else head] += 1

    for line in lines:
        if line.startswith(("ERROR", "WARNING", "CRITICAL")):
            flush()
            head, last = re.sub(r"[0-9a-f]{16,}", "<id>", " ".join(line.split()))[:120], None
        elif head is not None and line[:1].strip() and not line.startswith(CHAINING):
            last = line[:120]  # the newest unindented line of a traceback: its exception
    flush()
    if not found:
        return ""
    shown = "".join(f"\n    {n} x {kind}" for kind, n in found.most_common(5))
    return f"\n  server log: {sum(found.values())} error(s) or warning(s):{shown}"


CHAINING = ("Traceback", "During handling of the above", "The above exception")


# --- the driver ----------------------------------------------------------------------------

ROW = "{:<25} {:>7} {:>7} {:>8} {:>7} {:>6} {:>6} {:>6} {:>6} {:>5} {:>5} {:>5}"


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def percent(value: float | None) -> str:
    return fmt(None if value is None else value * 100, ".0f")


def print_row(result: Result) -> None:
    m = result.measured
    if m is None:
        print(ROW.format(result.label, result.workers, result.clients, "-", "FAILED", *"-" * 7))
        print(f"  {result.failure}")
    else:
        print(
            ROW.format(
                result.label,
                result.workers,
                result.clients,
                f"{m.requests:,}",
                fmt(result.rate, ",.0f"),
                fmt(m.p50_ms, ".1f"),
                fmt(m.p95_ms, ".1f"),
                fmt(m.p99_ms, ".1f"),
                result.error_count,
                percent(m.client_cpu),
                percent(m.server_cpu),
                percent(m.other_cpu),
            )
        )
        for status, count in m.errors.items():
            print(f"  {count} answer(s) with status {status} (0: no answer)")
        for problem in m.problems:
            print(f"  non-201: {problem}")
    sys.stdout.flush()


@dataclass(frozen=True)
class Verdict:
    name: str
    got: str
    goal: str
    verdict: str
    value: float | None


def verdicts(results: dict[tuple[str, int], Result]) -> list[Verdict]:
    out: list[Verdict] = []
    busy = max(CLIENTS)
    for clients in CLIENTS:
        sitrep = results.get(("sitrep-sqlite", clients))
        ceiling = results.get(("ceiling", clients))
        ratio = None
        if sitrep and ceiling and sitrep.rate and ceiling.rate:
            ratio = sitrep.rate / ceiling.rate
        name = f"sitrep SQLite / ceiling req/s, {clients} client{'s' if clients > 1 else ''}"
        got = "n/a" if ratio is None else f"{ratio:.0%}"
        if clients == busy:
            verdict = "n/a" if ratio is None else ("PASS" if ratio >= RATIO_GOAL else "MISS")
            if verdict == "PASS" and ceiling and ceiling.client_bound:
                verdict = "PASS?"  # the ceiling's rate is understated, the ratio overstated
            out.append(Verdict(name, got, f">= {RATIO_GOAL:.0%}", verdict, ratio))
        else:
            out.append(Verdict(name, got, "-", "info", ratio))
    sitrep = results.get(("sitrep-sqlite", busy))
    p99 = sitrep.measured.p99_ms if sitrep and sitrep.measured else None
    verdict = "n/a" if p99 is None else ("PASS" if p99 < P99_GOAL_MS else "MISS")
    if verdict == "MISS" and sitrep and sitrep.client_bound:
        verdict = "MISS?"  # the client's own queueing is in the latency
    shown = "n/a" if p99 is None else f"{p99:.1f} ms"
    out.append(
        Verdict(
            f"sitrep SQLite p99, {busy} clients", shown, f"< {P99_GOAL_MS:.0f} ms", verdict, p99
        )
    )
    errors = sum(r.error_count for r in results.values())
    out.append(
        Verdict("non-201 answers, all measurements", str(errors), "0",
                "PASS" if errors == 0 else "MISS", errors)
    )  # fmt: skip
    return out


def wrk_version() -> str:
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" [")[0] if first else "wrk"


def environment(pg_problem: str | None, generator: str, synchronous: str) -> dict[str, str]:
    from importlib.metadata import version

    info = {
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "sqlite": f"{sqlite3.sqlite_version} (WAL, synchronous={synchronous})",
        "fastapi": version("fastapi"),
        "pydantic": version("pydantic"),
        "uvicorn": version("uvicorn"),
        "postgresql": f"unavailable ({pg_problem})" if pg_problem else "",
        "load generator": wrk_version() if generator == "wrk" else f"httpx {version('httpx')}",
    }
    if pg_problem is None:
        with psycopg.connect(POSTGRES_URL) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        info["postgresql"] = str(row[0]).split(" ")[0] if row else "?"
    return info


def drive(quick: bool, json_path: Path | None, client: str, synchronous: str) -> int:
    began = time.perf_counter()
    sizes = QUICK if quick else FULL
    generator = ("wrk" if shutil.which("wrk") else "httpx") if client == "auto" else client
    if generator == "wrk" and shutil.which("wrk") is None:
        print("error: --client wrk, but wrk is not on the PATH", file=sys.stderr)
        return 2
    pg_problem = postgres_problem()
    env = environment(pg_problem, generator, synchronous)
    print(
        f"sitrep HTTP append benchmark ({'quick' if quick else 'full'} run, "
        f"SQLite synchronous={synchronous})"
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in env.items()))
    print(f"  the ceiling and sitrep SQLite both run in WAL mode at synchronous={synchronous}")
    if generator == "wrk":
        print(
            f"  one event per POST; each measurement runs {sizes.seconds:g} s after a "
            f"{WRK_WARMUP_SECONDS} s warm-up; wrk, 1 thread, one connection per client"
        )
    else:
        print(
            f"  one event per POST; each measurement: {sizes.requests:,} requests or "
            f"{sizes.seconds:g} s, whichever comes first, after {WARMUP} warm-up requests; "
            "httpx + asyncio, one keep-alive connection per client"
        )
    print(
        f"  the load generator runs on this machine too, sharing its {os.cpu_count()} CPUs with "
        "the server; during the"
    )
    print(
        "  timed part, cli% = CPU of the load generator, srv% = of the server, oth% = of "
        "everything else"
    )
    print("  (100 = one core); cli% near 100 = client-bound, oth% well above 0 = a busy machine")
    print()
    header = ("target", "workers", "clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms")
    print(ROW.format(*header, "errors", "cli%", "srv%", "oth%"))
    print("-" * 109)
    results: dict[tuple[str, int], Result] = {}
    checks: list[str] = []
    for target in TARGETS:
        if target.backend == "postgres" and pg_problem is not None:
            continue
        try:
            found, check = run_target(target, sizes, generator, synchronous)
        except (ServerFailed, OSError, psycopg.Error, sqlite3.Error) as exc:
            print(f"  {target.label}: {exc}")
            found = [
                Result(target.name, target.label, target.workers, n, failure=str(exc))
                for n in CLIENTS
            ]
            check = f"{target.label}: not checked"
        checks.append(check)
        for result in found:
            results[(result.target, result.clients)] = result

    print()
    print(f"{'goal':<48} {'got':>9} {'goal':>9}  verdict")
    print("-" * 76)
    judged = verdicts(results)
    for v in judged:
        print(f"{v.name:<48} {v.got:>9} {v.goal:>9}  {v.verdict}")
    bound = [f"{r.label}, {r.clients} client{'s' if r.clients > 1 else ''}"
             for r in results.values() if r.client_bound]  # fmt: skip
    if bound:
        print(
            f"warning: client-bound (load generator >= {CLIENT_BOUND:.0%} of a core, or all "
            "cores busy and the load"
        )
        print(f"  generator using more CPU than the server): {'; '.join(bound)}.")
        print("  Their rates are understated and their latencies include the client's own")
        print("  queueing: a PASS? on a ratio or a MISS? on a latency is not to be trusted.")
        if generator == "httpx":
            print("  wrk (--client wrk) needs far less CPU than httpx.")
    others = [r.measured.other_cpu for r in results.values() if r.measured and r.measured.other_cpu]
    if others and max(others) >= BUSY_MACHINE:
        print(
            f"warning: other processes used up to {max(others):.0%} of a core during the timed "
            "parts (oth%);"
        )
        print("  the figures are lower and noisier than on an idle machine.")
    print()
    for check in checks:
        print(check)
    if pg_problem is not None:
        print(f"PostgreSQL target skipped: {pg_problem}")
    wall = time.perf_counter() - began
    print(f"wall time {wall:.1f} s")

    if json_path is not None:
        payload = {
            "run": "quick" if quick else "full",
            "generator": generator,
            "sqlite_synchronous": synchronous,
            "sizes": asdict(sizes),
            "warmup": f"{WRK_WARMUP_SECONDS} s" if generator == "wrk" else WARMUP,
            "environment": env,
            "results": [r.as_json() for r in results.values()],
            "goals": [asdict(v) for v in judged],
            "checks": checks,
            "wall_seconds": wall,
        }
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
    failed = any(r.failure for r in results.values()) or any("MISMATCH" in c for c in checks)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: under a minute")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument(
        "--client",
        choices=("httpx", "wrk", "auto"),
        default="auto",
        help="load generator (default auto: wrk when on the PATH, else httpx)",
    )
    parser.add_argument(
        "--sqlite-synchronous",
        choices=SYNCHRONOUS_LEVELS,
        default="FULL",
        help="synchronous level of the ceiling and of sitrep SQLite alike (default FULL,"
        " sitrep's default)",
    )
    internal = parser.add_argument_group("the httpx load generator (run by the benchmark)")
    internal.add_argument("--load", metavar="URL", help="run one measurement against URL")
    internal.add_argument("--kind", choices=list(KINDS), default="sitrep")
    internal.add_argument("--clients", type=int, default=1)
    internal.add_argument("--requests", type=int, default=QUICK.requests)
    internal.add_argument("--seconds", type=float, default=QUICK.seconds)
    internal.add_argument("--warmup", type=int, default=WARMUP)
    internal.add_argument("--server-pid", type=int, help="server PID, to measure its CPU")
    args = parser.parse_args(argv)
    if args.load:
        run_load(args)
        return 0
    return drive(args.quick, args.json, args.client, args.sqlite_synchronous)


if __name__ == "__main__":
    sys.exit(main())
