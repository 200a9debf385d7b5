"""Domain errors raised by the catalogue, the rules and the store.

The API maps each class to one problem ``type`` and status in a single table; nothing here knows
about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of a request, e.g. ``events[2].data.personnel``."""

    field: str
    message: str


class SitrepError(Exception):
    """Base class of every error the domain raises on purpose."""

    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidEvent(SitrepError):
    """The event's shape, codes or ranges are wrong (checked without any state)."""

    title = "Invalid event"

    def __init__(self, errors: list[FieldError], detail: str | None = None) -> None:
        first = errors[0] if errors else FieldError("", "invalid")
        summary = f"{first.field}: {first.message}" if first.field else first.message
        super().__init__(detail or summary)
        self.errors = errors

    def prefixed(self, prefix: str) -> InvalidEvent:
        """The same error with every field path put under ``prefix`` (a batch index)."""
        errors = [FieldError(_join(prefix, e.field), e.message) for e in self.errors]
        return type(self)(errors)


class RuleViolation(InvalidEvent):
    """A well-formed event that the stream's history does not allow."""

    title = "Rule violation"

    def __init__(self, field: str, message: str) -> None:
        super().__init__([FieldError(field, message)])

    def prefixed(self, prefix: str) -> RuleViolation:
        first = self.errors[0]
        return RuleViolation(_join(prefix, first.field), first.message)


class MissionNotFound(SitrepError):
    title = "Mission not found"

    def __init__(self, mission: str) -> None:
        super().__init__(f"mission {mission!r} is not registered")
        self.mission = mission


class EventNotFound(SitrepError):
    title = "Event not found"

    def __init__(self, event_id: str) -> None:
        super().__init__(f"no event with id {event_id!r}")
        self.event_id = event_id


class StreamNotFound(SitrepError):
    title = "Stream not found"

    def __init__(self, stream: str) -> None:
        super().__init__(f"no stream {stream!r}")
        self.stream = stream


class VersionConflict(SitrepError):
    """``expected_version`` differs from the stream's current version."""

    title = "Version conflict"

    def __init__(self, stream: str, expected: int, current: int) -> None:
        super().__init__(
            f"stream {stream!r} is at version {current}, the request expected {expected}"
        )
        self.stream = stream
        self.expected = expected
        self.current_version = current


class IdempotencyKeyReused(SitrepError):
    """The same Idempotency-Key came back with a different request."""

    title = "Idempotency-Key reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            "this Idempotency-Key was already used with a different request body; "
            "use a new key for a new request"
        )
        self.key = key


class ConflictingImport(SitrepError):
    """An imported event's id is already stored with different content."""

    title = "Conflicting import"

    def __init__(self, event_id: str) -> None:
        super().__init__(f"event {event_id} is already stored with different content")
        self.event_id = event_id


class StoreUnavailable(SitrepError):
    """The database cannot be reached or refused the operation for a non-client reason."""

    title = "Store unavailable"


def _join(prefix: str, field: str) -> str:
    if not prefix:
        return field
    if not field:
        return prefix
    return f"{prefix}.{field}"
