"""The bundled MSS Haiti timeline and its loader.

``sitrep/data/mss-haiti.jsonl`` holds the history of the Multinational Security Support mission
and of the Gang Suppression Force that succeeded it, one event a line, in recording order. Each
line is a request body exactly as ``POST /v1/events`` takes it (``mission``, ``type``,
``occurred_on``, ``data``, ``source``, ``notes``), built only from the seed documents in
``../shared/seeds/`` (every such ``source`` names its seed file) and from the later facts of
``../shared/seeds/PUBLIC-RECORD.md`` (each citing the title and URL the record gives); ``notes``
say where a date or a field had to be chosen because the sources are silent.

Two conventions, taken off each line before it is posted:

- ``"ref": "kenya-first-contingent"`` at the top level of a line names the event that line
  records, and ``"event_id": {"ref": "kenya-first-contingent"}`` in a later line's ``data`` (a
  correction or a retraction) stands for that event's id, which the store assigns on append;
- ``"reported_on": "2024-10-01"`` at the top level says the fact became known on a later day
  than ``occurred_on`` (a resolution adopted in New York after noon UTC, a report published the
  day after the meeting it tells of); the line is then recorded on that day, never before.

:func:`load_timeline` removes both and replaces each ``{"ref": ...}`` with the stored id; apart
from that every line is a valid POST body.

Dates the sources give only to the month are dated to the month's last day: by then the fact held.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from api import auth
from api.tokens import Principal
from events.catalogue import Role
from events.envelope import RecordedEvent
from events.errors import SitrepError
from events.store import EventStore

TIMELINE = Path(__file__).parent / "data" / "mss-haiti.jsonl"
MISSION = "mss-haiti"
#: The force the MSS was transitioned into by resolution 2793 (2025).
SUCCESSOR = "gsf-haiti"
REF = "ref"
REPORTED_ON = "reported_on"
#: The admin the timeline is recorded by (``recorded_by``), with an admin's rights.
DEMO_PRINCIPAL = Principal(token_id="demo", name="demo", role=Role.ADMIN, scope=frozenset())
#: Events reported on the same day are recorded this far apart, so each has its own instant.
STEP = timedelta(minutes=1)

#: Maps the date an event was reported to the instant it is recorded at.
RecordingClock = Callable[[date], datetime]


class TimelineError(ValueError):
    """A line of the timeline that is not an event body, or that the store refused."""


@dataclass(frozen=True)
class TimelineLine:
    """One line of the timeline file: its 1-based number, its ``ref``, the day it was reported
    (when later than ``occurred_on``) and the POST body."""

    number: int
    ref: str | None
    body: dict[str, Any]
    reported_on: date | None = None


def at_noon(day: date) -> datetime:
    """12:00 UTC on ``day``: a report recorded on the day it was made."""
    return datetime.combine(day, time(12), tzinfo=UTC)


def read_timeline(path: Path = TIMELINE) -> list[TimelineLine]:
    """The file's lines as bodies, with ``ref`` taken off (raises :class:`TimelineError`)."""
    lines: list[TimelineLine] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as file:
        for number, text in enumerate(file, start=1):
            if not text.strip():
                continue
            try:
                body = json.loads(text)
            except json.JSONDecodeError as exc:
                raise TimelineError(f"{path.name} line {number}: not JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise TimelineError(f"{path.name} line {number}: not a JSON object")
            ref = body.pop(REF, None)
            if ref is not None and (not isinstance(ref, str) or ref in seen):
                raise TimelineError(f"{path.name} line {number}: ref must be a new name")
            if ref is not None:
                seen.add(ref)
            reported_on = _reported_on(body, f"{path.name} line {number}")
            lines.append(TimelineLine(number, ref, body, reported_on))
    return lines


def _reported_on(body: dict[str, Any], where: str) -> date | None:
    """The line's ``reported_on``, taken off ``body``; a fact is not reported before it happens."""
    value = body.pop(REPORTED_ON, None)
    if value is None:
        return None
    try:
        reported = date.fromisoformat(value)
        usable = reported >= date.fromisoformat(body["occurred_on"])
    except (KeyError, TypeError, ValueError):
        usable = False
    if not usable:
        raise TimelineError(f"{where}: reported_on must be a date, not before occurred_on")
    return reported


def load_timeline(
    store: EventStore,
    path: Path = TIMELINE,
    *,
    clock: RecordingClock | None = at_noon,
    principal: Principal = DEMO_PRINCIPAL,
) -> list[RecordedEvent]:
    """Append the timeline one event at a time, as ``POST /v1/events`` does; returns them.

    Each event is recorded at ``clock(reported_on or occurred_on)``, held ``STEP`` after the one
    before, so ``known_at`` replays what was known when (with ``clock=None`` the store's own
    clock is kept).
    Load into an empty store and before serving: the store records nothing older than its newest
    event, and its clock is stood in for while loading. A refused line raises
    :class:`TimelineError`; the lines before it stay recorded, as separate POSTs would.
    """
    lines = read_timeline(path)
    ids: dict[str, str] = {}
    recorded: list[RecordedEvent] = []
    guard = partial(auth.may_write, principal)
    own_clock = store.clock
    last: datetime | None = None
    try:
        for line in lines:
            where = f"{path.name} line {line.number}"
            try:
                event = store.parse(_resolved(line.body, ids, where))
                if clock is not None:
                    instant = clock(line.reported_on or event.occurred_on)
                    last = instant if last is None else max(instant, last + STEP)
                    store.clock = _fixed(last)
                (stored,) = store.append(
                    [event], recorded_by=principal.name, key_scope=principal.token_id, guard=guard
                ).events
            except SitrepError as exc:
                raise TimelineError(f"{where}: {exc.detail}") from exc
            if line.ref is not None:
                ids[line.ref] = stored.id
            recorded.append(stored)
    finally:
        store.clock = own_clock
    return recorded


def _resolved(body: dict[str, Any], ids: dict[str, str], where: str) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("event_id"), dict):
        return body
    ref = data["event_id"].get(REF)
    if set(data["event_id"]) != {REF} or not isinstance(ref, str) or ref not in ids:
        raise TimelineError(f'{where}: data.event_id must be {{"ref": ...}} of an earlier line')
    return body | {"data": data | {"event_id": ids[ref]}}


def _fixed(instant: datetime) -> Callable[[], datetime]:
    return lambda: instant
