"""The date invariant and amendments (corrections, retractions), on both backends."""

from __future__ import annotations

import pytest

from events.errors import EventNotFound, InvalidEvent, RuleViolation
from events.store import EventStore
from tests.conftest import (
    append,
    arrived,
    authorized,
    body,
    corrected,
    departed,
    registered,
    retracted,
)


@pytest.fixture
def haiti(store: EventStore) -> EventStore:
    append(store, registered())
    return store


def test_late_report_of_an_old_arrival_is_accepted(haiti: EventStore) -> None:
    append(haiti, arrived(200, on="2024-07-16"))
    append(haiti, departed(100, on="2024-08-01"))
    (late,) = append(haiti, arrived(200, on="2024-06-25"))
    assert late.version == 3


def test_departure_larger_than_strength_on_its_date_is_refused(haiti: EventStore) -> None:
    append(haiti, arrived(200, on="2024-06-25"), arrived(200, on="2024-07-16"))
    with pytest.raises(RuleViolation) as info:
        append(haiti, departed(300, on="2024-07-01"))  # only 200 there on 1 July
    assert info.value.errors[0].field == "data.personnel"
    append(haiti, departed(300, on="2024-07-16"))  # same-day arrival counts


def test_departure_that_uncovers_a_later_departure_is_refused(haiti: EventStore) -> None:
    append(haiti, arrived(200, on="2024-06-25"), departed(150, on="2024-08-01"))
    with pytest.raises(RuleViolation, match="-50"):
        append(haiti, departed(100, on="2024-07-01"))
    append(haiti, departed(50, on="2024-07-01"))


def test_categories_and_countries_are_separate(haiti: EventStore) -> None:
    append(haiti, arrived(200, category="police"), arrived(20, country="JAM"))
    with pytest.raises(RuleViolation):
        append(haiti, departed(1, on="2024-07-01", category="military"))
    with pytest.raises(RuleViolation):
        append(haiti, departed(21, on="2024-07-01", country="JAM"))


def test_correction_replaces_data_and_must_keep_later_departures_covered(haiti: EventStore) -> None:
    (first,) = append(haiti, arrived(400, on="2024-06-25"))
    append(haiti, departed(300, on="2024-08-01"))
    with pytest.raises(RuleViolation) as info:
        append(
            haiti, corrected(first.id, {"country": "KEN", "personnel": 200, "category": "police"})
        )
    assert info.value.errors[0].field == "data.data.personnel"
    (fix,) = append(
        haiti, corrected(first.id, {"country": "KEN", "personnel": 350, "category": "police"})
    )
    assert fix.stream == first.stream and fix.version == 3
    assert fix.data["data"] == {"country": "KEN", "personnel": 350, "category": "police"}


def test_correction_may_move_the_date(haiti: EventStore) -> None:
    (first,) = append(haiti, arrived(100, on="2024-06-25"))
    append(haiti, departed(100, on="2024-07-01"))
    with pytest.raises(RuleViolation):
        append(haiti, corrected(first.id, first.data, occurred_on="2024-07-02"))
    append(haiti, corrected(first.id, first.data, occurred_on="2024-06-30"))


def test_correction_validates_against_the_named_type(haiti: EventStore) -> None:
    (first,) = append(haiti, arrived(100))
    with pytest.raises(InvalidEvent) as info:
        append(
            haiti, corrected(first.id, {"country": "KEN", "personnel": -5, "category": "police"})
        )
    assert info.value.errors[0].field == "data.data.personnel"
    with pytest.raises(InvalidEvent, match="female"):
        append(
            haiti,
            corrected(
                first.id, {"country": "KEN", "personnel": 5, "category": "police", "female": 6}
            ),
        )
    with pytest.raises(RuleViolation, match="another country"):
        append(
            haiti, corrected(first.id, {"country": "JAM", "personnel": 100, "category": "police"})
        )


def test_correction_of_a_mandate_keeps_envelope_rules(haiti: EventStore) -> None:
    (auth,) = append(haiti, authorized())
    with pytest.raises(InvalidEvent, match="expires_on"):
        append(
            haiti,
            corrected(auth.id, {"resolution": "S/RES/2699 (2023)", "expires_on": "2023-01-01"}),
        )
    renewal = body(
        "MandateRenewed",
        "2024-09-30",
        {"resolution": "S/RES/2751 (2024)", "expires_on": "2025-10-02"},
    )
    append(haiti, renewal)
    # Pushing the authorization's expiry past the renewal's would make the renewal not extend.
    with pytest.raises(RuleViolation, match="extend"):
        append(
            haiti,
            corrected(auth.id, {"resolution": "S/RES/2699 (2023)", "expires_on": "2025-12-31"}),
        )


def test_retraction_rules(haiti: EventStore) -> None:
    (a,) = append(haiti, arrived(100, on="2024-06-25"))
    (b,) = append(haiti, arrived(100, on="2024-06-26"))
    append(haiti, departed(150, on="2024-07-01"))
    with pytest.raises(RuleViolation) as info:
        append(haiti, retracted(a.id))
    assert info.value.errors[0].field == "data.event_id"
    (c,) = append(haiti, arrived(50, on="2024-06-27"))
    (r,) = append(haiti, retracted(b.id) | {"occurred_on": "2024-07-10"})
    assert r.stream == b.stream
    with pytest.raises(RuleViolation, match="retracted"):
        append(haiti, retracted(b.id))
    with pytest.raises(RuleViolation, match="retracted"):
        append(haiti, corrected(b.id, b.data))
    with pytest.raises(RuleViolation, match="amend the original"):
        append(haiti, retracted(r.id))
    assert c.version == 4


def test_amendments_name_an_existing_event_of_the_same_mission(haiti: EventStore) -> None:
    with pytest.raises(EventNotFound):
        append(haiti, retracted("01a20a36-934a-762b-b902-4c607b380523"))
    (reg,) = append(haiti, registered(mission="mss-two"))
    with pytest.raises(RuleViolation, match="belongs to mission"):
        append(haiti, retracted(reg.id))
    with pytest.raises(RuleViolation, match="cannot be retracted"):
        append(haiti, retracted(reg.id) | {"mission": "mss-two"})
    fixed = {"name": "Second mission", "lead_country": "KEN", "host_country": "HTI"}
    (fix,) = append(haiti, corrected(reg.id, fixed) | {"mission": "mss-two"})
    assert fix.stream == "mission:mss-two"


def test_retracting_a_schedule_that_was_completed_is_refused(haiti: EventStore) -> None:
    (sched,) = append(
        haiti,
        body(
            "ReviewScheduled",
            "2023-10-02",
            {
                "review_id": "r1",
                "body": "security_council",
                "due_on": "2024-04-01",
                "title": "Review",
            },
        ),
    )
    append(haiti, body("ReviewCompleted", "2024-04-01", {"review_id": "r1", "outcome": "noted"}))
    with pytest.raises(RuleViolation, match="never scheduled"):
        append(haiti, retracted(sched.id))


def test_correction_within_one_batch(haiti: EventStore) -> None:
    (arrival,) = append(haiti, arrived(100))
    fix, dep = append(
        haiti,
        corrected(arrival.id, {"country": "KEN", "personnel": 60, "category": "police"}),
        departed(60, on="2024-07-01"),
    )
    assert (fix.version, dep.version) == (2, 3)
    with pytest.raises(RuleViolation):
        append(haiti, departed(1, on="2024-07-02"))
