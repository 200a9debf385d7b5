"""Appending and reading events (CONTRACT §2, §4 event reads)."""

from __future__ import annotations

import asyncio
import re
import weakref
from functools import partial
from typing import Annotated, Any, Literal

import anyio
import anyio.to_thread
import orjson
from fastapi import APIRouter, Header, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api import auth
from api.deps import (
    BATCH_LIMIT,
    ONE_EVENT_LIMIT,
    ReaderDep,
    StoreDep,
    WriterDep,
    read_json,
    registered_mission,
)
from api.errors import InvalidRequest
from api.examples import EXAMPLES, openapi_examples
from api.metrics import Metrics
from api.openapi import BATCH, NEW_EVENT, READ_PROBLEMS, WRITE_PROBLEMS
from api.schemas import EventBatchPublic, EventPage, EventPublic, StreamPublic, event_json
from api.tokens import Principal
from events.catalogue import EVENT_TYPES
from events.errors import (
    EventNotFound,
    FieldError,
    InvalidEvent,
    StreamNotFound,
)
from events.fields import MISSION_PATTERN
from events.store import MAX_BATCH, AppendResult, EventStore

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="A retry with the same key and body returns the first answer and appends "
        "nothing. Keys are scoped to the token and kept at least 24 hours.",
    ),
]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]

# Ids and stream names that cannot exist answer 404 without a query (and NUL never reaches
# PostgreSQL, which cannot hold it in text).
EVENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
#: An event id as the document declares it: a UUID, so ``/v1/events/stream`` (the live stream,
#: matched first as OpenAPI matches literal paths first) is never taken for one. Declared, not
#: enforced: any other id is the contract's 404, not a 422.
EventIdPath = Annotated[str, Path(json_schema_extra={"pattern": EVENT_ID.pattern})]
STREAM_PATTERN = r"^(mission|alerts|contingent|funding):[a-z0-9][a-z0-9-]{1,31}(:[A-Z0-9]{2,16})?$"

#: Most events one page of ``GET /v1/events`` holds (a batch's limit is ``MAX_BATCH``).
MAX_PAGE = 1000


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers=headers)  # fmt: skip


async def _append(
    store: EventStore, principal: Principal, events: list[Any], key: str | None, batch: bool
) -> AppendResult:
    append = partial(
        store.append,
        events,
        recorded_by=principal.name,
        idempotency_key=key,
        key_scope=principal.token_id,
        guard=partial(auth.may_write, principal),
        batch=batch,
    )
    # Never on the event loop: a batch of a thousand departures, or a commit's flush, would hold
    # every other request (health checks, reads, webhooks) behind it.
    if store.recorder.name == "sqlite":
        # SQLite takes one writer at a time anyway: one thread at a time, in arrival order
        # (anyio's limiter is first come, first served), instead of a convoy of threads queued
        # on the writer lock.
        return await anyio.to_thread.run_sync(append, limiter=_sqlite_writer())
    return await run_in_threadpool(append)


# A limiter belongs to the event loop it was made on; a server has one (tests make many).
_SQLITE_WRITERS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _sqlite_writer() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    if loop not in _SQLITE_WRITERS:
        _SQLITE_WRITERS[loop] = anyio.CapacityLimiter(1)
    return _SQLITE_WRITERS[loop]


def _replayed(result: AppendResult) -> dict[str, str] | None:
    return {"Idempotency-Replayed": "true"} if result.replayed else None


def _counted(request: Request, result: AppendResult) -> AppendResult:
    metrics: Metrics | None = getattr(request.app.state, "metrics", None)
    if metrics is not None and not result.replayed:
        for event in result.events:
            metrics.appended.labels(event.type).inc()
    return result


