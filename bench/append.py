"""Append throughput of the sitrep event store, beside baselines measured in the same run.

Run ``python -m bench.append`` (full) or ``python -m bench.append --quick`` (under a minute);
``--json PATH`` also writes the results as JSON; ``--sqlite-synchronous NORMAL`` runs every
SQLite mode at ``synchronous=NORMAL`` instead of ``FULL`` (sitrep's default).

What is measured, in events per second:

* **sitrep** on SQLite and on PostgreSQL, one event per ``append`` call (one transaction each)
  and batches of 500 events per call. Each timed append includes ``store.parse`` (validation),
  because a caller cannot append without it: that is the honest cost of an append.
* **raw sqlite3**: the plain ``sqlite3`` module in WAL mode at the run's ``synchronous`` level,
  writing rows of the same size and shape into a table with the same
  ``UNIQUE(stream, version)`` index, one row per ``BEGIN; INSERT; COMMIT`` and 500 rows per
  transaction. This is about what the database itself costs for these rows; sitrep's share
  of it says how much the store adds on top.
* **raw psycopg**: the same table on PostgreSQL, one row per transaction and 500 rows per
  transaction (``executemany``), at the server's default ``synchronous_commit``.
* **eventsourcing** (the Python peer library) on SQLite at its default settings (WAL) but for
  the run's ``synchronous`` level (its own default is FULL), saving one event of a tiny
  aggregate per ``app.save``.

Durability is the same for every SQLite mode of a run: WAL and ``--sqlite-synchronous``
(``FULL`` by default, as in sitrep: one fsync of the WAL per commit, so a commit survives a
power cut; ``NORMAL`` survives a crash of the process only and commits several times faster).
sitrep gets it through ``Settings(sqlite_synchronous=...)``, the baselines through the pragma,
and each SQLite mode reads the level back from its connection and fails if it differs. At
FULL the single-row SQLite modes are bound by the disk's flush rate, not the CPU.

The baselines do the least any store must do per row (a fresh id, the next position and
stream version, one insert); their JSON and hash text are prepared beforehand. sitrep also
validates, hash-chains every event, reads the head and the stream version inside each
transaction, and its table carries one more index (the unique event ``id``).

Every measurement runs in a fresh subprocess (``python -m bench.append --mode NAME``), so each
one starts cold in memory, its peak RSS is its own, and nothing one mode allocates or caches
leaks into the next. Each mode warms up briefly (200 single appends or one batch) before its
timed loop, and checks afterwards that every event it timed was stored. Modes run back to
back in one run, each baseline next to the sitrep mode it is compared with.

Single appends on PostgreSQL wait for one WAL flush per commit (a few hundred per second on
ordinary disks), so those modes use fewer events; the output says how many.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from events.recorders import COLUMNS  # the raw table mirrors sitrep's own columns

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get(
    "SITREP_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
MISSION = "mss-haiti"
BATCH = 500
WARMUP = 200
RECORDED_BY = "bench"
RSS_GOAL_MB = 200.0

RAW_TABLE = """
CREATE TABLE events (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    mission TEXT NOT NULL,
    stream TEXT NOT NULL,
    version INT NOT NULL,
    type TEXT NOT NULL,
    schema_version INT NOT NULL,
    occurred_on TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL,
    data TEXT NOT NULL,
    source TEXT,
    notes TEXT,
    hash TEXT NOT NULL,
    UNIQUE (stream, version)
)
"""
#: Stands in for the 64 hex digits of a chain hash in baseline rows.
RAW_HASH = "9f" * 32


# --- the events appended -----------------------------------------------------------------


def registration() -> dict[str, Any]:
    return {
        "mission": MISSION,
        "type": "MissionRegistered",
        "occurred_on": "2023-10-02",
        "data": {
            "name": "Multinational Security Support mission",
            "lead_country": "KEN",
            "host_country": "HTI",
        },
    }


def event_bodies() -> list[dict[str, Any]]:
    """A realistic mix touching twelve streams: arrivals, pledges of personnel, deposits.

    None of these types needs the stream's history to be checked, so every append costs the
    same however long the run: the figures do not drift with N.
    """
    countries = ("KEN", "JAM", "GTM", "SLV", "BHS", "BLZ")
    donors = ("USA", "CAN", "EU")
    source = {"title": "UN News", "url": "https://news.un.org/en/story/2024/06/1151346"}
    bodies: list[dict[str, Any]] = []
    for i in range(60):
        country = countries[i % len(countries)]
        category = ("police", "military")[i // len(countries) % 2]
        common = {"mission": MISSION, "source": source}
        match i % 5:
            case 0 | 1 | 2:
                data: dict[str, Any] = {
                    "country": country,
                    "personnel": 40 + 7 * i,
                    "category": category,
                }
                bodies.append(
                    {
                        **common,
                        "type": "ContingentArrived",
                        "occurred_on": "2024-06-25",
                        "data": data,
                    }
                )
            case 3:
                data = {"country": country, "personnel": 100 + 10 * i, "category": category}
                bodies.append(
                    {
                        **common,
                        "type": "PersonnelPledged",
                        "occurred_on": "2023-09-22",
                        "data": data,
                    }
                )
            case _:
                data = {
                    "donor": donors[i // 5 % len(donors)],
                    "amount": f"{250_000 + 12_500 * i}.00",
                    "currency": "USD",
                    "channel": "trust_fund",
                }
                bodies.append(
                    {**common, "type": "FundsDeposited", "occurred_on": "2024-03-01", "data": data}
                )
    return bodies


def stream_of(body: dict[str, Any]) -> str:
    data = body["data"]
    if body["type"] == "FundsDeposited":
        return f"funding:{body['mission']}:{data['donor']}"
    return f"contingent:{body['mission']}:{data['country']}"


# --- measurements (each runs in its own subprocess) --------------------------------------


SYNCHRONOUS_LEVELS = ("FULL", "NORMAL")
#: What ``PRAGMA synchronous`` answers for each level.
SYNCHRONOUS_VALUES = {"NORMAL": 1, "FULL": 2}


@dataclass(frozen=True)
class Scratch:
    """Where a measurement may write (a temporary directory and a PostgreSQL schema name),
    and the ``synchronous`` level of the run's SQLite connections."""

    dir: Path
    schema: str
    synchronous: str = "FULL"


