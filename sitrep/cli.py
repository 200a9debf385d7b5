"""The ``sitrep`` command line (CONTRACT §8).

Every command reads the settings once, does its work and reports failures as one ``error: ...``
line on stderr with exit status 1; usage mistakes are click's usage errors (status 2). Nothing
the user can cause ends in a traceback.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
import secrets
import socket
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any

import psycopg
import pydantic
import typer
from alembic.runtime.migration import MigrationContext
from alembic.util.exc import CommandError
from pydantic_settings import SettingsError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from api import tokens
from events import codes
from events.catalogue import Role
from events.errors import InvalidEvent, SitrepError, StoreUnavailable
from events.store import EventStore
from events.transfer import read_jsonl, write_jsonl
from sitrep import logs
from sitrep.database import make_engine, migrate, open_store
from sitrep.settings import Settings

log = logging.getLogger(__name__)

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="Event-sourced situation reporting for multinational security missions.",
)
token_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API tokens.")
app.add_typer(token_app, name="token")
deadlines_app = typer.Typer(
    no_args_is_help=True, help="Mandate-renewal and review deadline alerts."
)
app.add_typer(deadlines_app, name="deadlines")

STDIO = "-"
_HEX_HASH = re.compile(r"^[0-9a-f]{64}$")


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Failure(Exception):
    """A problem to report to the user as one line, ending the command with status 1."""


# --- start-up ------------------------------------------------------------------------------


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


def main() -> None:
    """Entry point of the ``sitrep`` console script."""
    app(prog_name="sitrep")


# --- reporting failures --------------------------------------------------------------------


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0].strip() if text else type(value).__name__


def _where(settings: Settings | None) -> str:
    if settings is None:
        return "the database"
    try:
        url = make_url(settings.database_url).render_as_string(hide_password=True)
    except ArgumentError:
        return "the database"
    return f"the database at {url}"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


@contextlib.contextmanager
def _reported(settings: Settings | None = None) -> Iterator[None]:
    """Turn every expected failure into one ``error:`` line on stderr and exit status 1."""
    try:
        yield
    except Failure as exc:
        raise _fail(str(exc)) from None
    except InvalidEvent as exc:
        first = exc.errors[0] if exc.errors else None
        if first is None:
            raise _fail(_first_line(exc.detail)) from None
        where = f"{first.field}: " if first.field else ""
        raise _fail(f"{where}{_first_line(first.message)}") from None
    except StoreUnavailable as exc:
        raise _fail(f"{_first_line(exc.detail)} ({_where(settings)})") from None
    except SitrepError as exc:
        raise _fail(_first_line(exc.detail)) from None
    except DBAPIError as exc:
        raise _fail(f"{_where(settings)} is unavailable: {_first_line(exc.orig)}") from None
    except (psycopg.Error, sqlite3.Error) as exc:
        raise _fail(f"{_where(settings)} is unavailable: {_first_line(exc)}") from None
    except CommandError as exc:
        # e.g. a database migrated by a newer sitrep than this one
        raise _fail(f"cannot migrate {_where(settings)}: {_first_line(exc)}") from None
    except SQLAlchemyError as exc:
        raise _fail(f"{_where(settings)}: {_first_line(exc)}") from None


def _settings() -> Settings:
    """Read the settings once for this command, or fail naming the bad variable."""
    try:
        return Settings()
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        name = "SITREP_" + "_".join(str(part) for part in error["loc"][:1]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        raise Failure(f"invalid setting {name}: {message}") from None
    except SettingsError as exc:
        raise Failure(f"invalid settings: {_first_line(exc)}") from None


# --- the database --------------------------------------------------------------------------


def _engine(settings: Settings) -> Engine:
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        # The text is not echoed: it may hold a password.
        raise Failure(
            "SITREP_DATABASE_URL is not a database URL; use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise Failure(
            f"SITREP_DATABASE_URL names an unsupported database ({url.get_backend_name()}); "
            "use sqlite:/// or postgresql+psycopg://"
        )
    try:
        return make_engine(settings)
    except (ArgumentError, ImportError) as exc:
        raise Failure(f"SITREP_DATABASE_URL cannot be used: {_first_line(exc)}") from None


@contextlib.contextmanager
def _migrated_engine(settings: Settings) -> Iterator[Engine]:
    engine = _engine(settings)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def _store(settings: Settings) -> Iterator[EventStore]:
    engine = _engine(settings)
    try:
        store = open_store(settings, engine=engine)
        try:
            yield store
        finally:
            store.recorder.close()
    finally:
        engine.dispose()


def _revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


# --- commands ------------------------------------------------------------------------------


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Worker processes (uvicorn).")
    ] = 1,
) -> None:
    """Serve the HTTP API, with the deadline scheduler unless SITREP_SCHEDULER_ENABLED=false."""
    import uvicorn  # only serving needs it; other commands start faster without

    with _reported():
        settings = _settings()
        # Migrate once here, so that several workers never race to create the schema.
        with _reported(settings), _migrated_engine(settings):
            pass
        _check_listen(host, port)
    typer.echo(f"sitrep serving on http://{host}:{port} ({_plural(workers, 'worker')})", err=True)
    uvicorn.run(
        "sitrep.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )


DEMO_DATABASE = Path(".sitrep-demo") / "demo.db"


@app.command("demo")
def demo_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Serve a fresh store loaded with the bundled MSS Haiti timeline, and its dashboard.

    The store is ./.sitrep-demo/demo.db, rebuilt on every run; SITREP_DATABASE_URL is ignored.

    Reads are public, the deadline scheduler runs, and no webhook is sent.
    """
    import uvicorn

    from sitrep import demo
    from sitrep.app import create_app

    with _reported():
        settings = _settings()
        # Before the old store is removed: a demo already serving on this port keeps its data.
        _check_listen(host, port)
        path = _fresh_demo_database()
        # The demo never touches the configured database, and never alerts real receivers.
        settings = settings.model_copy(
            update={
                "database_url": f"sqlite:///{path.resolve()}",
                "public_reads": True,
                "scheduler_enabled": True,
                "webhook_urls": [],
                "webhook_secret": None,
            }
        )
        with _reported(settings):
            store = open_store(settings)
            try:
                loaded = demo.load_timeline(store)
                _, token = tokens.create_token(
                    store.engine, role=Role.ADMIN, name="demo-admin", now=datetime.now(UTC)
                )
            except BaseException as exc:
                store.recorder.close()
                store.engine.dispose()
                if isinstance(exc, demo.TimelineError):
                    raise Failure(f"the bundled timeline did not load: {exc}") from None
                raise
            # The timeline was recorded at its historical instants; the server runs on the
            # real clock, so whatever is posted now is recorded after all of it.
            served = create_app(settings, store=store)
    _print_demo(host, port, path, len(loaded), token)
    uvicorn.run(served, host=host, port=port, log_level="warning", access_log=False)


