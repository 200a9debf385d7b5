"""The HTTP/1.1 protocol ``sitrep serve`` and ``sitrep demo`` run: uvicorn's httptools protocol
with limits on what one client can hold of the process.

uvicorn bounds neither the request line nor the header fields under httptools (a 20 MB header
is buffered whole, then answered), times out neither a connection that sends nothing nor a
request head or body that trickles in, and leaves a dropped stream's connection open for as long
as its unread bytes wait. Here:

- a request line longer than ``max_request_line_bytes`` is a 414, and header fields larger than
  ``max_header_bytes`` together a 431, counted as the bytes arrive: an unfinished head is
  refused as soon as it is too big, not when (if ever) it ends;
- a request head not complete ``header_timeout`` seconds after the connection opened (or after
  its first byte, on a kept-alive connection) is a 408; a connection that sent nothing by then
  is closed without an answer;
- a body that stalls for ``body_timeout`` seconds while the server waits for it is a 408;
- the application may close its own connection at once (``api.stream.DROP_CONNECTION``).

Refusals are problem+json like every other error, with ``Connection: close``; the connection is
then half-closed and lingers a moment, reading and discarding what the client still sends, so
that the client sees the answer rather than a reset.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from api.errors import (
    HeadersTooLarge,
    RequestLineTooLong,
    RequestProblem,
    RequestTimeout,
    problem_for,
)
from api.stream import DROP_CONNECTION
from sitrep.settings import Settings

log = logging.getLogger(__name__)

# How long a refused connection keeps reading (and discarding) before it is cut.
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class ClientLimits:
    """What one client may send before it is refused, and how slowly."""

    max_request_line_bytes: int
    max_header_bytes: int
    header_timeout: float
    body_timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ClientLimits:
        return cls(
            max_request_line_bytes=settings.max_request_line_bytes,
            max_header_bytes=settings.max_header_bytes,
            header_timeout=settings.header_timeout_seconds,
            body_timeout=settings.body_timeout_seconds,
        )


def protocol(limits: ClientLimits) -> type[asyncio.Protocol]:
    """The ``http=`` argument of ``uvicorn.run``: the guarded protocol bound to ``limits``.

    A partial rather than a class made on the fly, so that it pickles into ``--workers``
    processes; uvicorn only ever calls it with keyword arguments, as it would a class.
    """
    return cast(type[asyncio.Protocol], partial(GuardedHttpProtocol, limits=limits))


class _Refused(Exception):
    """Raised in a parser callback to stop httptools; the refusal itself is kept aside."""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with size limits and timeouts on the request."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: ClientLimits,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits
        # Bytes received of the current request head; None between heads.
        self._head_bytes: int | None = 0
        self._line_bytes = 0
        self._field_bytes = 0
        self._begun = False  # a byte of the current request has arrived
        self._head_from = 0.0  # when the current head's time began
        self._in_body = False
        self._last_read = 0.0
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._refusal: RequestProblem | None = None
        self._refused = False

    # --- connection ----------------------------------------------------------------------------

    def connection_made(  # type: ignore[override]
        self, transport: asyncio.Transport
    ) -> None:
        super().connection_made(transport)
        self._head_from = self.loop.time()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_late)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn 0.54's HttpToolsProtocol.data_received, plus the counting and the refusals
        # (its own logs every refusal as "Invalid HTTP request received.").
        if self._refused:
            return  # lingering: read and forget
        self._unset_keepalive_if_required()
        if self._head_bytes is not None:
            self._head_bytes += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refusal is not None:
                self._refuse(self._refusal)
                return
            msg = "Invalid HTTP request received."
            self.logger.warning(msg)
            self.send_400_response(msg)
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        limits = self.limits
        if self._head_bytes is not None and self._head_bytes > (
            limits.max_request_line_bytes + limits.max_header_bytes
        ):
            # A header field still arriving: httptools buffers it whole before calling back.
            self._refuse(HeadersTooLarge(self._fields_detail()))
        elif self._in_body:
            # Timers only for what did not arrive whole in one read, as most requests do.
            self._last_read = self.loop.time()
            if self._body_timer is None:
                self._body_timer = self.loop.call_later(limits.body_timeout, self._body_late)
        elif self._begun and self._head_timer is None:  # a later head, arriving in pieces
            left = self._head_from + limits.header_timeout - self.loop.time()
            self._head_timer = self.loop.call_later(max(left, 0.0), self._head_late)

    # --- parser callbacks ----------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._begun = True
        self._line_bytes = self._field_bytes = 0
        if self._head_bytes is None:  # a later request on a kept-alive connection
            self._head_bytes = 0
            self._head_from = self.loop.time()
        self.scope["extensions"] = {DROP_CONNECTION: {"drop": partial(self._drop, self.scope)}}

    def on_url(self, url: bytes) -> None:
        self._line_bytes += len(url)
        if self._line_bytes > self.limits.max_request_line_bytes:
            self._stop(
                RequestLineTooLong(
                    f"the request line is longer than {self.limits.max_request_line_bytes} bytes"
                )
            )
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._field_bytes += len(name) + len(value) + 4  # ": " and CRLF
        if self._field_bytes > self.limits.max_header_bytes:
            self._stop(HeadersTooLarge(self._fields_detail()))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_bytes = None
        self._begun = False
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        self._in_body = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_body = False
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        super().on_message_complete()

    # --- refusals ------------------------------------------------------------------------------

    def _fields_detail(self) -> str:
        return f"the header fields are larger than {self.limits.max_header_bytes} bytes"

    def _stop(self, refusal: RequestProblem) -> None:
        self._refusal = refusal
        raise _Refused

    def _head_late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if not self._begun:  # never sent a byte: nobody to answer
            self.transport.close()
            return
        self._refuse(
            RequestTimeout(
                f"the request head did not arrive within {self.limits.header_timeout:g} s"
            )
        )

    def _body_late(self) -> None:
        self._body_timer = None
        if not self._in_body or self.transport.is_closing():
            return
        if self.cycle is not None and self.cycle.response_complete:
            self.transport.close()  # answered without its body: nothing left to wait for
            return
        now = self.loop.time()
        if self.flow.read_paused:
            # The application is not reading yet (uvicorn stopped reading for it): not the
            # client's delay. It gets the whole timeout again once reading resumes.
            self._last_read = now
        idle = now - self._last_read
        if idle < self.limits.body_timeout:
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout - idle, self._body_late
            )
            return
        self._refuse(RequestTimeout(f"the request body stalled for {self.limits.body_timeout:g} s"))

    def _refuse(self, refusal: RequestProblem) -> None:
        """Answer ``refusal`` as a problem, then close the connection after a linger."""
        if self._refused:
            return
        self._refused = True
        self._cancel_timers()
        problem = problem_for(refusal)
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "-"
        log.info("refused %s with %d: %s", client, problem.status, refusal.detail)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The application is waiting for this body: it sees a disconnect, and whatever
            # it answers is dropped.
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.abort()
                return
        body = orjson.dumps(
            {
                "type": problem.uri,
                "title": problem.title,
                "status": problem.status,
                "detail": refusal.detail,
            }
        )
        head = [STATUS_LINE[problem.status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: application/problem+json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self.loop.call_later(LINGER_SECONDS, self.transport.abort)

    def _drop(self, scope: object) -> None:
        """The application's ``DROP_CONNECTION``: cut the connection, unsent bytes and all."""
        if self.cycle is not None and self.cycle.scope is scope:
            # uvicorn would otherwise log the response the application left unfinished.
            self.cycle.disconnected = True
        self._cancel_timers()
        self.transport.abort()

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._body_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._body_timer = None