def check_synchronous(what: str, connection: Any, expected: str) -> None:
    """Fail unless this SQLite connection runs in WAL mode at the run's synchronous level."""
    (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    (level,) = connection.execute("PRAGMA synchronous").fetchone()
    if str(mode).lower() != "wal" or int(level) != SYNCHRONOUS_VALUES[expected]:
        raise RuntimeError(
            f"{what}: journal_mode={mode}, synchronous={level}; expected wal, {expected}"
        )


@dataclass(frozen=True)
class Timed:
    events: int
    seconds: float


Measure = Callable[[int, Scratch], Timed]


def chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(start + size, n))


def _expect(what: str, stored: int, expected: int) -> None:
    if stored != expected:
        raise RuntimeError(f"{what}: {stored} events stored, {expected} expected")


def sitrep_measure(backend: str, batch: bool) -> Measure:
    def measure(n: int, scratch: Scratch) -> Timed:
        from sitrep.database import open_store
        from sitrep.settings import Settings

        if backend == "sqlite":
            url = f"sqlite:///{scratch.dir / 'sitrep.db'}"
        else:
            url = f"{POSTGRES_URL}?options=-csearch_path%3D{scratch.schema}"
        settings = Settings(
            _env_file=None,
            database_url=url,
            sqlite_synchronous=scratch.synchronous,
        )
        store = open_store(settings)
        try:
            parse, append = store.parse, store.append
            bodies = event_bodies()
            k = len(bodies)
            append([parse(registration())], recorded_by=RECORDED_BY)

            def single(indexes: range) -> None:
                for i in indexes:
                    append([parse(bodies[i % k])], recorded_by=RECORDED_BY)

            def batches(indexes: range) -> None:
                for part in chunks(len(indexes), BATCH):
                    events = [parse(bodies[(indexes.start + i) % k]) for i in part]
                    append(events, recorded_by=RECORDED_BY, batch=True)

            run = batches if batch else single
            warmup = BATCH if batch else WARMUP
            run(range(warmup))
            start = time.perf_counter()
            run(range(warmup, warmup + n))
            seconds = time.perf_counter() - start
            head = store.head()
            _expect("sitrep", head[0] if head else 0, 1 + warmup + n)
            if backend == "sqlite":
                with store.recorder._writer_connection() as writer:
                    check_synchronous("sitrep", writer, scratch.synchronous)
            return Timed(n, seconds)
        finally:
            store.close()

    return measure


