"""Text fields over HTTP (issue 12): control characters and bidirectional overrides are refused
in every text field of every event type with a 422 naming the character, and nothing is stored;
ordinary non-ASCII text is stored as sent. On SQLite and PostgreSQL.

Each example registers a mission of its own and walks it through every event type up to the one
under test, so that the clean text sent after a refused one is accepted: the 422 is the
character's doing, not the stream's.
"""

from __future__ import annotations

import copy
import itertools
import unicodedata
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Api
from tests.conftest import body
from tests.events.test_catalogue import ORDINARY, REFUSED, text_fields

Build = Callable[[list[str]], dict[str, Any]]

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    database=None,
)
_missions = itertools.count()
URL = "https://example.org/"


def _steps(resolution: str) -> list[tuple[str, str, Build]]:
    """(event type, who posts it, body from the ids posted before) for every type, in an order
    the rules accept. ``resolution`` is the mandate's, which a mandate flag repeats."""

    def fixed(type_: str, on: str, data: dict[str, Any]) -> Build:
        return lambda ids: body(type_, on, data)

    arrival = {"country": "KEN", "personnel": 200, "category": "police", "unit": "FPU 1"}
    funds = {"donor": "USA", "amount": "1000.00", "currency": "USD", "channel": "trust_fund"}
    return [
        ("MissionRegistered", "admin", fixed("MissionRegistered", "2023-10-02", {
            "name": "Multinational Security Support", "lead_country": "KEN",
            "host_country": "HTI"})),
        ("MandateAuthorized", "admin", fixed("MandateAuthorized", "2023-10-02", {
            "resolution": resolution, "expires_on": "2024-10-02"})),
        ("ReviewScheduled", "admin", fixed("ReviewScheduled", "2023-10-03", {
            "review_id": "sg-1", "body": "secretary_general", "due_on": "2024-01-02",
            "title": "Report of the Secretary-General"})),
        ("ReviewCompleted", "admin", fixed("ReviewCompleted", "2024-01-02", {
            "review_id": "sg-1", "outcome": "noted", "summary": "Deployment to continue."})),
        ("BudgetRequirementSet", "admin", fixed("BudgetRequirementSet", "2024-01-03", {
            "amount_usd": "600000000", "period_start": "2024-01-01",
            "period_end": "2024-12-31"})),
        ("PersonnelPledged", "admin", fixed("PersonnelPledged", "2023-09-22", {
            "country": "KEN", "personnel": 1000, "category": "police"})),
        ("PledgeWithdrawn", "admin", fixed("PledgeWithdrawn", "2024-01-04", {
            "country": "KEN", "personnel": 100, "category": "police"})),
        ("ContingentArrived", "admin", fixed("ContingentArrived", "2024-06-25", {
            **arrival, "location": "Port-au-Prince"})),
        ("ContingentDeparted", "admin", fixed("ContingentDeparted", "2024-07-25", {
            "country": "KEN", "personnel": 10, "category": "police", "reason": "rotation"})),
        ("FundsPledged", "admin", fixed("FundsPledged", "2024-02-01", funds)),
        ("FundsCommitted", "admin", fixed("FundsCommitted", "2024-02-02", {
            **funds, "agreement": "Trust fund agreement 1"})),
        ("FundsDeposited", "admin", fixed("FundsDeposited", "2024-02-03", funds)),
        # The arrival is the eighth event (ids[7]), the commitment the eleventh (ids[10]).
        ("EventCorrected", "admin", lambda ids: body("EventCorrected", "2024-08-01", {
            "event_id": ids[7], "data": {**arrival, "personnel": 150},
            "reason": "figure corrected"})),
        ("EventRetracted", "admin", lambda ids: body("EventRetracted", "2024-08-02", {
            "event_id": ids[10], "reason": "reported twice"})),
        ("DeadlineFlagged", "system", fixed("DeadlineFlagged", "2024-09-02", {
            "deadline": "mandate_expiry", "due_on": "2024-10-02", "days_remaining": 30,
            "threshold_days": 30, "resolution": resolution})),
        ("MandateRenewed", "admin", fixed("MandateRenewed", "2024-09-30", {
            "resolution": "S/RES/2751 (2024)", "expires_on": "2025-10-02"})),
        ("MandateEnded", "admin", fixed("MandateEnded", "2025-10-02", {
            "reason": "succeeded by the Gang Suppression Force"})),
        ("StrengthReported", "admin", fixed("StrengthReported", "2025-10-01", {
            "country": "KEN", "category": "police", "personnel": 140, "female": 12})),
    ]  # fmt: skip


