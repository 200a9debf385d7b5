"""ISO 3166-1 alpha-3 country and ISO 4217 currency codes, checked against pycountry."""

from __future__ import annotations

from functools import cache

import pycountry

#: Organisations that may be donors besides countries; settings may replace this list.
DEFAULT_DONOR_ORGANISATIONS: tuple[str, ...] = ("EU", "CARICOM", "OAS", "UN")


@cache
def _countries() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.countries)


@cache
def _currencies() -> frozenset[str]:
    return frozenset(c.alpha_3 for c in pycountry.currencies)


def is_country(code: str) -> bool:
    """True for an ISO 3166-1 alpha-3 code such as ``KEN``."""
    return code in _countries()


def is_currency(code: str) -> bool:
    """True for an ISO 4217 code such as ``USD``."""
    return code in _currencies()


def country_name(code: str) -> str:
    """The English short name of a country code, or the code itself when unknown."""
    found = pycountry.countries.get(alpha_3=code)
    return found.name if found else code
