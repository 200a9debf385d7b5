"""Live updates: every newly appended event as a Server-Sent Event (``GET /v1/events/stream``).

Each message is ``id: <position>``, ``event: event`` and ``data: <the stored event's JSON>``,
the same object ``GET /v1/events`` lists. A client resumes with ``Last-Event-ID`` (which
``EventSource`` sends by itself on reconnecting) or ``?after=``.

A process serves at most ``max_streams`` streams at once (``SITREP_MAX_EVENT_STREAMS``); the
next is a 503 problem with ``Retry-After``. A reader that accepts nothing for ``send_timeout``
seconds is dropped with one INFO line.

The stream polls the store rather than hooking the append path, so it also sees events appended
by other workers, other instances and the CLI. Positions are assigned in commit order (the
store's append lock is held through the commit), so reading ``position > cursor`` never skips
an event that commits late.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Annotated, Any

import anyio
import orjson
from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from api.deps import ReaderDep, StoreDep, registered_mission
from api.errors import MalformedHeader, TooManyEventStreams
from api.openapi import problems
from api.schemas import event_json
from events.envelope import RecordedEvent
from events.errors import FieldError, StoreUnavailable
from events.fields import MISSION_PATTERN
from events.store import EventStore

log = logging.getLogger(__name__)

# Read at request time, so tests can shorten them.
POLL_SECONDS = 0.5
PING_SECONDS = 15.0
SHUTDOWN_GRACE_SECONDS = 2.0
REFUSAL_LOG_SECONDS = 60.0
PAGE = 100
MAX_POSITION = 2**63 - 1
# ASCII digits only: str.isdigit() accepts "²", which int() refuses (that was a 500), and
# int() reads "١٢" as 12; an id sitrep sent is never either.
_POSITION = re.compile(r"[0-9]{1,19}")

#: An ASGI scope extension a server may offer (``sitrep.http_server`` does): ``{"drop": f}``,
#: where ``f()`` closes the connection at once, discarding what is still buffered for it.
#: Without it a dropped reader's connection is left to the server, which logs the response as
#: unfinished and closes it once its buffered bytes are sent.
DROP_CONNECTION = "sitrep.drop_connection"

EXAMPLE = (
    "id: 42\nevent: event\n"
    'data: {"id":"0193…","mission":"mss-haiti","type":"ContingentArrived","position":42,…}\n\n'
    ": ping - 2024-06-25 12:00:15.000000+00:00\n\n"
)


class Tail:
    """The store's head position, shared by every open stream of one app.

    However many dashboards are connected, a process asks the database for its head at most
    twice per poll interval; a stream reads events only when the head has moved past it.
    """

    def __init__(self) -> None:
        self.open = 0  # streams now open
        self.admitted = 0  # streams answered or being answered: what the cap counts
        self._refused = 0  # since the last warning
        self._warned_at = float("-inf")
        self._head = 0
        self._read_at = float("-inf")
        self._failing = False
        self._lock = asyncio.Lock()

    async def head(self, store: EventStore, *, fresh: bool = False) -> int:
        """The newest position, read again when older than half a poll (or when ``fresh``)."""
        async with self._lock:
            if fresh or time.monotonic() - self._read_at >= POLL_SECONDS / 2:
                try:
                    found = await run_in_threadpool(store.head)
                except StoreUnavailable as exc:
                    if fresh:
                        raise  # a new stream must know where it starts: 503
                    # Open streams keep their connections through an outage and catch up
                    # after it; the last known head stands meanwhile.
                    if not self._failing:
                        log.warning("event streams cannot read the store: %s", exc.detail)
                    self._failing = True
                else:
                    self._head = found[0] if found else 0
                    if self._failing:
                        log.warning("event streams read the store again")
                    self._failing = False
                self._read_at = time.monotonic()
            return self._head

    def admit(self, limit: int) -> None:
        """Count one more stream, or refuse it when ``limit`` are already admitted."""
        if self.admitted >= limit:
            self._refused += 1
            # At most one line a minute, however many clients keep knocking.
            if time.monotonic() - self._warned_at >= REFUSAL_LOG_SECONDS:
                log.warning(
                    "%d event streams open, the most allowed (SITREP_MAX_EVENT_STREAMS): "
                    "refused %d since the last warning", limit, self._refused,
                )  # fmt: skip
                self._refused = 0
                self._warned_at = time.monotonic()
            raise TooManyEventStreams(
                f"this server has {limit} event streams open, as many as it allows"
            )
        self.admitted += 1

    def release(self) -> None:
        self.admitted -= 1


class _EventStream(EventSourceResponse):
    """An event stream that frees its slot when it ends and drops a stalled reader quietly.

    sse-starlette raises ``SendTimeoutError`` out of the response when a send times out, which
    would be logged twice as an unexpected ERROR with a traceback; a reader that stopped
    reading is an everyday event.
    """

    def __init__(self, *args: Any, release: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except (SendTimeoutError, BaseExceptionGroup) as exc:
            if isinstance(exc, BaseExceptionGroup) and exc.split(SendTimeoutError)[1] is not None:
                raise
            client = scope.get("client")
            log.info(
                "event stream reader %s accepted nothing for %s s: dropped",
                f"{client[0]}:{client[1]}" if client else "-",
                self.send_timeout,
            )
            drop = (scope.get("extensions") or {}).get(DROP_CONNECTION, {}).get("drop")
            if drop is not None:
                drop()
        finally:
            self._release()


def _tail(request: Request) -> Tail:
    tail: Tail | None = getattr(request.app.state, "event_tail", None)
    if tail is None:  # no await since the lookup: one Tail per app
        tail = request.app.state.event_tail = Tail()
    return tail


def _message(event: RecordedEvent) -> ServerSentEvent:
    body = event_json(event)
    # orjson escapes every line break inside strings, so the JSON is a single `data:` line.
    return ServerSentEvent(
        orjson.dumps(body).decode(), id=str(body["position"]), event="event", sep="\n"
    )


async def _events(
    store: EventStore, tail: Tail, cursor: int, mission: str | None, shutdown: anyio.Event
) -> AsyncIterator[ServerSentEvent]:
    """Messages for the events after ``cursor`` until the server shuts down (a client that
    leaves cancels it)."""
    tail.open += 1
    log.debug("event stream opened after %s (mission %s)", cursor, mission or "any")
    try:
        while not shutdown.is_set():
            head = await tail.head(store)
            if head <= cursor:
                with anyio.move_on_after(POLL_SECONDS):
                    await shutdown.wait()
                continue
            try:
                # Store reads are blocking calls: keep them off the event loop.
                page = await run_in_threadpool(
                    partial(store.read, after=cursor, limit=PAGE, mission=mission)
                )
            except StoreUnavailable:
                await asyncio.sleep(POLL_SECONDS)  # the head read logs the outage
                continue
            for event in page.events:
                yield _message(event)
            if page.next is not None:
                cursor = page.next
            else:
                # Every event up to `head` had committed before the head was read, so a
                # filtered read that found nothing past them has still covered them.
                last = page.events[-1].position if page.events else 0
                cursor = max(cursor, head, last)
    finally:
        tail.open -= 1
        log.debug("event stream closed at %s", cursor)


def _start(last_event_id: str | None, after: int | None) -> int | None:
    """Where a stream resumes: ``Last-Event-ID`` wins over ``after``, as a reconnecting
    ``EventSource`` keeps its first URL and sends the newer id in the header."""
    if last_event_id is not None and last_event_id.strip(" \t"):
        value = last_event_id.strip(" \t")
        if not _POSITION.fullmatch(value) or int(value) > MAX_POSITION:
            raise MalformedHeader(
                [FieldError("header.Last-Event-ID", "must be an event position: ASCII digits")]
            )
        return int(value)
    return after


def create_router(*, max_streams: int = 500, send_timeout: float = 30.0) -> APIRouter:
    """The stream route; at most ``max_streams`` open at once, readers dropped after
    ``send_timeout`` seconds without accepting a message."""
    router = APIRouter(prefix="/v1", tags=["events"])

    @router.get(
        "/events/stream",
        summary="New events as they are appended (Server-Sent Events)",
        response_class=EventSourceResponse,
        responses={
            200: {
                "description": "An endless `text/event-stream`: one message per event, "
                "`id` its position, `event` always `event`, `data` the stored event as "
                "`GET /v1/events` lists it; a `: ping` comment every 15 s. A `503` "
                "(`too-many-streams`, with `Retry-After`) when the server has as many "
                "streams open as it allows.",
                "content": {"text/event-stream": {"schema": {"type": "string"},
                                                  "example": EXAMPLE}},
            },
            **problems(400, 401, 404, 422, 503),
        },
    )  # fmt: skip
    async def stream_events(
        request: Request,
        store: StoreDep,
        _: ReaderDep,
        after: Annotated[
            int | None,
            Query(ge=0, le=MAX_POSITION, description="send the events after this position; "
                  "default: only events appended from now on"),
        ] = None,
        mission: Annotated[str | None, Query(pattern=MISSION_PATTERN)] = None,
        last_event_id: Annotated[
            str | None,
            # No max_length: any unreadable value is the same 400 (the server bounds headers).
            Header(alias="Last-Event-ID",
                   description="resume after this position (wins over `after`)"),
        ] = None,
    ) -> EventSourceResponse:  # fmt: skip
        """Each event appended from now on (or after `after` / `Last-Event-ID`), live.

        Browsers' `EventSource` cannot send `Authorization`: without public reads, read the
        stream with `fetch()` and the header; the framing is standard SSE either way.
        """
        tail = _tail(request)
        start = _start(last_event_id, after)
        # Counted before the first await, so that many streams opening at once cannot all
        # pass the check; the response gives the slot back when it ends.
        tail.admit(max_streams)
        try:
            if mission is not None:
                await run_in_threadpool(registered_mission, store, mission)
            if start is None:
                start = await tail.head(store, fresh=True)
        except BaseException:
            tail.release()
            raise
        shutdown = anyio.Event()
        return _EventStream(
            _events(store, tail, start, mission, shutdown),
            release=tail.release,
            # sse-starlette sets the event when the server begins to shut down (uvicorn waits
            # for open responses before it stops); the generator then ends the response
            # cleanly instead of being cancelled mid-stream.
            shutdown_event=shutdown,
            shutdown_grace_period=SHUTDOWN_GRACE_SECONDS,
            ping=PING_SECONDS,
            sep="\n",
            send_timeout=send_timeout,
            # Proxies must neither cache nor buffer a live stream.
            headers={"Cache-Control": "no-cache, no-store"},
        )

    return router
