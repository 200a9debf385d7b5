"""The ``sitrep`` command line (CONTRACT §8): the app, its root options and its commands.

Every command reads the settings once, does its work and reports failures as one ``error: ...``
line on stderr with exit status 1; usage mistakes are click's usage errors (status 2). Nothing
the user can cause ends in a traceback.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated

import typer

from sitrep import logs
from sitrep.cli import deadlines, readmodels, report, schema, send, serving, tokens, transfer

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
    logs.configure(logging.INFO if verbose else logging.WARNING, log_format.value)


# --- the commands, in the order `sitrep --help` lists them -------------------------------------

app.command("serve")(serving.serve_command)
app.command("demo")(serving.demo_command)
app.command("rebuild")(readmodels.rebuild_command)
app.command("migrate")(schema.migrate_command)
app.command("export")(transfer.export_command)
app.command("import")(transfer.import_command)
app.command("verify")(transfer.verify_command)
app.command("report")(report.report_command)
app.command("send")(send.send_command)

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
