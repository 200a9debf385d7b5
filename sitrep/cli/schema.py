"""``sitrep migrate``: bring the database to the newest schema."""

from __future__ import annotations

import typer
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from sitrep.cli.common import configured, engine_for
from sitrep.database import migrate


def migrate_command() -> None:
    """Bring the database to the newest schema (also done on first use by every command)."""
    with configured() as settings:
        engine = engine_for(settings)
        try:
            before = _revision(engine)
            migrate(engine)
            after = _revision(engine)
        finally:
            engine.dispose()
    if before == after:
        typer.echo(f"database at the newest schema (revision {after})")
    else:
        typer.echo(f"database at the newest schema (revision {after}; was {before or 'empty'})")


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()
