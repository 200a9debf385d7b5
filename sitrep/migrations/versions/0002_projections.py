"""Read models: projection state, bitemporal balances, effects, mission facts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    json = sa.JSON().with_variant(JSONB(), "postgresql")
    stamp = sa.DateTime(timezone=True)
    op.create_table(
        "projection_state",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "balances",
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("mission", sa.String(32), nullable=False),
        sa.Column("measure", sa.String(24), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("total", sa.Text, nullable=False),
        sa.Column("recorded_from", stamp, nullable=False),
        sa.Column("recorded_to", stamp, nullable=True),
    )
    op.create_index(
        "ix_balances_lookup", "balances", ["generation", "mission", "measure", "key", "valid_from"]
    )
    op.create_table(
        "balance_keys",
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("mission", sa.String(32), primary_key=True),
        sa.Column("measure", sa.String(24), primary_key=True),
        sa.Column("key", sa.String(40), primary_key=True),
    )
    op.create_table(
        "effects",
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("measure", sa.String(24), primary_key=True),
        sa.Column("mission", sa.String(32), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("valid_on", sa.Date, nullable=False),
        sa.Column("amount", sa.Text, nullable=False),
    )
    op.create_table(
        "mission_facts",
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("mission", sa.String(32), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("data", json, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("recorded_from", stamp, nullable=False),
        sa.Column("recorded_to", stamp, nullable=True),
    )
    op.create_index(
        "ix_mission_facts_lookup", "mission_facts", ["generation", "mission", "event_id"]
    )


def downgrade() -> None:
    for table in ("mission_facts", "effects", "balance_keys", "balances", "projection_state"):
        op.drop_table(table)
