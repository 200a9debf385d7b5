"""The ``sitrep`` command line (CONTRACT §8): the app, its root options and its commands.

Every command reads the settings once, does its work and reports failures as one ``error: ...``
line on stderr with exit status 1; usage mistakes are click's usage errors (status 2). Nothing
the user can cause ends in a traceback.
"""

from __future__ import annotations

import logging
import sys
from enum import StrEnum
from typing import IO, Annotated

import typer

from sitrep import logs
from sitrep.cli import deadlines, readmodels, schema, serving, tokens, transfer

__all__ = ["app", "main"]

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Event-sourced situation reporting for multinational security missions.",
)


def main() -> None:
    """Entry point of the ``sitrep`` console script."""
    app(prog_name="sitrep")


# --- start-up ------------------------------------------------------------------------------


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a record is emitted (test runners swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> IO[str]:
        return sys.stderr

    @stream.setter
    def stream(self, value: IO[str]) -> None:
        pass


def _configure_logging(verbose: bool, log_format: str = "text") -> None:
    # basicConfig does nothing when the root logger already has handlers (an embedding
    # program, or a test runner), so this configures logging once per process at most.
    handler = _StderrHandler()
    handler.setFormatter(logs.formatter(log_format))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler])
    # APScheduler logs every run of every job at INFO: every few seconds for webhook delivery.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@app.callback()
def _root(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress (INFO) to stderr.")
    ] = False,
    log_format: Annotated[
        LogFormat,
        typer.Option(
            "--log-format", envvar="SITREP_LOG_FORMAT",
            help="text, or json: one JSON object a line with the request id.",
        ),
    ] = LogFormat.TEXT,
) -> None:  # fmt: skip
    """Settings come from SITREP_* environment variables and a .env file."""
    _configure_logging(verbose, log_format.value)


# --- the commands, in the order `sitrep --help` lists them -------------------------------------

app.command("serve")(serving.serve_command)
app.command("demo")(serving.demo_command)
app.command("rebuild")(readmodels.rebuild_command)
app.command("migrate")(schema.migrate_command)
app.command("export")(transfer.export_command)
app.command("import")(transfer.import_command)
app.command("verify")(transfer.verify_command)

token_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API tokens.")
token_app.command("create")(tokens.token_create)
token_app.command("list")(tokens.token_list)
token_app.command("revoke")(tokens.token_revoke)
app.add_typer(token_app, name="token")

deadlines_app = typer.Typer(
    no_args_is_help=True, help="Mandate-renewal and review deadline alerts."
)
deadlines_app.command("check")(deadlines.deadlines_check)
app.add_typer(deadlines_app, name="deadlines")
