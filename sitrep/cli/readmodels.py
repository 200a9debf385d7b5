"""``sitrep rebuild``: rebuild every read model from the events."""

from __future__ import annotations

import sys

import typer

from sitrep.cli.common import plural, store_session


def rebuild_command() -> None:
    """Drop and rebuild every read model from the events (readers keep the old ones meanwhile)."""
    from projections.runner import Projector  # only this command needs the read models

    with store_session() as (_, store):
        projector = Projector(store)
        if sys.stderr.isatty():
            from rich.progress import Progress

            with Progress(transient=True) as bar:
                task = bar.add_task("rebuilding", total=None)

                def show(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=max(total, 1))

                position = projector.rebuild(show)
        else:
            position = projector.rebuild()
    typer.echo(f"read models rebuilt from {plural(position, 'event')}")
