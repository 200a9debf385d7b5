"""The hash-chain check (CONTRACT §6): recompute every event's hash and find where it breaks."""

from __future__ import annotations

from dataclasses import dataclass

from events.envelope import GENESIS_HASH, chain_hash
from events.store import EventStore


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    head_position: int | None
    head_hash: str | None
    first_bad_position: int | None = None
    problem: str | None = None


def verify(store: EventStore, *, expected_head: str | None = None) -> VerifyReport:
    """Recompute the store's hash chain; name the first position where it breaks.

    ``expected_head`` is a hash anchored elsewhere earlier: the chain must still pass through
    it (events appended since are fine), else the newest events were lost.
    """
    previous, last_position, checked = GENESIS_HASH, 0, 0
    anchored = expected_head is None
    versions: dict[str, int] = {}
    for event in store.iter_events():
        checked += 1
        problem, bad_at = None, event.position
        if event.position != last_position + 1:
            problem = f"event at position {last_position + 1} is missing"
            bad_at = last_position + 1
        elif event.version != versions.get(event.stream, 0) + 1:
            problem = (
                f"stream {event.stream} jumps from version {versions.get(event.stream, 0)} "
                f"to {event.version}"
            )
        elif chain_hash(previous, event.envelope()) != event.hash:
            problem = "the stored hash does not match the event's content and its predecessor"
        if problem is not None:
            return VerifyReport(
                False,
                checked,
                last_position or None,
                previous or None,
                first_bad_position=bad_at,
                problem=problem,
            )
        previous, last_position = event.hash, event.position
        versions[event.stream] = event.version
        anchored = anchored or event.hash == expected_head
    if not anchored:
        return VerifyReport(
            False,
            checked,
            last_position or None,
            previous or None,
            first_bad_position=last_position + 1,
            problem=f"the anchored head {expected_head} is not in the chain, which ends at "
            f"position {last_position}: events after it were lost or the anchor is wrong",
        )
    return VerifyReport(True, checked, last_position or None, previous or None)
