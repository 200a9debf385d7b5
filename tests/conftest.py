"""Shared fixtures: one backend fixture parametrized over SQLite and PostgreSQL.

PostgreSQL tests each get a schema of their own in the ``test`` database (the URL carries
``search_path``, so subprocesses started with it see the same schema). Without PostgreSQL that
half is skipped with the reason, unless ``SITREP_TEST_REQUIRE_POSTGRES=1`` makes it a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

import psycopg
import pytest

from events.store import EventStore
from sitrep.database import open_store
from sitrep.settings import Settings

POSTGRES_URL = os.environ.get(
    "SITREP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("SITREP_TEST_REQUIRE_POSTGRES") == "1"


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


@cache
def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        with psycopg.connect(_conninfo(POSTGRES_URL), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {str(exc).strip()}"
    return None


def need_postgres() -> None:
    reason = postgres_unavailable()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"SITREP_TEST_REQUIRE_POSTGRES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    need_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The same test against SQLite and PostgreSQL (ids ``sqlite`` and ``postgres``)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/sitrep.db"
    return str(request.getfixturevalue("postgres_url"))


class Clock:
    """A settable UTC clock; each call moves it on by one microsecond, like a real one."""

    def __init__(self, start: datetime = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=1)
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_settings(url: str, **overrides: Any) -> Settings:
    # An app built with the scheduler on starts background jobs in its lifespan; tests that
    # want them say so.
    overrides.setdefault("scheduler_enabled", False)
    return Settings(_env_file=None, database_url=url, **overrides)  # type: ignore[call-arg]


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def store(settings: Settings, clock: Clock) -> Iterator[EventStore]:
    store = open_store(settings, clock=clock)
    yield store
    store.close()


# --- event bodies as a liaison would send them ---------------------------------------------

MISSION = "mss-haiti"


def body(
    type_: str, occurred_on: str | date, data: dict[str, Any], **envelope: Any
) -> dict[str, Any]:
    return {
        "mission": envelope.pop("mission", MISSION),
        "type": type_,
        "occurred_on": str(occurred_on),
        "data": data,
        **envelope,
    }


def registered(**envelope: Any) -> dict[str, Any]:
    return body(
        "MissionRegistered",
        "2023-10-02",
        {
            "name": "Multinational Security Support mission",
            "lead_country": "KEN",
            "host_country": "HTI",
        },
        **envelope,
    )


def authorized(expires_on: str = "2024-10-02", **envelope: Any) -> dict[str, Any]:
    return body(
        "MandateAuthorized",
        envelope.pop("occurred_on", "2023-10-02"),
        {"resolution": "S/RES/2699 (2023)", "expires_on": expires_on, "personnel_ceiling": 2500},
        **envelope,
    )


def arrived(
    n: int, on: str = "2024-06-25", country: str = "KEN", category: str = "police", **extra: Any
) -> dict[str, Any]:
    data = {"country": country, "personnel": n, "category": category, **extra}
    return body("ContingentArrived", on, data)


def departed(n: int, on: str, country: str = "KEN", category: str = "police") -> dict[str, Any]:
    data = {"country": country, "personnel": n, "category": category, "reason": "rotation"}
    return body("ContingentDeparted", on, data)


def pledged(
    n: int, on: str = "2023-09-22", country: str = "KEN", category: str = "police"
) -> dict[str, Any]:
    return body("PersonnelPledged", on, {"country": country, "personnel": n, "category": category})


def deposit(amount: str, donor: str = "USA", currency: str = "USD", **extra: Any) -> dict[str, Any]:
    data = {
        "donor": donor,
        "amount": amount,
        "currency": currency,
        "channel": "trust_fund",
        **extra,
    }
    return body("FundsDeposited", "2024-03-01", data)


def corrected(
    event_id: str, data: dict[str, Any], occurred_on: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {"event_id": event_id, "data": data, "reason": "figure corrected"}
    if occurred_on:
        payload["occurred_on"] = occurred_on
    return body("EventCorrected", "2024-07-01", payload)


def retracted(event_id: str) -> dict[str, Any]:
    return body(
        "EventRetracted", "2024-07-01", {"event_id": event_id, "reason": "reported in error"}
    )


def append(store: EventStore, *bodies: dict[str, Any], **options: Any) -> list[Any]:
    """Parse and append ``bodies`` as one request; returns the recorded events."""
    options.setdefault("recorded_by", "test-liaison")
    batch = options.pop("batch", len(bodies) > 1)
    return store.append([store.parse(b) for b in bodies], batch=batch, **options).events