def _fresh_demo_database() -> Path:
    path = DEMO_DATABASE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    except OSError as exc:
        raise Failure(f"cannot prepare {path}: {exc.strerror or exc}") from None
    return path


def _print_demo(host: str, port: int, path: Path, events: int, token: str) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    today = datetime.now(UTC).date().isoformat()
    example = (
        f'{{"mission": "mss-haiti", "type": "ContingentArrived", "occurred_on": "{today}", '
        '"data": {"country": "JAM", "personnel": 10, "category": "police"}}'
    )
    typer.echo(
        f"sitrep demo: {_plural(events, 'event')} of the MSS Haiti timeline loaded into {path}"
        " (recreated on every run)\n"
        f"\n  Dashboard  {base}/\n  API docs   {base}/docs\n"
        "\nReads are public. Posting needs this admin token (of this demo store only):\n"
    )
    typer.echo(token)
    typer.echo(
        "\nPost an event and watch the dashboard update:\n"
        f"  curl -X POST {base}/v1/events -H 'Authorization: Bearer {token}' \\\n"
        f"    -H 'Content-Type: application/json' -d '{example}'\n"
        "\nServing until Ctrl+C."
    )


def _check_listen(host: str, port: int) -> None:
    """Fail with one line, before uvicorn starts, when the address cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


@app.command("rebuild")
def rebuild_command() -> None:
    """Drop and rebuild every read model from the events (readers keep the old ones meanwhile)."""
    from projections.runner import Projector  # only this command needs the read models

    with _reported():
        settings = _settings()
        with _reported(settings), _store(settings) as store:
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
    typer.echo(f"read models rebuilt from {_plural(position, 'event')}")


@app.command("migrate")
def migrate_command() -> None:
    """Bring the database to the newest schema (also done on first use by every command)."""
    with _reported():
        settings = _settings()
        with _reported(settings):
            engine = _engine(settings)
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


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option("--role", help="What the token may do.")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="Comma-separated ISO 3166-1 alpha-3 country or donor organisation codes "
            "the token may report for; required for a liaison.",
        ),
    ] = "",
    name: Annotated[
        str | None,
        typer.Option("--name", help="Who holds the token; default ROLE-<random>."),
    ] = None,
) -> None:
    """Create an API token and print it alone on the last line (it is shown only once)."""
    with _reported():
        settings = _settings()
        with _reported(settings):
            codes_ = _scope(scope, role, settings)
            holder = _name(name, role)
            with _migrated_engine(settings) as engine:
                principal, token = tokens.create_token(
                    engine, role=role, name=holder, scope=codes_, now=datetime.now(UTC)
                )
    log.info("created token %s (%s, %s)", principal.token_id, principal.role, principal.name)
    shown_scope = ",".join(sorted(principal.scope)) or "none"
    typer.echo(
        f"created token {principal.token_id}: role {principal.role.value}, "
        f"name {principal.name}, scope {shown_scope} (only its hash is stored; "
        "copy it now)"
    )
    typer.echo(token)


@token_app.command("list")
def token_list() -> None:
    """List tokens (id, role, name, scope, created, revoked); never the tokens themselves."""
    with _reported():
        settings = _settings()
        with _reported(settings), _migrated_engine(settings) as engine:
            found = tokens.list_tokens(engine)
    for info in found:
        revoked = f"revoked {info.revoked_at.isoformat()}" if info.revoked_at else "active"
        typer.echo(
            f"{info.token_id}  {info.role:<8} {info.name}  scope {','.join(info.scope) or '-'}  "
            f"created {info.created_at.isoformat()}  {revoked}"
        )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (see `sitrep token list`).")],
) -> None:
    """Revoke a token: refused from now on (a running server notices within 30 seconds)."""
    with _reported():
        settings = _settings()
        with _reported(settings), _migrated_engine(settings) as engine:
            if not tokens.revoke_token(engine, token_id, now=datetime.now(UTC)):
                raise Failure(f"no active token with id {token_id!r} (see `sitrep token list`)")
    log.info("revoked token %s", token_id)
    typer.echo(f"revoked token {token_id}")


def _scope(text: str, role: Role, settings: Settings) -> list[str]:
    found = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [c for c in found if not (codes.is_country(c) or c in settings.donor_organisations)]
    if unknown:
        organisations = ", ".join(settings.donor_organisations) or "none configured"
        raise Failure(
            f"unknown scope code{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: use "
            f"ISO 3166-1 alpha-3 country codes such as KEN or a donor organisation "
            f"({organisations})"
        )
    if role is Role.LIAISON and not found:
        raise Failure(
            "a liaison token needs --scope with the country or donor codes it reports for, "
            "e.g. --scope KEN,JAM"
        )
    return found


def _name(name: str | None, role: Role) -> str:
    if name is None:
        return f"{role.value}-{secrets.token_hex(3)}"
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise Failure("--name must be 1 to 100 printable characters")
    return name


@app.command("export")
def export_command(
    file: Annotated[str, typer.Argument(metavar="FILE", help="Where to write; - for stdout.")],
) -> None:
    """Write every event, in position order, as JSON Lines of envelopes."""
    with _reported():
        settings = _settings()
        with _reported(settings), _store(settings) as store:
            if file == STDIO:
                count = _export_to_stdout(store)
            else:
                count = _export_to_file(store, Path(file))
    typer.echo(f"exported {_plural(count, 'event')}", err=True)


def _export_to_stdout(store: EventStore) -> int:
    binary = sys.stdout.buffer
    # UTF-8 whatever the locale says, because the file is JSON.
    out = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
    try:
        return write_jsonl(store.iter_events(), out)
    except BrokenPipeError:
        raise Failure("the output was closed before the export finished") from None
    finally:
        with contextlib.suppress(BrokenPipeError, ValueError):
            out.flush()
        out.detach()


def _export_to_file(store: EventStore, path: Path) -> int:
    if path.is_dir():
        raise Failure(f"{path} is a directory")
    # Written beside the target and renamed into place, so a failed export never leaves a
    # truncated file that looks complete.
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        # mkstemp makes the file private; give it the mode a plain open() would have.
        os.chmod(temporary, _new_file_mode(path))
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            count = write_jsonl(store.iter_events(), out)
        os.replace(temporary, path)
    except OSError as exc:
        raise Failure(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return count


def _new_file_mode(path: Path) -> int:
    with contextlib.suppress(OSError):
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@app.command("import")
def import_command(
    file: Annotated[str, typer.Argument(metavar="FILE", help="JSON Lines to read; - for stdin.")],
) -> None:
    """Import exported events, keeping their ids; all or nothing, and idempotent."""
    with _reported():
        settings = _settings()
        with _reported(settings), _opened(file) as source, _store(settings) as store:
            reading = _Reading(source)
            try:
                report = store.import_events(reading.items(store))
            except SitrepError as exc:
                raise reading.locate(exc) from None
    typer.echo(f"imported {report.imported}, skipped {report.skipped} (already present)")


@contextlib.contextmanager
def _opened(file: str) -> Iterator[IO[bytes]]:
    if file == STDIO:
        yield sys.stdin.buffer
        return
    try:
        source = open(file, "rb")  # noqa: SIM115 - closed below
    except IsADirectoryError:
        raise Failure(f"{file} is a directory, not a file") from None
    except FileNotFoundError:
        raise Failure(f"{file}: no such file") from None
    except OSError as exc:
        raise Failure(f"cannot read {file}: {exc.strerror or exc}") from None
    with source:
        yield source


class _Reading:
    """Feeds the file's lines to the parser, remembering where it is to name the line of an
    error the store raises (the parser names its own)."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.line = 0
        self.parsing = False

    def lines(self) -> Iterator[str]:
        for number, raw in enumerate(self.source, start=1):
            self.line = number
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise Failure(f"line {self.line}: not UTF-8 text") from None
            yield text.removeprefix("\ufeff") if self.line == 1 else text

    def items(self, store: EventStore) -> Iterator[Any]:
        parsed = read_jsonl(self.lines(), store)
        while True:
            self.parsing = True
            try:
                item = next(parsed)
            except StopIteration:
                return
            except OSError as exc:
                raise Failure(f"cannot read the file: {exc.strerror or exc}") from None
            self.parsing = False
            yield item

    def locate(self, exc: SitrepError) -> Exception:
        """The store's error, naming the line it was about (unless the parser already did)."""
        if self.parsing or isinstance(exc, StoreUnavailable) or self.line == 0:
            return exc
        if isinstance(exc, InvalidEvent):
            return exc.prefixed(f"line {self.line}")
        return Failure(f"line {self.line}: {_first_line(exc.detail)}")


