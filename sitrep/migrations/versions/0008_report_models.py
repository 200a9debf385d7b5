"""Read models of the situation report (CONTRACT §4): the mission's events by effective date,
as versions, and by the instant they were recorded, with the date each one concerns.

Derived data, so, like 0007, this revision clears the read models and resets the projection
position: the next read (or ``sitrep rebuild``) applies every event again.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

READ_MODELS = (
    "balances", "balance_keys", "effects", "mission_facts", "headcounts", "projection_state",
)  # fmt: skip


def upgrade() -> None:
    stamp = sa.DateTime(timezone=True)
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    op.create_table(
        "report_events",
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("mission", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("data", json, nullable=True),
        sa.Column("corrected_by", json, nullable=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("recorded_from", stamp, nullable=False),
        sa.Column("recorded_to", stamp, nullable=True),
    )
    op.create_index(
        "ix_report_events_dated", "report_events", ["generation", "mission", "occurred_on"]
    )
    op.create_index("ix_report_events_event", "report_events", ["generation", "event_id"])
    op.create_table(
        "report_changes",
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("mission", sa.String(32), primary_key=True),
        sa.Column("lag", sa.Integer, primary_key=True),
        sa.Column("recorded_at", stamp, primary_key=True),
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("target_id", sa.String(36), nullable=True),
        sa.Column("dated", sa.Date, nullable=False),
        sqlite_with_rowid=False,
    )
    for table in READ_MODELS:
        op.execute(f"DELETE FROM {table}")


def downgrade() -> None:
    op.drop_table("report_changes")
    op.drop_table("report_events")
    for table in READ_MODELS:
        op.execute(f"DELETE FROM {table}")
