"""No facts from the future (CONTRACT §3): ``occurred_on`` at most one day after today (UTC).

An arrival dated 2030 is a typing error; accepted, it would sit unseen in every figure until
2030 and then appear from nowhere. The store's injected clock decides "today".
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from events.errors import InvalidEvent
from events.store import EventStore
from tests.conftest import Clock, append, arrived, authorized, body, corrected, registered


def days_from_today(clock: Clock, days: int) -> str:
    return (clock.now.date() + timedelta(days=days)).isoformat()


def test_today_and_tomorrow_are_accepted_the_day_after_is_not(
    store: EventStore, clock: Clock
) -> None:
    append(store, registered())
    append(store, arrived(5, on=days_from_today(clock, 0)))
    append(store, arrived(5, on=days_from_today(clock, 1)))  # already tomorrow somewhere
    with pytest.raises(InvalidEvent) as refused:
        append(store, arrived(5, on=days_from_today(clock, 2)))
    (error,) = refused.value.errors
    assert error.field == "occurred_on"
    assert "is in the future" in error.message
    assert f"today is {clock.now.date().isoformat()}, UTC" in error.message
    # The clock decides: a day later, the same report is fine.
    clock.advance(days=1)
    append(store, arrived(5, on=days_from_today(clock, 1)))


def test_a_batch_with_one_future_event_is_refused_whole(store: EventStore, clock: Clock) -> None:
    append(store, registered())
    head = store.head()
    with pytest.raises(InvalidEvent) as refused:
        append(store, arrived(5), arrived(5, on="2030-06-25"), arrived(5))
    assert refused.value.errors[0].field == "events[1].occurred_on"
    assert store.head() == head


def test_a_correction_cannot_move_a_fact_into_the_future(store: EventStore, clock: Clock) -> None:
    append(store, registered())
    (arrival,) = append(store, arrived(5))
    data = {"country": "KEN", "personnel": 5, "category": "police"}
    with pytest.raises(InvalidEvent) as refused:
        append(store, corrected(arrival.id, data, occurred_on=days_from_today(clock, 2)))
    assert refused.value.errors[0].field == "data.occurred_on"
    # Nor be dated in the future itself.
    late = corrected(arrival.id, data) | {"occurred_on": days_from_today(clock, 5)}
    with pytest.raises(InvalidEvent, match="in the future"):
        append(store, late)
    append(store, corrected(arrival.id, data, occurred_on=days_from_today(clock, 1)))


def test_dates_inside_data_may_lie_ahead_and_deadline_flags_are_exempt(
    store: EventStore, clock: Clock
) -> None:
    expires = days_from_today(clock, 300)
    append(
        store, registered(), authorized(expires_on=expires, occurred_on=days_from_today(clock, 0))
    )
    # The scheduler's check day may be "tomorrow" or later (sitrep deadlines check --today).
    flag = body("DeadlineFlagged", days_from_today(clock, 10), {
        "deadline": "mandate_expiry", "due_on": expires, "days_remaining": 290,
        "threshold_days": 300, "resolution": "S/RES/2699 (2023)"})  # fmt: skip
    append(store, flag, recorded_by="scheduler")
