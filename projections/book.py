"""Running totals and effects of a chunk of events, kept in memory and written in one go.

Applying an event touches a few running totals; doing that with a statement or three per touch
made a rebuild crawl (~670 events/s). A book loads each key's current rows once, applies every
event of the chunk to them in memory — the same rule as :mod:`projections.balances` — and then
writes what changed with one ``executemany`` per kind of change.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select

from projections.schema import balance_keys, balances, effects

b = balances
Key = tuple[str, str, str]  # mission, measure, key


@dataclass
class _Row:
    valid_from: date
    total: Decimal
    recorded_from: datetime
    stored: bool  # already in the database as a current row
    changed: bool = False  # stored, and its total changed in place since


@dataclass
class _Key:
    rows: list[_Row] = field(default_factory=list)
    dates: list[date] = field(default_factory=list)  # rows' valid_from, for bisect


Effect = tuple[str, str, str, date, Decimal]  # mission, measure, key, valid_on, amount


class Book:
    """The read models' running totals for one generation, changed in memory, then flushed."""

    def __init__(self, generation: int, *, fresh: bool = False) -> None:
        self.generation = generation
        self.fresh = fresh  # a generation being built: nothing stored that is not in memory
        self.conn: Connection | None = None
        self._keys: dict[Key, _Key] = {}
        self._touched: set[Key] = set()  # keys changed since the last flush
        self._key_rows_new: list[Key] = []
        self._close: list[dict[str, Any]] = []
        self._insert: list[dict[str, Any]] = []
        self._effects_new: dict[str, list[Effect]] = {}
        self._effects_gone: list[str] = []

    # --- running totals -------------------------------------------------------------------

    def add(
        self, mission: str, measure: str, key: str, on: date, amount: Decimal, at: datetime
    ) -> None:
        """Add ``amount`` from date ``on`` onwards, as recorded at ``at``."""
        if amount == 0:
            return
        k = (mission, measure, key)
        state = self._load(k)
        self._touched.add(k)
        rows, dates = state.rows, state.dates
        i = bisect.bisect_left(dates, on)
        if i == len(rows) or dates[i] != on:
            base = rows[i - 1].total if i > 0 else Decimal(0)
            rows.insert(i, _Row(on, base, at, stored=False))
            dates.insert(i, on)
        for j in range(i, len(rows)):
            row = rows[j]
            if row.recorded_from == at:
                row.total += amount
                row.changed = row.stored
                continue
            # The row held until ``at``; its successor holds from then on.
            self._closed(mission, measure, key, row, at)
            rows[j] = _Row(row.valid_from, row.total + amount, at, stored=False)

    def _closed(self, mission: str, measure: str, key: str, row: _Row, at: datetime) -> None:
        values = {"generation": self.generation, "mission": mission, "measure": measure,
                  "key": key, "valid_from": row.valid_from, "total": str(row.total),
                  "recorded_from": row.recorded_from, "recorded_to": at}  # fmt: skip
        (self._close if row.stored else self._insert).append(values)

    def _load(self, k: Key) -> _Key:
        state = self._keys.get(k)
        if state is not None:
            return state
        state = _Key()
        if not self.fresh:
            assert self.conn is not None
            mission, measure, key = k
            found = self.conn.execute(
                select(b.c.valid_from, b.c.total, b.c.recorded_from)
                .where(b.c.generation == self.generation, b.c.mission == mission,
                       b.c.measure == measure, b.c.key == key, b.c.recorded_to.is_(None))
                .order_by(b.c.valid_from)
            ).all()  # fmt: skip
            state.rows = [
                _Row(r.valid_from, Decimal(r.total), r.recorded_from, True) for r in found
            ]
            state.dates = [r.valid_from for r in state.rows]
        if not state.rows and not self._key_exists(k):
            self._key_rows_new.append(k)
        self._keys[k] = state
        return state

    def _key_exists(self, k: Key) -> bool:
        if self.fresh:
            return False
        assert self.conn is not None
        kk = balance_keys
        mission, measure, key = k
        return (
            self.conn.execute(
                select(kk.c.key).where(kk.c.generation == self.generation,
                                       kk.c.mission == mission, kk.c.measure == measure,
                                       kk.c.key == key)
            ).first()
            is not None
        )  # fmt: skip

    # --- effects ----------------------------------------------------------------------------

    def record_effects(self, event_id: str, found: list[Effect]) -> None:
        self._effects_new[event_id] = found

    def take_effects(self, event_id: str) -> list[Effect]:
        """The event's current effects, removed: they are about to be undone."""
        if event_id in self._effects_new:
            return self._effects_new.pop(event_id)
        assert self.conn is not None
        e = effects
        rows = self.conn.execute(
            select(e.c.mission, e.c.measure, e.c.key, e.c.valid_on, e.c.amount).where(
                e.c.generation == self.generation, e.c.event_id == event_id
            )
        ).all()
        if rows:
            self._effects_gone.append(event_id)
        return [(r.mission, r.measure, r.key, r.valid_on, Decimal(r.amount)) for r in rows]

    def effect_date(self, event_id: str) -> date | None:
        """The date the event's effects stand on now (a correction may move it)."""
        if event_id in self._effects_new:
            found = self._effects_new[event_id]
            return found[0][3] if found else None
        if event_id in self._effects_gone:
            return None
        assert self.conn is not None
        e = effects
        return self.conn.execute(
            select(e.c.valid_on)
            .where(e.c.generation == self.generation, e.c.event_id == event_id)
            .limit(1)
        ).scalar()

    # --- writing ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every change of this chunk; afterwards memory and database agree."""
        conn = self.conn
        assert conn is not None
        g = self.generation
        same_row = and_(
            b.c.generation == bindparam("g"), b.c.mission == bindparam("m"),
            b.c.measure == bindparam("me"), b.c.key == bindparam("k"),
            b.c.valid_from == bindparam("vf"), b.c.recorded_to.is_(None),
        )  # fmt: skip
        if self._close:
            close = b.update().where(same_row)
            conn.execute(
                close.values(total=bindparam("t"), recorded_to=bindparam("rt")),
                [{"g": v["generation"], "m": v["mission"], "me": v["measure"], "k": v["key"],
                  "vf": v["valid_from"], "t": v["total"], "rt": v["recorded_to"]}
                 for v in self._close],
            )  # fmt: skip
        changed, current = [], []
        for mission, measure, key in self._touched:
            for row in self._keys[(mission, measure, key)].rows:
                if row.stored and row.changed:
                    changed.append({"g": g, "m": mission, "me": measure, "k": key,
                                    "vf": row.valid_from, "t": str(row.total)})  # fmt: skip
                elif not row.stored:
                    current.append({"generation": g, "mission": mission, "measure": measure,
                                    "key": key, "valid_from": row.valid_from,
                                    "total": str(row.total), "recorded_from": row.recorded_from,
                                    "recorded_to": None})  # fmt: skip
                row.stored, row.changed = True, False
        if changed:
            conn.execute(b.update().where(same_row).values(total=bindparam("t")), changed)
        if self._insert or current:
            conn.execute(b.insert(), self._insert + current)
        if self._key_rows_new:
            conn.execute(
                balance_keys.insert(),
                [{"generation": g, "mission": m, "measure": me, "key": k}
                 for m, me, k in self._key_rows_new],
            )  # fmt: skip
        e = effects
        if self._effects_gone:
            conn.execute(
                e.delete().where(e.c.generation == bindparam("g"), e.c.event_id == bindparam("i")),
                [{"g": g, "i": event_id} for event_id in self._effects_gone],
            )
        new_effects = [
            {"generation": g, "event_id": event_id, "mission": m, "measure": me, "key": k,
             "valid_on": on, "amount": str(amount)}
            for event_id, found in self._effects_new.items()
            for m, me, k, on, amount in found
        ]  # fmt: skip
        if new_effects:
            conn.execute(e.insert(), new_effects)
        self._close, self._insert, self._key_rows_new = [], [], []
        self._touched = set()
        self._effects_new, self._effects_gone = {}, []
        if not self.fresh:
            self._keys = {}  # another process may write between chunks: read again next time