@app.command("verify")
def verify_command(
    head: Annotated[
        str | None,
        typer.Option(
            "--head",
            metavar="HASH",
            help="The head hash recorded earlier; also catches the loss of the newest events.",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain; exit 1 naming the first bad position."""
    expected = _expected_head(head)
    with _reported():
        settings = _settings()
        with _reported(settings), _store(settings) as store:
            report = store.verify(expected_head=expected)
    if report.head_position is None or not report.head_hash:
        shown_head = "empty store" if report.ok else "no intact event"
    else:
        shown_head = f"position {report.head_position} hash {report.head_hash}"
    if report.ok:
        against = ", through the anchored head" if expected is not None else ""
        typer.echo(f"ok: {_plural(report.checked, 'event')}, chain intact{against}")
        typer.echo(f"head: {shown_head}")
        return
    typer.echo(f"FAILED at position {report.first_bad_position}: {report.problem}")
    suffix = " (the last intact event)" if report.head_hash else ""
    typer.echo(f"head: {shown_head}{suffix}")
    raise typer.Exit(1)


def _expected_head(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if not _HEX_HASH.match(value):
        raise typer.BadParameter(
            "must be a SHA-256 hash: 64 hexadecimal digits", param_hint="--head"
        )
    return value


@deadlines_app.command("check")
def deadlines_check(
    today: Annotated[
        str | None,
        typer.Option(
            "--today", metavar="YYYY-MM-DD", help="The day to check as; default today (UTC)."
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            min=0,
            max=3600,
            help="Seconds at most to spend delivering webhooks before exiting.",
        ),
    ] = 30.0,
) -> None:
    """One scheduler pass (for cron): flag the deadlines due, print each flag, deliver them."""
    from projections.runner import Projector
    from sitrep.deadlines import check_deadlines
    from sitrep.webhooks import Dispatcher

    day = _day(today)
    with _reported():
        settings = _settings()
        with _reported(settings), _store(settings) as store:
            flags = check_deadlines(
                store, Projector(store), day or store.clock().date(), settings.alert_thresholds
            )
            for flag in flags:
                typer.echo(_flag_line(flag.mission, flag.data, flag.id))
            dispatcher = Dispatcher.from_settings(store, settings)
            if dispatcher is None:
                delivery = "no webhooks configured"
            else:
                try:
                    attempts = dispatcher.drain(wait)
                    pending = dispatcher.pending()
                finally:
                    dispatcher.close()
                delivered = sum(1 for a in attempts if a.state == "delivered")
                failed = sum(1 for a in attempts if a.state == "failed")
                delivery = f"{_plural(delivered, 'webhook')} delivered"
                if pending:
                    delivery += f", {pending} pending (retried by the next run or sitrep serve)"
                if failed:
                    delivery += f", {failed} failed for good"
    typer.echo(f"{_plural(len(flags), 'new flag')}; {delivery}", err=True)


def _day(value: str | None) -> date | None:
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise typer.BadParameter("must be a date as YYYY-MM-DD", param_hint="--today")


def _flag_line(mission: str, data: dict[str, Any], event_id: str) -> str:
    ref = data.get("resolution") or data.get("review_id")
    days = data["days_remaining"]
    when = f"{_plural(days, 'day')} remaining" if days >= 0 else f"{_plural(-days, 'day')} overdue"
    return (
        f"flagged {mission} {data['deadline']} {ref} due {data['due_on']}: {when} "
        f"(threshold {data['threshold_days']}) [{event_id}]"
    )
