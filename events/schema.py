"""Tables of the event store. Migrations in ``sitrep/migrations`` create and evolve them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


Json = JSON().with_variant(JSONB(), "postgresql")

events = Table(
    "events",
    metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("id", String(36), nullable=False, unique=True),
    Column("mission", String(32), nullable=False),
    Column("stream", String(80), nullable=False),
    Column("version", Integer, nullable=False),
    Column("type", String(40), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("recorded_at", UTCDateTime, nullable=False),
    Column("recorded_by", String(100), nullable=False),
    Column("data", Json, nullable=False),
    Column("source", Json, nullable=True),
    Column("notes", Text, nullable=True),
    Column("hash", String(64), nullable=False),
    # The last guard against two writers taking the same version of a stream.
    UniqueConstraint("stream", "version", name="uq_events_stream_version"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("scope", String(100), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("event_ids", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_idempotency_keys_created_at", "created_at"),
)

#: Pledged or deployed personnel of one category on each date with a movement or a headcount,
#: per contingent stream: the day's net movements, the headcount that counts that day (if any)
#: and the balance at its end. What the date invariant is checked against (events.personnel);
#: derived from the events and kept in the append's transaction, not a read model.
personnel_balances = Table(
    "personnel_balances",
    metadata,
    Column("stream", String(80), primary_key=True),
    Column("measure", String(16), primary_key=True),
    Column("category", String(16), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("moved", BigInteger, nullable=False),
    Column("balance", BigInteger, nullable=False),
    Column("reset", BigInteger, nullable=True),
    sqlite_with_rowid=False,
)

#: The live headcounts (``StrengthReported``) of each contingent, category and date, by the
#: stream version that reported them: the one recorded last counts.
personnel_headcounts = Table(
    "personnel_headcounts",
    metadata,
    Column("stream", String(80), primary_key=True),
    Column("category", String(16), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("personnel", Integer, nullable=False),
    sqlite_with_rowid=False,
)

#: Each corrected or retracted event as it now stands (its latest replacement, or retracted).
amended_events = Table(
    "amended_events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("stream", String(80), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("data", Json, nullable=False),
    Column("retracted", Integer, nullable=False),
)
