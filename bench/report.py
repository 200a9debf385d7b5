"""Situation-report benchmark: `/report` for a week and a year beside force strength.

Run ``python -m bench.report`` (full: 1,000,000 events on SQLite and on PostgreSQL) or
``python -m bench.report --quick`` (20,000 events, few samples, well under a minute);
``--json PATH`` also writes the results as JSON, ``--keep DIR`` keeps the generated stores in
DIR (SQLite files; PostgreSQL schemas named ``bench_report_N``) and reuses them on the next
run while the history's shape, its end date and the migrations are the same.

The store is the read-model benchmark's (``bench/projections.py``): the same generator, run
through the same workers — the history generated through the store in batches of 1,000 with
every rule on, then ``Projector.rebuild()`` — so its figures and this one's describe one kind
of history (five missions over three years, 5 % late reports, 2 % corrections, 1 %
retractions).

Measured in one process per backend, on the same store, the calls drawn on a random mission and
a random window inside the history (``to`` at least a year after the last mission began), the
report known the morning after ``to`` (as a weekly report is issued):

* **force-strength** (the baseline) as of ``to``, and with the defaults (today, now), called
  as bench/projections.py calls it (``projector.query(... force_strength.as_of ...)``);
* **report, week** and **report, year** (365 days), through ``api.reports.compute`` — the
  route's own call, without the ETag and the JSON encoding, like force strength in-process;
  and the week known now (the API's default ``known_at``), whose restatements reach further;
* the same force-strength and report questions **over HTTP** (the app in-process, httpx
  ``ASGITransport``), which adds the web layer and the JSON encoding to both;
* **where the time goes**: reports of 7, 30, 91, 182 and 365 days built again with the pieces
  of ``projections.report.build`` timed around the real calls (the figures: three
  ``balances.totals``, three ``force_strength.answer`` and ``funding.answer``, ``mandate.facts``
  and ``mandate.fold``; ``period_events``: the listing, its one joined statement and decoding,
  apart from ``event_json``, the envelopes' JSON; ``restatements`` whole; the JSON encoding
  with orjson), with the events listed and the time per listed event, and a
  least-squares line of the whole report's time against the events it lists.

Goal (issue 14): a week's report under 50 ms p99 (over HTTP, the endpoint as a reader gets
it; the in-process p99 is shown too). Each step runs in its own subprocess; each says how much
CPU other processes on the machine used meanwhile, so a figure taken on a busy machine shows
as such.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlencode

import psycopg

from bench.append import POSTGRES_URL, drop_schema, peak_rss_mb, postgres_problem
from bench.projections import (
    BATCH,
    MISSION_IDS,
    MISSIONS,
    SEED,
    START,
    Latency,
    database,
    history_end,
    others,
    progress_line,
    settings_for,
    source_version,
    spawn,
)

ROOT = Path(__file__).resolve().parent.parent
FULL_EVENTS = 1_000_000
FULL_PG_EVENTS = 1_000_000
QUICK_EVENTS = 20_000
GOAL_MS = 50.0
YEAR_DAYS = 365
SPLIT_DAYS = (7, 30, 91, 182, YEAR_DAYS)


#: Calls per measure: (in-process, over HTTP). A year's report lists tens of thousands of
#: events at 1M, so it gets fewer.
FULL_CALLS = {
    "fs": (200, 200), "fs_default": (200, 0), "week": (200, 200), "year": (50, 20),
    "week_now": (50, 0),
}  # fmt: skip
QUICK_CALLS = {
    "fs": (50, 20), "fs_default": (30, 0), "week": (50, 20), "year": (10, 5), "week_now": (20, 0),
}  # fmt: skip
FULL_SPLIT_SAMPLES, QUICK_SPLIT_SAMPLES = 12, 3
#: Per measure, so that a slow one cannot stall the run.
FULL_CAP_SECONDS, QUICK_CAP_SECONDS = 240.0, 4.0

LABELS = {
    "fs": "force-strength, as of `to`",
    "fs_default": "force-strength, defaults",
    "week": "report, week",
    "year": "report, year",
    "week_now": "report, week, known now",
}


# --- questions --------------------------------------------------------------------------------


#: Days from a report day to the evening its batch is recorded, at most (set by the worker):
#: the generator records 1,000 events at a time, about 1.2 days of history at 1M events but
#: two months at 20,000, so a report known "the morning after" waits for that batch.
BATCH_LAG = {"days": 1}


def batch_lag(events: int, end: date) -> int:
    return max(1, math.ceil(BATCH * (end - START).days / max(events, 1)))


def window(rng: random.Random, end: date, days: int, now: datetime | None = None) -> dict[str, Any]:
    """A random mission and period of ``days`` ending in the history, known the morning after
    the period's last reports were recorded (or at ``now``)."""
    first = START + timedelta(days=max(m.start for m in MISSIONS) + 366)
    to = first + timedelta(days=rng.randint(0, max((end - first).days, 0)))
    known = now or datetime.combine(to + timedelta(days=BATCH_LAG["days"] + 1), day_time(6), UTC)
    return {"mission": rng.choice(MISSION_IDS), "start": to - timedelta(days=days), "end": to,
            "known_at": known}  # fmt: skip


def rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def timed_calls(latency: Latency, calls: int, ask: Callable[[], Any], cap: float,
                warmup: int) -> None:  # fmt: skip
    for _ in range(warmup):  # compiled statements, the database's page cache
        ask()
    began = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        ask()
        latency.ms.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - began > cap:
            break


# --- where the time goes ----------------------------------------------------------------------


class Split:
    """Seconds spent in each piece of ``projections.report.build``, summed over the reports."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self.section = "other"
        self.depth: dict[str, int] = defaultdict(int)

    def timed(self, fn: Callable[..., Any], key: str, section: bool = False) -> Callable[..., Any]:
        """``fn`` timed under ``key``; a figure's read inside another (force strength asks the
        mandate) counts once, in the outer one's ``figures.<module>``."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            group = key.partition(".")[0]
            if self.depth[group]:
                return fn(*args, **kwargs)
            if section:
                self.section = key
            self.depth[group] += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - t0
                self.depth[group] -= 1
                self.seconds[key] += elapsed
                if group != key:
                    self.seconds[group] += elapsed
                if section:
                    self.section = "other"

        return wrapper

    def recorder(self, recorder: Any) -> Any:
        """The store's recorder with ``event_json`` (the envelopes' JSON) timed per section."""
        split = self

        class Timed(type(recorder)):  # type: ignore[misc]
            def event_json(self, row: Any) -> dict[str, Any]:
                t0 = time.perf_counter()
                try:
                    return recorder.event_json(row)
                finally:
                    split.seconds[f"{split.section}.event_json"] += time.perf_counter() - t0
                    split.counts[f"{split.section}.fetched"] += 1

        timed = Timed.__new__(Timed)
        timed.__dict__.update(recorder.__dict__)
        return timed


@contextmanager
def instrumented(split: Split) -> Iterator[None]:
    """The figures' reads and the two event queries of the report, timed where build calls them."""
    from projections import balances, force_strength, funding, mandate, report

    with ExitStack() as stack:
        timed = ((balances, "totals_on_days"), (balances, "totals_on"),
                 (force_strength, "answer"), (funding, "answer"), (mandate, "facts"),
                 (mandate, "fold"))  # fmt: skip
        for module, name in timed:
            fn = getattr(module, name)
            key = f"figures.{module.__name__.rpartition('.')[2]}"
            stack.enter_context(mock.patch.object(module, name, split.timed(fn, key)))
        for name, key in (("period_events", "period"), ("restatements", "restated")):
            fn = getattr(report, name)
            stack.enter_context(mock.patch.object(report, name, split.timed(fn, key, True)))
        yield


