"""Small shared helpers of the read models: instants and money in their JSON forms."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from events import money
from events.envelope import format_instant


def stamp(value: datetime) -> str:
    return format_instant(value)


def usd(value: Decimal) -> str:
    """US dollars to the cent, as a decimal string (in the one money context)."""
    return money.cents(value)
