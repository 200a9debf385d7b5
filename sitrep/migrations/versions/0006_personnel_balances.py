"""What the rules keep so no check folds a stream: personnel balances, headcounts, amendments.

``personnel_balances`` holds, per contingent stream, measure and category, each date with a
movement or a headcount (its net movements, the headcount that counts, the balance at its end);
``personnel_headcounts`` the live headcounts of each date; ``amended_events`` each corrected or
retracted event as it now stands (events.personnel). All are filled here from the stored
events, one stream at a time, with the same fold the tests hold the live tables to.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Iterator
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op

from events import personnel, schema
from events.rules import Entry

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

CHUNK = 5000


def upgrade() -> None:
    op.create_table(
        "personnel_balances",
        sa.Column("stream", sa.String(80), primary_key=True),
        sa.Column("measure", sa.String(16), primary_key=True),
        sa.Column("category", sa.String(16), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("moved", sa.BigInteger, nullable=False),
        sa.Column("balance", sa.BigInteger, nullable=False),
        sa.Column("reset", sa.BigInteger, nullable=True),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "personnel_headcounts",
        sa.Column("stream", sa.String(80), primary_key=True),
        sa.Column("category", sa.String(16), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("personnel", sa.Integer, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "amended_events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("stream", sa.String(80), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("data", schema.Json, nullable=False),
        sa.Column("retracted", sa.Integer, nullable=False),
    )
    _fill(op.get_bind())


def downgrade() -> None:
    op.drop_table("amended_events")
    op.drop_table("personnel_headcounts")
    op.drop_table("personnel_balances")


def _entries(conn: sa.Connection) -> Iterator[tuple[str, Entry]]:
    ev = schema.events
    rows = conn.execute(
        sa.select(ev.c.stream, ev.c.id, ev.c.type, ev.c.version, ev.c.occurred_on, ev.c.data)
        .order_by(ev.c.stream, ev.c.version)
        .execution_options(stream_results=True, yield_per=CHUNK)
    )
    for r in rows:
        yield r.stream, Entry(r.id, r.type, r.version, r.occurred_on, r.data)


def _fill(conn: sa.Connection) -> None:
    balances: list[dict[str, Any]] = []
    headcounts: list[dict[str, Any]] = []
    amended: list[dict[str, Any]] = []
    # Written once every stream is read: the read is one cursor over the events (streamed on
    # PostgreSQL), and the rows it leaves are per date and per amended event, not per event.
    for stream, group in groupby(_entries(conn), key=lambda pair: pair[0]):
        rows, counts, facts = personnel.derive(entry for _, entry in group)
        balances.extend(
            {"stream": stream, "measure": m, "category": c, "day": d, "moved": mv,
             "balance": b, "reset": x}
            for m, c, d, mv, b, x in rows
        )  # fmt: skip
        headcounts.extend(
            {"stream": stream, "category": c, "day": d, "version": v, "personnel": n}
            for (c, d), live in counts.items()
            for v, n in live.items()
        )
        amended.extend(
            {"event_id": f.id, "stream": stream, "occurred_on": f.occurred_on, "data": f.data,
             "retracted": int(f.retracted)}
            for f in facts.values()
        )  # fmt: skip
    for table, values in (
        (schema.personnel_balances, balances),
        (schema.personnel_headcounts, headcounts),
        (schema.amended_events, amended),
    ):
        for start in range(0, len(values), CHUNK):
            conn.execute(table.insert(), values[start : start + CHUNK])
