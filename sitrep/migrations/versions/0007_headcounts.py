"""Read models: headcount returns (``StrengthReported``) kept as versioned facts.

Force strength and the timeline reset the movement totals with the latest headcount of each
country and category (CONTRACT §3); the returns live in ``headcounts``, one row per version of
a return, indexed for "the latest live return on or before a date". The read models are derived
data, so, like 0004, this revision clears them and resets the projection position: the next
read (or ``sitrep rebuild``) applies every event again and lists each headcount's key.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

READ_MODELS = ("balances", "balance_keys", "effects", "mission_facts", "projection_state")


def upgrade() -> None:
    stamp = sa.DateTime(timezone=True)
    op.create_table(
        "headcounts",
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("mission", sa.String(32), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("personnel", sa.BigInteger, nullable=False),
        sa.Column("female", sa.BigInteger, nullable=True),
        sa.Column("recorded_from", stamp, nullable=False),
        sa.Column("recorded_to", stamp, nullable=True),
    )
    op.create_index(
        "ix_headcounts_latest", "headcounts", ["generation", "mission", "key", "day", "version"]
    )
    op.create_index("ix_headcounts_event", "headcounts", ["generation", "event_id"])
    for table in READ_MODELS:
        op.execute(f"DELETE FROM {table}")


def downgrade() -> None:
    op.drop_table("headcounts")
    for table in READ_MODELS:
        op.execute(f"DELETE FROM {table}")
