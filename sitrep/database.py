"""Engine, migrations and the store, wired from settings."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from events.recorders import prepare_sqlite
from events.store import Clock, EventStore, utcnow
from sitrep.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"


def make_engine(settings: Settings, **engine_options: Any) -> Engine:
    """An engine for ``settings.database_url``, with SQLite pragmas installed."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, **engine_options)
        prepare_sqlite(engine, synchronous=settings.sqlite_synchronous)
        return engine
    if url.get_backend_name() == "postgresql" and url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    options: dict[str, Any] = {
        # psycopg decodes json and jsonb itself, with json.loads unless told; orjson reads
        # the same documents (SQLite's recorder uses it already) in a third of the time.
        "json_deserializer": orjson.loads,
        "pool_size": settings.database_pool_size,
        "pool_pre_ping": True,
        # A host that drops packets must fail in seconds, not after the TCP timeout: on
        # connecting, and on a connection already open (keepalive probes, and unacknowledged
        # data given up after 30 s).
        "connect_args": {
            "connect_timeout": 10,
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "tcp_user_timeout": 30_000,
        },
    }
    options.update(engine_options)
    return create_engine(url, **options)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration; safe when several processes start at once."""
    config = alembic_config()
    with engine.connect() as conn:
        conn = conn.execution_options(sitrep_write=True)  # BEGIN IMMEDIATE on SQLite
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(1936292210, 1)")
            config.attributes["connection"] = conn
            command.upgrade(config, "head")


def current_head() -> str | None:
    """The newest migration's revision."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def is_current(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    head = current_head()
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision() == head


def open_store(
    settings: Settings, *, clock: Clock = utcnow, engine: Engine | None = None
) -> EventStore:
    """The event store for these settings, its schema migrated on first use."""
    engine = engine or make_engine(settings)
    migrate(engine)
    return EventStore(
        engine,
        clock=clock,
        donor_organisations=settings.donor_organisations,
        idempotency_retention=timedelta(hours=settings.idempotency_retention_hours),
        sqlite_synchronous=settings.sqlite_synchronous,
    )
