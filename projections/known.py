"""Small shared helpers of the read models: instants and money in their JSON forms."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from events.envelope import format_instant

CENT = Decimal("0.01")


def stamp(value: datetime) -> str:
    return format_instant(value)


def usd(value: Decimal) -> str:
    """US dollars to the cent, as a decimal string."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_EVEN))