class RawRows:
    """Baseline rows shaped and sized like sitrep's, made with the least work per row."""

    def __init__(self) -> None:
        registered = registration()
        bodies = [registered, *event_bodies()]
        self.templates = [
            (
                b["mission"],
                "mission:" + MISSION if b is registered else stream_of(b),
                b["type"],
                b["occurred_on"],
                json.dumps(b["data"]),
                json.dumps(b["source"]) if "source" in b else None,
            )
            for b in bodies
        ]
        self.position = 0
        self.versions: dict[str, int] = {}

    def make(self, index: int, recorded_at: str) -> tuple[Any, ...]:
        mission, stream, type_, occurred_on, data, source = self.templates[index]
        self.position += 1
        version = self.versions[stream] = self.versions.get(stream, 0) + 1
        return (
            self.position,
            str(uuid.uuid4()),
            mission,
            stream,
            version,
            type_,
            1,
            occurred_on,
            recorded_at,
            RECORDED_BY,
            data,
            source,
            None,
            RAW_HASH,
        )

    def registration_row(self) -> tuple[Any, ...]:
        return self.make(0, now_text())

    def rows(self, indexes: range) -> list[tuple[Any, ...]]:
        """One transaction's rows (``index`` cycles through the event bodies, as sitrep's do)."""
        recorded_at = now_text()
        k = len(self.templates) - 1
        return [self.make(1 + i % k, recorded_at) for i in indexes]


def now_text() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def raw_insert(placeholder: str) -> str:
    marks = ", ".join([placeholder] * len(COLUMNS))
    return f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({marks})"


def raw_sqlite_measure(batch: bool) -> Measure:
    def measure(n: int, scratch: Scratch) -> Timed:
        conn = sqlite3.connect(scratch.dir / "raw.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            level = scratch.synchronous
            assert level in SYNCHRONOUS_LEVELS  # formatted into the pragma
            conn.execute(f"PRAGMA synchronous={level}")
            check_synchronous("raw sqlite3", conn, level)
            conn.execute(RAW_TABLE)
            insert = raw_insert("?")
            rows = RawRows()
            conn.execute("BEGIN")
            conn.execute(insert, rows.registration_row())
            conn.execute("COMMIT")

            def single(indexes: range) -> None:
                for i in indexes:
                    row = rows.make(1 + i % (len(rows.templates) - 1), now_text())
                    conn.execute("BEGIN")
                    conn.execute(insert, row)
                    conn.execute("COMMIT")

            def batches(indexes: range) -> None:
                for part in chunks(len(indexes), BATCH):
                    block = rows.rows(range(indexes.start + part.start, indexes.start + part.stop))
                    conn.execute("BEGIN")
                    conn.executemany(insert, block)
                    conn.execute("COMMIT")

            run = batches if batch else single
            warmup = BATCH if batch else WARMUP
            run(range(warmup))
            start = time.perf_counter()
            run(range(warmup, warmup + n))
            seconds = time.perf_counter() - start
            (stored,) = conn.execute("SELECT count(*) FROM events").fetchone()
            _expect("raw sqlite3", stored, 1 + warmup + n)
            return Timed(n, seconds)
        finally:
            conn.close()

    return measure


def raw_psycopg_measure(batch: bool) -> Measure:
    def measure(n: int, scratch: Scratch) -> Timed:
        options = f"-csearch_path={scratch.schema}"
        with psycopg.connect(POSTGRES_URL, options=options) as conn:
            conn.execute(RAW_TABLE)
            conn.commit()
            insert = raw_insert("%s")
            rows = RawRows()
            cursor = conn.cursor()
            cursor.execute(insert, rows.registration_row())
            conn.commit()

            def single(indexes: range) -> None:
                for i in indexes:
                    row = rows.make(1 + i % (len(rows.templates) - 1), now_text())
                    cursor.execute(insert, row)
                    conn.commit()

            def batches(indexes: range) -> None:
                for part in chunks(len(indexes), BATCH):
                    block = rows.rows(range(indexes.start + part.start, indexes.start + part.stop))
                    cursor.executemany(insert, block)
                    conn.commit()

            run = batches if batch else single
            warmup = BATCH if batch else WARMUP
            run(range(warmup))
            start = time.perf_counter()
            run(range(warmup, warmup + n))
            seconds = time.perf_counter() - start
            found = cursor.execute("SELECT count(*) FROM events").fetchone()
            conn.commit()
            _expect("raw psycopg", found[0] if found else 0, 1 + warmup + n)
            return Timed(n, seconds)

    return measure


def eventsourcing_measure(n: int, scratch: Scratch) -> Timed:
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate, event

    class Contingent(Aggregate):
        def __init__(self, country: str) -> None:
            self.country = country
            self.personnel = 0

        @event("Arrived")
        def arrive(self, personnel: int) -> None:
            self.personnel += personnel

    # eventsourcing has no setting for it: its connections get the run's level as they are made
    # (this process runs this mode only).
    from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool

    level = scratch.synchronous
    assert level in SYNCHRONOUS_LEVELS  # formatted into the pragma
    create = SQLiteConnectionPool._create_connection

    def create_at_level(pool: SQLiteConnectionPool) -> SQLiteConnection:
        connection = create(pool)
        connection._sqlite_conn.execute(f"PRAGMA synchronous={level}")
        check_synchronous("eventsourcing", connection._sqlite_conn, level)
        return connection

    SQLiteConnectionPool._create_connection = create_at_level  # type: ignore[method-assign,assignment]

    db = scratch.dir / "eventsourcing.db"
    app: Application = Application(
        env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)}
    )
    try:
        contingent = Contingent("KEN")
        app.save(contingent)
        for _ in range(WARMUP):
            contingent.arrive(200)
            app.save(contingent)
        start = time.perf_counter()
        for _ in range(n):
            contingent.arrive(200)
            app.save(contingent)
        seconds = time.perf_counter() - start
    finally:
        app.close()
    with sqlite3.connect(db) as conn:
        (stored,) = conn.execute("SELECT count(*) FROM stored_events").fetchone()
    conn.close()
    _expect("eventsourcing", stored, 1 + WARMUP + n)
    return Timed(n, seconds)