def create_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["events"])

    @router.post(
        "/events",
        status_code=201,
        summary="Append one event",
        response_model=EventPublic,
        responses=WRITE_PROBLEMS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": NEW_EVENT, "examples": openapi_examples()}
                },
            }
        },
    )
    async def append_event(
        request: Request, store: StoreDep, principal: WriterDep, key: IdempotencyKey = None
    ) -> Response:
        """Append one event. The server derives its stream, version, position and hash."""
        event = store.parse(await read_json(request, ONE_EVENT_LIMIT))
        result = _counted(request, await _append(store, principal, [event], key, batch=False))
        return _json(event_json(result.events[0]), 201, _replayed(result))

    @router.post(
        "/events/batch",
        status_code=201,
        summary=f"Append 1 to {MAX_BATCH} events, all or none",
        response_model=EventBatchPublic,
        responses=WRITE_PROBLEMS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": BATCH,
                        "example": {"events": [EXAMPLES["ContingentArrived"],
                                               EXAMPLES["FundsDeposited"]]},
                    }
                },
            }
        },
    )  # fmt: skip
    async def append_batch(
        request: Request, store: StoreDep, principal: WriterDep, key: IdempotencyKey = None
    ) -> Response:
        """Append a backlog in one transaction: if any event is refused, none is stored."""
        body = await read_json(request, BATCH_LIMIT)
        # Validating a thousand events takes tens of milliseconds: off the loop too.
        events = await run_in_threadpool(_parse_batch, store, body)
        result = _counted(request, await _append(store, principal, events, key, batch=True))
        return _json({"events": [event_json(e) for e in result.events]}, 201, _replayed(result))

    @router.get(
        "/events",
        summary="Events in global order, a page at a time (oldest or newest first)",
        response_model=EventPage,
        responses=READ_PROBLEMS,
    )
    def list_events(
        store: StoreDep,
        _: ReaderDep,
        after: Annotated[
            int | None,
            Query(
                ge=0,
                le=2**63 - 1,
                description="the position to read after (default 0); only with `order=asc`",
            ),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        mission: Annotated[str | None, Query(pattern=MISSION_PATTERN)] = None,
        type: Annotated[EventType | None, Query()] = None,
        stream: Annotated[str | None, Query(max_length=80, pattern=STREAM_PATTERN)] = None,
        order: Annotated[
            Literal["asc", "desc"],
            Query(
                description="`asc`: oldest first, from `after`; `desc`: newest first, from `before`"
            ),
        ] = "asc",
        before: Annotated[
            int | None,
            Query(
                ge=1,
                le=2**63 - 1,
                description="the position to read before (default: past the newest event); "
                "only with `order=desc`",
            ),
        ] = None,
    ) -> Response:
        """`next` is the `after` (ascending) or the `before` (descending) of the following
        page, null when no further event exists now."""
        if order == "desc" and after is not None:
            raise InvalidRequest(
                [FieldError("query.after", "not allowed with order=desc: page back with `before`")]
            )
        if order == "asc" and before is not None:
            raise InvalidRequest(
                [FieldError("query.before", "only allowed with order=desc: page on with `after`")]
            )
        if mission is not None:
            registered_mission(store, mission)
        page = store.read(
            after=after or 0, before=before, limit=limit, mission=mission, type=type,
            stream=stream, order=order,
        )  # fmt: skip
        return _json({"events": [event_json(e) for e in page.events], "next": page.next})

    @router.get(
        "/events/{event_id}",
        summary="One event by id",
        response_model=EventPublic,
        responses=READ_PROBLEMS,
    )
    def get_event(store: StoreDep, _: ReaderDep, event_id: EventIdPath) -> Response:
        if not EVENT_ID.match(event_id):
            raise EventNotFound(event_id)
        return _json(event_json(store.get(event_id)))

    @router.get(
        "/streams/{stream}",
        summary="A stream's events in version order",
        response_model=StreamPublic,
        tags=["streams"],
        responses=READ_PROBLEMS,
    )
    def get_stream(store: StoreDep, _: ReaderDep, stream: Annotated[str, Path()]) -> Response:
        if not re.match(STREAM_PATTERN, stream):
            raise StreamNotFound(stream)
        events = store.stream(stream)
        return _json(
            {"stream": stream, "version": events[-1].version,
             "events": [event_json(e) for e in events]}
        )  # fmt: skip

    return router


def _parse_batch(store: EventStore, body: Any) -> list[Any]:
    if not isinstance(body, dict) or set(body) != {"events"}:
        raise InvalidEvent([FieldError("events", 'the body must be {"events": [ ... ]}')])
    raw = body["events"]
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_BATCH:
        raise InvalidEvent([FieldError("events", f"must be a list of 1 to {MAX_BATCH} events")])
    events, errors = [], []
    for index, item in enumerate(raw):
        try:
            events.append(store.parse(item))
        except InvalidEvent as exc:
            errors.extend(exc.prefixed(f"events[{index}]").errors)
    if errors:
        raise InvalidEvent(errors)
    return events
