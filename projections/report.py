"""The situation report (CONTRACT §4): a period's figures, events, restatements and deadlines.

Every figure is a read model asked at a few (date, instant) pairs — force strength and funding
as of ``from`` and ``to`` known at ``known_at``, and as of ``from`` known at the end of that day
— so a report costs a bounded number of seeks per figure, however long the ledger. The period's
events come from ``report_events`` (each event's versions by effective date) and the
restatements from ``report_changes`` (each event by the instant it was recorded, with the date
it concerns): one index range each, plus the envelopes of the events listed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, select, union_all

from events.recorders import COLUMNS, Recorder
from projections import balances, force_strength, funding, headcounts, mandate
from projections.apply import effects_of
from projections.known import stamp
from projections.schema import report_changes, report_events

#: The longest period a report covers, and how far past its end it lists deadlines.
MAX_DAYS = 366
DEADLINE_DAYS = 90
ALERT = "DeadlineFlagged"
MANDATE_FIELDS = ("status", "resolution", "expires_on", "days_remaining")
MEASURES = force_strength.MEASURES + funding.MEASURES
#: The bit length of the longest lag between a date and the day it is recorded: the calendar
#: (1900-01-01 .. 2999-12-31, events.fields) spans 401,767 days.
MAX_LAG_BITS = 19


def known_then(start: date) -> datetime:
    """The end of the day ``from``: what had been recorded by then is "as reported then"."""
    return datetime.combine(start, time.max, UTC)


def build(
    conn: Connection, generation: int, mission: str, start: date, end: date,
    known_at: datetime, recorder: Recorder,
) -> dict[str, Any]:  # fmt: skip
    """The report of the period after ``start`` up to ``end``, as known at ``known_at``
    (``recorder`` reads the envelopes of the events listed, in the API's JSON form)."""
    then = min(known_then(start), known_at)
    facts = mandate.facts(conn, generation, mission, known_at)
    envelopes = Envelopes(conn, recorder)
    restated = restatements(conn, generation, mission, start, then, known_at, envelopes)
    strength, funds = {}, {}
    # Both read models from one read of the totals, on both days in one statement.
    moved = dict(zip(("from", "to"), balances.totals_on_days(
        conn, generation, mission, MEASURES, [start, end], known_at
    ), strict=True))  # fmt: skip
    for name, day in (("from", start), ("to", end)):
        strength[name] = force_strength.answer(conn, generation, mission, day, known_at,
                                               moved[name], facts)  # fmt: skip
        funds[name] = funding.answer(moved[name], facts, mission, day, known_at)
    if then == known_at:
        strength["then"], funds["then"] = strength["from"], funds["from"]
    else:
        # As of ``from``, what was known then differs from what is known now only in the
        # totals the restated reports touch: read those again at ``then``, not every total.
        earlier = _totals_then(conn, generation, mission, start, then, moved["from"], restated)
        facts_then = mandate.facts(conn, generation, mission, then)
        strength["then"] = force_strength.answer(conn, generation, mission, start, then,
                                                 earlier, facts_then)  # fmt: skip
        funds["then"] = funding.answer(earlier, facts_then, mission, start, then)
    in_force = mandate.fold(mission, facts, end)
    listed = period_events(conn, generation, mission, start, end, known_at, envelopes)
    _headcount_changes(conn, generation, mission, listed, known_at)
    return {
        "mission": mission,
        "name": mandate.name_of(facts),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "known_at": stamp(known_at),
        "strength": _strength(strength["from"], strength["to"]),
        "funding": _funding(funds["from"], funds["to"]),
        "mandate": {k: in_force[k] for k in MANDATE_FIELDS},
        "events": listed,
        "restated": {
            "known_then": stamp(known_then(start)),
            "strength": _restated_strength(strength["then"], strength["from"]),
            "funding": _restated_funding(funds["then"], funds["from"]),
            "events": restated,
        },
        "deadlines": deadlines(in_force, end),
        "alerts": [e for e in listed if e["type"] == ALERT],
    }


# --- figures ------------------------------------------------------------------------------


def _strength(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    rows = _paired(before["by_country"], after["by_country"], "country")
    return {
        "from": {"deployed": before["deployed"], "pledged": before["pledged"]},
        "to": {"deployed": after["deployed"], "pledged": after["pledged"]},
        "personnel_ceiling": after["personnel_ceiling"],
        "by_country": sorted(
            (
                {
                    "country": code,
                    "deployed_from": a.get("deployed", 0),
                    "deployed_to": b.get("deployed", 0),
                    "pledged_from": a.get("pledged", 0),
                    "pledged_to": b.get("pledged", 0),
                }
                for code, a, b in rows
            ),
            key=lambda r: (-r["deployed_to"], -r["pledged_to"], r["country"]),
        ),
    }


def _funding(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    sums = ("pledged", "committed", "deposited")
    rows = _paired(before["by_donor"], after["by_donor"], "donor")
    return {
        "from": {k: before[k] for k in sums},
        "to": {k: after[k] for k in sums},
        "requirement": after["requirement"],
        "coverage": after["coverage"],
        "by_donor": [
            {
                "donor": code,
                **{f"{k}_from": a.get(k, "0.00") for k in sums},
                **{f"{k}_to": b.get(k, "0.00") for k in sums},
            }
            for code, a, b in rows
        ],
    }


def _restated_strength(then: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    counts = ("deployed", "pledged")
    changed = [
        {"country": code, **{f"{k}_then": a.get(k, 0) for k in counts},
         **{f"{k}_now": b.get(k, 0) for k in counts}}
        for code, a, b in _paired(then["by_country"], now["by_country"], "country")
        if any(a.get(k, 0) != b.get(k, 0) for k in counts)
    ]  # fmt: skip
    return {
        "deployed_then": then["deployed"], "deployed_now": now["deployed"],
        "pledged_then": then["pledged"], "pledged_now": now["pledged"],
        "by_country": changed,
    }  # fmt: skip


def _restated_funding(then: dict[str, Any], now: dict[str, Any]) -> dict[str, Any]:
    sums = ("pledged", "committed", "deposited")
    changed = [
        {"donor": code, **{f"{k}_then": a.get(k, "0.00") for k in sums},
         **{f"{k}_now": b.get(k, "0.00") for k in sums}}
        for code, a, b in _paired(then["by_donor"], now["by_donor"], "donor")
        if any(a.get(k, "0.00") != b.get(k, "0.00") for k in sums)
    ]  # fmt: skip
    return {
        **{f"{k}_then": then[k] for k in sums},
        **{f"{k}_now": now[k] for k in sums},
        "by_donor": changed,
    }


def _paired(
    before: list[dict[str, Any]], after: list[dict[str, Any]], field: str
) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Rows of two answers matched by ``field``, in the later answer's order, then the rest."""
    a = {r[field]: r for r in before}
    b = {r[field]: r for r in after}
    codes = list(b) + [c for c in a if c not in b]
    return [(c, a.get(c, {}), b.get(c, {})) for c in codes]


def _totals_then(
    conn: Connection, generation: int, mission: str, start: date, then: datetime,
    now: dict[tuple[str, str], Any], restated: list[dict[str, Any]],
) -> dict[tuple[str, str], Any]:  # fmt: skip
    """The totals on ``start`` as known ``then``, from those known now: a total changed between
    the two instants only through an event recorded between them about a date up to
    ``start`` — a restatement — so only the totals its report touched, as it stood then and
    stands now, are read again (one statement). Headcounts are read at ``then`` by the
    force-strength answer itself."""
    touched = sorted({
        (measure, key)
        for e in restated for state in (e["concerns"]["then"], e["concerns"]["now"]) if state
        for measure, key, _ in effects_of(e["concerns"]["type"], state["data"])
        if measure in MEASURES
    })  # fmt: skip
    asked = [(measure, key, start) for measure, key in touched]
    earlier = dict(now)
    earlier.update(zip(touched, balances.totals_on(conn, generation, mission, asked, then),
                       strict=True))  # fmt: skip
    return earlier


def deadlines(state: dict[str, Any], end: date) -> list[dict[str, Any]]:
    """The open deadlines of a mandate answer due by ``DEADLINE_DAYS`` after ``end``."""
    horizon = end + timedelta(days=DEADLINE_DAYS)
    found = []
    for d in mandate.open_deadlines(state):
        if d["due_on"] > horizon:
            continue
        found.append({**d, "due_on": d["due_on"].isoformat(),
                      "days_remaining": (d["due_on"] - end).days})  # fmt: skip
    return sorted(found, key=lambda d: (d["due_on"], d["deadline"], d.get("review_id") or ""))


# --- events -------------------------------------------------------------------------------

r, c = report_events, report_changes


def period_events(
    conn: Connection, generation: int, mission: str, start: date, end: date,
    known_at: datetime, envelopes: Envelopes,
) -> list[dict[str, Any]]:  # fmt: skip
    """The mission's events dated after ``start`` up to ``end`` as they stood at ``known_at``,
    each its envelope plus ``effective`` and ``corrected_by``, in date order.

    One statement: the index range of ``report_events`` joined to each event's row (a seek by
    id), read on the driver's cursor: a year lists tens of thousands of events, and building
    each through SQLAlchemy's row processing and a second query cost twice as much."""
    rec, p = envelopes.recorder, envelopes.recorder.placeholder
    rows = envelopes.fetch(
        "SELECT r.occurred_on, r.data, r.corrected_by, "
        + ", ".join(f"e.{column}" for column in COLUMNS)
        + " FROM report_events r JOIN events e ON e.id = r.event_id"
        f" WHERE r.generation = {p} AND r.mission = {p} AND r.occurred_on > {p}"
        f" AND r.occurred_on <= {p} AND r.recorded_from <= {p}"
        f" AND (r.recorded_to IS NULL OR r.recorded_to > {p})"
        " ORDER BY r.occurred_on, r.position",
        (generation, mission, rec.day_param(start), rec.day_param(end),
         rec.instant_param(known_at), rec.instant_param(known_at)),
    )  # fmt: skip
    listed = []
    for on, data, by, *event in rows:
        envelope = rec.event_json(event)
        listed.append(_effective(envelope, rec.day(on), None if data is None else rec.json(data),
                                 None if by is None else rec.json(by)))  # fmt: skip
    return listed


def _headcount_changes(
    conn: Connection, generation: int, mission: str, listed: list[dict[str, Any]],
    known_at: datetime,
) -> None:  # fmt: skip
    """Give each headcount return listed its ``unreconciled`` change (CONTRACT §3): what it
    says beyond the previous return and the movements since — a few seeks per day with one."""
    by_day: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for event in listed:
        if event["type"] == headcounts.TYPE:
            by_day[event["effective"]["occurred_on"]].append(event)
    for day, returns in by_day.items():
        readings = headcounts.read(conn, generation, mission, date.fromisoformat(day), known_at,
                                   {})  # fmt: skip
        for event in returns:
            found = readings.get(headcounts.key_of(event["effective"]["data"]))
            on_day = found is not None and found.reported_on == date.fromisoformat(day)
            event["unreconciled"] = found.unreconciled if on_day and found else None


class Envelopes:
    """Reads stored events on the report's own connection (one snapshot with its figures)."""

    def __init__(self, conn: Connection, recorder: Recorder) -> None:
        self.conn, self.recorder = conn, recorder

    def fetch(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        cursor = self.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            return list(cursor.execute(sql, params).fetchall())
        finally:
            cursor.close()

    def __call__(self, event_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The envelopes of these events by id (one statement per 500)."""
        ids, found = sorted(set(event_ids)), {}
        p = self.recorder.placeholder
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            marks = ", ".join([p] * len(part))
            for row in self.fetch(f"SELECT {', '.join(COLUMNS)} FROM events WHERE id IN "
                                  f"({marks})", tuple(part)):  # fmt: skip
                envelope = self.recorder.event_json(row)
                found[envelope["id"]] = envelope
        return found


def _effective(
    envelope: dict[str, Any], on: date, data: dict[str, Any] | None, by: list[str] | None
) -> dict[str, Any]:
    # The envelope was built for this answer alone: completed in place, not copied.
    envelope["effective"] = {
        "occurred_on": on.isoformat(),
        "data": envelope["data"] if data is None else data,
    }
    envelope["corrected_by"] = by or []
    return envelope


def restatements(
    conn: Connection, generation: int, mission: str, start: date, then: datetime,
    known_at: datetime, fetch: Envelopes,
) -> list[dict[str, Any]]:  # fmt: skip
    """What was recorded after ``then`` and by ``known_at`` about the time up to ``start``:
    late reports dated by then, and the corrections and retractions of such reports. Each is
    its envelope plus ``concerns``: the report it is about, as it stood then and stands now."""
    # An event recorded ``lag`` days after the date it concerns is about ``start`` or earlier
    # and recorded after it only if recorded within ``lag`` days after ``start``: per lag's bit
    # length b, a range of the recording instants up to 2^b days after ``start``. Each range
    # holds mostly what it finds, so the work follows the answer, not the history's length.
    ranges = [
        select(c.c.recorded_at, c.c.position, c.c.event_id, c.c.target_id).where(
            c.c.generation == generation,
            c.c.mission == mission,
            c.c.lag == bits,
            c.c.recorded_at > then,
            c.c.recorded_at <= min(known_at, _day_start(start, 2**bits)),
            c.c.dated <= start,
        )
        for bits in range(1, MAX_LAG_BITS + 1)
        if then < min(known_at, _day_start(start, 2**bits))
    ]
    rows = (
        sorted(conn.execute(union_all(*ranges)).all(), key=lambda row: (row[0], row[1]))
        if ranges else []
    )  # fmt: skip
    concerned = [row.target_id or row.event_id for row in rows]
    envelopes = fetch([row.event_id for row in rows] + concerned)
    was = _versions(fetch, generation, concerned, then)
    now = _versions(fetch, generation, concerned, known_at)

    def state(event_id: str, found: dict[str, tuple[date, Any]]) -> dict[str, Any] | None:
        if event_id not in found:
            return None
        on, data = found[event_id]
        return {"occurred_on": on.isoformat(),
                "data": envelopes[event_id]["data"] if data is None else data}  # fmt: skip

    return [
        {
            **envelopes[row.event_id],
            "concerns": {
                "event_id": target,
                "type": envelopes[target]["type"],
                "then": state(target, was),
                "now": state(target, now),
            },
        }
        for row, target in zip(rows, concerned, strict=True)
    ]


def _day_start(day: date, days: int) -> datetime:
    """The instant ``days`` days after ``day`` began (UTC), as far as the calendar goes."""
    try:
        return datetime.combine(day + timedelta(days=days), time(), UTC)
    except OverflowError:
        return datetime.max.replace(tzinfo=UTC)


def _versions(
    envelopes: Envelopes, generation: int, event_ids: Iterable[str], at: datetime
) -> dict[str, tuple[date, Any]]:
    """The report version of each event standing at ``at`` (none: not yet or no longer), as
    its effective date and data (None: the envelope's own), one statement per 500 events."""
    rec, p = envelopes.recorder, envelopes.recorder.placeholder
    ids, found = sorted(set(event_ids)), {}
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        rows = envelopes.fetch(
            "SELECT event_id, occurred_on, data FROM report_events WHERE generation = "
            f"{p} AND event_id IN ({', '.join([p] * len(part))}) AND recorded_from <= {p} "
            f"AND (recorded_to IS NULL OR recorded_to > {p})",
            (generation, *part, rec.instant_param(at), rec.instant_param(at)),
        )
        for event_id, on, data in rows:
            found[event_id] = (rec.day(on), None if data is None else rec.json(data))
    return found
