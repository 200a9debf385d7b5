"""Funding status: pledged, committed, deposited and outstanding USD against the budget (§4)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from events import money
from projections import balances, mandate
from projections.known import stamp, usd

MEASURES = ("pledged_usd", "committed_usd", "deposited_usd")
CHANNELS = ("trust_fund", "bilateral", "in_kind")


def requirement(known: list[mandate.Fact], day: date) -> Decimal | None:
    """The budget whose period contains ``day``; a later-dated one replaces an earlier one."""
    found = None
    for x in known:  # (date, version) order: the last match is the latest
        if x.type != "BudgetRequirementSet" or x.occurred_on > day:
            continue
        start, end = (
            date.fromisoformat(x.data["period_start"]),
            date.fromisoformat(x.data["period_end"]),
        )
        if start <= day <= end:
            found = Decimal(x.data["amount_usd"])
    return found


def fold(totals: dict[tuple[str, str], Decimal], need: Decimal | None, mission: str, day: date,
         known_at: datetime) -> dict[str, Any]:  # fmt: skip
    """The funding answer from per-(measure, donor/channel) totals (pure)."""
    zero = Decimal(0)
    donors: dict[str, dict[str, Decimal]] = {}
    channels = {c: {"pledged": zero, "committed": zero, "deposited": zero} for c in CHANNELS}
    for (measure, key), total in totals.items():
        donor, channel = key.split("/")
        name = measure.removesuffix("_usd")
        row = donors.setdefault(donor, {"pledged": zero, "committed": zero, "deposited": zero})
        row[name] = money.add(row[name], total)
        channels[channel][name] = money.add(channels[channel][name], total)
    by_donor = []
    for donor, row in donors.items():
        outstanding = max(money.CONTEXT.subtract(row["pledged"], row["deposited"]), zero)
        by_donor.append((donor, row, outstanding))
    by_donor.sort(key=lambda d: (-d[1]["pledged"], d[0]))
    deposited = money.total(r["deposited"] for _, r, _ in by_donor)
    return {
        "mission": mission,
        "as_of": day.isoformat(),
        "known_at": stamp(known_at),
        "currency": "USD",
        "pledged": usd(money.total(r["pledged"] for _, r, _ in by_donor)),
        "committed": usd(money.total(r["committed"] for _, r, _ in by_donor)),
        "deposited": usd(deposited),
        "outstanding": usd(money.total(o for _, _, o in by_donor)),
        "requirement": usd(need) if need is not None else None,
        "coverage": money.ratio(deposited, need) if need is not None else None,
        "by_channel": {c: {k: usd(v) for k, v in sums.items()} for c, sums in channels.items()},
        "by_donor": [
            {"donor": donor, "pledged": usd(row["pledged"]), "committed": usd(row["committed"]),
             "deposited": usd(row["deposited"]), "outstanding": usd(outstanding)}
            for donor, row, outstanding in by_donor
        ],
    }  # fmt: skip


def as_of(
    conn: Connection, generation: int, mission: str, day: date, known_at: datetime
) -> dict[str, Any]:
    totals = balances.totals(conn, generation, mission, MEASURES, day, known_at)
    return answer(totals, mandate.facts(conn, generation, mission, known_at), mission, day,
                  known_at)  # fmt: skip


def answer(
    totals: dict[tuple[str, str], Decimal], facts: list[mandate.Fact], mission: str, day: date,
    known_at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """Funding from totals read already (other measures are ignored) and the facts known."""
    mine = {k: v for k, v in totals.items() if k[0] in MEASURES}
    return fold(mine, requirement(facts, day), mission, day, known_at)