#: Every (event type, text field) the catalogue has, plus a correction's replacement text.
CASES = sorted(
    {(type_, path) for type_, paths in text_fields().items() for path in paths}
    | {("EventCorrected", "data.data.unit"), ("EventCorrected", "data.data.location")}
)


def test_the_cases_cover_every_type_and_text_field() -> None:
    assert {type_ for type_, *_ in _steps("x")} == set(text_fields())
    assert {(t, p) for t, p in CASES if not p.startswith("data.data.")} == {
        (type_, path) for type_, paths in text_fields().items() for path in paths
    }


def _put(event: dict[str, Any], path: str, value: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    *parents, last = path.split(".")
    node = event
    for part in parents:
        node = node.setdefault(part, {"title": "UN News"} if part == "source" else {})
    node[last] = value
    return event


def _get(event: dict[str, Any], path: str) -> Any:
    for part in path.split("."):
        event = event[part]
    return event


def _head(api: Api) -> tuple[int, str] | None:
    """The store's last position and hash: what "nothing stored" compares."""
    return api.app.state.store.head()


async def _up_to(api: Api, type_: str, path: str, clean: str) -> tuple[str, dict[str, Any]]:
    """Post every step before ``type_`` for a new mission; then who posts ``type_``, and its
    body, ready for the field at ``path`` to be filled in."""
    mission = f"text-{next(_missions)}"
    flagged = (type_, path) == ("DeadlineFlagged", "data.resolution")
    ids: list[str] = []
    for step_type, who, build in _steps(clean if flagged else "S/RES/2699 (2023)"):
        event = build(ids) | {"mission": mission}
        if step_type == type_:
            return who, event
        response = await api.post(who, event)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    raise AssertionError(f"no step posts {type_}")


def _clean_text(path: str, text: str) -> str:
    return URL + text.replace(" ", "-") if path.endswith("url") else text


@EXAMPLES
@given(
    case=st.sampled_from(CASES),
    character=st.sampled_from(REFUSED),
    text=st.sampled_from(["S/RES/2699 (2023)", *ORDINARY]),
    where=st.floats(0, 1),
)
async def test_a_refused_character_in_any_text_field_is_a_422_and_stores_nothing(
    api: Api, case: tuple[str, str], character: str, text: str, where: float
) -> None:
    type_, path = case
    clean = _clean_text(path, text)
    who, target = await _up_to(api, type_, path, clean)
    cut = round(where * len(clean))
    bad = clean[:cut] + character + clean[cut:]
    before = _head(api)

    response = await api.post(who, _put(target, path, bad))
    assert response.status_code == 422, response.text
    name = unicodedata.name(character, None) or "a control character"
    assert response.json()["errors"] == [
        {"field": path, "message": f"must not contain U+{ord(character):04X} ({name})"}
    ]
    assert _head(api) == before
    after = before[0] if before else 0
    assert (await api.get("/v1/events", after=after)).json()["events"] == []

    # The same event with the clean text is accepted: the character alone was refused.
    accepted = await api.post(who, _put(target, path, clean))
    assert accepted.status_code == 201, accepted.text


ORDINARY_TEXT = st.one_of(
    st.sampled_from(ORDINARY),
    # Anything printable, framed so that stripping whitespace leaves it whole.
    st.text(
        st.characters(
            codec="utf-8",
            exclude_categories=("Cc", "Cs"),
            exclude_characters="".join(REFUSED),
        ),
        max_size=40,
    ).map(lambda text: f"«{text}»"),
)


@EXAMPLES
@given(case=st.sampled_from(CASES), text=ORDINARY_TEXT)
async def test_ordinary_non_ascii_text_is_stored_as_sent(
    api: Api, case: tuple[str, str], text: str
) -> None:
    type_, path = case
    clean = _clean_text(path, text)
    who, target = await _up_to(api, type_, path, clean)

    response = await api.post(who, _put(target, path, clean))
    assert response.status_code == 201, response.text
    stored = (await api.get(f"/v1/events/{response.json()['id']}")).json()
    assert _get(stored, path) == clean
