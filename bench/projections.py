"""Read-model benchmark: rebuild rate beside a raw scan, peak RSS, query latency at 10k and N.

Run ``python -m bench.projections`` (full) or ``python -m bench.projections --quick`` (about two
minutes); ``--json PATH`` also writes the results as JSON.

The history: five missions over about three years (2023-10-02 to three days before today),
each registered, authorized and renewed yearly, with reviews scheduled and completed and a
budget per mandate year; 30 contributing countries (a few contribute most) and 40 donors
(36 countries paying in 14 currencies with a ``usd_rate`` that drifts by day, plus EU,
CARICOM, OAS and UN). Regular events, in the order they are reported: contingents arriving
(28 %) and departing (10 %), personnel pledged (12 %) and withdrawn (4 %), funds pledged (14 %),
committed (10 %) and deposited (19 %), corrections (2 %: arrivals upward or dated earlier,
funds re-figured or re-dated) and retractions (1 %: arrivals held back as doubtful, and funds);
nine amendments in ten name a report of the last 30 days, the rest any earlier one.
5 % of arrivals, pledges and funds are reported late (1 to 60 days). A departure or
withdrawal never takes more than is there: it is dated on its report day and bounded by the
arrivals recorded before it (doubtful ones excluded), so no later retraction uncovers it.

Events go in through the store's normal batch append, 1000 per call, each parsed first. The
store's clock is injected: each batch is recorded on the evening of its last report day (or a
second after the previous batch), so ``recorded_at`` spreads over the three years with the
dates and a past ``known_at`` cuts the history where a reader then would have.

Two stores per backend, the same history shape: 10,000 events and N events.

* **generate** (info): events per second through ``store.append(batch=True)``.
* **raw scan**: plain sqlite3 (psycopg on PostgreSQL, ``data::text``) reading
  ``position, id, type, stream, data, recorded_at`` in position order with ``fetchmany(1000)``
  and ``json.loads`` of each ``data``: what any rebuild must at least do.
* **rebuild**: ``Projector(store).rebuild()`` over all N events in a fresh process; events per
  second and the process's peak RSS. Goals: at least 25 % of the raw scan's rate, under 300 MB.
* **queries**: each read model called as the API calls it
  (``projector.query(lambda conn, g: force_strength.as_of(conn, g, mission, day, at))``), on a
  random mission per call, (a) with the defaults (as_of today, known_at now) and (b) at a
  random past ``as_of`` known a month later; timeline weekly over one year. Measured on the
  10k store after an incremental ``catch_up`` and on the N store after the rebuild. Goals: p99
  under 20 ms at N and at most twice the 10k figure. One endpoint is also timed over HTTP
  (in-process, httpx ``ASGITransport``) to show what the web layer adds, in turn with a
  baseline app over the same store that writes the answers with orjson instead of through the
  response models and has no method middleware (the app before issue 15). Goal: p99 at most
  1.10x the baseline's.
* **checks**: each mission's totals at today/now against the generator's own bookkeeping
  (deployed, pledged, USD pledged/committed/deposited, ceiling, mandate status), and on the
  10k store the answers before and after a rebuild must be equal. A mismatch is a defect.

Sizes: the full run takes N = 1,000,000 on SQLite and 300,000 on PostgreSQL (``--events``,
``--pg-events``). Both stores are generated through the store with every rule on (the date
invariant is checked against per-date balances, so a stream of tens of thousands of events
appends as fast as a short one). ``--quick``: N = 50,000, SQLite only, 50
calls per query, no rebuild-consistency check.

Each step runs in its own subprocess (``python -m bench.projections --worker ...``) so each
starts cold and its peak RSS is its own; each step's line says how much CPU other processes
on the machine used meanwhile (from ``/proc/stat``), so a figure taken on a busy machine shows
as such. Temporary files and PostgreSQL schemas are removed.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import math
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import psycopg

from bench.append import (
    POSTGRES_URL,
    drop_schema,
    new_schema_name,
    peak_rss_mb,
    postgres_problem,
)

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000
SMALL = 10_000
TARGET_EVENTS = 1_000_000
FULL_EVENTS = 1_000_000
QUICK_EVENTS = 50_000
FULL_PG_EVENTS = 300_000
FULL_CALLS = 200
QUICK_CALLS = 50
#: Per read model and variant, so that a slow model cannot stall the run.
FULL_CALL_CAP_SECONDS = 30.0
QUICK_CALL_CAP_SECONDS = 3.0
RECORDED_BY = "bench-liaison"
SEED = 20231002

REBUILD_GOAL = 0.25
RSS_GOAL_MB = 300.0
P99_GOAL_MS = 20.0
GROWTH_GOAL = 2.0

START = date(2023, 10, 2)
CENT = Decimal("0.01")


# --- the history ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MissionPlan:
    id: str
    name: str
    lead: str
    host: str
    start: int  # days after START


MISSIONS = (
    MissionPlan("mss-haiti", "Multinational Security Support mission", "KEN", "HTI", 0),
    MissionPlan("rsf-sahel", "Regional Stabilisation Force in the Sahel", "SEN", "MLI", 30),
    MissionPlan("cap-car", "Central African Protection Operation", "RWA", "CAF", 60),
    MissionPlan("mmo-mozambique", "Maritime Monitoring Operation", "ZAF", "MOZ", 90),
    MissionPlan("gsf-haiti", "Gang Suppression Force", "JAM", "HTI", 120),
)
MISSION_IDS = tuple(m.id for m in MISSIONS)
COUNTRIES = (
    "KEN", "JAM", "BHS", "BLZ", "GTM", "SLV", "BGD", "BEN", "TCD", "NPL",
    "RWA", "GHA", "SEN", "PAK", "IND", "EGY", "ZMB", "IDN", "BRA", "URY",
    "MNG", "MAR", "TGO", "BFA", "NER", "FJI", "MYS", "ITA", "ESP", "IRL",
)  # fmt: skip
#: A few countries contribute most of the personnel, as in real missions.
COUNTRY_WEIGHTS = tuple(1 / (rank + 1) ** 0.8 for rank in range(len(COUNTRIES)))
CATEGORIES = ("police", "military", "civilian")
CATEGORY_WEIGHTS = (0.6, 0.3, 0.1)
#: Donor -> currency it pays in; every other donor pays in USD.
DONOR_CURRENCY = {
    "CAN": "CAD", "FRA": "EUR", "DEU": "EUR", "GBR": "GBP", "JPN": "JPY", "NLD": "EUR",
    "NOR": "NOK", "SWE": "SEK", "DNK": "DKK", "FIN": "EUR", "ITA": "EUR", "ESP": "EUR",
    "CHE": "CHF", "AUS": "AUD", "NZL": "NZD", "KOR": "KRW", "CHN": "CNY", "BRA": "BRL",
    "MEX": "MXN", "IRL": "EUR", "BEL": "EUR", "AUT": "EUR", "LUX": "EUR", "PRT": "EUR",
    "ZAF": "ZAR", "IND": "INR", "EU": "EUR",
}  # fmt: skip
DONORS = (
    "USA", "CAN", "FRA", "DEU", "GBR", "JPN", "NLD", "NOR", "SWE", "DNK",
    "FIN", "ITA", "ESP", "CHE", "AUS", "NZL", "KOR", "CHN", "BRA", "MEX",
    "IRL", "BEL", "AUT", "LUX", "PRT", "POL", "CZE", "TUR", "SAU", "ARE",
    "QAT", "KWT", "IND", "ZAF", "NGA", "KEN", "EU", "CARICOM", "OAS", "UN",
)  # fmt: skip
DONOR_WEIGHTS = tuple(1 / (rank + 1) ** 0.6 for rank in range(len(DONORS)))
#: USD per unit, roughly; each day's rate drifts a few per cent around it.
USD_PER_UNIT = {
    "EUR": 1.08, "GBP": 1.27, "JPY": 0.0068, "CAD": 0.74, "NOK": 0.094, "SEK": 0.095,
    "DKK": 0.145, "CHF": 1.12, "AUD": 0.66, "NZD": 0.61, "KRW": 0.00075, "CNY": 0.14,
    "BRL": 0.2, "MXN": 0.055, "ZAR": 0.054, "INR": 0.012,
}  # fmt: skip
CHANNELS = ("trust_fund", "bilateral", "in_kind")
CHANNEL_WEIGHTS = (0.6, 0.3, 0.1)
FUNDS_TYPES = ("FundsPledged", "FundsCommitted", "FundsDeposited")
EXPECTED_MEASURE = {
    "ContingentArrived": "deployed",
    "ContingentDeparted": "deployed",
    "PersonnelPledged": "pledged",
    "PledgeWithdrawn": "pledged",
    "FundsPledged": "pledged_usd",
    "FundsCommitted": "committed_usd",
    "FundsDeposited": "deposited_usd",
}
KINDS = (
    ("arrival", 0.28), ("departure", 0.10), ("pledge", 0.12), ("withdrawal", 0.04),
    ("FundsPledged", 0.14), ("FundsCommitted", 0.10), ("FundsDeposited", 0.19),
    ("correction", 0.02), ("retraction", 0.01),
)  # fmt: skip
SOURCES = (
    {"title": "UN News", "url": "https://news.un.org/en/story/2024/06/1151346"},
    {"title": "Mission press release"},
    {"title": "Liaison field report", "url": "https://example.org/reports/field"},
)
LATE_SHARE = 0.05
DOUBTFUL_SHARE = 0.03
POOL_SHARE = 0.1  # of correctable events kept as candidates (bounds the generator's memory)


def history_end() -> date:
    return datetime.now(UTC).date() - timedelta(days=3)


def mission_events(plan: MissionPlan, end: date) -> list[tuple[date, dict[str, Any]]]:
    """Registration, mandate, reviews and budgets of one mission, dated up to ``end``."""
    first = START + timedelta(days=plan.start)
    m = plan.id

    def ev(on: date, type_: str, data: dict[str, Any]) -> tuple[date, dict[str, Any]]:
        return on, {"mission": m, "type": type_, "occurred_on": on.isoformat(), "data": data,
                    "source": {"title": "Security Council press release"}}  # fmt: skip

    def budget(year: int, on: date) -> tuple[date, dict[str, Any]]:
        begin = first + timedelta(days=365 * year)
        return ev(on, "BudgetRequirementSet", {
            "amount_usd": f"{150_000_000 + 37_500_000 * year + 1_000_000 * plan.start}.00",
            "period_start": begin.isoformat(),
            "period_end": (begin + timedelta(days=364)).isoformat(),
        })  # fmt: skip

    found = [
        ev(first, "MissionRegistered",
           {"name": plan.name, "lead_country": plan.lead, "host_country": plan.host}),
        ev(first, "MandateAuthorized",
           {"resolution": f"S/RES/{2699 + plan.start} ({first.year})",
            "expires_on": (first + timedelta(days=365)).isoformat(), "personnel_ceiling": 2500}),
        budget(0, first),
    ]  # fmt: skip
    for year in range(1, 6):
        renewed = first + timedelta(days=365 * year - 20)
        found.append(ev(renewed, "MandateRenewed", {
            "resolution": f"S/RES/{2750 + 40 * year + plan.start} ({renewed.year})",
            "expires_on": (first + timedelta(days=365 * (year + 1))).isoformat(),
            "personnel_ceiling": 2500 + 500 * year,
        }))  # fmt: skip
        found.append(budget(year, first + timedelta(days=365 * year - 10)))
    for k in range(8):
        scheduled = first + timedelta(days=180 * k)
        due = scheduled + timedelta(days=90)
        review_id = f"{m}/review-{k + 1}"
        found.append(ev(scheduled, "ReviewScheduled", {
            "review_id": review_id, "body": ("security_council", "secretary_general")[k % 2],
            "due_on": due.isoformat(), "title": f"Review {k + 1} of {plan.name}",
        }))  # fmt: skip
        found.append(
            ev(
                due,
                "ReviewCompleted",
                {"review_id": review_id, "outcome": "mandate implementation on track"},
            )
        )
    # sorted() is stable: registration stays ahead of everything dated on its own day.
    return sorted((x for x in found if x[0] <= end), key=lambda x: x[0])


@dataclass
class Entry:
    """An event the generator may later correct or retract."""

    id: str
    type: str
    mission: str
    occurred_on: date
    data: dict[str, Any]


@dataclass
class Planned:
    body: dict[str, Any]
    report_day: date
    pool: str | None = None  # "arrival", "doubtful" or "funds": keep as an amendment candidate
    target: Entry | None = None  # the event an amendment names


class Pool:
    """Candidates for amendment, in report order; most amendments name a recent report."""

    #: Nine amendments in ten name a report of the last 30 days (a liaison correcting what
    #: they sent); the rest any earlier one (an audit). An amendment dated far back costs the
    #: read models a row per later date of each total it moves (README, "Read models").
    RECENT_SHARE = 0.9
    RECENT_DAYS = 30

    def __init__(self) -> None:
        self.items: list[Entry | None] = []
        self.days: list[date] = []  # report days, non-decreasing
        self.live = 0

    def add(self, entry: Entry, day: date) -> None:
        self.items.append(entry)
        self.days.append(day)
        self.live += 1

    def take(self, rng: random.Random, day: date) -> Entry | None:
        if not self.live:
            return None
        lo = 0
        if rng.random() < self.RECENT_SHARE:
            lo = bisect.bisect_left(self.days, day - timedelta(days=self.RECENT_DAYS))
        for _ in range(20):
            if lo >= len(self.items):
                lo = 0
            i = rng.randrange(lo, len(self.items))
            if self.items[i] is not None:
                return self._taken(i)
        i = next(j for j in range(len(self.items) - 1, -1, -1) if self.items[j] is not None)
        return self._taken(i)

    def _taken(self, i: int) -> Entry:
        entry = self.items[i]
        assert entry is not None
        self.items[i] = None
        self.live -= 1
        return entry


def usd_of(data: dict[str, Any]) -> Decimal:
    return Decimal(data["amount"]) * Decimal(data.get("usd_rate") or 1)


def contribution(type_: str, data: dict[str, Any]) -> tuple[str, Decimal] | None:
    """What an event adds to the generator's expected totals at today/now."""
    measure = EXPECTED_MEASURE.get(type_)
    if measure is None:
        return None
    if type_ in FUNDS_TYPES:
        return measure, usd_of(data)
    sign = -1 if type_ in ("ContingentDeparted", "PledgeWithdrawn") else 1
    return measure, Decimal(sign * data["personnel"])


