"""Prometheus metrics: no token, request latency by route, appends by type, lag (CONTRACT §5)."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.api.conftest import Api
from tests.conftest import arrived, pledged


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_need_no_token_and_count_what_happened(haiti: Api) -> None:
    await haiti.post("kenya", pledged(1000))
    await haiti.post("kenya", arrived(200))
    await haiti.post("kenya", arrived(200), **{"Idempotency-Key": "k1"})
    await haiti.post("kenya", arrived(200), **{"Idempotency-Key": "k1"})  # a replay
    assert (await haiti.get("/v1/missions/mss-haiti/force-strength")).status_code == 200
    assert (await haiti.get("/v1/no-such-path")).status_code == 404

    response = await haiti.get("/metrics", who=None)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    appended = "sitrep_events_appended_total"
    assert found[(appended, (("type", "ContingentArrived"),))] == 2  # the replay appends nothing
    assert found[(appended, (("type", "PersonnelPledged"),))] == 1
    count = "sitrep_http_request_duration_seconds_count"
    read = (("method", "GET"), ("route", "/v1/missions/{mission}/force-strength"),
            ("status", "2xx"))  # fmt: skip
    assert found[(count, read)] == 1
    assert found[(count, (("method", "POST"), ("route", "/v1/events"), ("status", "2xx")))] >= 4
    assert found[(count, (("method", "GET"), ("route", "unmatched"), ("status", "4xx")))] == 1
    # The read caught the read models up with every event so far.
    assert found[("sitrep_projection_lag_events", ())] == 0
    await haiti.post("kenya", arrived(5))
    later = samples((await haiti.get("/metrics", who=None)).text)
    assert later[("sitrep_projection_lag_events", ())] == 1  # recorded, not yet read


async def test_readyz_reports_the_schema_and_the_read_models_lag(haiti: Api) -> None:
    ready = await haiti.get("/readyz", who=None)
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["migrations"] == "current"
    await haiti.post("kenya", pledged(10))
    assert (await haiti.get("/readyz", who=None)).json()["projection_lag"] >= 1
    with haiti.app.state.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0001'")
    behind = await haiti.get("/readyz", who=None)
    assert behind.status_code == 503
    assert behind.json()["status"] == "not ready" and "0001" in behind.json()["migrations"]
