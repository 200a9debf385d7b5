"""``sitrep send``: a liaison's events to a server, through a durable local outbox (CONTRACT §8)."""

from __future__ import annotations

import inspect
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import orjson
import pydantic
import typer
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from events.store import MAX_BATCH
from sitrep.cli.common import STDIO, Failure, first_line, opened, plural, reported
from sitrep.client import ApiProblem, Client
from sitrep.outbox import (
    BATCH_SIZE,
    DEFAULT_OUTBOX,
    Added,
    Item,
    Outbox,
    OutboxError,
    locked,
)
from sitrep.sending import Policy, Sender, Stopped

if TYPE_CHECKING:
    from rich.table import Table  # imported when --status runs: start-up stays light

STDIN = STDIO
#: How long a server keeps an Idempotency-Key at least (CONTRACT §2).
KEYS_KEPT = timedelta(hours=24)
#: Queued events ``--status`` lists one by one; the rest are counted.
SHOWN_QUEUED = 20


def send_command(
    file: Annotated[
        str | None,
        typer.Argument(
            metavar="[FILE|-]",
            help="Events to queue and send: JSON Lines, or one JSON array; - for stdin. "
            "Without it, what is already queued is sent.",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", envvar="SITREP_URL", metavar="URL",
                     help="The server, e.g. https://sitrep.example.org.", show_default=False),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", envvar="SITREP_TOKEN", metavar="T",
                     help="A liaison (or admin) token.", show_default=False),
    ] = None,
    outbox: Annotated[
        Path | None,
        typer.Option("--outbox", envvar="SITREP_OUTBOX", metavar="PATH",
                     help=f"The outbox file (SQLite); default {DEFAULT_OUTBOX}.",
                     show_default=False),
    ] = None,
    status: Annotated[
        bool,
        typer.Option("--status", help="List what is queued, sent and refused; send nothing."),
    ] = False,
    batch_size: Annotated[
        int,
        typer.Option("--batch-size", min=1, max=MAX_BATCH, metavar="N",
                     help="Most events per request (1: one request per event)."),
    ] = BATCH_SIZE,
    max_backoff: Annotated[
        float,
        typer.Option("--max-backoff", envvar="SITREP_SEND_BACKOFF_CAP", min=0.0, hidden=True,
                     help="Longest wait between two attempts, in seconds."),
    ] = 60.0,
    max_attempts: Annotated[
        int,
        typer.Option("--max-attempts", envvar="SITREP_SEND_MAX_ATTEMPTS", min=1, hidden=True,
                     help="Attempts per request before the run stops."),
    ] = 10,
) -> None:  # fmt: skip
    """Post events to a sitrep server through a local outbox, each stored exactly once.

    Each event is queued in the outbox (SITREP_OUTBOX, default ./.sitrep-outbox.db) with its
    own Idempotency-Key and stays there until the server stores it (201) or refuses it with a
    4xx other than 408/429: a refusal is reported and kept, not retried. Lost connections,
    timeouts, 408, 429 and 5xx are retried with backoff. Events go out in the order queued,
    in batches when many are waiting. An interrupted run resumes where it stopped: run the
    command again (with or without FILE).

    An event is known by its content, so sending the same FILE again, after a crash or by
    mistake, queues nothing twice; an event given twice in the same file is one event.

    Exit status: 0 when every event of FILE (without FILE: every event that was queued) is
    sent; 1 when some were refused, now or earlier, or remain queued, or on an error (a wrong
    URL, a bad token): see sitrep send --status. Usage mistakes exit with 2.
    """
    with reported():
        try:
            if status:
                if file is not None:
                    raise typer.BadParameter("--status takes no FILE", param_hint="FILE")
                _show_status(outbox or _from_dotenv().outbox)
                return
            if url is None or token is None or outbox is None:
                found = _from_dotenv()
                url = url if url is not None else found.url
                token = token if token is not None else found.token
                outbox = outbox or found.outbox
            base_url = _checked_url(url)
            if not token or not token.strip():
                raise Failure("no token: give --token or set SITREP_TOKEN")
            events = _read_events(file) if file is not None else None
            policy = Policy(max_attempts=max_attempts, max_delay=max_backoff,
                            batch_size=batch_size)  # fmt: skip
            with locked(outbox), Outbox(outbox) as box:
                _send(box, events, file, base_url, token.strip(), policy)
        except OutboxError as exc:
            raise Failure(str(exc)) from None