class History:
    """Plans the events in report order and keeps the books the checks compare against."""

    def __init__(self, total: int, seed: int = SEED) -> None:
        self.total = total
        self.rng = random.Random(seed)
        self.end = history_end()
        self.span = (self.end - START).days
        pending = [x for plan in MISSIONS for x in mission_events(plan, self.end)]
        self.mission_queue = sorted(pending, key=lambda x: x[0])
        self.planned = 0
        self.regular = 0
        self.deployed_slack: dict[tuple[str, str, str], int] = defaultdict(int)
        self.pledged_slack: dict[tuple[str, str, str], int] = defaultdict(int)
        self.pools = {"arrival": Pool(), "doubtful": Pool(), "funds": Pool()}
        self.expected: dict[str, dict[str, Decimal]] = {
            m: defaultdict(Decimal) for m in MISSION_IDS
        }
        self.ceiling: dict[str, int] = {}
        self.kind_names = [k for k, _ in KINDS]
        self.kind_weights = [w for _, w in KINDS]

    def done(self) -> bool:
        return self.planned >= self.total

    def batch(self, size: int) -> list[Planned]:
        found: list[Planned] = []
        while len(found) < size and not self.done():
            # Regular events spread evenly over the days; mission events come on their day.
            day = START + timedelta(days=self.regular * self.span // max(self.total, 1))
            if self.mission_queue and self.mission_queue[0][0] <= day:
                on, body = self.mission_queue.pop(0)
                found.append(Planned(body, on))
            else:
                found.append(self._regular(day))
                self.regular += 1
            self.planned += 1
        return found

    def recorded(self, planned: list[Planned], events: list[Any]) -> None:
        """Book what the store accepted: expected totals and amendment candidates."""
        for plan, event in zip(planned, events, strict=True):
            totals = self.expected[event.mission]
            if event.type in ("MandateAuthorized", "MandateRenewed"):
                self.ceiling[event.mission] = event.data["personnel_ceiling"]
            if event.type == "EventCorrected" and plan.target is not None:
                self._unbook(plan.target)
                plan.target.data = event.data["data"]
                self._book(plan.target)
                continue
            if event.type == "EventRetracted" and plan.target is not None:
                self._unbook(plan.target)
                continue
            found = contribution(event.type, event.data)
            if found is not None:
                totals[found[0]] += found[1]
            if plan.pool is not None:
                entry = Entry(event.id, event.type, event.mission, event.occurred_on, event.data)
                self.pools[plan.pool].add(entry, plan.report_day)

    def _book(self, entry: Entry, sign: int = 1) -> None:
        found = contribution(entry.type, entry.data)
        if found is not None:
            self.expected[entry.mission][found[0]] += sign * found[1]

    def _unbook(self, entry: Entry) -> None:
        self._book(entry, -1)

    # --- regular events ---

    def _started(self, day: date) -> list[str]:
        return [m.id for m in MISSIONS if START + timedelta(days=m.start) <= day]

    def _occurred(self, mission: str, day: date) -> date:
        if self.rng.random() >= LATE_SHARE:
            return day
        first = START + timedelta(days=MISSIONS[MISSION_IDS.index(mission)].start)
        return max(first, day - timedelta(days=self.rng.randint(1, 60)))

    def _regular(self, day: date) -> Planned:
        rng = self.rng
        mission = rng.choice(self._started(day))
        kind = rng.choices(self.kind_names, self.kind_weights)[0]
        if kind == "correction":
            planned = self._correction(day)
            if planned is not None:
                return planned
            kind = "arrival"
        elif kind == "retraction":
            planned = self._retraction(day)
            if planned is not None:
                return planned
            kind = "FundsDeposited"
        if kind in FUNDS_TYPES:
            return self._funds(kind, mission, day)
        country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
        category = rng.choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        key = (mission, country, category)
        common: dict[str, Any] = {"mission": mission, "occurred_on": day.isoformat()}
        if rng.random() < 0.5:
            common["source"] = rng.choice(SOURCES)
        if kind == "departure" and self.deployed_slack[key] > 0:
            n = min(self.deployed_slack[key], rng.randint(1, 40))
            self.deployed_slack[key] -= n
            reason = rng.choice(("rotation", "rotation", "end_of_tour", "repatriation", "medical"))
            data: dict[str, Any] = {"country": country, "personnel": n, "category": category,
                                    "reason": reason}  # fmt: skip
            return Planned({**common, "type": "ContingentDeparted", "data": data}, day)
        if kind == "withdrawal" and self.pledged_slack[key] > 0:
            n = min(self.pledged_slack[key], rng.randint(5, 60))
            self.pledged_slack[key] -= n
            data = {"country": country, "personnel": n, "category": category}
            return Planned({**common, "type": "PledgeWithdrawn", "data": data}, day)
        common["occurred_on"] = self._occurred(mission, day).isoformat()
        if kind in ("pledge", "withdrawal"):
            n = rng.randint(20, 300)
            self.pledged_slack[key] += n
            data = {"country": country, "personnel": n, "category": category}
            return Planned({**common, "type": "PersonnelPledged", "data": data}, day)
        # An arrival (also what a departure becomes when nobody is there to leave).
        n = rng.randint(5, 120)
        data = {"country": country, "personnel": n, "category": category}
        if rng.random() < 0.7:
            data["female"] = rng.randint(0, n // 3)
        if rng.random() < 0.5:
            data["unit"] = f"{country} {category} unit {rng.randint(1, 12)}"
            data["location"] = rng.choice(("Port-au-Prince", "Cap-Haitien", "Bamako", "Bangui"))
        doubtful = rng.random() < DOUBTFUL_SHARE
        if not doubtful:
            self.deployed_slack[key] += n  # a doubtful arrival may be retracted: never rely on it
        pool = "doubtful" if doubtful else ("arrival" if rng.random() < POOL_SHARE else None)
        return Planned({**common, "type": "ContingentArrived", "data": data}, day, pool)

    def _funds(self, type_: str, mission: str, day: date) -> Planned:
        rng = self.rng
        donor = rng.choices(DONORS, DONOR_WEIGHTS)[0]
        currency = DONOR_CURRENCY.get(donor, "USD")
        if currency == "JPY" or currency == "KRW":
            amount = Decimal(rng.randint(10_000, 2_000_000)) * 100
        else:
            amount = Decimal(rng.randint(5_000_000, 500_000_000)) / 100
        data: dict[str, Any] = {"donor": donor, "amount": str(amount), "currency": currency,
                                "channel": rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]}  # fmt: skip
        on = self._occurred(mission, day)
        if currency != "USD":
            data["usd_rate"] = rate_on(currency, on)
        if type_ == "FundsCommitted" and rng.random() < 0.5:
            data["agreement"] = f"Contribution agreement {donor}-{on.year}-{rng.randint(1, 99)}"
        body = {"mission": mission, "type": type_, "occurred_on": on.isoformat(), "data": data}
        pool = "funds" if rng.random() < POOL_SHARE else None
        return Planned(body, day, pool)

    def _correction(self, day: date) -> Planned | None:
        rng = self.rng
        source = "funds" if rng.random() < 0.5 else "arrival"
        source = "doubtful" if source == "arrival" and rng.random() < 0.2 else source
        target = self.pools[source].take(rng, day) or self.pools["funds"].take(rng, day)
        if target is None:
            return None
        data = dict(target.data)
        payload: dict[str, Any] = {"event_id": target.id, "data": data}
        first = START + timedelta(days=MISSIONS[MISSION_IDS.index(target.mission)].start)
        if target.type == "ContingentArrived":
            # Upward or earlier only: a later departure can never be left uncovered.
            data["personnel"] = min(100_000, data["personnel"] + rng.randint(1, 25))
            payload["reason"] = "unit strength confirmed by the contingent commander"
            if rng.random() < 0.3:
                on = max(first, target.occurred_on - timedelta(days=rng.randint(1, 14)))
                payload["occurred_on"] = on.isoformat()
        else:
            factor = Decimal(rng.randint(50, 150)) / 100
            data["amount"] = str(max(CENT, (Decimal(data["amount"]) * factor).quantize(CENT)))
            payload["reason"] = "amount corrected from the signed agreement"
            if rng.random() < 0.3:
                shift = timedelta(days=rng.randint(-10, 10))
                on = min(day, max(first, target.occurred_on + shift))
                payload["occurred_on"] = on.isoformat()
        body = {"mission": target.mission, "type": "EventCorrected",
                "occurred_on": day.isoformat(), "data": payload}  # fmt: skip
        return Planned(body, day, target=target)

    def _retraction(self, day: date) -> Planned | None:
        rng = self.rng
        target = self.pools["doubtful" if rng.random() < 0.4 else "funds"].take(rng, day)
        target = target or self.pools["funds"].take(rng, day)
        if target is None:
            return None
        payload = {"event_id": target.id, "reason": "reported in error"}
        body = {"mission": target.mission, "type": "EventRetracted",
                "occurred_on": day.isoformat(), "data": payload}  # fmt: skip
        return Planned(body, day, target=target)

    def expected_totals(self) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for mission, totals in self.expected.items():
            found[mission] = {
                "deployed": int(totals["deployed"]),
                "pledged": int(totals["pledged"]),
                "pledged_usd": usd(totals["pledged_usd"]),
                "committed_usd": usd(totals["committed_usd"]),
                "deposited_usd": usd(totals["deposited_usd"]),
                "personnel_ceiling": self.ceiling.get(mission),
            }
        return found


def rate_on(currency: str, on: date) -> str:
    drift = 1 + 0.04 * math.sin(on.toordinal() / 57)
    return f"{USD_PER_UNIT[currency] * drift:.8f}"


def usd(value: Decimal) -> str:
    return str(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


class BatchClock:
    """The store's clock: the instant the current batch is recorded at."""

    def __init__(self) -> None:
        self.now = datetime.combine(START, day_time(0), UTC)

    def recorded_on(self, day: date) -> None:
        """The next batch is recorded on the evening of ``day`` (never before the last one)."""
        evening = datetime.combine(day, day_time(18), UTC)
        self.now = max(evening, self.now + timedelta(seconds=1))

    def __call__(self) -> datetime:
        return self.now


# --- workers (each runs in its own subprocess and prints one JSON line) -------------------


def settings_for(url: str, **overrides: Any) -> Any:
    from sitrep.settings import Settings

    return Settings(_env_file=None, database_url=url, **overrides)


def progress_line(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def worker_generate(url: str, events: int, expected_path: Path) -> dict[str, Any]:
    from sitrep.database import open_store

    clock = BatchClock()
    store = open_store(settings_for(url), clock=clock)
    history = History(events)
    parse_s = append_s = 0.0
    began = time.perf_counter()
    step = max(events // 10, BATCH)
    try:
        while not history.done():
            planned = history.batch(BATCH)
            clock.recorded_on(max(p.report_day for p in planned))
            t0 = time.perf_counter()
            parsed = [store.parse(p.body) for p in planned]
            t1 = time.perf_counter()
            try:
                result = store.append(parsed, recorded_by=RECORDED_BY, batch=True)
            except Exception as exc:
                raise RuntimeError(f"the store refused a generated batch: {exc!r}") from exc
            t2 = time.perf_counter()
            parse_s += t1 - t0
            append_s += t2 - t1
            history.recorded(planned, result.events)
            if history.planned % step < BATCH:
                rate = history.planned / (time.perf_counter() - began)
                progress_line(f"generated {history.planned:,}/{events:,} ({rate:,.0f}/s)")
        seconds = time.perf_counter() - began
        head = store.head()
        stored = head[0] if head else 0
        if stored != events:
            raise RuntimeError(f"{stored} events stored, {events} expected")
        expected = {
            "totals": history.expected_totals(),
            "end": history.end.isoformat(),
            "recorded_until": clock.now.isoformat(),
        }
        expected_path.write_text(json.dumps(expected))
        with store.engine.connect() as conn:
            counts: dict[str, int] = dict(
                conn.exec_driver_sql("SELECT type, count(*) FROM events GROUP BY type").all()
            )
        return {
            "events": events, "seconds": seconds, "parse_seconds": parse_s,
            "append_seconds": append_s, "by_type": counts,
        }  # fmt: skip
    finally:
        store.close()


def sqlite_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def worker_scan(url: str) -> dict[str, Any]:
    """The raw scan: every row in position order, ``data`` decoded with json.loads."""
    sql = "SELECT position, id, type, stream, data, recorded_at FROM events ORDER BY position"
    loads = json.loads
    rows = 0
    if url.startswith("sqlite"):
        conn = sqlite3.connect(sqlite_path(url))
        try:
            began = time.perf_counter()
            cursor = conn.execute(sql)
            while chunk := cursor.fetchmany(BATCH):
                for row in chunk:
                    loads(row[4])
                rows += len(chunk)
            seconds = time.perf_counter() - began
        finally:
            conn.close()
    else:
        base, _, options = url.partition("?")
        schema = options.rsplit("%3D", 1)[-1]
        with psycopg.connect(base.replace("+psycopg", "")) as pg:
            pg.execute(f"SET search_path TO {schema}")
            began = time.perf_counter()
            with pg.cursor(name="scan") as server_side:
                server_side.execute(sql.replace("data,", "data::text,"))
                while chunk := server_side.fetchmany(BATCH):
                    for row in chunk:
                        loads(row[4])
                    rows += len(chunk)
            seconds = time.perf_counter() - began
    return {"events": rows, "seconds": seconds}


def table_counts(engine: Any) -> dict[str, int]:
    found = {}
    with engine.connect() as conn:
        for table in ("balances", "balance_keys", "effects", "mission_facts"):
            found[table] = conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
    return found


def worker_rebuild(url: str) -> dict[str, Any]:
    from projections.runner import Projector
    from sitrep.database import open_store

    store = open_store(settings_for(url))
    try:
        rss_before = peak_rss_mb()
        head = store.head()
        total = head[0] if head else 0
        step = max(total // 10, 1)
        marks = [0]
        began = time.perf_counter()

        def progress(position: int, of: int) -> None:
            if position - marks[0] >= step:
                marks[0] = position
                rate = position / (time.perf_counter() - began)
                progress_line(f"rebuilt {position:,}/{of:,} ({rate:,.0f}/s)")

        position = Projector(store).rebuild(progress)
        seconds = time.perf_counter() - began
        return {
            "events": position, "seconds": seconds, "rss_before_mb": round(rss_before, 1),
            "rows": table_counts(store.engine),
        }  # fmt: skip
    finally:
        store.close()


# --- query latency ---

Ask = Callable[[], Any]


@dataclass
class Latency:
    model: str
    variant: str
    calls: int = 0
    ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.ms)
        return {
            "model": self.model, "variant": self.variant, "calls": len(ordered),
            "p50_ms": percentile(ordered, 0.50), "p99_ms": percentile(ordered, 0.99),
            "max_ms": ordered[-1] if ordered else None,
        }  # fmt: skip


def percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def time_calls(latency: Latency, calls: int, ask: Ask, cap: float) -> None:
    for _ in range(5):  # warm-up: compiled statements, the database's page cache
        ask()
    began = time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        ask()
        latency.ms.append((time.perf_counter() - t0) * 1000)
        if time.perf_counter() - began > cap:
            break


@dataclass(frozen=True)
class Question:
    mission: str
    as_of: date
    known_at: datetime


def past_question(rng: random.Random, end: date) -> Question:
    span = (end - START).days
    on = START + timedelta(days=rng.randint(span // 5, span - 60))
    return Question(
        rng.choice(MISSION_IDS), on, datetime.combine(on + timedelta(days=30), day_time(12), UTC)
    )


def readers(projector: Any) -> dict[str, Callable[[Question], Any]]:
    from projections import force_strength, funding, mandate, timeline

    def fs(q: Question) -> Any:
        return projector.query(
            lambda conn, g: force_strength.as_of(conn, g, q.mission, q.as_of, q.known_at)
        )

    def fu(q: Question) -> Any:
        return projector.query(
            lambda conn, g: funding.as_of(conn, g, q.mission, q.as_of, q.known_at)
        )

    def ma(q: Question) -> Any:
        return projector.query(
            lambda conn, g: mandate.as_of(conn, g, q.mission, q.as_of, q.known_at)
        )

    def tl(q: Question) -> Any:
        start = q.as_of - timedelta(days=365)
        return projector.query(
            lambda conn, g: timeline.as_of(conn, g, q.mission, start, q.as_of, "week", q.known_at)
        )

    return {"force_strength": fs, "funding": fu, "mandate": ma, "timeline": tl}


def check_totals(projector: Any, expected: dict[str, Any]) -> list[str]:
    """Each mission at today/now against the generator's books; the mismatches found."""
    ask = readers(projector)
    problems = []
    now = datetime.now(UTC)
    today = now.date()
    for mission, want in expected["totals"].items():
        q = Question(mission, today, now)
        fs, fu, ma = ask["force_strength"](q), ask["funding"](q), ask["mandate"](q)
        got = {
            "deployed": fs["deployed"], "pledged": fs["pledged"],
            "pledged_usd": fu["pledged"], "committed_usd": fu["committed"],
            "deposited_usd": fu["deposited"], "personnel_ceiling": fs["personnel_ceiling"],
        }  # fmt: skip
        for name, value in want.items():
            if got[name] != value:
                problems.append(f"{mission} {name}: read model {got[name]}, expected {value}")
        if ma["status"] != "active":
            problems.append(f"{mission} mandate status {ma['status']!r}, expected 'active'")
        if fs["personnel_ceiling"] != ma["personnel_ceiling"]:
            problems.append(f"{mission} ceiling differs between force-strength and mandate")
    return problems


def answers(projector: Any, questions: list[Question]) -> list[Any]:
    ask = readers(projector)
    return [[ask[name](q) for name in ask] for q in questions]


def _baseline_app(store: Any, url: str) -> Any:
    """The app as it answered before issue 15: answers written by orjson straight from the
    projection's dict (not through the response models) and no method middleware (HEAD and
    exact ``Allow``). The same store, the same routes otherwise: the same-run baseline."""
    import orjson

    from api import alerts, missions
    from sitrep.app import MethodMiddleware, create_app

    def plain(model: Any) -> Any:
        del model
        return orjson.dumps

    real = missions.encoder, alerts.encoder
    missions.encoder = alerts.encoder = plain  # read once, when the routers are built
    try:
        app = create_app(settings_for(url, public_reads=True, scheduler_enabled=False),
                         store=store)  # fmt: skip
    finally:
        missions.encoder, alerts.encoder = real
    app.user_middleware = [m for m in app.user_middleware if m.cls is not MethodMiddleware]
    return app


def http_latency(store: Any, url: str, calls: int) -> dict[str, Any]:
    """force-strength with defaults over HTTP, in-process (ASGITransport): the web layer's cost,
    beside the baseline app (``_baseline_app``) called in turn with the same questions, so
    both see the same machine."""
    import httpx

    from sitrep.app import create_app

    app = create_app(settings_for(url, public_reads=True, scheduler_enabled=False), store=store)
    apps = {"current": app, "baseline": _baseline_app(store, url)}
    latency = {name: Latency("force_strength (HTTP)", name) for name in apps}

    async def run() -> None:
        clients = {
            name: httpx.AsyncClient(transport=httpx.ASGITransport(app=a), base_url="http://b")
            for name, a in apps.items()
        }
        try:
            rng = random.Random(SEED)
            bodies: dict[str, bytes] = {}
            for i in range(calls + 3):
                mission = rng.choice(MISSION_IDS)
                # Alternate which goes first, so neither always finds the caches warm.
                order = list(clients) if i % 2 else list(reversed(clients))
                for name in order:
                    t0 = time.perf_counter()
                    response = await clients[name].get(f"/v1/missions/{mission}/force-strength")
                    elapsed = (time.perf_counter() - t0) * 1000
                    if response.status_code != 200:
                        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")
                    bodies[name] = response.content
                    if i >= 3:
                        latency[name].ms.append(elapsed)
                # The same bytes from both, but for the instant `known_at` says "now".
                if bodies["current"].split(b'"known_at"')[0] != bodies["baseline"].split(
                    b'"known_at"'
                )[0]:
                    raise RuntimeError("the response models changed the answer's bytes")
        finally:
            for client in clients.values():
                await client.aclose()

    asyncio.run(run())
    return {**latency["current"].summary(), "baseline": latency["baseline"].summary()}


def worker_queries(
    url: str, calls: int, cap: float, expected_path: Path, check_rebuild: bool, http: bool
) -> dict[str, Any]:
    from projections.runner import Projector
    from sitrep.database import open_store

    store = open_store(settings_for(url))
    try:
        head = store.head()
        projector = Projector(store)
        began = time.perf_counter()
        projector.catch_up()
        catch_up_s = time.perf_counter() - began
        expected = json.loads(expected_path.read_text())
        end = date.fromisoformat(expected["end"])
        ask = readers(projector)
        rng = random.Random(SEED)
        results = []
        for name, read in ask.items():
            default = Latency(name, "default")

            def today_now(read: Callable[[Question], Any] = read) -> Any:
                now = datetime.now(UTC)  # as the API does: the server clock at each request
                return read(Question(rng.choice(MISSION_IDS), now.date(), now))

            time_calls(default, calls, today_now, cap)
            past = Latency(name, "past")

            def then(read: Callable[[Question], Any] = read) -> Any:
                return read(past_question(rng, end))

            time_calls(past, calls, then, cap)
            results += [default.summary(), past.summary()]
            progress_line(f"queried {name}")
        defects = check_totals(projector, expected)
        rebuild_consistent = None
        if check_rebuild:
            qrng = random.Random(SEED + 1)
            now = datetime.now(UTC)
            questions = [past_question(qrng, end) for _ in range(20)]
            questions += [Question(m, now.date(), now) for m in MISSION_IDS]
            before = answers(projector, questions)
            projector.rebuild()
            after = answers(projector, questions)
            rebuild_consistent = before == after
            if not rebuild_consistent:
                defects.append("answers differ after a rebuild from the incremental ones")
        http_summary = http_latency(store, url, calls) if http else None
        return {
            "events": head[0] if head else 0, "catch_up_seconds": catch_up_s,
            "latency": results, "http": http_summary, "defects": defects,
            "rebuild_consistent": rebuild_consistent, "rows": table_counts(store.engine),
        }  # fmt: skip
    finally:
        store.close()


def run_worker(args: argparse.Namespace) -> int:
    expected = Path(args.expected) if args.expected else Path(os.devnull)
    if args.worker == "generate":
        found = worker_generate(args.url, args.events, expected)
    elif args.worker == "scan":
        found = worker_scan(args.url)
    elif args.worker == "rebuild":
        found = worker_rebuild(args.url)
    else:
        found = worker_queries(
            args.url, args.calls, args.cap, expected, args.check_rebuild, args.http
        )
    found["rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps(found, default=str))
    return 0


# --- the driver ------------------------------------------------------------------------------


def cpu_seconds() -> tuple[float, float]:
    """(busy CPU seconds of the whole machine, of this process and its waited-for children)."""
    mine = os.times()
    ours = mine.user + mine.system + mine.children_user + mine.children_system
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    except (OSError, ValueError):
        return math.nan, ours
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK"), ours


def spawn(worker: str, url: str, *extra: str, module: str = "bench.projections") -> dict[str, Any]:
    """Run one worker of ``module``; its JSON answer plus the CPU other processes used meanwhile."""
    command = [sys.executable, "-m", module, "--worker", worker, "--url", url, *extra]
    busy0, ours0 = cpu_seconds()
    began = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - began
    busy1, ours1 = cpu_seconds()
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"worker {worker} exited with status {done.returncode}"}
    found: dict[str, Any] = json.loads(lines[-1])
    # Another process busy on this machine meanwhile would skew the figures: say how busy.
    others = ((busy1 - busy0) - (ours1 - ours0)) / wall if wall > 0 else math.nan
    found["other_cpu_cores"] = None if math.isnan(others) else round(max(others, 0.0), 2)
    return found


def others(step: dict[str, Any]) -> str:
    cores = step.get("other_cpu_cores")
    return "" if cores is None else f"  other processes {cores:.2f} cores"


def source_version() -> str:
    """The commit measured, and any uncommitted changes to the code under it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "events", "projections", "api", "sitrep"],
            cwd=ROOT, text=True, capture_output=True, check=True,
        ).stdout.split()[1::2]  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return head + (f" + uncommitted changes in {', '.join(dirty)}" if dirty else "")


@contextmanager
def database(backend: str, directory: Path, name: str) -> Iterator[str]:
    """A fresh database URL: a SQLite file in ``directory`` or a new PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / (name + '.db')}"
        return
    schema = new_schema_name()
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        drop_schema(schema)


def rate(step: dict[str, Any]) -> float | None:
    if "error" in step or not step.get("seconds"):
        return None
    return float(step["events"]) / float(step["seconds"])


def run_backend(
    backend: str, n: int, calls: int, cap: float, check_rebuild: bool, tmp: Path
) -> dict[str, Any]:
    found: dict[str, Any] = {"backend": backend, "n": n, "small": SMALL}
    with ExitStack() as stack:
        small = stack.enter_context(database(backend, tmp, "small"))
        big = stack.enter_context(database(backend, tmp, "big"))
        small_expected, big_expected = tmp / f"{backend}-small.json", tmp / f"{backend}-big.json"
        found["generate_small"] = spawn(
            "generate", small, "--events", str(SMALL), "--expected", str(small_expected)
        )
        asked = ("--calls", str(calls), "--cap", str(cap), "--http")
        found["queries_small"] = spawn(
            "queries", small, *asked, "--expected", str(small_expected),
            *(("--check-rebuild",) if check_rebuild else ()),
        )  # fmt: skip
        found["generate"] = spawn(
            "generate", big, "--events", str(n), "--expected", str(big_expected)
        )
        print_generated(backend, found)
        found["scan"] = spawn("scan", big)
        found["rebuild"] = spawn("rebuild", big)
        print_rebuild(backend, found)
        found["queries"] = spawn("queries", big, *asked, "--expected", str(big_expected))
        if backend == "sqlite":
            path = Path(sqlite_path(big))
            found["database_mb"] = round(path.stat().st_size / 2**20, 1) if path.exists() else None
    return found


def print_generated(backend: str, found: dict[str, Any]) -> None:
    for key, label in (("generate_small", "10k store"), ("generate", "N store")):
        step = found[key]
        if "error" in step:
            print(f"  {backend} generate {label}: FAILED ({step['error']})")
            continue
        print(
            f"  {backend} generate {label}: {step['events']:,} events in {step['seconds']:.1f} s "
            f"= {rate(step):,.0f} events/s (parse {step['parse_seconds']:.1f} s, append "
            f"{step['append_seconds']:.1f} s, every rule on), info only{others(step)}"
        )
    sys.stdout.flush()


def print_rebuild(backend: str, found: dict[str, Any]) -> None:
    scan, rebuild = found["scan"], found["rebuild"]
    for label, step in (("raw scan + json.loads", scan), ("Projector.rebuild()", rebuild)):
        r = rate(step)
        if r is None:
            print(f"  {backend} {label:<24} FAILED {step.get('error', '')}")
            continue
        print(
            f"  {backend} {label:<24} {step['events']:>9,} events {step['seconds']:>8.1f} s "
            f"{r:>10,.0f} events/s  peak RSS {step['rss_mb']:.0f} MB{others(step)}"
        )
    sys.stdout.flush()


#: What the response models (and the HEAD/Allow middleware) may add to force strength's p99
#: over HTTP, against the same-run baseline app that writes the dicts with orjson (issue 15).
MODEL_COST_GOAL = 1.10


def verdicts(found: dict[str, Any]) -> list[dict[str, Any]]:
    """Every goal of one backend: name, value, goal text and PASS/MISS."""
    backend = found["backend"]
    goals: list[dict[str, Any]] = []

    def goal(name: str, value: float | None, shown: str, wanted: str, ok: bool | None) -> None:
        verdict = "n/a" if ok is None else ("PASS" if ok else "MISS")
        goals.append({"goal": name, "value": value, "shown": shown, "wanted": wanted,
                      "verdict": verdict})  # fmt: skip

    scan_rate, rebuild_rate = rate(found["scan"]), rate(found["rebuild"])
    share = rebuild_rate / scan_rate if scan_rate and rebuild_rate else None
    goal(f"{backend} rebuild / raw scan", share, "n/a" if share is None else f"{share:.1%}",
         f">= {REBUILD_GOAL:.0%}", None if share is None else share >= REBUILD_GOAL)  # fmt: skip
    rss = found["rebuild"].get("rss_mb")
    goal(f"{backend} rebuild peak RSS", rss, "n/a" if rss is None else f"{rss:.0f} MB",
         f"< {RSS_GOAL_MB:.0f} MB", None if rss is None else rss < RSS_GOAL_MB)  # fmt: skip
    small = {(x["model"], x["variant"]): x for x in found["queries_small"].get("latency", [])}
    for x in found["queries"].get("latency", []):
        name = f"{backend} {x['model']} {x['variant']} p99"
        p99 = x["p99_ms"]
        goal(f"{name} at N", p99, "n/a" if p99 is None else f"{p99:.1f} ms",
             f"< {P99_GOAL_MS:.0f} ms", None if p99 is None else p99 < P99_GOAL_MS)  # fmt: skip
        base = small.get((x["model"], x["variant"]), {}).get("p99_ms")
        growth = p99 / base if p99 is not None and base else None
        goal(
            f"{name} N / 10k",
            growth,
            "n/a" if growth is None else f"{growth:.2f}x",
            f"<= {GROWTH_GOAL:.0f}x",
            None if growth is None else growth <= GROWTH_GOAL,
        )
    http = found["queries"].get("http") or {}
    base = (http.get("baseline") or {}).get("p99_ms")
    cost = http["p99_ms"] / base if base and http.get("p99_ms") is not None else None
    goal(f"{backend} force_strength HTTP p99 / baseline", cost,
         "n/a" if cost is None else f"{cost:.2f}x", f"<= {MODEL_COST_GOAL:.2f}x",
         None if cost is None else cost <= MODEL_COST_GOAL)  # fmt: skip
    return goals


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def print_backend(found: dict[str, Any]) -> None:
    backend, n = found["backend"], found["n"]
    print()
    print(f"{backend}: query latency, ms (in-process, as the API calls them)")
    row = "{:<28} {:>6} {:>8} {:>8} {:>9}   {:>6} {:>8} {:>8} {:>9}"
    print(row.format("read model / variant", "calls", "p50", "p99", "max",
                     "calls", "p50", "p99", "max"))  # fmt: skip
    print(row.format("", "", "at 10k", "", "", "", f"at {n // 1000:,}k", "", ""))
    print("-" * 100)
    small = {(x["model"], x["variant"]): x for x in found["queries_small"].get("latency", [])}
    big = {(x["model"], x["variant"]): x for x in found["queries"].get("latency", [])}
    for key in list(small) + [k for k in big if k not in small]:
        a, b = small.get(key, {}), big.get(key, {})
        print(row.format(
            f"{key[0]} {key[1]}", a.get("calls", "-"), fmt_ms(a.get("p50_ms")),
            fmt_ms(a.get("p99_ms")), fmt_ms(a.get("max_ms")), b.get("calls", "-"),
            fmt_ms(b.get("p50_ms")), fmt_ms(b.get("p99_ms")), fmt_ms(b.get("max_ms")),
        ))  # fmt: skip
    for label, q in (("10k", found["queries_small"]), (f"{n // 1000:,}k", found["queries"])):
        h = q.get("http")
        if h:
            print(row.format(f"{h['model']} @{label}", h["calls"], fmt_ms(h["p50_ms"]),
                             fmt_ms(h["p99_ms"]), fmt_ms(h["max_ms"]), "", "", "", ""))  # fmt: skip
            b = h.get("baseline")
            if b:
                print(row.format(f"  baseline @{label}", b["calls"], fmt_ms(b["p50_ms"]),
                                 fmt_ms(b["p99_ms"]), fmt_ms(b["max_ms"]), *[""] * 4))  # fmt: skip
    for label, q in (("10k", found["queries_small"]), ("N", found["queries"])):
        if "error" in q:
            print(f"  queries at {label}: FAILED ({q['error']})")
            continue
        rows = q.get("rows", {})
        print(
            f"  {label} store: catch_up before the queries {q['catch_up_seconds']:.2f} s; "
            f"read-model rows {', '.join(f'{k} {v:,}' for k, v in rows.items())}; "
            f"query worker peak RSS {q['rss_mb']:.0f} MB;{others(q)}"
        )
    consistent = found["queries_small"].get("rebuild_consistent")
    shown = "not checked in a quick run" if consistent is None else consistent
    print(f"  10k store: answers after a rebuild equal the incremental ones: {shown}")
    defects = found["queries_small"].get("defects", []) + found["queries"].get("defects", [])
    print(f"  checks against the generator's books: {'OK' if not defects else 'DEFECTS'}")
    for d in defects:
        print(f"    - {d}")


def estimate(found: dict[str, Any]) -> dict[str, Any] | None:
    """Minutes a rebuild of TARGET_EVENTS would take at this run's rate (a lower bound: the
    rate falls as the history grows, see README)."""
    rebuild = rate(found["rebuild"])
    if rebuild is None or found["n"] >= TARGET_EVENTS:
        return None
    return {"backend": found["backend"], "events": TARGET_EVENTS,
            "rebuild_minutes": TARGET_EVENTS / rebuild / 60}  # fmt: skip


def drive(args: argparse.Namespace) -> int:
    began = time.perf_counter()
    quick = args.quick
    n = args.events or (QUICK_EVENTS if quick else FULL_EVENTS)
    pg_n = args.pg_events if args.pg_events is not None else (0 if quick else FULL_PG_EVENTS)
    calls = args.calls or (QUICK_CALLS if quick else FULL_CALLS)
    cap = QUICK_CALL_CAP_SECONDS if quick else FULL_CALL_CAP_SECONDS
    check_rebuild = not quick
    pg_problem = postgres_problem() if pg_n else "not measured in this run"
    print(f"sitrep read-model benchmark ({'quick' if quick else 'full'} run)")
    print(
        f"  python {platform.python_version()}, sqlite {sqlite3.sqlite_version}, "
        f"cpus {os.cpu_count()}, PostgreSQL: {pg_problem or 'available'}"
    )
    version = source_version()
    print(f"  code measured: {version}")
    print(
        f"  N = {n:,} events on SQLite"
        + (f", {pg_n:,} on PostgreSQL" if pg_n and not pg_problem else "")
        + f"; small store {SMALL:,}; batches of {BATCH}; {calls} calls per query "
        f"(at most {cap:.0f} s each)"
    )
    if not quick and n < TARGET_EVENTS:
        print(
            f"  NOTE: N is {n:,}, not the {TARGET_EVENTS:,} asked for: that many does not fit "
            "(the rebuild estimate is printed at the end)"
        )
    print(f"  history {START} .. {history_end()}, {len(MISSIONS)} missions, "
          f"{len(COUNTRIES)} countries, {len(DONORS)} donors")  # fmt: skip
    sys.stdout.flush()
    backends = [("sqlite", n)]
    if pg_n and pg_problem is None:
        backends.append(("postgres", pg_n))
    results = []
    with tempfile.TemporaryDirectory(prefix="sitrep-bench-proj-") as tmp:
        for backend, size in backends:
            print()
            found = run_backend(backend, size, calls, cap, check_rebuild, Path(tmp))
            results.append(found)
            print_backend(found)
    print()
    print(f"{'goal':<52} {'got':>10} {'wanted':>10}  verdict")
    print("-" * 84)
    goals = []
    for found in results:
        for g in verdicts(found):
            goals.append(g)
            print(f"{g['goal']:<52} {g['shown']:>10} {g['wanted']:>10}  {g['verdict']}")
    estimates = [e for e in (estimate(r) for r in results) if e is not None]
    for e in estimates:
        print(
            f"estimate for {TARGET_EVENTS:,} events on {e['backend']} (from this run): rebuild "
            f"at least ~{e['rebuild_minutes']:.0f} min"
        )
    wall = time.perf_counter() - began
    print(f"wall time {wall:.1f} s")
    failed = [
        f"{r['backend']} {k}" for r in results for k, v in r.items()
        if isinstance(v, dict) and "error" in v
    ]  # fmt: skip
    defects = [d for r in results for k in ("queries", "queries_small")
               for d in r[k].get("defects", [])]  # fmt: skip
    if args.json:
        payload = {
            "run": "quick" if quick else "full", "code": version, "events": n, "pg_events": pg_n,
            "calls": calls, "results": results, "goals": goals, "failed": failed,
            "defects": defects, "estimates": estimates, "wall_seconds": wall,
        }  # fmt: skip
        Path(args.json).write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.projections",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: about two minutes")
    parser.add_argument("--json", metavar="PATH", help="also write results as JSON")
    parser.add_argument("--events", type=int, help="N on SQLite (default 1,000,000; quick 50,000)")
    parser.add_argument(
        "--pg-events", type=int, help="N on PostgreSQL, 0 to skip (default 100,000; quick 0)"
    )
    parser.add_argument("--calls", type=int, help="calls per read model and variant")
    worker = parser.add_argument_group("worker (internal)")
    worker.add_argument("--worker", choices=("generate", "scan", "rebuild", "queries"))
    worker.add_argument("--url")
    worker.add_argument("--expected")
    worker.add_argument("--cap", type=float, default=QUICK_CALL_CAP_SECONDS)
    worker.add_argument("--check-rebuild", action="store_true")
    worker.add_argument("--http", action="store_true")
    args = parser.parse_args(argv)
    if args.worker:
        if args.worker == "generate" and not args.events:
            parser.error("--worker generate needs --events")
        args.calls = args.calls or QUICK_CALLS
        return run_worker(args)
    return drive(args)


if __name__ == "__main__":
    sys.exit(main())
