"""The stored event envelope, its canonical JSON and the hash chain (CONTRACT §2, §6)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

import orjson

#: The hash the first event is chained to.
GENESIS_HASH = ""


def format_instant(value: datetime) -> str:
    """RFC 3339 in UTC with microseconds, e.g. ``2024-06-25T08:30:00.000000Z``."""
    # isoformat is several times faster than strftime, and this runs once per append.
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_instant(value: str) -> datetime:
    """Read an RFC 3339 instant; a value without an offset is refused rather than guessed."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is outside the range of dates") from None


def canonical_bytes(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same bytes for the same content everywhere.

    Byte for byte what ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode()`` gives (a property test holds the two together), so anyone
    can recompute the chain; orjson is used because it is twenty times faster, and the chain
    is computed on every append.
    """
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def canonical_json(value: Any) -> str:
    """:func:`canonical_bytes` as text."""
    return canonical_bytes(value).decode("utf-8")


def chain_hash(previous: str, envelope: dict[str, Any]) -> str:
    """``sha256(previous hash + canonical JSON of the envelope)`` as lowercase hex."""
    return hashlib.sha256(previous.encode("ascii") + canonical_bytes(envelope)).hexdigest()


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """An event as stored: the request's fields plus what the server assigned (one stored in
    an older schema version is read as an :class:`UpcastEvent`)."""

    id: str
    mission: str
    type: str
    stream: str
    version: int
    position: int
    occurred_on: date
    recorded_at: datetime
    recorded_by: str
    data: dict[str, Any]
    source: dict[str, Any] | None
    notes: str | None
    hash: str
    schema_version: int = 1

    def envelope(self) -> dict[str, Any]:
        """Every field but ``hash``, in JSON form: what the hash covers."""
        return {
            "id": self.id,
            "mission": self.mission,
            "type": self.type,
            "stream": self.stream,
            "version": self.version,
            "position": self.position,
            "occurred_on": self.occurred_on.isoformat(),
            "recorded_at": format_instant(self.recorded_at),
            "recorded_by": self.recorded_by,
            "data": self.data,
            "source": self.source,
            "notes": self.notes,
            "schema_version": self.schema_version,
        }

    def to_json(self) -> dict[str, Any]:
        """The envelope plus its hash, as the export writes it: the stored form, with its
        ``schema_version``, so that an exported file verifies on its own."""
        body = self.envelope()
        body["hash"] = self.hash
        return body

    def public_json(self) -> dict[str, Any]:
        """The contract's fields (§2) of the stored event, as the API answers them: the
        envelope and its hash, without the storage's ``schema_version``."""
        body = self.envelope()
        del body["schema_version"]
        body["hash"] = self.hash
        return body


@dataclass(frozen=True, slots=True)
class UpcastEvent(RecordedEvent):
    """An event stored in an older schema version, read in the current one (events.upcasting).

    ``data`` is in the current shape, for every reader; ``stored_data`` is the data as stored,
    which the envelope, the hash and the export keep. A class of its own, so that events
    stored in the current version (all of them today) are built and encoded as before.
    """

    stored_data: dict[str, Any] | None = None

    @classmethod
    def of(cls, stored: RecordedEvent, data: dict[str, Any]) -> UpcastEvent:
        """``stored`` with ``data`` (its data upcast) in the current shape."""
        kept = {f.name: getattr(stored, f.name) for f in fields(RecordedEvent)}
        return cls(**{**kept, "data": data, "stored_data": stored.data})

    def envelope(self) -> dict[str, Any]:
        """Every field but ``hash`` as stored: what the hash covers."""
        # The base class by name: zero-argument super() fails in a slots dataclass (3.11).
        body = RecordedEvent.envelope(self)
        body["data"] = self.stored_data
        return body

    def public_json(self) -> dict[str, Any]:
        """As :meth:`RecordedEvent.public_json`, with ``data`` in the current shape."""
        body = RecordedEvent.public_json(self)
        body["data"] = self.data
        return body
