from __future__ import annotations

import pytest

from events import upcasting
from events.upcasting import UPCASTERS, Upcasters, upcast_stored


def test_current_version_passes_through() -> None:
    data = {"country": "KEN", "personnel": 1, "category": "police"}
    assert UPCASTERS.upcast("ContingentArrived", 1, data) == data


def test_steps_chain_from_old_versions() -> None:
    upcasters = Upcasters(current=3)

    @upcasters.register("ContingentArrived", 1)
    def troops_to_personnel(data: dict) -> dict:
        return {**{k: v for k, v in data.items() if k != "troops"}, "personnel": data["troops"]}

    @upcasters.register("ContingentArrived", 2)
    def default_category(data: dict) -> dict:
        return {"category": "police", **data}

    assert upcasters.upcast("ContingentArrived", 1, {"country": "KEN", "troops": 5}) == {
        "category": "police",
        "country": "KEN",
        "personnel": 5,
    }
    with pytest.raises(LookupError):
        upcasters.upcast("FundsPledged", 1, {})


def test_stored_data_is_upcast_from_a_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    upcasters = Upcasters(current=2)

    @upcasters.register("ContingentArrived", 1)
    def troops_to_personnel(data: dict) -> dict:
        data["personnel"] = data.pop("troops")  # in place: the stored dict must not change
        return data

    monkeypatch.setattr(upcasting, "UPCASTERS", upcasters)
    stored = {"country": "KEN", "troops": 5}
    assert upcast_stored("ContingentArrived", 1, stored) == {"country": "KEN", "personnel": 5}
    assert stored == {"country": "KEN", "troops": 5}
    current = {"country": "KEN", "personnel": 5}
    assert upcast_stored("ContingentArrived", 2, current) is current  # no copy for today's rows
