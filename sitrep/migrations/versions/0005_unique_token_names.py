"""Token names unique among live tokens: ``recorded_by`` (a token's name) names one holder.

A partial unique index on ``tokens.name`` where ``revoked_at IS NULL``, so a revoked token's
name may be given again. Live tokens that already share a name keep working: the oldest (by
``created_at``, then id) keeps the name and each later one is renamed ``{name}-{id}`` (cut to fit
100 characters), logged as a warning. Events already recorded keep the name they were recorded
with; events are never changed. Downgrading drops the index and leaves the names as they are.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import logging

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

NAME_LENGTH = 100
LIVE = "revoked_at IS NULL"

tokens = sa.table(
    "tokens",
    sa.column("id", sa.String),
    sa.column("name", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("revoked_at", sa.DateTime),
)


def upgrade() -> None:
    _rename_later_duplicates()
    op.create_index(
        "uq_tokens_live_name",
        "tokens",
        ["name"],
        unique=True,
        sqlite_where=sa.text(LIVE),
        postgresql_where=sa.text(LIVE),
    )


def downgrade() -> None:
    op.drop_index("uq_tokens_live_name", table_name="tokens")


def _rename_later_duplicates() -> None:
    bind = op.get_bind()
    live = bind.execute(
        sa.select(tokens.c.id, tokens.c.name)
        .where(tokens.c.revoked_at.is_(None))
        .order_by(tokens.c.created_at, tokens.c.id)
    ).all()
    taken = {name for _, name in live}
    kept: set[str] = set()
    for token_id, name in live:
        if name not in kept:
            kept.add(name)
            continue
        renamed = _free_name(name, token_id, taken)
        taken.add(renamed)
        bind.execute(tokens.update().where(tokens.c.id == token_id).values(name=renamed))
        log.warning(
            "token %s shared its name %r with an older live token; renamed %r",
            token_id,
            name,
            renamed,
        )


def _free_name(name: str, token_id: str, taken: set[str]) -> str:
    # The id makes the name unique unless someone already chose that very name; then count on.
    for attempt in range(1, 1000):
        suffix = f"-{token_id}" if attempt == 1 else f"-{token_id}-{attempt}"
        candidate = name[: NAME_LENGTH - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
    raise RuntimeError(f"no free name for token {token_id}")