def split_report(store: Any, projector: Any, q: dict[str, Any]) -> dict[str, float]:
    """One report built with its pieces timed: ms per piece, events listed, bytes."""
    import orjson

    from projections import report

    split = Split()
    timed_recorder = split.recorder(store.recorder)

    def read(conn: Any, g: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        body = report.build(conn, g, q["mission"], q["start"], q["end"], q["known_at"],
                            timed_recorder)  # fmt: skip
        split.seconds["build"] += time.perf_counter() - t0
        return body

    with instrumented(split):
        t0 = time.perf_counter()
        body = projector.query(read)
        t1 = time.perf_counter()
    encoded = orjson.dumps(body)
    t2 = time.perf_counter()
    s = split.seconds
    parts = {
        "figures": s["figures"],
        "balances": s["figures.balances"],
        "force_strength": s["figures.force_strength"],
        "funding": s["figures.funding"],
        "mandate": s["figures.mandate"],
        "index_range": s["period"] - s["period.event_json"],
        "event_json": s["period.event_json"],
        "restatements": s["restated"],
        "other_build": s["build"] - s["figures"] - s["period"] - s["restated"],
        "query_overhead": (t1 - t0) - s["build"],
        "json": t2 - t1,
        "total": t2 - t0,
    }
    found = {k: v * 1000 for k, v in parts.items()}
    found["listed"] = len(body["events"])
    found["restated_listed"] = len(body["restated"]["events"])
    found["bytes"] = len(encoded)
    return found


def fit(points: list[tuple[float, float]]) -> dict[str, float] | None:
    """Least squares ms = a + b * listed: the fixed part and the cost per listed event."""
    if len(points) < 2:
        return None
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    return {"fixed_ms": my - b * mx, "us_per_listed": b * 1000}


# --- the worker (one per backend, in its own subprocess) --------------------------------------


def worker_measure(url: str, end: date, quick: bool) -> dict[str, Any]:
    import httpx

    from api.reports import compute
    from projections import force_strength
    from projections.runner import Projector
    from sitrep.app import create_app
    from sitrep.database import open_store

    calls = QUICK_CALLS if quick else FULL_CALLS
    cap = QUICK_CAP_SECONDS if quick else FULL_CAP_SECONDS
    samples = QUICK_SPLIT_SAMPLES if quick else FULL_SPLIT_SAMPLES
    store = open_store(settings_for(url))
    try:
        head = store.head()
        BATCH_LAG["days"] = batch_lag(head[0] if head else 0, end)
        projector = Projector(store)
        began = time.perf_counter()
        projector.catch_up()
        catch_up_s = time.perf_counter() - began
        # As `sitrep serve` does once it has started (sitrep/app.py's lifespan): what lives as
        # long as the process stays out of the collector's full passes, which otherwise stall
        # a report (tens of thousands of objects) by ~50 ms every few calls.
        gc.freeze()
        days = {"fs": 7, "fs_default": 7, "week": 7, "year": YEAR_DAYS, "week_now": 7}

        def fs(q: dict[str, Any]) -> Any:
            return projector.query(
                lambda conn, g: force_strength.as_of(conn, g, q["mission"], q["end"], q["known_at"])
            )

        def fs_default(q: dict[str, Any]) -> Any:
            now = datetime.now(UTC)  # as the API does: the server clock at each request
            return fs({"mission": q["mission"], "end": now.date(), "known_at": now})

        def rep(q: dict[str, Any]) -> Any:
            return compute(store, projector, q["mission"], q["start"], q["end"], q["known_at"])

        asks = {"fs": fs, "fs_default": fs_default, "week": rep, "year": rep, "week_now": rep}
        latency: dict[tuple[str, str], Latency] = {}
        for key, read in asks.items():
            rng = random.Random(f"{SEED}-{key}")
            lat = latency[(key, "in-process")] = Latency(key, "in-process")
            now = datetime.now(UTC) if key == "week_now" else None

            def ask(read: Callable[[dict[str, Any]], Any] = read, rng: random.Random = rng,
                    key: str = key, now: datetime | None = now) -> Any:  # fmt: skip
                return read(window(rng, end, days[key], now))

            timed_calls(lat, calls[key][0], ask, cap, warmup=1 if key == "year" else 3)
            progress_line(f"in-process {LABELS[key]}: {len(lat.ms)} calls")

        failed: dict[str, str] = {}  # measure -> what the app answered instead
        app = create_app(settings_for(url, public_reads=True, scheduler_enabled=False), store=store)

        async def over_http() -> None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for key in ("fs", "week", "year"):
                    want = calls[key][1]
                    if not want:
                        continue
                    rng = random.Random(f"{SEED}-{key}-http")
                    lat = latency[(key, "http")] = Latency(key, "http")
                    warmup = 1 if key == "year" else 3
                    began = time.perf_counter()
                    for i in range(want + warmup):
                        q = window(rng, end, days[key])
                        m, at = q["mission"], rfc3339(q["known_at"])
                        if key == "fs":
                            path = f"/v1/missions/{m}/force-strength"
                            params = {"as_of": q["end"].isoformat(), "known_at": at}
                        else:
                            path = f"/v1/missions/{m}/report"
                            params = {"from": q["start"].isoformat(), "to": q["end"].isoformat(),
                                      "known_at": at}  # fmt: skip
                        t0 = time.perf_counter()
                        try:
                            response = await client.get(path, params=params)
                        except Exception as exc:  # the app's own failure, as a 500 would be
                            failed[key] = f"GET {path}?{urlencode(params)} raised {exc!r}"[:400]
                            break
                        elapsed = (time.perf_counter() - t0) * 1000
                        if response.status_code != 200:
                            said = f"{response.status_code} {response.text[:200]}"
                            failed[key] = f"GET {path}?{urlencode(params)}: HTTP {said}"
                            break
                        if i >= warmup:
                            lat.ms.append(elapsed)
                        if time.perf_counter() - began > cap:
                            break
                    if key in failed:
                        del latency[(key, "http")]
                    progress_line(f"HTTP {LABELS[key]}: {len(lat.ms)} calls")

        asyncio.run(over_http())

        splits = []
        rng = random.Random(f"{SEED}-split")
        for length in SPLIT_DAYS:
            questions = [window(rng, end, length) for _ in range(samples)]
            split_report(store, projector, questions[0])  # warm-up
            for q in questions:
                splits.append({"days": length, "mission": q["mission"],
                               **split_report(store, projector, q)})  # fmt: skip
            progress_line(f"split {length}-day reports")
        return {
            "events": head[0] if head else 0,
            "catch_up_seconds": catch_up_s,
            "latency": [{"key": k, "path": p, **v.summary()} for (k, p), v in latency.items()],
            "splits": splits,
            "http_failed": failed,
            "known_after_days": BATCH_LAG["days"] + 1,
        }
    finally:
        store.close()


# --- stores -----------------------------------------------------------------------------------


def migrations() -> list[str]:
    found = (ROOT / "sitrep" / "migrations" / "versions").glob("[0-9]*.py")
    return sorted(p.name for p in found)


def pg_url(schema: str) -> str:
    return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"


def pg_schema_exists(schema: str) -> bool:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        sql = "SELECT 1 FROM information_schema.schemata WHERE schema_name = %s"
        return conn.execute(sql, (schema,)).fetchone() is not None


@contextmanager
def store_for(backend: str, n: int, tmp: Path, keep: Path | None) -> Iterator[dict[str, Any]]:
    """A generated and projected store of ``n`` events: kept in ``keep`` and reused when it
    matches, else made in ``tmp`` (a PostgreSQL schema dropped afterwards)."""
    found: dict[str, Any] = {"backend": backend, "n": n}
    if keep is None:
        with database(backend, tmp, f"report-{n}") as url:
            expected = tmp / f"{backend}-{n}.json"
            yield prepare(found, url, n, expected)
        return
    keep.mkdir(parents=True, exist_ok=True)
    name = f"report-{backend}-{n}"
    meta_path, expected = keep / f"{name}.meta.json", keep / f"{name}.expected.json"
    meta = {"events": n, "seed": SEED, "end": history_end().isoformat(),
            "migrations": migrations()}  # fmt: skip
    schema = f"bench_report_{n}"
    if backend == "sqlite":
        url, present = f"sqlite:///{keep / (name + '.db')}", (keep / f"{name}.db").exists()
    else:
        url, present = pg_url(schema), pg_schema_exists(schema)
    old = json.loads(meta_path.read_text()) if meta_path.exists() else None
    if present and old == meta and expected.exists():
        found["reused"] = str(keep / f"{name}.db") if backend == "sqlite" else f"schema {schema}"
        yield found | {"url": url, "expected": str(expected)}
        return
    meta_path.unlink(missing_ok=True)
    if backend == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            (keep / f"{name}.db{suffix}").unlink(missing_ok=True)
    else:
        drop_schema(schema)
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {schema}")
    prepared = prepare(found, url, n, expected)
    if "error" not in prepared["generate"] and "error" not in prepared["rebuild"]:
        meta_path.write_text(json.dumps(meta))
    yield prepared


def prepare(found: dict[str, Any], url: str, n: int, expected: Path) -> dict[str, Any]:
    """bench/projections.py's own workers: generate through the store, then rebuild."""
    found["generate"] = spawn("generate", url, "--events", str(n), "--expected", str(expected))
    step = found["generate"]
    if "error" not in step:
        print(
            f"  {found['backend']} generated {step['events']:,} events in "
            f"{step['seconds']:.1f} s{others(step)}"
        )
    found["rebuild"] = spawn("rebuild", url)
    step = found["rebuild"]
    if "error" not in step:
        print(
            f"  {found['backend']} Projector.rebuild() {step['events']:,} events in "
            f"{step['seconds']:.1f} s{others(step)}"
        )
    sys.stdout.flush()
    return found | {"url": url, "expected": str(expected)}


# --- the driver -------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def median(rows: list[dict[str, Any]], key: str) -> float:
    """Each piece's median over the reports: a shared machine's stalls land in a few samples."""
    return statistics.median(r[key] for r in rows) if rows else 0.0


def summarise(found: dict[str, Any]) -> dict[str, Any]:
    """Latency table, split by period length, ratios and goals of one backend."""
    lat = {(x["key"], x["path"]): x for x in found["measure"].get("latency", [])}

    def p99(key: str, path: str = "in-process") -> float | None:
        return lat.get((key, path), {}).get("p99_ms")

    by_days: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in found["measure"].get("splits", []):
        by_days[row["days"]].append(row)
    split = {d: {k: median(rows, k) for k in rows[0] if k not in ("days", "mission")}
             for d, rows in sorted(by_days.items())}  # fmt: skip
    week, year = split.get(7, {}), split.get(YEAR_DAYS, {})
    ratios = {
        "week / force-strength p99, in-process": ratio(p99("week"), p99("fs")),
        "week / force-strength p99, HTTP": ratio(p99("week", "http"), p99("fs", "http")),
        "year / week p99, in-process": ratio(p99("year"), p99("week")),
        "year / week p99, HTTP": ratio(p99("year", "http"), p99("week", "http")),
        "figures part, year / week": ratio(year.get("figures"), week.get("figures")),
    }
    goals = []
    for path in ("http", "in-process"):
        value = p99("week", path)
        verdict = "n/a" if value is None else ("PASS" if value < GOAL_MS else "MISS")
        goals.append({"goal": f"{found['backend']} report week p99 ({path})", "value": value,
                      "wanted": f"< {GOAL_MS:.0f} ms", "verdict": verdict})  # fmt: skip
    points = [(r["listed"], r["total"]) for r in found["measure"].get("splits", [])]
    return {"latency": lat, "split": split, "ratios": ratios, "goals": goals, "fit": fit(points)}


def print_backend(found: dict[str, Any], summary: dict[str, Any]) -> None:
    backend, measure = found["backend"], found["measure"]
    print()
    if "error" in measure:
        print(f"{backend}: FAILED ({measure['error']})")
        return
    lag = measure["known_after_days"]
    print(f"{backend}, {measure['events']:,} events: latency, ms (random missions and windows, "
          f"known {lag} days after `to` at 06:00){others(measure)}")  # fmt: skip
    row = "{:<30} {:>6} {:>8} {:>8} {:>8}   {:>6} {:>8} {:>8} {:>8}"
    print(row.format("", "calls", "p50", "p99", "max", "calls", "p50", "p99", "max"))
    print(row.format("", "in-process", "", "", "", "HTTP", "", "", ""))
    print("-" * 104)
    lat = summary["latency"]
    for key, problem in measure.get("http_failed", {}).items():
        print(f"  HTTP {LABELS[key]} FAILED, not timed: {problem}")
    for key, label in LABELS.items():
        a, b = lat.get((key, "in-process"), {}), lat.get((key, "http"), {})
        print(row.format(
            label, a.get("calls", "-"), fmt(a.get("p50_ms"), 2), fmt(a.get("p99_ms"), 2),
            fmt(a.get("max_ms"), 2), b.get("calls", "-"), fmt(b.get("p50_ms"), 2),
            fmt(b.get("p99_ms"), 2), fmt(b.get("max_ms"), 2),
        ))  # fmt: skip
    print()
    print(f"{backend}: where a report's time goes, ms (in-process; the median of each piece over"
          " each period's reports, the pieces need not add up to the total)")  # fmt: skip
    cols = ("days", "listed", "restated", "figures", "listing", "event_json",
            "restatements", "other", "query", "json", "total", "us/listed")  # fmt: skip
    line = "{:>5} {:>8} {:>8} {:>8} {:>8} {:>10} {:>12} {:>7} {:>7} {:>7} {:>8} {:>9}"
    print(line.format(*cols))
    print("-" * 105)
    for days, s in summary["split"].items():
        per = (s["total"] - s["figures"]) / s["listed"] * 1000 if s["listed"] else None
        print(line.format(
            days, f"{s['listed']:,.0f}", f"{s['restated_listed']:,.0f}", fmt(s["figures"], 2),
            fmt(s["index_range"], 2), fmt(s["event_json"], 2),
            fmt(s["restatements"], 2), fmt(s["other_build"], 2), fmt(s["query_overhead"], 2),
            fmt(s["json"], 2), fmt(s["total"], 2), fmt(per, 1),
        ))  # fmt: skip
    year = summary["split"].get(YEAR_DAYS)
    if year and year["total"]:
        shares = ("figures", "index_range", "event_json", "restatements", "json")
        spent = ", ".join(f"{k} {year[k] / year['total']:.0%}" for k in shares)
        print(f"  a year's report: {year['listed']:,.0f} events listed, "
              f"{year['bytes'] / 2**20:.1f} MB of JSON; {spent}")  # fmt: skip
        print(f"  its figures: the totals on both days and those the restatements touch "
              f"{year['balances']:.1f} ms, force_strength.answer x3 {year['force_strength']:.1f}"
              f" ms, funding.answer x3 {year['funding']:.1f} ms, mandate facts+fold "
              f"{year['mandate']:.1f} ms")  # fmt: skip
    line_fit = summary["fit"]
    if line_fit:
        print(f"  least squares over those reports: total ms = {line_fit['fixed_ms']:.1f} + "
              f"{line_fit['us_per_listed']:.1f} us x events listed")  # fmt: skip
    print("  (us/listed: the time past the figures, per event listed)")
    print(f"  catch_up before measuring: {measure['catch_up_seconds']:.2f} s; "
          f"worker peak RSS {measure['rss_mb']:.0f} MB")  # fmt: skip


def drive(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    quick = args.quick
    n = args.events or (QUICK_EVENTS if quick else FULL_EVENTS)
    pg_n = args.pg_events if args.pg_events is not None else (n if quick else FULL_PG_EVENTS)
    pg_problem = postgres_problem() if pg_n else "not measured in this run (--pg-events 0)"
    print(f"sitrep situation-report benchmark ({'quick' if quick else 'full'} run)")
    print(
        f"  python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"cpus {os.cpu_count()}, PostgreSQL: {pg_problem or 'available'}"
    )
    version = source_version()
    print(f"  code measured: {version}")
    print(f"  history {START} .. {history_end()}; N = {n:,} on SQLite"
          + (f", {pg_n:,} on PostgreSQL" if not pg_problem else "")
          + (f"; stores kept in {args.keep}" if args.keep else ""))  # fmt: skip
    if pg_problem and pg_n:
        print(f"  PostgreSQL skipped: {pg_problem}")
    sys.stdout.flush()
    backends = [("sqlite", n)] + ([("postgres", pg_n)] if pg_n and not pg_problem else [])
    keep = Path(args.keep).resolve() if args.keep else None
    results, summaries = [], []
    with tempfile.TemporaryDirectory(prefix="sitrep-bench-report-") as tmp:
        for backend, size in backends:
            print()
            with store_for(backend, size, Path(tmp), keep) as found:
                if "reused" in found:
                    print(f"  {backend}: reusing the kept store ({found['reused']})")
                failed = [k for k in ("generate", "rebuild") if "error" in found.get(k, {})]
                if failed:
                    found["measure"] = {"error": f"{', '.join(failed)} failed"}
                else:
                    end = json.loads(Path(found["expected"]).read_text())["end"]
                    found["measure"] = spawn(
                        "measure", found["url"], "--end", end, *(("--quick",) if quick else ()),
                        module="bench.report",
                    )  # fmt: skip
            summary = summarise(found) if "error" not in found["measure"] else {}
            print_backend(found, summary)
            results.append(found)
            summaries.append(summary)
    print()
    print(f"{'ratio':<52} {'got':>10}")
    print("-" * 64)
    for found, summary in zip(results, summaries, strict=True):
        for name, value in summary.get("ratios", {}).items():
            print(f"{found['backend'] + ' ' + name:<52} {fmt(value, 2) + 'x':>10}")
    print()
    print(f"{'goal':<52} {'got':>10} {'wanted':>10}  verdict")
    print("-" * 84)
    goals = [g for s in summaries for g in s.get("goals", [])]
    for g in goals:
        shown = "n/a" if g["value"] is None else f"{g['value']:.1f} ms"
        print(f"{g['goal']:<52} {shown:>10} {g['wanted']:>10}  {g['verdict']}")
    wall = time.perf_counter() - began
    print(f"wall time {wall:.1f} s")
    failed = [f"{r['backend']} {k}" for r in results for k in ("generate", "rebuild", "measure")
              if "error" in r.get(k, {})]  # fmt: skip
    if args.json:
        for found, summary in zip(results, summaries, strict=True):
            found["summary"] = {k: v for k, v in summary.items() if k != "latency"}
        payload = {"run": "quick" if quick else "full", "code": version, "events": n,
                   "pg_events": pg_n, "results": results, "goals": goals, "failed": failed,
                   "wall_seconds": wall}  # fmt: skip
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="20,000 events, few samples")
    parser.add_argument("--json", metavar="PATH", help="also write results as JSON")
    parser.add_argument("--events", type=int, help="N on SQLite (default 1,000,000; quick 20,000)")
    parser.add_argument(
        "--pg-events", type=int, help="N on PostgreSQL, 0 to skip (default 1,000,000; quick 20,000)"
    )
    parser.add_argument("--keep", metavar="DIR", help="keep the stores in DIR and reuse them")
    worker = parser.add_argument_group("worker (internal)")
    worker.add_argument("--worker", choices=("measure",))
    worker.add_argument("--url")
    worker.add_argument("--end")
    args = parser.parse_args(argv)
    if args.worker:
        found = worker_measure(args.url, date.fromisoformat(args.end), args.quick)
        found["rss_mb"] = round(peak_rss_mb(), 1)
        print(json.dumps(found, default=str))
        return 0
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