@dataclass(frozen=True)
class Mode:
    name: str
    label: str
    backend: str  # "sqlite" or "postgres"
    batch: bool
    measure: Measure


#: In the order they run: each baseline beside the sitrep mode it is compared with.
MODES: dict[str, Mode] = {
    mode.name: mode
    for mode in (
        Mode(
            "raw-sqlite-single",
            "raw sqlite3, single-row tx",
            "sqlite",
            False,
            raw_sqlite_measure(batch=False),
        ),
        Mode(
            "sitrep-sqlite-single",
            "sitrep SQLite, single",
            "sqlite",
            False,
            sitrep_measure("sqlite", batch=False),
        ),
        Mode(
            "eventsourcing-sqlite",
            "eventsourcing SQLite, single",
            "sqlite",
            False,
            eventsourcing_measure,
        ),
        Mode(
            "raw-sqlite-batch",
            "raw sqlite3, 500 rows/tx",
            "sqlite",
            True,
            raw_sqlite_measure(batch=True),
        ),
        Mode(
            "sitrep-sqlite-batch",
            "sitrep SQLite, batch 500",
            "sqlite",
            True,
            sitrep_measure("sqlite", batch=True),
        ),
        Mode(
            "raw-pg-single",
            "raw psycopg, single-row tx",
            "postgres",
            False,
            raw_psycopg_measure(batch=False),
        ),
        Mode(
            "sitrep-pg-single",
            "sitrep PostgreSQL, single",
            "postgres",
            False,
            sitrep_measure("postgres", batch=False),
        ),
        Mode(
            "raw-pg-batch",
            "raw psycopg, 500 rows/tx",
            "postgres",
            True,
            raw_psycopg_measure(batch=True),
        ),
        Mode(
            "sitrep-pg-batch",
            "sitrep PostgreSQL, batch 500",
            "postgres",
            True,
            sitrep_measure("postgres", batch=True),
        ),
    )
}


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


@contextmanager
def postgres_schema(name: str) -> Iterator[str]:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        drop_schema(name)


def drop_schema(name: str) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")


def run_worker(
    name: str, n: int, directory: str | None, schema: str | None, synchronous: str
) -> None:
    """Run one measurement in this process and print its result as one JSON line."""
    mode = MODES[name]
    with tempfile.TemporaryDirectory(prefix="sitrep-bench-", dir=directory) as tmp:
        if mode.backend == "postgres":
            with postgres_schema(schema or new_schema_name()) as created:
                timed = mode.measure(n, Scratch(Path(tmp), created, synchronous))
        else:
            timed = mode.measure(n, Scratch(Path(tmp), "", synchronous))
    print(json.dumps({"mode": name, **asdict(timed), "rss_mb": round(peak_rss_mb(), 1)}))


def new_schema_name() -> str:
    return f"bench_{uuid.uuid4().hex[:12]}"


# --- the driver: runs every mode in a subprocess and reports -----------------------------