class _FromDotenv(BaseSettings):
    """``SITREP_URL``, ``SITREP_TOKEN`` and ``SITREP_OUTBOX`` from a ``.env`` file, like every
    other setting (the environment and the options come first). Kept apart from
    :class:`sitrep.settings.Settings`, which is the server's."""

    model_config = SettingsConfigDict(
        env_prefix="SITREP_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    url: str | None = None
    token: str | None = None
    outbox: Path = Path(DEFAULT_OUTBOX)


def _from_dotenv() -> _FromDotenv:
    try:
        return _FromDotenv()
    except (pydantic.ValidationError, SettingsError) as exc:
        raise Failure(f"invalid settings in .env: {first_line(exc)}") from None


# Typer keeps the single line breaks of a docstring's later paragraphs: one line each.
send_command.__doc__ = "\n\n".join(
    " ".join(paragraph.split())
    for paragraph in inspect.cleandoc(send_command.__doc__ or "").split("\n\n")
)


def _checked_url(url: str | None) -> str:
    if not url or not url.strip():
        raise Failure("no server to send to: give --url or set SITREP_URL")
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Failure(f"--url must be an http:// or https:// URL, not {url.strip()!r}")
    return url.strip().rstrip("/")


# --- reading the events --------------------------------------------------------------------


def _read_events(file: str) -> list[tuple[dict[str, Any], str]]:
    name = "stdin" if file == STDIN else file
    with opened(file) as source:
        raw = source.read()
    try:
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise Failure(f"{name}: not UTF-8 text") from None
    if text.lstrip().startswith("["):
        try:
            items = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise Failure(f"{name}: not a JSON array: {exc}") from None
        return [_event(item, f"{name}#{index}") for index, item in enumerate(items, start=1)]
    events = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise Failure(f"{where}: not JSON: {exc}") from None
        events.append(_event(item, where))
    return events


def _event(item: Any, where: str) -> tuple[dict[str, Any], str]:
    if not isinstance(item, dict):
        raise Failure(f"{where}: an event is a JSON object, not {type(item).__name__}")
    return item, where


# --- sending -------------------------------------------------------------------------------


def _send(
    box: Outbox,
    events: list[tuple[dict[str, Any], str]] | None,
    file: str | None,
    url: str,
    token: str,
    policy: Policy,
) -> None:
    if events is not None:
        added = box.add(events)
        typer.echo(_queued_line(added, "stdin" if file == STDIN else str(file)), err=True)
        concerned = added.seqs
    else:
        concerned = [item.seq for item in box.listed("queued")]
    waiting = box.counts()["queued"]
    stale = box.in_doubt_since(datetime.now(UTC) - KEYS_KEPT)
    if stale:
        # Past the time a server promises to keep Idempotency-Keys, a retry may be stored anew.
        typer.echo(
            f"warning: {plural(stale, 'queued event')} went unanswered for over "
            f"{KEYS_KEPT.total_seconds() / 3600:.0f} hours; the server may have forgotten their "
            "Idempotency-Keys, so check for doubles (GET /v1/events) after this run",
            err=True,
        )
    stopped: str | None = None
    with Client(url, token) as client, _Progress(waiting) as progress:

        def settled(item: Item, problem: ApiProblem | None) -> None:
            if problem is not None:
                progress.say(f"refused: {_describe(item)}: {problem}")
            progress.advance()

        sender = Sender(box, client, token, policy=policy, settled=settled)
        try:
            sender.run()
        except Stopped as exc:
            stopped = str(exc)
    delivery = sender.delivery
    counts = box.counts(concerned)
    left = box.counts()["queued"]
    typer.echo(
        f"sent {plural(len(delivery.sent), 'event')}, refused {len(delivery.refused)}, "
        f"{left} still queued"
    )
    now_refused = {item.seq for item, _ in delivery.refused}
    earlier = counts["refused"] - len(now_refused & set(concerned))
    if earlier > 0:
        typer.echo(f"{plural(earlier, 'event')} refused earlier (sitrep send --status)", err=True)
    if stopped is not None:
        raise Failure(f"{stopped} ({plural(left, 'event')} still queued: run sitrep send again)")
    if counts["refused"] or counts["queued"]:
        raise typer.Exit(1)


def _queued_line(added: Added, name: str) -> str:
    line = f"{name}: queued {plural(len(added.new), 'new event')}"
    if added.known:
        line += f", {len(added.known)} already in the outbox"
    if added.repeated:
        line += f", {added.repeated} repeated in the file (queued once)"
    return line


def _describe(item: Item) -> str:
    what = " ".join(part for part in (item.type, item.occurred_on) if part)
    return f"{item.source} ({what})" if what else item.source


class _Progress:
    """A progress bar on stderr when it is a terminal (lines said go above it); else none."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.bar: Any = None
        self.task: Any = None

    def __enter__(self) -> _Progress:
        if sys.stderr.isatty() and self.total > 0:
            from rich.console import Console
            from rich.progress import Progress

            self.bar = Progress(console=Console(stderr=True), transient=True)
            self.bar.__enter__()
            self.task = self.bar.add_task("sending", total=self.total)
        return self

    def advance(self) -> None:
        if self.bar is not None:
            self.bar.advance(self.task)

    def say(self, line: str) -> None:
        if self.bar is None:
            typer.echo(line, err=True)
        else:
            self.bar.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


# --- --status ------------------------------------------------------------------------------


def _show_status(path: Path) -> None:
    if not path.exists():
        raise Failure(f"{path}: no outbox here (set SITREP_OUTBOX or give --outbox)")
    from rich.console import Console
    from rich.table import Table

    with Outbox(path) as box:
        counts = box.counts()
        refused = box.listed("refused")
        queued = box.listed("queued", SHOWN_QUEUED)
    # Not a terminal: rows are not wrapped, so each stays one line for grep.
    console = Console(width=None if sys.stdout.isatty() else 10_000)
    console.print(f"outbox {path}", highlight=False)
    summary = Table()
    summary.add_column("state")
    summary.add_column("events", justify="right")
    for state, count in counts.items():
        summary.add_row(state, str(count))
    console.print(summary)
    if refused:
        console.print(_items_table(
            "refused (not retried)", ("status", "problem"),
            [(str(i.status or ""), _problem_text(i.problem)) for i in refused], refused,
        ))  # fmt: skip
    if queued:
        console.print(_items_table(
            "queued", ("attempts", "last error"),
            [(str(i.attempts), i.last_error or "") for i in queued], queued,
        ))  # fmt: skip
        if counts["queued"] > len(queued):
            console.print(f"... and {counts['queued'] - len(queued)} more queued")


def _items_table(
    title: str, columns: tuple[str, str], cells: list[tuple[str, str]], items: list[Item]
) -> Table:
    """Outbox events as a table: number, where from, what, then ``columns`` of ``cells``."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("#", "from", "event", *columns):
        table.add_column(column, overflow="fold")
    for item, extra in zip(items, cells, strict=True):
        table.add_row(str(item.seq), item.source, _what(item), *extra)
    return table


def _what(item: Item) -> str:
    return " ".join(part for part in (item.type, item.occurred_on) if part) or "?"


def _problem_text(problem: dict[str, Any] | None) -> str:
    if not problem:
        return ""
    text = str(problem.get("title") or "")
    if problem.get("detail"):
        text += f": {problem['detail']}"
    for error in problem.get("errors") or []:
        said = f"{error.get('field')}: {error.get('message')}"
        if said not in text:  # the detail often is the first error already
            text += f"; {said}"
    return text
