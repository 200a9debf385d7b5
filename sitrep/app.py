"""The application factory: settings in, a FastAPI app with its store and routers out."""

from __future__ import annotations

import gc
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version
from typing import Any

import anyio
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import alerts as alerts_api
from api import dashboard as dashboard_api
from api import errors, openapi
from api import events as events_api
from api import exports as exports_api
from api import metrics as metrics_api
from api import missions as missions_api
from api import reports as reports_api
from api import service as service_api
from api import stream as stream_api
from api.auth import Authenticator
from api.deps import ApiConfig
from events.store import Clock, EventStore, utcnow
from projections.alerts import webhook_deliveries
from projections.runner import STATE, Projector
from projections.schema import projection_state
from sitrep import logs
from sitrep.database import current_head, open_store
from sitrep.logs import REQUEST_ID
from sitrep.scheduler import AlertScheduler
from sitrep.settings import Settings

log = logging.getLogger(__name__)

DESCRIPTION = """\
Field liaisons post facts about a multinational security mission (personnel pledged, contingents
arriving and leaving, money pledged and deposited, mandates and reviews) as append-only events.
Every error is an RFC 9457 problem (`application/problem+json`).
"""

TAGS = [
    {"name": "events", "description": "Append events and read them in global order."},
    {"name": "streams", "description": "Read one consistency boundary in version order."},
    {
        "name": "missions",
        "description": "Read models: strength, funding, mandate, timeline, "
        "as of any date and as known at any instant.",
    },
    {
        "name": "alerts",
        "description": "Mandate-renewal and review deadlines flagged by the scheduler, "
        "with the delivery state of their webhooks.",
    },
    {"name": "service", "description": "Health and readiness; no token needed."},
]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestIdMiddleware:
    """Gives every request an id (a sane incoming ``X-Request-ID`` or a new one), echoed back."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode()))
            await send(message)

        token = REQUEST_ID.set(request_id)  # logs written while it is handled carry the id
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)


class MethodMiddleware:
    """Answers each method as the routes of its path declare (RFC 9110 §9.3.2, §15.5.6).

    HEAD is answered wherever GET is, as the GET with its header fields (Content-Length and
    ETag included) and no body; FastAPI's routes declare no HEAD of their own. A method the
    path's routes lack is a 405 whose ``Allow`` names exactly the methods that are answered,
    matching concrete paths before templated ones as OpenAPI does (``errors.served_methods``):
    routing alone would hand ``GET /v1/events/batch`` to ``/v1/events/{event_id}``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        table: list[errors.PathMethods] = scope["app"].state.allow
        methods = errors.served_methods(table, errors.route_path(scope))
        method = scope["method"]
        if methods is None:  # no such path: the router's 404
            await self.app(scope, receive, send)
            return
        head = method == "HEAD"
        if method not in errors.allowed(methods):
            response = errors.method_not_allowed(Request(scope), methods)
            await response(scope, receive, _without_body(send) if head else send)
            return
        if not head:
            await self.app(scope, receive, send)
            return
        # A copy: the server reads the method of its own scope to leave the body out.
        inner = {**scope, "method": "GET"} if "GET" in methods else scope
        with anyio.CancelScope() as cancel:
            try:
                await self.app(inner, receive, _without_body(send, cancel))
            finally:
                if "route" in inner:  # for the latency histogram's route template
                    scope["route"] = inner["route"]


def _without_body(send: Send, cancel: anyio.CancelScope | None = None) -> Send:
    """``send`` for a HEAD: the header fields as they are, an empty body.

    An answer without Content-Length may be a stream that never ends (``/v1/events/stream``):
    its head is the whole answer, and the GET behind it is cancelled.
    """
    ended = False

    async def head_only(message: Message) -> None:
        nonlocal ended
        if message["type"] == "http.response.start":
            await send(message)
            sized = any(name.lower() == b"content-length" for name, _ in message.get("headers", ()))
            if not sized and cancel is not None:
                ended = True
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                cancel.cancel()
        elif not message["type"].startswith("http.response."):
            await send(message)
        elif not ended and not message.get("more_body", False):
            # The last part of the body (or a pathsend, which has no more to come).
            ended = True
            await send({"type": "http.response.body", "body": b"", "more_body": False})

    return head_only


