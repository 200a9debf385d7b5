"""Deadline flags and the state of their webhook deliveries (CONTRACT §4 ``/v1/alerts``, §7).

The delivery tables are an outbox, not a read model: they hold what was sent, which the events
cannot tell, so they carry no generation and ``sitrep rebuild`` leaves them alone. ``sitrep``
fills and drains them (``sitrep/webhooks.py``); the API only reads them through this module.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    select,
)

from events import rules, schema
from events.catalogue import stream_of
from events.envelope import format_instant
from events.schema import UTCDateTime
from events.store import EventStore
from events.upcasting import upcast_stored

metadata = MetaData()

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
FLAG_STREAMS = ("alerts:", "alerts;")  # every alerts stream sorts in [alerts:, alerts;)

#: One row per (flag, webhook URL): the message to send and how sending it went.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("url", String(2000), primary_key=True),
    Column("mission", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("delivered_at", UTCDateTime, nullable=True),
    # A dispatcher sending a row holds it until lease_until, so two never send it at once.
    Column("lease_owner", String(100), nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
)

#: The last event position whose flags have been put in the outbox.
webhook_cursor = Table(
    "webhook_cursor",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("position", BigInteger, nullable=False),
)


def public_url(url: str) -> str:
    """A webhook URL fit to show and log: no user info, no query (either may hold a token)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if parts.port else ""
    query = "?…" if parts.query else ""
    return f"{parts.scheme}://{host}{port}{parts.path}{query}"


def listing(store: EventStore, mission: str | None = None) -> list[dict[str, Any]]:
    """Every standing flag (of one mission, or all) in recorded order, with its deliveries."""
    ev = schema.events
    if mission is not None:
        where = ev.c.stream == stream_of(mission, "DeadlineFlagged", {})
    else:
        where = and_(ev.c.stream >= FLAG_STREAMS[0], ev.c.stream < FLAG_STREAMS[1])
    with store.recorder.read() as conn:
        rows = conn.execute(
            select(
                ev.c.id, ev.c.mission, ev.c.stream, ev.c.type, ev.c.version, ev.c.position,
                ev.c.occurred_on, ev.c.recorded_at, ev.c.data, ev.c.schema_version,
            ).where(where).order_by(ev.c.position)
        ).all()  # fmt: skip
        flags = _standing(rows)
        sent = deliveries(conn, [row.id for row, _ in flags])
    return [_flag_json(row, fact, sent.get(row.id, [])) for row, fact in flags]


def _standing(rows: Iterable[Any]) -> list[tuple[Any, rules.Fact]]:
    """Flags as their corrections left them, without the retracted ones, in recorded order."""
    by_stream: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_stream[row.stream].append(row)
    standing: list[tuple[Any, rules.Fact]] = []
    for stream_rows in by_stream.values():
        # The rows are read raw, so their data is upcast here (as Recorder.event would).
        facts = rules.fold(
            rules.Entry(r.id, r.type, r.version, r.occurred_on,
                        upcast_stored(r.type, r.schema_version, r.data))
            for r in stream_rows
        )  # fmt: skip
        for row in stream_rows:
            fact = facts.get(row.id)
            if row.type == "DeadlineFlagged" and fact is not None and not fact.retracted:
                standing.append((row, fact))
    return sorted(standing, key=lambda pair: pair[0].position)


def deliveries(conn: Connection, event_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Delivery state per flag event id, one entry per webhook URL."""
    d = webhook_deliveries
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for start in range(0, len(event_ids), 500):
        chunk = event_ids[start : start + 500]
        for row in conn.execute(
            select(
                d.c.event_id, d.c.url, d.c.state, d.c.attempts, d.c.last_error, d.c.delivered_at,
                d.c.next_attempt_at,
            ).where(d.c.event_id.in_(chunk)).order_by(d.c.event_id, d.c.url)
        ):  # fmt: skip
            found[row.event_id].append({
                "url": public_url(row.url),
                "state": row.state,
                "attempts": row.attempts,
                "last_error": row.last_error,
                "delivered_at": format_instant(row.delivered_at) if row.delivered_at else None,
                "next_attempt_at": (
                    format_instant(row.next_attempt_at) if row.state == PENDING else None
                ),
            })  # fmt: skip
    return found


def _flag_json(row: Any, fact: rules.Fact, sent: list[dict[str, Any]]) -> dict[str, Any]:
    data = fact.data
    return {
        "id": row.id,
        "mission": row.mission,
        "deadline": data["deadline"],
        "due_on": data["due_on"],
        "days_remaining": data["days_remaining"],
        "threshold_days": data["threshold_days"],
        "resolution": data.get("resolution"),
        "review_id": data.get("review_id"),
        "occurred_on": fact.occurred_on.isoformat(),
        "recorded_at": format_instant(row.recorded_at),
        "deliveries": sent,
    }
