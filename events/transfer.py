"""JSON Lines export and import of envelopes (CONTRACT §8 ``sitrep export`` / ``import``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson
from pydantic import TypeAdapter, ValidationError

from events.catalogue import SCHEMA_VERSION, EventId
from events.envelope import RecordedEvent, canonical_json, parse_instant
from events.errors import ConflictingImport, FieldError, InvalidEvent
from events.store import EventStore
from events.transaction import AppendTransaction, Preserved
from events.upcasting import upcast_stored

#: Fields of an exported line that the server assigns and an import recomputes or checks.
_ASSIGNED = ("stream", "version", "position", "hash", "schema_version")
_KEPT = ("id", "recorded_at", "recorded_by")
_REQUEST = ("mission", "type", "occurred_on", "data", "source", "notes")
_EVENT_ID: TypeAdapter[str] = TypeAdapter(EventId)


@dataclass(frozen=True)
class ImportReport:
    imported: int
    skipped: int


def write_jsonl(events: Iterable[RecordedEvent], out: IO[str]) -> int:
    """Write one envelope per line in the given (position) order; returns how many."""
    count = 0
    for event in events:
        # Canonical form, so an export is byte-identical whichever backend it came from.
        out.write(canonical_json(event.to_json()))
        out.write("\n")
        count += 1
    return count


def read_jsonl(lines: Iterable[str], store: EventStore) -> Iterator[tuple[Any, Preserved]]:
    """Parse exported lines into (event, kept fields); errors name the line number."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield _parse_line(line, store)
        except InvalidEvent as exc:
            raise exc.prefixed(f"line {number}") from None


def _parse_line(line: str, store: EventStore) -> tuple[Any, Preserved]:
    try:
        # orjson refuses lone surrogates and other text that is not UTF-8, as the store must.
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent([FieldError("", f"not JSON: {exc}")]) from None
    if not isinstance(obj, dict):
        raise InvalidEvent([FieldError("", "each line must be a JSON object")])
    unknown = set(obj) - set(_ASSIGNED) - set(_KEPT) - set(_REQUEST)
    if unknown:
        raise InvalidEvent([FieldError(sorted(unknown)[0], "unknown field")])
    missing = [f for f in _KEPT if not isinstance(obj.get(f), str) or not obj.get(f)]
    if missing:
        raise InvalidEvent([FieldError(missing[0], "required in an exported envelope")])
    try:
        recorded_at = parse_instant(obj["recorded_at"])
    except ValueError as exc:
        raise InvalidEvent([FieldError("recorded_at", str(exc))]) from None
    request = {k: obj[k] for k in _REQUEST if obj.get(k) is not None}
    version = obj.get("schema_version", SCHEMA_VERSION)
    if type(version) is not int or not 0 <= version <= SCHEMA_VERSION:
        message = f"must be an integer from 0 to {SCHEMA_VERSION}"
        raise InvalidEvent([FieldError("schema_version", message)])
    if version < SCHEMA_VERSION and isinstance(request.get("data"), dict) and isinstance(
        request.get("type"), str
    ):
        # An event exported in an older shape is imported in today's, like every read gives
        # it; the target's chain is of what it stores, so hashes differ from the file's from
        # that event on (README, "Command line").
        request["data"] = upcast_stored(request["type"], version, request["data"])
    event = store.parse(request)
    try:
        _EVENT_ID.validate_python(obj["id"])
    except ValidationError:
        raise InvalidEvent([FieldError("id", "must be a lowercase UUID")]) from None
    return event, Preserved(obj["id"], recorded_at, obj["recorded_by"][:100])


def import_events(
    store: EventStore, items: Iterable[tuple[Any, Preserved]], *, chunk: int = 500
) -> ImportReport:
    """Append exported events keeping their ids, ``recorded_at`` and ``recorded_by``.

    Every event passes the same rules as over the API; an id already stored with the same
    content is skipped, so importing a file twice changes nothing. All or nothing.
    """
    imported = skipped = 0
    with store.recorder.write() as tx:
        writer = AppendTransaction(store.append_context(), tx)
        for event, kept in items:
            existing = writer.lookup(kept.id)
            if existing is not None:
                if not _same_content(existing, event, kept):
                    raise ConflictingImport(kept.id)
                skipped += 1
                continue
            writer.add(event, recorded_by=kept.recorded_by, preserved=kept)
            imported += 1
            if len(writer.pending) >= chunk:
                writer.flush()
        writer.flush()
    store.balances.publish(writer.committed_balances())
    return ImportReport(imported, skipped)


def _same_content(existing: RecordedEvent, event: Any, kept: Preserved) -> bool:
    return (
        existing.type == event.type
        and existing.mission == event.mission
        and existing.occurred_on == event.occurred_on
        and existing.recorded_by == kept.recorded_by
        and existing.recorded_at == kept.recorded_at
        and existing.data == event.data.model_dump(mode="json", exclude_none=True)
    )
