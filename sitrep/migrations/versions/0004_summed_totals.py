"""Read models keep each charted measure's mission-wide sum: rebuild them from the events.

The read models are derived data. Their rows from before this revision lack the sums the
timeline now reads, so they are dropped and the projection position reset: the next read (or
``sitrep rebuild``) applies every event again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = ("balances", "balance_keys", "effects", "mission_facts", "projection_state")


def upgrade() -> None:
    for table in TABLES:
        op.execute(f"DELETE FROM {table}")


def downgrade() -> None:
    # The older read models ignore the sums; rebuilding them from the events is still needed.
    for table in TABLES:
        op.execute(f"DELETE FROM {table}")
