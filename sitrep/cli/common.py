"""What every command shares: reading the settings, opening the database, reporting failures.

A failure the user can cause ends the command with one ``error: ...`` line on stderr and exit
status 1, never a traceback.
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import sys
from collections.abc import Iterator
from datetime import date
from typing import IO

import psycopg
import pydantic
import typer
from alembic.util.exc import CommandError
from pydantic_settings import SettingsError
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from events.errors import InvalidEvent, SitrepError, StoreUnavailable
from events.store import EventStore
from sitrep import logs
from sitrep.database import make_engine, migrate, open_store
from sitrep.settings import Settings


class Failure(Exception):
    """A problem to report to the user as one line, ending the command with status 1."""


# --- reporting failures --------------------------------------------------------------------


def first_line(value: object) -> str:
    """The first line of an error's text, or its class name when it has none."""
    text = str(value).strip()
    return text.splitlines()[0].strip() if text else type(value).__name__


def _where(settings: Settings | None) -> str:
    if settings is None:
        return "the database"
    try:
        make_url(settings.database_url)
    except ArgumentError:
        return "the database"  # not a URL: the text is not echoed, it may hold a password
    return f"the database at {logs.shown_url(settings.database_url)}"


def _fail(message: str) -> typer.Exit:
    # Redacted like the logs: driver and settings errors may quote a URL or a password.
    typer.echo(f"error: {logs.redact(message)}", err=True)
    return typer.Exit(1)


@contextlib.contextmanager
def reported(settings: Settings | None = None) -> Iterator[None]:
    """Turn every expected failure into one ``error:`` line on stderr and exit status 1."""
    try:
        yield
    except Failure as exc:
        raise _fail(str(exc)) from None
    except InvalidEvent as exc:
        first = exc.errors[0] if exc.errors else None
        if first is None:
            raise _fail(first_line(exc.detail)) from None
        where = f"{first.field}: " if first.field else ""
        raise _fail(f"{where}{first_line(first.message)}") from None
    except StoreUnavailable as exc:
        raise _fail(f"{first_line(exc.detail)} ({_where(settings)})") from None
    except SitrepError as exc:
        raise _fail(first_line(exc.detail)) from None
    except DBAPIError as exc:
        raise _fail(f"{_where(settings)} is unavailable: {first_line(exc.orig)}") from None
    except (psycopg.Error, sqlite3.Error) as exc:
        raise _fail(f"{_where(settings)} is unavailable: {first_line(exc)}") from None
    except CommandError as exc:
        # e.g. a database migrated by a newer sitrep than this one
        raise _fail(f"cannot migrate {_where(settings)}: {first_line(exc)}") from None
    except SQLAlchemyError as exc:
        raise _fail(f"{_where(settings)}: {first_line(exc)}") from None


def load_settings() -> Settings:
    """Read the settings once for this command, or fail naming the bad variable."""
    try:
        return Settings()
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        name = "SITREP_" + "_".join(str(part) for part in error["loc"][:1]).upper()
        message = str(error["msg"]).removeprefix("Value error, ")
        raise Failure(f"invalid setting {name}: {message}") from None
    except SettingsError as exc:
        raise Failure(f"invalid settings: {first_line(exc)}") from None


# --- the database --------------------------------------------------------------------------


def engine_for(settings: Settings) -> Engine:
    """An engine for the configured database, or a failure saying what is wrong with its URL."""
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
        raise Failure(f"SITREP_DATABASE_URL cannot be used: {first_line(exc)}") from None


@contextlib.contextmanager
def migrated_engine(settings: Settings) -> Iterator[Engine]:
    """An engine on the database brought to the newest schema, disposed of afterwards."""
    engine = engine_for(settings)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


@contextlib.contextmanager
def opened_store(settings: Settings) -> Iterator[EventStore]:
    """The event store of the configured database, closed afterwards."""
    engine = engine_for(settings)
    try:
        store = open_store(settings, engine=engine)
    except BaseException:
        engine.dispose()  # no store holds it yet
        raise
    try:
        yield store
    finally:
        store.close()


# --- a command's session -------------------------------------------------------------------


@contextlib.contextmanager
def configured() -> Iterator[Settings]:
    """The command's settings, every failure reported as one line (naming the database once
    the settings are read)."""
    with reported():
        settings = load_settings()
        with reported(settings):
            yield settings


@contextlib.contextmanager
def store_session() -> Iterator[tuple[Settings, EventStore]]:
    """The command's settings and the configured event store, closed afterwards, every
    failure reported as one line."""
    with configured() as settings, opened_store(settings) as store:
        yield settings, store


def day_option(value: str | None, option: str) -> date | None:
    """A date option's value, written YYYY-MM-DD; anything else is a usage error naming it."""
    if value is None:
        return None
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise typer.BadParameter("must be a date as YYYY-MM-DD", param_hint=option)


#: The FILE argument that means standard input (or output).
STDIO = "-"


@contextlib.contextmanager
def opened(file: str) -> Iterator[IO[bytes]]:
    """``file`` opened for reading as bytes (``-``: standard input); a missing or unreadable
    file is a :class:`Failure` naming it."""
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


def plural(count: int, noun: str) -> str:
    """``1 event``, ``2 events``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
