"""The store's contract, run against SQLite and PostgreSQL through one fixture."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from events.envelope import GENESIS_HASH, chain_hash
from events.errors import (
    EventNotFound,
    IdempotencyKeyReused,
    InvalidEvent,
    MissionNotFound,
    RuleViolation,
    StreamNotFound,
    VersionConflict,
)
from events.store import EventStore
from tests.conftest import (
    Clock,
    append,
    arrived,
    authorized,
    body,
    deposit,
    pledged,
    registered,
)


def count(store: EventStore) -> int:
    return len(list(store.iter_events()))


def test_append_assigns_stream_version_position_and_chains_hashes(
    store: EventStore, clock: Clock
) -> None:
    first, second, third = append(store, registered(), arrived(200), arrived(50, country="JAM"))
    assert (first.stream, first.version, first.position) == ("mission:mss-haiti", 1, 1)
    assert (second.stream, second.version, second.position) == ("contingent:mss-haiti:KEN", 1, 2)
    assert (third.stream, third.version) == ("contingent:mss-haiti:JAM", 1)
    (fourth,) = append(store, arrived(20))
    assert (fourth.version, fourth.position) == (2, 4)
    assert first.hash == chain_hash(GENESIS_HASH, first.envelope())
    assert fourth.hash == chain_hash(third.hash, fourth.envelope())
    assert fourth.recorded_at <= clock.now
    assert fourth.to_json()["recorded_at"].endswith("Z")
    assert len(fourth.to_json()["recorded_at"]) == len("2026-11-23T09:00:00.000000Z")
    assert store.get(fourth.id) == fourth


def test_stored_event_reads_back_identically(store: EventStore) -> None:
    (reg,) = append(
        store,
        registered(source={"title": "UN News", "url": "https://news.un.org/x"}, notes="first"),
    )
    (dep,) = append(store, deposit("10800000.00", donor="CAN", currency="CAD", usd_rate="0.74"))
    again = store.get(dep.id)
    assert again == dep
    assert again.data["amount"] == "10800000.00"
    assert again.data["usd_rate"] == "0.74"
    assert store.get(reg.id).source == {"title": "UN News", "url": "https://news.un.org/x"}
    assert store.get(reg.id).notes == "first"


def test_read_pages_by_position_and_filters(store: EventStore) -> None:
    append(store, registered(), registered(mission="mss-two"))
    for n in range(1, 6):
        append(store, arrived(n))
    append(store, arrived(3) | {"mission": "mss-two"})
    page = store.read(after=0, limit=3)
    assert [e.position for e in page.events] == [1, 2, 3]
    assert page.next == 3
    page = store.read(after=page.next, limit=3)
    assert [e.position for e in page.events] == [4, 5, 6]
    last = store.read(after=6, limit=3)
    assert [e.position for e in last.events] == [7, 8]
    assert last.next is None
    assert [e.mission for e in store.read(mission="mss-two").events] == ["mss-two", "mss-two"]
    assert len(store.read(type="ContingentArrived").events) == 6
    assert len(store.read(stream="contingent:mss-haiti:KEN").events) == 5
    assert [e.version for e in store.stream("contingent:mss-haiti:KEN")] == [1, 2, 3, 4, 5]
    with pytest.raises(StreamNotFound):
        store.stream("contingent:mss-haiti:JAM")
    with pytest.raises(EventNotFound):
        store.get("01a20a36-934a-762b-b902-4c607b380523")


def test_events_need_a_registered_mission_registered_once(store: EventStore) -> None:
    with pytest.raises(MissionNotFound):
        append(store, arrived(10))
    append(store, registered())
    with pytest.raises(RuleViolation, match="already registered"):
        append(store, registered())
    assert count(store) == 1


def test_expected_version(store: EventStore) -> None:
    append(store, registered())
    (a,) = append(store, arrived(10) | {"expected_version": 0})
    (b,) = append(store, arrived(10) | {"expected_version": 1})
    assert (a.version, b.version) == (1, 2)
    with pytest.raises(VersionConflict) as info:
        append(store, arrived(10) | {"expected_version": 1})
    assert info.value.current_version == 2
    with pytest.raises(VersionConflict) as info:
        append(store, arrived(10, country="JAM") | {"expected_version": 3})
    assert info.value.current_version == 0
    assert count(store) == 3


def test_idempotency_key_replays_and_refuses_other_requests(store: EventStore) -> None:
    append(store, registered())
    first = store.append(
        [store.parse(arrived(10))], recorded_by="a", idempotency_key="k-1", key_scope="tok1"
    )
    again = store.append(
        [store.parse(arrived(10))], recorded_by="a", idempotency_key="k-1", key_scope="tok1"
    )
    assert again.replayed and not first.replayed
    assert again.events == first.events
    assert count(store) == 2
    with pytest.raises(IdempotencyKeyReused):
        store.append(
            [store.parse(arrived(11))], recorded_by="a", idempotency_key="k-1", key_scope="tok1"
        )
    # Keys are scoped to the token that sent them.
    other = store.append(
        [store.parse(arrived(10))], recorded_by="b", idempotency_key="k-1", key_scope="tok2"
    )
    assert not other.replayed
    assert count(store) == 3


def test_idempotency_keys_are_kept_for_the_retention_period(
    store: EventStore, clock: Clock
) -> None:
    append(store, registered())
    first = store.append(
        [store.parse(arrived(10))], recorded_by="a", idempotency_key="k", key_scope="t"
    )
    clock.advance(hours=30)
    assert store.append(
        [store.parse(arrived(10))], recorded_by="a", idempotency_key="k", key_scope="t"
    ).replayed
    clock.advance(hours=20)  # 50 h after the first use: past the default 48 h retention
    append(store, arrived(1))  # a write that sweeps expired keys
    clock.advance(hours=2)
    append(store, arrived(1))
    fresh = store.append(
        [store.parse(arrived(10))], recorded_by="a", idempotency_key="k", key_scope="t"
    )
    assert not fresh.replayed
    assert fresh.events[0].id != first.events[0].id


def test_batch_is_all_or_nothing_and_errors_name_the_index(store: EventStore) -> None:
    append(store, registered())
    good = arrived(10)
    with pytest.raises(RuleViolation) as info:
        append(
            store,
            good,
            good,
            body(
                "ContingentDeparted",
                "2024-06-25",
                {"country": "KEN", "personnel": 50, "category": "police", "reason": "rotation"},
            ),
        )
    assert info.value.errors[0].field == "events[2].data.personnel"
    assert count(store) == 1
    with pytest.raises(MissionNotFound):
        append(store, good, good, arrived(1) | {"mission": "other-mission"})
    assert count(store) == 1
    with pytest.raises(InvalidEvent):
        store.append([], recorded_by="a")
    with pytest.raises(InvalidEvent):
        store.append([store.parse(good)] * 1001, recorded_by="a", batch=True)
    assert count(store) == 1


def test_batch_sees_its_own_earlier_events(store: EventStore) -> None:
    reg, arr, dep = append(
        store,
        registered(),
        arrived(100),
        body(
            "ContingentDeparted",
            "2024-07-01",
            {"country": "KEN", "personnel": 100, "category": "police", "reason": "rotation"},
        ),
    )
    assert [reg.position, arr.position, dep.position] == [1, 2, 3]


def test_recorded_at_never_goes_backwards(store: EventStore, clock: Clock) -> None:
    (a,) = append(store, registered())
    clock.advance(hours=-1)
    (b,) = append(store, arrived(1))
    assert b.recorded_at >= a.recorded_at


def test_funding_codes_and_rates(store: EventStore) -> None:
    append(store, registered())
    with pytest.raises(InvalidEvent, match="usd_rate"):
        append(store, deposit("100", donor="CAN", currency="CAD"))
    with pytest.raises(InvalidEvent, match="donor"):
        append(store, deposit("100", donor="ZZZ"))
    with pytest.raises(InvalidEvent, match="currency"):
        append(store, deposit("100", currency="XYZ", usd_rate="1.1"))
    (eu,) = append(store, deposit("5000000", donor="EU", currency="EUR", usd_rate="1.08"))
    assert eu.stream == "funding:mss-haiti:EU"


def test_pledges_never_go_below_zero(store: EventStore) -> None:
    append(store, registered(), pledged(1000))
    withdraw = body(
        "PledgeWithdrawn", "2024-01-01", {"country": "KEN", "personnel": 600, "category": "police"}
    )
    append(store, withdraw)
    with pytest.raises(RuleViolation, match="pledged"):
        append(store, withdraw)


def test_mandate_rules(store: EventStore) -> None:
    append(store, registered())
    renew = body(
        "MandateRenewed",
        "2024-09-30",
        {"resolution": "S/RES/2751 (2024)", "expires_on": "2025-10-02"},
    )
    with pytest.raises(RuleViolation, match="MandateAuthorized"):
        append(store, renew)
    with pytest.raises(InvalidEvent, match="expires_on"):
        append(store, authorized(expires_on="2023-10-01"))
    append(store, authorized())
    short = body(
        "MandateRenewed",
        "2024-09-30",
        {"resolution": "S/RES/2751 (2024)", "expires_on": "2024-10-01"},
    )
    with pytest.raises(RuleViolation, match="extend"):
        append(store, short)
    append(store, renew)
    end = body(
        "MandateEnded", "2025-10-02", {"reason": "succeeded", "successor_mission": "gsf-haiti"}
    )
    append(store, end)
    later = body(
        "MandateRenewed",
        "2025-10-01",
        {"resolution": "S/RES/9999 (2025)", "expires_on": "2026-10-02"},
    )
    with pytest.raises(RuleViolation, match="ended"):
        append(store, later)


def test_review_rules(store: EventStore) -> None:
    append(store, registered())
    scheduled = body(
        "ReviewScheduled",
        "2023-10-02",
        {
            "review_id": "sg-report-1",
            "body": "secretary_general",
            "due_on": "2024-01-02",
            "title": "SG report",
        },
    )
    done = body(
        "ReviewCompleted", "2024-01-05", {"review_id": "sg-report-1", "outcome": "presented"}
    )
    with pytest.raises(RuleViolation, match="never scheduled"):
        append(store, done)
    append(store, scheduled)
    with pytest.raises(RuleViolation, match="already scheduled"):
        append(store, scheduled)
    append(store, done)
    with pytest.raises(RuleViolation, match="already completed"):
        append(store, done)


def flag_body(on: str = "2024-07-04", **data: Any) -> dict[str, Any]:
    fields = {
        "deadline": "mandate_expiry",
        "due_on": "2024-10-02",
        "days_remaining": 90,
        "threshold_days": 90,
        "resolution": "S/RES/2699 (2023)",
        **data,
    }
    return body("DeadlineFlagged", on, {k: v for k, v in fields.items() if v is not None})


def test_deadline_flag_once_per_threshold(store: EventStore) -> None:
    append(store, registered(), authorized())
    flag = flag_body()
    (stored,) = append(store, flag)
    assert stored.stream == "alerts:mss-haiti"
    with pytest.raises(RuleViolation, match="already flagged"):
        append(store, flag)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"days_remaining": 89}, "data.days_remaining", "must be due_on - occurred_on = 90"),
        ({"due_on": "2024-10-03", "days_remaining": 91}, "data.due_on", "no mandate under"),
        ({"resolution": "S/RES/2751 (2024)"}, "data.due_on", "no mandate under S/RES/2751"),
        ({"review_id": "sg-report-1"}, "data.review_id", "names no review"),
        ({"deadline": "review_due", "resolution": None}, "data.review_id", "names the review"),
        (
            {"deadline": "review_due", "resolution": None, "review_id": "nope"},
            "data.review_id",
            "never scheduled",
        ),
        (
            {"deadline": "review_due", "resolution": None, "review_id": "sg-1",
             "due_on": "2024-10-03", "days_remaining": 91},
            "data.due_on",
            "is due on 2024-10-02",
        ),
    ],
)  # fmt: skip
def test_a_deadline_flag_names_a_deadline_the_mission_has(
    store: EventStore, changes: dict[str, Any], field: str, message: str
) -> None:
    review = body(
        "ReviewScheduled",
        "2024-01-10",
        {"review_id": "sg-1", "body": "secretary_general", "due_on": "2024-10-02",
         "title": "Report of the Secretary-General"},
    )  # fmt: skip
    append(store, registered(), authorized(), review)
    with pytest.raises(RuleViolation, match=message) as refused:
        append(store, flag_body(**changes))
    assert refused.value.errors[0].field == field
    assert not store.read(type="DeadlineFlagged").events
    # The same flags, right, are taken: an expiry, and the review due the same day.
    append(store, flag_body())
    append(store, flag_body(deadline="review_due", resolution=None, review_id="sg-1"))
    # A retracted mandate no longer has its deadline.
    (renewal,) = append(store, body(
        "MandateRenewed", "2024-09-30",
        {"resolution": "S/RES/2751 (2024)", "expires_on": "2025-10-02"},
    ))  # fmt: skip
    append(store, body("EventRetracted", "2024-10-01",
                       {"event_id": renewal.id, "reason": "not adopted"}))  # fmt: skip
    with pytest.raises(RuleViolation, match="no mandate under S/RES/2751"):
        append(store, flag_body(on="2025-07-04", due_on="2025-10-02",
                                resolution="S/RES/2751 (2024)"))  # fmt: skip


def test_clock_is_injected(store: EventStore, clock: Clock) -> None:
    clock.advance(days=-400)
    (event,) = append(store, registered())
    assert event.recorded_at.date() == (clock.now).date()
    assert clock.now.date() == (clock.now - timedelta(0)).date()
