"""Money arithmetic in one decimal context, for validation, folds and rendering alike.

Python's default context keeps 28 significant digits and raises ``InvalidOperation`` when a
rounding to the cent needs more: one large pledge then broke every later read of its mission.
Here every event's US-dollar value is bounded by :data:`MAX_USD_PER_EVENT` (an amount of at most
16 integer and 4 decimal digits times a rate of at most 12 decimal digits), so a sum over every
position the store can ever hold (< 2**63 events) stays below 10**34 with at most 16 decimal
places: 50 significant digits. :data:`CONTEXT` keeps 60, so sums are exact and no read can
raise; values stored before the bound (up to 10**28 an event) still fold and render, only
rounded past their 60th digit.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import (
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    InvalidOperation,
    Overflow,
)

#: The context of every sum, product, ratio and rounding of money in the code.
CONTEXT = Context(
    prec=60,
    rounding=ROUND_HALF_EVEN,
    Emin=-999_999,
    Emax=999_999,
    traps=[InvalidOperation, DivisionByZero, Overflow],
)
#: The largest US-dollar value one event may carry: ten times the world's yearly output.
MAX_USD_PER_EVENT = Decimal("1000000000000000")  # 10**15
CENT = Decimal("0.01")
ZERO = Decimal(0)


def usd_value(amount: Decimal, usd_rate: Decimal | None) -> Decimal:
    """An amount in US dollars at its rate (1 when none), exactly."""
    return CONTEXT.multiply(amount, usd_rate if usd_rate is not None else Decimal(1))


def add(a: Decimal, b: Decimal) -> Decimal:
    return CONTEXT.add(a, b)


def total(values: Iterable[Decimal]) -> Decimal:
    """The sum of ``values`` (0 for none)."""
    found = ZERO
    for value in values:
        found = CONTEXT.add(found, value)
    return found


def cents(value: Decimal) -> str:
    """US dollars to the cent, as a fixed-point decimal string (never ``1E+3``)."""
    return format(value.quantize(CENT, context=CONTEXT), "f")


def ratio(part: Decimal, whole: Decimal) -> float | None:
    """``part / whole`` to six decimal places as a JSON number; None without a whole."""
    if not whole:
        return None
    return round(float(CONTEXT.divide(part, whole)), 6)
