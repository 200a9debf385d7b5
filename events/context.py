"""What an append transaction is given by the store it writes for, so that it needs no store."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from events.personnel import BalanceCache

Clock = Callable[[], datetime]


class RegisteredMissions:
    """Missions this process has seen registered, so that an append need not look them up.

    Registration can be corrected but never retracted, so a positive answer never goes stale;
    a mission not known here may still be registered (by another process, or not yet read).
    """

    def __init__(self) -> None:
        self._missions: set[str] = set()

    def known(self, mission: str) -> bool:
        return mission in self._missions

    def remember(self, mission: str) -> None:
        self._missions.add(mission)


@dataclass(frozen=True)
class AppendContext:
    """The store's clock, settings and caches, as one transaction reads them."""

    clock: Clock
    donor_organisations: tuple[str, ...]
    registered: RegisteredMissions
    balances: BalanceCache
