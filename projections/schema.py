"""Tables of the read models. Every row carries the generation it belongs to, so a rebuild can
fill a new generation beside the one being read and swap them in one transaction."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, Date, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.dialects.postgresql import JSONB

from events.schema import UTCDateTime

metadata = MetaData()
Json = JSON().with_variant(JSONB(), "postgresql")

#: Which generation readers use and the last event position it has applied, per read model.
projection_state = Table(
    "projection_state",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("generation", Integer, nullable=False),
    Column("position", BigInteger, nullable=False),
)

#: Running totals, bitemporal: ``total`` is the sum of a measure for one key (e.g. deployed
#: police of KEN) on ``valid_from`` and every later date up to the next row, as recorded at
#: ``recorded_from`` and until the next version of the same row (see projections.balances).
#: Amounts are decimal text. Rows are only ever inserted (an update in place happens only
#: within the instant a version was recorded).
balances = Table(
    "balances",
    metadata,
    Column("generation", Integer, primary_key=True),
    Column("mission", String(32), primary_key=True),
    Column("measure", String(24), primary_key=True),
    Column("key", String(40), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("recorded_from", UTCDateTime, primary_key=True),
    Column("total", Text, nullable=False),
    sqlite_with_rowid=False,  # clustered on the key: a total's versions sit side by side
)

#: The keys a mission has totals for, so a query seeks each key instead of scanning rows.
balance_keys = Table(
    "balance_keys",
    metadata,
    Column("generation", Integer, primary_key=True),
    Column("mission", String(32), primary_key=True),
    Column("measure", String(24), primary_key=True),
    Column("key", String(40), primary_key=True),
)

#: What each original event currently adds to which total, to undo it on correction/retraction.
effects = Table(
    "effects",
    metadata,
    Column("generation", Integer, primary_key=True),
    Column("event_id", String(36), primary_key=True),
    Column("measure", String(24), primary_key=True),
    Column("mission", String(32), nullable=False),
    Column("key", String(40), nullable=False),
    Column("valid_on", Date, nullable=False),
    Column("amount", Text, nullable=False),
    sqlite_with_rowid=False,
)

#: Mission-stream facts (registration, mandate, reviews, budget) as they stood over time.
mission_facts = Table(
    "mission_facts",
    metadata,
    Column("generation", Integer, nullable=False),
    Column("mission", String(32), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("type", String(40), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("data", Json, nullable=False),
    Column("version", Integer, nullable=False),
    Column("recorded_from", UTCDateTime, nullable=False),
    Column("recorded_to", UTCDateTime, nullable=True),
    Index("ix_mission_facts_lookup", "generation", "mission", "event_id"),
)

#: Headcount returns (``StrengthReported``) as they stood over time, one row per version of a
#: report: a correction closes the row (``recorded_to``) and opens the corrected one, keeping
#: the report's stream ``version`` (its place among returns of one date); a retraction closes
#: it. ``key`` is the total's key (``KEN/police``). Indexed for "the latest live return of a key
#: on or before D as known at T", read backwards from D (projections.headcounts).
headcounts = Table(
    "headcounts",
    metadata,
    Column("generation", Integer, nullable=False),
    Column("mission", String(32), nullable=False),
    Column("key", String(40), nullable=False),
    Column("day", Date, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("personnel", BigInteger, nullable=False),
    Column("female", BigInteger, nullable=True),
    Column("recorded_from", UTCDateTime, nullable=False),
    Column("recorded_to", UTCDateTime, nullable=True),
    Index("ix_headcounts_latest", "generation", "mission", "key", "day", "version"),
    Index("ix_headcounts_event", "generation", "event_id"),
)

#: Every event of a mission as it stood over time, for the report's "what happened in the
#: period": one row per version (the original, then one per correction; a retraction closes the
#: last), keyed by the effective date. ``data`` is null while the event stands as stored (the
#: envelope holds it); ``corrected_by`` lists the corrections applied so far.
report_events = Table(
    "report_events",
    metadata,
    Column("generation", Integer, nullable=False),
    Column("mission", String(32), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("data", Json, nullable=True),
    Column("corrected_by", Json, nullable=True),
    Column("position", BigInteger, nullable=False),
    Column("recorded_from", UTCDateTime, nullable=False),
    Column("recorded_to", UTCDateTime, nullable=True),
    Index("ix_report_events_dated", "generation", "mission", "occurred_on"),
    Index("ix_report_events_event", "generation", "event_id"),
)

#: The events of a mission recorded after the date they concern, by the instant they were
#: recorded: a report's own date, or for a correction or retraction the earlier of the named
#: event's dates before and after it. The report's "restated": what was recorded in a period
#: about the time before it (an event recorded on the day it concerns never is, so it is not
#: kept: on time, that is most of them). Keyed first by ``lag``, the bit length of the days
#: from ``dated`` to the day recorded, so that "recorded after D, about D or earlier" is one
#: short range per lag (projections.report.restatements).
report_changes = Table(
    "report_changes",
    metadata,
    Column("generation", Integer, primary_key=True),
    Column("mission", String(32), primary_key=True),
    Column("lag", Integer, primary_key=True),
    Column("recorded_at", UTCDateTime, primary_key=True),
    Column("position", BigInteger, primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("target_id", String(36), nullable=True),
    Column("dated", Date, nullable=False),
    sqlite_with_rowid=False,
)