def operation_id(route: APIRoute) -> str:
    """A route's OpenAPI ``operationId``: its name in camelCase (``get_force_strength`` ->
    ``getForceStrength``), what generated clients call it. Stable: a renamed route is a
    breaking change of the API (README, "API at a glance")."""
    first, *rest = route.name.split("_")
    return first + "".join(word.capitalize() for word in rest)


def create_app(
    settings: Settings, *, clock: Clock = utcnow, store: EventStore | None = None
) -> FastAPI:
    """The HTTP API over the store these settings name (migrated on first use).

    With ``settings.scheduler_enabled`` the lifespan also runs the deadline scheduler.
    """
    store = store or open_store(settings, clock=clock)
    projector = Projector(store)
    metrics = metrics_api.Metrics(partial(_database_figures, store))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Everything built at start-up lives as long as the process: keep it out of the
        # collector's full passes, which otherwise stall requests as the heap grows.
        gc.freeze()
        scheduler = None
        if settings.scheduler_enabled:
            scheduler = AlertScheduler(store, projector, settings, clock=clock, metrics=metrics)
            scheduler.start()
        app.state.alert_scheduler = scheduler
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown()
            store.close()

    app = FastAPI(
        title="sitrep",
        version=version("sitrep"),
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # /docs is served from the package by ``openapi.install``, never from a CDN. ReDoc is
        # left off: FastAPI's loads from a CDN, and nothing links to it.
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    app.state.clock = clock
    app.state.projector = projector
    app.state.metrics = metrics
    app.state.readiness = partial(_readiness, store, current_head())
    app.state.api_config = ApiConfig(public_reads=settings.public_reads)
    app.state.authenticator = Authenticator(store.engine)
    errors.install(app)
    # Inside CORS, which answers its preflight OPTIONS before any route is asked.
    app.add_middleware(MethodMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=[
                "Authorization",
                "Content-Type",
                "Idempotency-Key",
                "X-Request-ID",
                "Last-Event-ID",
                "If-None-Match",
            ],
            expose_headers=["X-Request-ID", "ETag", "Idempotency-Replayed", "Content-Disposition"],
        )
    app.add_middleware(metrics_api.MetricsMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    routers = [
        # Before the events router, whose /v1/events/{event_id} would take /v1/events/stream.
        stream_api.create_router(
            max_streams=settings.max_event_streams,
            send_timeout=settings.event_stream_send_timeout_seconds,
        ),
        events_api.create_router(),
        missions_api.create_router(),
        reports_api.create_router(),
        exports_api.create_router(),
        alerts_api.create_router(),
        service_api.create_router(),
        metrics_api.create_router(),
        dashboard_api.create_router(),
    ]
    for router in routers:
        app.include_router(router)
    openapi.install(app, public_reads=settings.public_reads)
    app.state.allow = errors.allow_table(app.routes)
    return app


def _database_figures(store: EventStore) -> dict[str, dict[str, float]]:
    """What /metrics reads from the database when scraped (shared by every instance)."""
    head = store.head()
    with store.engine.connect() as conn:
        applied = conn.execute(
            select(projection_state.c.position).where(projection_state.c.name == STATE)
        ).scalar()
        states = conn.execute(
            select(webhook_deliveries.c.state, func.count()).group_by(webhook_deliveries.c.state)
        ).all()
    lag = (head[0] if head else 0) - (applied or 0)
    return {"lag": {"": float(lag)}, "deliveries": {state: float(n) for state, n in states}}


def _readiness(store: EventStore, head: str | None) -> dict[str, Any]:
    """What /readyz reports: the schema against the newest migration, the read models' lag."""
    with store.engine.connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    lag = _database_figures(store)["lag"][""]
    migrations = "current" if revision == head else f"at {revision}, newest is {head}"
    return {"migrations": migrations, "projection_lag": int(lag)}


def app_from_environment() -> FastAPI:
    """Factory for uvicorn workers: settings read once, from the environment, per process."""
    # `sitrep serve --workers N` spawns fresh interpreters, whose logging starts unconfigured
    # (one worker runs in the command's own process, already configured: this does nothing).
    logs.configure(logging.WARNING, os.environ.get("SITREP_LOG_FORMAT", "text"))
    return create_app(Settings())
