"""``sitrep export``, ``import`` and ``verify``: the events as JSON Lines, and their hash chain."""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any

import typer

from events.envelope import format_instant
from events.errors import FieldError, InvalidEvent, SitrepError, StoreUnavailable
from events.store import EventStore, Preserved
from events.transfer import import_events, read_jsonl, write_jsonl
from events.verify import verify
from sitrep.cli.common import (
    STDIO,
    Failure,
    configured,
    first_line,
    opened,
    opened_store,
    plural,
    store_session,
)

_HEX_HASH = re.compile(r"^[0-9a-f]{64}$")
#: How far ahead of this machine's clock an imported ``recorded_at`` may be.
CLOCK_SKEW = timedelta(minutes=1)


# --- export --------------------------------------------------------------------------------


def export_command(
    file: Annotated[str, typer.Argument(metavar="FILE", help="Where to write; - for stdout.")],
) -> None:
    """Write every event, in position order, as JSON Lines of envelopes."""
    with store_session() as (_, store):
        count = _export_to_stdout(store) if file == STDIO else _export_to_file(store, Path(file))
    typer.echo(f"exported {plural(count, 'event')}", err=True)


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


# --- import --------------------------------------------------------------------------------


def import_command(
    file: Annotated[str, typer.Argument(metavar="FILE", help="JSON Lines to read; - for stdin.")],
) -> None:
    """Import exported events, keeping their ids; all or nothing, and idempotent."""
    # The file before the store: a missing file is named without touching the database.
    with configured() as settings, opened(file) as source, opened_store(settings) as store:
        reading = _Reading(source)
        try:
            report = import_events(store, reading.items(store))
        except SitrepError as exc:
            raise reading.locate(exc) from None
    typer.echo(f"imported {report.imported}, skipped {report.skipped} (already present)")


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
            self._not_from_the_future(item[1], store.clock())
            self.parsing = False
            yield item

    def _not_from_the_future(self, kept: Preserved, now: datetime) -> None:
        # Recorded times only move forward, so one instant from the future would stamp every
        # later append with it: an export holds only instants that have already happened.
        if kept.recorded_at > now + CLOCK_SKEW:
            raise InvalidEvent(
                [
                    FieldError(
                        f"line {self.line}.recorded_at",
                        f"{format_instant(kept.recorded_at)} is later than now "
                        f"({format_instant(now)}, allowing {CLOCK_SKEW.total_seconds():.0f} s "
                        "of clock skew); an export holds only what was already stored",
                    )
                ]
            )

    def locate(self, exc: SitrepError) -> Exception:
        """The store's error, naming the line it was about (unless the parser already did)."""
        if self.parsing or isinstance(exc, StoreUnavailable) or self.line == 0:
            return exc
        if isinstance(exc, InvalidEvent):
            return exc.prefixed(f"line {self.line}")
        return Failure(f"line {self.line}: {first_line(exc.detail)}")


# --- verify --------------------------------------------------------------------------------


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
    with store_session() as (_, store):
        report = verify(store, expected_head=expected)
    if report.head_position is None or not report.head_hash:
        shown_head = "empty store" if report.ok else "no intact event"
    else:
        shown_head = f"position {report.head_position} hash {report.head_hash}"
    if report.ok:
        against = ", through the anchored head" if expected is not None else ""
        typer.echo(f"ok: {plural(report.checked, 'event')}, chain intact{against}")
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
