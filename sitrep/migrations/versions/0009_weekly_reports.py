"""Weekly reports: the report days queued per mission (no generation: it survives rebuilds, as
the webhook outbox it is written with does).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "weekly_reports",
        sa.Column("mission", sa.String(32), primary_key=True),
        sa.Column("report_on", sa.Date, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("weekly_reports")
