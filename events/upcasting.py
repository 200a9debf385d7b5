"""Upcasting: stored events keep the schema version they were written in; readers upcast.

The hash chain covers what was stored, so upcasting happens on the way out, never in place.
Schema version 1 is the first, so no upcaster is registered yet; a change to a type's ``data``
adds one function here, from the old version to the next.
"""

from __future__ import annotations

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


#: The project's registry; empty while schema version 1 is the only one.
UPCASTERS = Upcasters()
