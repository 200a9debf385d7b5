"""Weekly delivery of the situation report (CONTRACT §4, §8 ``SITREP_REPORT_WEEKDAY``).

On the report day D each registered mission's report of the seven days up to the day before
(``from`` D - 8, ``to`` D - 1) is put in the webhook outbox as a ``report.weekly`` message, then
signed, sent and retried like the deadline flags (``sitrep.webhooks``). It is computed as known
at D 00:00 UTC, so whichever instance computes it, and however late, the body is the same.

Once across instances: ``weekly_reports`` has one row per (mission, report day), inserted with
the outbox rows in one transaction and ignored when present, so of two passes racing for a week
one queues it and the other adds nothing. A missed week (no server ran that day) is queued by
the next pass: each pass queues the newest report day on or before today and every earlier one
back to the mission's last queued day, at most ``CATCH_UP`` of them; a mission with none queued
yet (a fresh install, a new mission) gets only the newest.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson
from sqlalchemy import Column, Date, MetaData, String, Table, func, select
from sqlalchemy.exc import DBAPIError

from api import reports
from events.envelope import format_instant
from events.errors import MissionNotFound, StoreUnavailable
from events.schema import UTCDateTime
from events.store import EventStore
from projections import mandate, missions
from projections.runner import Projector
from sitrep.settings import WEEKDAYS
from sitrep.webhooks import Dispatcher

log = logging.getLogger(__name__)

EVENT_TYPE = "report.weekly"
#: The most report days one pass queues for a mission (the newest and the weeks missed before).
CATCH_UP = 8
#: What the listed events of one report (``events`` and ``restated.events`` together) may take
#: of a message; past it the later ones are left out and counted under ``omitted``.
MAX_LISTED_BYTES = 512 * 1024
#: Names the message ids of weekly reports (uuid5), apart from every event id (uuid4/uuid7).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sitrep:webhooks:report.weekly")

metadata = MetaData()

#: The report days queued for each mission (the outbox rows are in ``webhook_deliveries``).
weekly_reports = Table(
    "weekly_reports",
    metadata,
    Column("mission", String(32), primary_key=True),
    Column("report_on", Date, primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("enqueued_at", UTCDateTime, nullable=False),
)
w = weekly_reports


# --- the calendar (pure) ------------------------------------------------------------------


def weekday_number(name: str) -> int:
    """``monday`` → 0 … ``sunday`` → 6, as ``date.weekday()`` counts."""
    return WEEKDAYS.index(name.lower())


def newest_report_day(today: date, weekday: int) -> date:
    """The latest day on or before ``today`` that falls on ``weekday``."""
    return today - timedelta(days=(today.weekday() - weekday) % 7)


def report_days(
    today: date, weekday: int, last_queued: date | None, limit: int = CATCH_UP
) -> list[date]:
    """The report days a pass on ``today`` queues, oldest first: the newest one, and the earlier
    ones after ``last_queued`` (none without it), at most ``limit`` in all."""
    newest = newest_report_day(today, weekday)
    if last_queued is None:
        return [newest]
    days: list[date] = []
    day = newest
    while day > last_queued and len(days) < limit:
        days.append(day)
        day -= timedelta(days=7)
    return days[::-1]


@dataclass(frozen=True)
class Window:
    """The report delivered on ``day``: the period after ``start`` up to ``end``, as known at
    ``known_at``."""

    day: date
    start: date
    end: date
    known_at: datetime


def window(day: date) -> Window:
    """The seven days up to the day before ``day``, as known at the start of ``day`` (UTC)."""
    known_at = datetime.combine(day, time(), UTC)
    return Window(day, day - timedelta(days=8), day - timedelta(days=1), known_at)


def message_id(mission: str, day: date) -> str:
    """The ``webhook-id`` of a mission's report of ``day``: every instance derives the same."""
    return str(uuid.uuid5(NAMESPACE, f"{EVENT_TYPE}:{mission}:{day.isoformat()}"))


# --- the message --------------------------------------------------------------------------


