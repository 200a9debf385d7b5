"""Upcasting: stored events keep the schema version they were written in; readers upcast.

The hash chain covers what was stored, so upcasting happens on the way out, never in place.
Schema version 1 is the first, so no upcaster is registered yet; a change to a type's ``data``
adds one function here, from the old version to the next.

Every read of ``data`` from the event table goes through :func:`upcast_stored`: rows become
events in ``Recorder.event`` (the one mapper, which the raw-JSON path ``Recorder.event_json``
falls back to for an old row), and the few readers of raw rows (the append's stream history,
``projections.alerts``) call it themselves.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from events.catalogue import SCHEMA_VERSION

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Upcasters:
    """A chain of functions per event type, each from version ``n`` to ``n + 1``."""

    def __init__(self, current: int = SCHEMA_VERSION) -> None:
        self.current = current
        self._steps: dict[tuple[str, int], Upcaster] = {}

    def register(self, type_: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        def decorate(step: Upcaster) -> Upcaster:
            self._steps[(type_, from_version)] = step
            return step

        return decorate

    def upcast(self, type_: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` as the current schema version describes it."""
        version = schema_version
        while version < self.current:
            step = self._steps.get((type_, version))
            if step is None:
                raise LookupError(f"no upcaster for {type_} from schema version {version}")
            data = step(data)
            version += 1
        return data


#: The project's registry; empty while schema version 1 is the only one. Read when an old row
#: is, not bound at import, so a test can put a registry of its own in its place.
UPCASTERS = Upcasters()


def upcast_stored(type_: str, schema_version: int, data: dict[str, Any]) -> dict[str, Any]:
    """Stored ``data`` as the current schema version describes it (:data:`UPCASTERS`).

    A current (or newer) row's ``data`` comes back as it is; an older one's is upcast from a
    copy, so the stored form that the hash covers is never changed by a step.
    """
    registry = UPCASTERS
    if schema_version >= registry.current:
        return data
    return registry.upcast(type_, schema_version, copy.deepcopy(data))
