"""Prometheus metrics at ``GET /metrics`` (no token, CONTRACT §5).

Each app has its own registry, so several apps in one process (tests) do not share counts.
Request latency is measured per route template (appends and reads apart); figures that live in
the database — projection lag, webhook deliveries by state — are read when scraped, so they
agree across every instance serving one database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)
access = logging.getLogger("sitrep.access")

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

#: Reads, at scrape time, what the database knows: {(metric, label value): value}.
Probe = Callable[[], dict[str, dict[str, float]]]


class _DatabaseCollector(Collector):
    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            found = self.probe()
        except Exception as exc:  # a scrape must still answer while the database is down
            log.warning("metrics: the database could not be read: %s", type(exc).__name__)
            found = {}
        lag = GaugeMetricFamily(
            "sitrep_projection_lag_events",
            "Events committed but not yet applied to the read models.",
        )
        for _, value in found.get("lag", {}).items():
            lag.add_metric([], value)
        yield lag
        deliveries = GaugeMetricFamily(
            "sitrep_webhook_deliveries",
            "Webhook deliveries by state (pending, delivered, failed), across all instances.",
            labels=["state"],
        )
        for state, count in sorted(found.get("deliveries", {}).items()):
            deliveries.add_metric([state], count)
        yield deliveries


class Metrics:
    """The counters, histograms and gauges of one app."""

    def __init__(self, probe: Probe | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Histogram(
            "sitrep_http_request_duration_seconds",
            "HTTP request latency by route template, method and status class.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.appended = Counter(
            "sitrep_events_appended",
            "Events appended through this process's API, by type.",
            ["type"],
            registry=self.registry,
        )
        self.scheduler_last_run = Gauge(
            "sitrep_scheduler_last_run_timestamp_seconds",
            "When this process's scheduler last finished a deadline pass (Unix time).",
            registry=self.registry,
        )
        self.flags = Counter(
            "sitrep_deadline_flags",
            "Deadline flags appended by this process's scheduler.",
            registry=self.registry,
        )
        if probe is not None:
            self.registry.register(_DatabaseCollector(probe))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Times every HTTP request (a histogram by route template, and an access log line)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = [500]

        async def send_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - began
            route: Any = scope.get("route")
            # Unmatched paths share one label: a scanner's random paths must not grow the series.
            template = getattr(route, "path", None) or "unmatched"
            if template not in ("/metrics", "/v1/events/stream"):  # a stream's life is no latency
                self.metrics.requests.labels(
                    scope["method"], template, f"{status[0] // 100}xx"
                ).observe(seconds)
            # The path only, never the query string: it may carry what a client should not log.
            access.info("%s %s %s %.1fms", scope["method"], scope["path"], status[0],
                        seconds * 1000)  # fmt: skip


def create_router() -> APIRouter:
    router = APIRouter(tags=["service"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def metrics(request: Request) -> Response:
        found: Metrics = request.app.state.metrics
        return Response(found.exposition(), media_type=CONTENT_TYPE_LATEST)

    return router
