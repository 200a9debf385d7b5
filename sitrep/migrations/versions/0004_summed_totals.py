"""Read models: mission-wide sums for charts; totals are versions, never updated.

The read models are derived data, so this revision drops them and resets the projection
position: the next read (or ``sitrep rebuild``) applies every event again. ``balances`` loses
``recorded_to`` (a version ends where the next version of its row begins, so superseding a
row no longer updates it: that update was half the write cost of a rebuild) and gets a primary
key (a total's key, date and the instant its version was recorded), a clustered ``WITHOUT
ROWID`` table on SQLite, so a reading is one seek inside that key.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_balances_lookup", table_name="balances")
    op.drop_table("balances")
    op.drop_table("effects")
    _balances(clustered=True)
    _effects(clustered=True)
    for table in ("balance_keys", "mission_facts", "projection_state"):
        op.execute(f"DELETE FROM {table}")


def downgrade() -> None:
    op.drop_table("balances")
    op.drop_table("effects")
    _balances(clustered=False)
    op.create_index(
        "ix_balances_lookup", "balances", ["generation", "mission", "measure", "key", "valid_from"]
    )
    _effects(clustered=False)
    for table in ("balance_keys", "mission_facts", "projection_state"):
        op.execute(f"DELETE FROM {table}")


def _balances(*, clustered: bool) -> None:
    stamp = sa.DateTime(timezone=True)
    versions: list[sa.schema.SchemaItem]
    if clustered:
        versions = [
            sa.Column("recorded_from", stamp, primary_key=True),
            sa.Column("total", sa.Text, nullable=False),
        ]
    else:
        versions = [
            sa.Column("total", sa.Text, nullable=False),
            sa.Column("recorded_from", stamp, nullable=False),
            sa.Column("recorded_to", stamp, nullable=True),
        ]
    op.create_table(
        "balances",
        sa.Column("generation", sa.Integer, nullable=False, primary_key=clustered),
        sa.Column("mission", sa.String(32), nullable=False, primary_key=clustered),
        sa.Column("measure", sa.String(24), nullable=False, primary_key=clustered),
        sa.Column("key", sa.String(40), nullable=False, primary_key=clustered),
        sa.Column("valid_from", sa.Date, nullable=False, primary_key=clustered),
        *versions,
        sqlite_with_rowid=not clustered,
    )


def _effects(*, clustered: bool) -> None:
    op.create_table(
        "effects",
        sa.Column("generation", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("measure", sa.String(24), primary_key=True),
        sa.Column("mission", sa.String(32), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("valid_on", sa.Date, nullable=False),
        sa.Column("amount", sa.Text, nullable=False),
        sqlite_with_rowid=not clustered,
    )
