"""One liaison's batch never stalls the others (issue 12's probe, as a test).

The probe: ten batches of 1,000 arrivals, then one batch of 1,000 departures in the same
stream. It took 45.6 s on SQLite, and ``/healthz`` waited 45.4 s behind it: appends ran on the
event loop and every departure folded the stream's history. Here, through the app on the
same event loop as the health checks, the departures must finish in under 2 s and no health
check may take 100 ms. (``bench/stall.py`` measures the same against a live server.)
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, timedelta
from typing import Any

from tests.api.conftest import Api
from tests.conftest import body

START = date(2024, 6, 25)


def move(type_: str, i: int, country: str = "KEN", n: int = 1) -> dict[str, Any]:
    data: dict[str, Any] = {"country": country, "personnel": n, "category": "police"}
    if type_ == "ContingentDeparted":
        data["reason"] = "rotation"
    return body(type_, (START + timedelta(days=i // 100)).isoformat(), data)


async def test_a_batch_of_departures_on_a_long_stream_stalls_nothing(haiti: Api) -> None:
    for start in range(0, 10_000, 1000):
        batch = [move("ContingentArrived", i, n=2) for i in range(start, start + 1000)]
        response = await haiti.post("admin", {"events": batch}, "/v1/events/batch")
        assert response.status_code == 201, response.text

    health: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        while not done.is_set():
            began = time.perf_counter()
            assert (await haiti.client.get("/healthz")).status_code == 200
            health.append(time.perf_counter() - began)
            await asyncio.sleep(0.005)

    prober = asyncio.create_task(probe())
    await asyncio.sleep(0.02)
    departures = [move("ContingentDeparted", 10_000 + i) for i in range(1000)]
    began = time.perf_counter()
    response = await haiti.post("admin", {"events": departures}, "/v1/events/batch")
    took = time.perf_counter() - began
    # Another liaison's stream is not held up either.
    other = await haiti.post("jamaica", move("ContingentArrived", 10_000, country="JAM"))
    done.set()
    await prober

    assert response.status_code == 201, response.text
    assert other.status_code == 201
    assert took < 2.0, f"the batch took {took:.2f} s"
    assert len(health) >= 3, "the health checks did not run beside the batch"
    assert max(health) < 0.1, f"/healthz took up to {max(health) * 1000:.0f} ms"
    stream = (await haiti.get("/v1/streams/contingent:mss-haiti:KEN")).json()
    assert stream["version"] == 11_000
    # And the invariant still holds at the end of the line: 20,000 arrived, 1,000 left.
    too_many = move("ContingentDeparted", 11_000, n=19_001)
    refused = await haiti.post("admin", too_many)
    assert refused.status_code == 422 and "would fall to -1" in refused.text
