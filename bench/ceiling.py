"""The ceiling for ``bench.http``: the least a FastAPI endpoint that stores a report can do.

One ``POST /reports`` endpoint validates the JSON body into a 10-field pydantic model (strings,
integers and a date, about the size of a sitrep event envelope), inserts one row into a SQLite
table in its own transaction (WAL, ``synchronous`` as sitrep's: ``FULL`` unless
``SITREP_BENCH_CEILING_SYNCHRONOUS=NORMAL``; ``bench.http`` sets both alike) and answers
``201`` with a small JSON body. There is no authentication, no idempotency, no hash chain and
no threadpool hop: the insert runs on the event loop, which is the cheapest way to do it for a
single short SQLite write. Whatever sitrep does on top of this costs throughput, so this is
the rate it is measured against.

Serve it like sitrep is served::

    SITREP_BENCH_CEILING_DB=/tmp/x/ceiling.db SITREP_BENCH_CEILING_SYNCHRONOUS=FULL \\
        python -m uvicorn bench.ceiling:app \\
        --host 127.0.0.1 --port 8001 --workers 1 --log-level warning --no-access-log

Each worker process opens its own connection when it starts (``lifespan``).
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel, Field

DB_ENV = "SITREP_BENCH_CEILING_DB"
SYNCHRONOUS_ENV = "SITREP_BENCH_CEILING_SYNCHRONOUS"
SYNCHRONOUS_LEVELS = ("FULL", "NORMAL")

TABLE = """
CREATE TABLE IF NOT EXISTS reports (
    position INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    mission TEXT NOT NULL,
    type TEXT NOT NULL,
    occurred_on TEXT NOT NULL,
    country TEXT NOT NULL,
    personnel INT NOT NULL,
    category TEXT NOT NULL,
    schema_version INT NOT NULL,
    source_title TEXT,
    source_url TEXT,
    notes TEXT,
    recorded_at TEXT NOT NULL
)
"""
INSERT = (
    "INSERT INTO reports (id, mission, type, occurred_on, country, personnel, category, "
    "schema_version, source_title, source_url, notes, recorded_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class Report(BaseModel):
    """Ten fields, shaped like a ContingentArrived event flattened."""

    mission: str = Field(min_length=1, max_length=32)
    type: str = Field(min_length=1, max_length=40)
    occurred_on: date
    country: str = Field(min_length=3, max_length=3)
    personnel: int = Field(ge=0)
    category: str = Field(min_length=1, max_length=20)
    schema_version: int = Field(default=1, ge=1)
    source_title: str | None = Field(default=None, max_length=200)
    source_url: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=2000)


def body(index: int) -> dict[str, Any]:
    """A request body for the load generator (the countries cycle as sitrep's events do)."""
    countries = ("KEN", "JAM", "GTM", "SLV", "BHS", "BLZ")
    return {
        "mission": "mss-haiti",
        "type": "ContingentArrived",
        "occurred_on": "2024-06-25",
        "country": countries[index % len(countries)],
        "personnel": 200,
        "category": "police",
        "schema_version": 1,
        "source_title": "UN News",
        "source_url": "https://news.un.org/en/story/2024/06/1151346",
        "notes": None,
    }


def connect(path: str, synchronous: str = "FULL") -> sqlite3.Connection:
    if synchronous not in SYNCHRONOUS_LEVELS:  # formatted into the pragma
        raise ValueError(f"{SYNCHRONOUS_ENV} must be one of {', '.join(SYNCHRONOUS_LEVELS)}")
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout=5000")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(TABLE)
    return conn


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    conn = connect(os.environ[DB_ENV], os.environ.get(SYNCHRONOUS_ENV, "FULL").upper())
    app.state.conn = conn
    try:
        yield
    finally:
        conn.close()


app = FastAPI(title="sitrep bench ceiling", lifespan=lifespan)


@app.post("/reports", status_code=201)
async def create_report(report: Report, request: Request) -> dict[str, Any]:
    conn: sqlite3.Connection = request.app.state.conn
    report_id = str(uuid.uuid4())
    recorded_at = datetime.now(UTC).isoformat()
    conn.execute("BEGIN")
    try:
        cursor = conn.execute(
            INSERT,
            (
                report_id,
                report.mission,
                report.type,
                report.occurred_on.isoformat(),
                report.country,
                report.personnel,
                report.category,
                report.schema_version,
                report.source_title,
                report.source_url,
                report.notes,
                recorded_at,
            ),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return {"id": report_id, "position": cursor.lastrowid, "recorded_at": recorded_at}


@app.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    conn: sqlite3.Connection = request.app.state.conn
    (synchronous,) = conn.execute("PRAGMA synchronous").fetchone()
    return {"status": "ok", "synchronous": synchronous}
