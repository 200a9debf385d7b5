"""``sitrep report``: the situation report of CONTRACT §4 from the configured database."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer

from sitrep.cli.common import Failure, day_option, reported, store_session


class Format(StrEnum):
    JSON = "json"
    MD = "md"
    HTML = "html"


def report_command(
    mission: Annotated[str, typer.Argument(help="The mission's id, e.g. mss-haiti.")],
    from_: Annotated[
        str | None,
        typer.Option("--from", metavar="YYYY-MM-DD",
                     help="The day before the period; default a week before --to."),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="YYYY-MM-DD", help="The period's last day; default today."),
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option("--known-at", metavar="RFC3339",
                     help="Answer from what had been recorded by then; default now."),
    ] = None,
    form: Annotated[
        Format, typer.Option("--format", help="json, md (Markdown) or html (a printable page).")
    ] = Format.JSON,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", dir_okay=False, help="Write to FILE; default stdout."),
    ] = None,
) -> None:  # fmt: skip
    """Print the situation report of a mission: the period's figures against its start, its
    events, what was restated about the time before it, and the deadlines ahead."""
    from api import reports
    from events.envelope import parse_instant
    from events.errors import InvalidEvent
    from projections.runner import Projector

    start, end = day_option(from_, "--from"), day_option(to, "--to")
    at: datetime | None = None
    if known_at is not None:
        try:
            at = parse_instant(known_at)
        except ValueError:
            raise typer.BadParameter(
                "must be an RFC 3339 instant with an offset, e.g. 2025-01-08T00:00:00Z",
                param_hint="--known-at",
            ) from None
    with store_session() as (_, store):
        now = store.clock()
        try:
            start, end = reports.window(start, end, now.date())
        except InvalidEvent as exc:
            message = exc.errors[0].message.replace("`to`", "--to")
            raise typer.BadParameter(message, param_hint="--from") from None
        body = reports.compute(store, Projector(store), mission, start, end, at or now)
    text = (
        orjson.dumps(body, option=orjson.OPT_INDENT_2).decode() + "\n"
        if form is Format.JSON
        else reports.RENDER[form.value](body)
    )
    if output is None:
        typer.echo(text, nl=False)
        return
    with reported():
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise Failure(f"cannot write {output}: {exc.strerror}") from None