@dataclass(frozen=True)
class Sizes:
    single: int
    batch: int
    pg_single: int

    def events(self, mode: Mode) -> int:
        if mode.batch:
            return self.batch
        return self.pg_single if mode.backend == "postgres" else self.single


FULL = Sizes(single=100_000, batch=100_000, pg_single=5_000)
QUICK = Sizes(single=3_000, batch=20_000, pg_single=1_000)


@dataclass
class Result:
    mode: str
    label: str
    events: int
    seconds: float | None = None
    rss_mb: float | None = None
    error: str | None = None

    @property
    def rate(self) -> float | None:
        return self.events / self.seconds if self.seconds else None


@dataclass(frozen=True)
class Goal:
    name: str
    numerator: str
    denominator: str
    minimum: float
    as_percent: bool

    def ratio(self, results: dict[str, Result]) -> float | None:
        top, bottom = results.get(self.numerator), results.get(self.denominator)
        if top is None or bottom is None or top.rate is None or bottom.rate is None:
            return None
        return top.rate / bottom.rate

    def show(self, value: float | None) -> tuple[str, str, str]:
        def fmt(v: float) -> str:
            return f"{v:.0%}" if self.as_percent else f"{v:.2f}x"

        got = "n/a" if value is None else fmt(value)
        verdict = "n/a" if value is None else ("PASS" if value >= self.minimum else "MISS")
        return got, f">= {fmt(self.minimum)}", verdict


GOALS = (
    Goal(
        "sitrep single / raw sqlite single-row",
        "sitrep-sqlite-single",
        "raw-sqlite-single",
        0.25,
        True,
    ),
    Goal(
        "sitrep single / eventsourcing", "sitrep-sqlite-single", "eventsourcing-sqlite", 1.5, False
    ),
    Goal("sitrep batch / raw sqlite batch", "sitrep-sqlite-batch", "raw-sqlite-batch", 0.30, True),
    Goal(
        "sitrep PG single / raw psycopg single-row", "sitrep-pg-single", "raw-pg-single", 0.25, True
    ),
    Goal("sitrep PG batch / raw psycopg batch", "sitrep-pg-batch", "raw-pg-batch", 0.30, True),
)


def postgres_problem() -> str | None:
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]
    return None


def environment(pg_problem: str | None, synchronous: str) -> dict[str, str]:
    from importlib.metadata import version

    info = {
        "python": platform.python_version(),
        "sqlite": f"{sqlite3.sqlite_version} (WAL, synchronous={synchronous})",
        "psycopg": psycopg.__version__,
        "eventsourcing": version("eventsourcing"),
        "cpus": str(os.cpu_count()),
        "postgresql": f"unavailable ({pg_problem})" if pg_problem else "",
    }
    if pg_problem is None:
        with psycopg.connect(POSTGRES_URL) as conn:
            row = conn.execute("SHOW server_version").fetchone()
            sync = conn.execute("SHOW synchronous_commit").fetchone()
        version_text = row[0] if row else "?"
        info["postgresql"] = f"{version_text}, synchronous_commit={sync[0] if sync else '?'}"
    return info


def spawn(mode: Mode, n: int, synchronous: str) -> Result:
    result = Result(mode.name, mode.label, n)
    schema = new_schema_name() if mode.backend == "postgres" else None
    with tempfile.TemporaryDirectory(prefix="sitrep-bench-") as tmp:
        command = [
            sys.executable,
            "-m",
            "bench.append",
            "--mode",
            mode.name,
            "--events",
            str(n),
            "--dir",
            tmp,
            "--sqlite-synchronous",
            synchronous,
        ]
        if schema:
            command += ["--schema", schema]
        try:
            done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
        finally:
            if schema:
                drop_schema(schema)  # in case the worker died before dropping it
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        result.error = f"worker exited with status {done.returncode}"
        return result
    found = json.loads(lines[-1])
    result.seconds, result.rss_mb = found["seconds"], found["rss_mb"]
    return result


ROW = "{:<32} {:>8} {:>9} {:>11} {:>9}"


def print_row(result: Result) -> None:
    if result.error or result.rate is None or result.seconds is None:
        print(ROW.format(result.label, f"{result.events:,}", "-", "FAILED", "-"), result.error)
    else:
        print(
            ROW.format(
                result.label,
                f"{result.events:,}",
                f"{result.seconds:.2f}",
                f"{result.rate:,.0f}",
                f"{result.rss_mb:.0f}",
            )
        )
    sys.stdout.flush()