def payload(mission: str, span: Window, report: dict[str, Any]) -> str:
    """The JSON body sent for a report (Standard Webhooks' ``type``, ``timestamp``, ``data``)."""
    report, omitted = bounded(report)
    known_at = format_instant(span.known_at)
    body = {
        "type": EVENT_TYPE,
        "timestamp": known_at,
        "data": {
            "mission": mission,
            "from": span.start.isoformat(),
            "to": span.end.isoformat(),
            "known_at": known_at,
            "report": report,
            "omitted": omitted,
            "summary": summary(mission, span, report),
        },
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode()


def bounded(report: dict[str, Any]) -> tuple[dict[str, Any], dict[str, int]]:
    """The report with its event lists cut to ``MAX_LISTED_BYTES`` (the period's events first,
    then the restatements), and how many of each were left out."""
    budget = MAX_LISTED_BYTES
    restated = report.get("restated") or {}
    lists = {"events": report.get("events") or [], "restated_events": restated.get("events") or []}
    kept: dict[str, list[Any]] = {}
    omitted: dict[str, int] = {}
    for name, items in lists.items():
        kept[name] = []
        for item in items:
            size = len(orjson.dumps(item)) + 1
            if size > budget:
                break
            budget -= size
            kept[name].append(item)
        omitted[name] = len(items) - len(kept[name])
    if not any(omitted.values()):
        return report, omitted
    cut = {**report, "events": kept["events"]}
    if "restated" in report:
        cut["restated"] = {**restated, "events": kept["restated_events"]}
    return cut, omitted


def summary(mission: str, span: Window, report: dict[str, Any]) -> str:
    """One sentence for people reading the report's arrival in a chat channel or an inbox."""
    strength = report.get("strength") or {}
    before = (strength.get("from") or {}).get("deployed")
    after = (strength.get("to") or {}).get("deployed")
    funds = report.get("funding") or {}
    deposited_before = (funds.get("from") or {}).get("deposited")
    deposited = (funds.get("to") or {}).get("deposited")
    events = len(report.get("events") or [])
    restated = len((report.get("restated") or {}).get("events") or [])
    first = (span.start + timedelta(days=1)).isoformat()
    parts = []
    if isinstance(after, int):
        change = f" ({after - before:+d})" if isinstance(before, int) else ""
        parts.append(f"{after:,} personnel deployed{change}")
    if deposited is not None:
        change = _money_change(deposited_before, deposited)
        parts.append(f"USD {_money(deposited)} deposited{change}")
    parts.append(_count(events, "event", "events"))
    parts.append(_count(restated, "restatement", "restatements"))
    return f"Weekly report of {mission}, {first} to {span.end.isoformat()}: {', '.join(parts)}."


def _money(value: Any) -> str:
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


def _money_change(before: Any, after: Any) -> str:
    try:
        change = Decimal(str(after)) - Decimal(str(before))
    except (InvalidOperation, TypeError):
        return ""
    return f" ({'+' if change >= 0 else '-'}{abs(change):,.2f})"


def _count(n: int, one: str, many: str) -> str:
    return f"1 {one}" if n == 1 else f"{n} {many}"


# --- a pass -------------------------------------------------------------------------------


class WeeklyReports:
    """Queues each mission's weekly report in the webhook outbox, once whoever runs the pass."""

    def __init__(
        self, store: EventStore, projector: Projector, dispatcher: Dispatcher, weekday: str
    ) -> None:
        self.store = store
        self.projector = projector
        self.dispatcher = dispatcher
        self.weekday = weekday_number(weekday)

    def run(self, today: date) -> list[str]:
        """One pass as of ``today``: queue the report days due; returns the message ids queued."""
        last = self._last_queued()
        newest = window(newest_report_day(today, self.weekday))
        # Each report day's missions as known at its start (one read per day, for all missions):
        # one not registered by the newest day's start has no report due at all yet.
        known = {newest.day: self._facts(newest.known_at)}
        queued: list[str] = []
        for mission in sorted(known[newest.day]):
            for day in report_days(today, self.weekday, last.get(mission)):
                span = window(day)
                if day not in known:
                    known[day] = self._facts(span.known_at)
                if not self._reported(mission, span, known[day]):
                    continue
                try:
                    msg_id = self._queue(mission, span)
                except (StoreUnavailable, DBAPIError):
                    raise  # the database is away: the scheduler says so and the pass ends
                except Exception:
                    # Later weeks wait for this one, so that none is passed over for good.
                    log.exception("weekly report of %s for %s not queued", mission, day)
                    break
                if msg_id is not None:
                    queued.append(msg_id)
        return queued

    def _facts(self, known_at: datetime) -> dict[str, list[mandate.Fact]]:
        """The registered missions' facts as known at ``known_at``."""
        by_mission: dict[str, list[mandate.Fact]] = defaultdict(list)
        for mission_id, fact in self.projector.query(
            lambda conn, generation: mandate.facts_by_mission(conn, generation, known_at)
        ):
            by_mission[mission_id].append(fact)
        return {m: known for m, known in by_mission.items() if mandate.name_of(known) is not None}

    @staticmethod
    def _reported(mission: str, span: Window, known: dict[str, list[mandate.Fact]]) -> bool:
        """Whether the mission has a report that week: registered as known at ``known_at``, and
        not ended on or before ``from`` (a mandate that ended during the week gets that one)."""
        facts = known.get(mission)
        if facts is None:
            log.debug("no weekly report of %s for %s: not registered by then", mission, span.day)
            return False
        if missions.ending(facts, span.start) is not None:
            log.debug("no weekly report of %s for %s: its mandate had ended", mission, span.day)
            return False
        return True

    def _last_queued(self) -> dict[str, date]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(w.c.mission, func.max(w.c.report_on)).group_by(w.c.mission))
            return {mission: day for mission, day in rows}

    def _is_queued(self, mission: str, day: date) -> bool:
        with self.store.engine.connect() as conn:
            found = conn.execute(
                select(w.c.event_id).where(w.c.mission == mission, w.c.report_on == day)
            ).first()
        return found is not None

    def _queue(self, mission: str, span: Window) -> str | None:
        """Compute and queue one report; None when it is queued already (by another pass)."""
        # A cheap look first, so a pass racing another rarely computes a report for nothing;
        # the primary key decides.
        if self._is_queued(mission, span.day):
            return None
        try:
            report = reports.compute(
                self.store, self.projector, mission, span.start, span.end, span.known_at
            )
        except MissionNotFound:
            log.warning("no weekly report of %s for %s: not registered", mission, span.day)
            return None
        msg_id = message_id(mission, span.day)
        once = {
            "mission": mission, "report_on": span.day, "event_id": msg_id,
            "enqueued_at": self.dispatcher.clock(),
        }  # fmt: skip
        body = payload(mission, span, report)
        if not self.dispatcher.enqueue_message(msg_id, mission, body, once=(weekly_reports, once)):
            return None
        log.info("queued the weekly report of %s for %s (%s)", mission, span.day, msg_id)
        return msg_id