def drive(quick: bool, json_path: Path | None, synchronous: str) -> int:
    began = time.perf_counter()
    sizes = QUICK if quick else FULL
    pg_problem = postgres_problem()
    env = environment(pg_problem, synchronous)
    print(
        f"sitrep append benchmark ({'quick' if quick else 'full'} run, "
        f"SQLite synchronous={synchronous})"
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in env.items()))
    print(
        f"  every SQLite mode (sitrep, raw sqlite3, eventsourcing) runs in WAL mode at "
        f"synchronous={synchronous}"
    )
    print(
        f"  single-event modes: {sizes.single:,} events (PostgreSQL: {sizes.pg_single:,}, "
        f"one WAL flush per commit); batch modes: {sizes.batch:,} events in batches of {BATCH}"
    )
    print(
        f"  each mode in a fresh process, after a warm-up of {WARMUP} appends (batch modes: "
        "one batch); sitrep times include store.parse"
    )
    print()
    print(ROW.format("mode", "events", "seconds", "events/s", "RSS MB"))
    print("-" * 73)
    results: dict[str, Result] = {}
    for mode in MODES.values():
        if mode.backend == "postgres" and pg_problem is not None:
            continue
        result = spawn(mode, sizes.events(mode), synchronous)
        results[mode.name] = result
        print_row(result)

    print()
    print(f"{'ratio':<44} {'got':>8} {'goal':>9}  verdict")
    print("-" * 73)
    ratios = []
    for goal in GOALS:
        value = goal.ratio(results)
        got, wanted, verdict = goal.show(value)
        print(f"{goal.name:<44} {got:>8} {wanted:>9}  {verdict}")
        ratios.append({"name": goal.name, "value": value, "goal": goal.minimum, "verdict": verdict})

    sitrep_rss = [
        r.rss_mb for r in results.values() if r.mode.startswith("sitrep") and r.rss_mb is not None
    ]
    all_rss = [r.rss_mb for r in results.values() if r.rss_mb is not None]
    peak = max(sitrep_rss) if sitrep_rss else None
    rss_verdict = "n/a" if peak is None else ("PASS" if peak < RSS_GOAL_MB else "MISS")
    shown = "n/a" if peak is None else f"{peak:.0f} MB"
    print(
        f"{'peak RSS, sitrep modes (max)':<44} {shown:>8} {f'< {RSS_GOAL_MB:.0f} MB':>9}  "
        f"{rss_verdict}"
    )
    if all_rss:
        print(f"{'peak RSS, all modes (max)':<44} {max(all_rss):>5.0f} MB")
    if pg_problem is not None:
        print(f"PostgreSQL modes skipped: {pg_problem}")
    wall = time.perf_counter() - began
    print(f"wall time {wall:.1f} s")

    if json_path is not None:
        payload = {
            "run": "quick" if quick else "full",
            "sqlite_synchronous": synchronous,
            "sizes": asdict(sizes),
            "batch": BATCH,
            "warmup": WARMUP,
            "environment": env,
            "results": [{**asdict(r), "events_per_second": r.rate} for r in results.values()],
            "ratios": ratios,
            "peak_rss_mb": {
                "sitrep": peak,
                "all": max(all_rss) if all_rss else None,
                "goal": RSS_GOAL_MB,
                "verdict": rss_verdict,
            },
            "wall_seconds": wall,
        }
        json_path.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if any(r.error for r in results.values()) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.append",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: under a minute")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write results as JSON")
    parser.add_argument(
        "--sqlite-synchronous",
        choices=SYNCHRONOUS_LEVELS,
        default="FULL",
        help="synchronous level of every SQLite mode, sitrep's and the baselines' (default FULL,"
        " sitrep's default)",
    )
    parser.add_argument("--mode", choices=list(MODES), help="run one measurement in-process")
    parser.add_argument("--events", type=int, help="events to time (with --mode)")
    parser.add_argument("--dir", help="parent for the temporary directory (with --mode)")
    parser.add_argument("--schema", help="PostgreSQL schema to create and drop (with --mode)")
    args = parser.parse_args(argv)
    if args.mode:
        sizes = QUICK if args.quick else FULL
        events = args.events or sizes.events(MODES[args.mode])
        run_worker(args.mode, events, args.dir, args.schema, args.sqlite_synchronous)
        return 0
    return drive(args.quick, args.json, args.sqlite_synchronous)


if __name__ == "__main__":
    sys.exit(main())
