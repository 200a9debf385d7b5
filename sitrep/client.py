"""A small typed client of the sitrep API: sync :class:`Client`, async :class:`AsyncClient`.

Both share the request building and the answer parsing below; only the I/O differs. Every
answer that is not a success raises :class:`ApiProblem` (the RFC 9457 problem the server sent,
CONTRACT §5); a request that got no answer at all raises :class:`TransportFailed`
(:class:`CannotConnect` when no connection could be made).

    with Client("https://sitrep.example.org", token) as api:
        stored = api.append(event, idempotency_key=str(uuid.uuid4()))
        print(stored.position, api.force_strength("mss-haiti").deployed)
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx
import orjson
from pydantic import BaseModel

from api.read_schemas import (
    ForceStrengthPublic,
    FundingPublic,
    MandatePublic,
    MissionList,
    TimelinePublic,
)
from api.schemas import EventPage, EventPublic

Model = TypeVar("Model", bound=BaseModel)

__all__ = [
    "ApiProblem",
    "AsyncClient",
    "CannotConnect",
    "Client",
    "ClientError",
    "FieldProblem",
    "TransportFailed",
    "UnexpectedAnswer",
    "is_retryable",
    "retry_after_seconds",
]

DEFAULT_TIMEOUT = 30.0
#: Statuses worth the same request again: the server did not take it, or could not yet.
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
#: A ``400`` of this type says the body never arrived whole; nothing was appended.
CLIENT_DISCONNECTED = "/problems/client-disconnected"


# --- errors --------------------------------------------------------------------------------


class ClientError(Exception):
    """Anything this client raises."""


@dataclass(frozen=True)
class FieldProblem:
    """One entry of a problem's ``errors``: which field, and what is wrong with it."""

    field: str
    message: str


@dataclass
class ApiProblem(ClientError):
    """The server answered with an error (``application/problem+json``, CONTRACT §5)."""

    status: int
    title: str
    detail: str = ""
    errors: list[FieldProblem] = field(default_factory=list)
    type: str = "about:blank"
    #: ``Retry-After`` in seconds, when the answer carried one.
    retry_after: float | None = None
    #: The whole problem body, for members this class does not name (``current_version``).
    body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.status} {self.title}"
        if self.detail:
            text += f": {self.detail}"
        for problem in self.errors:
            where = f"{problem.field}: " if problem.field else ""
            if f"{where}{problem.message}" not in text:  # often the detail already
                text += f"; {where}{problem.message}"
        return text

    @property
    def slug(self) -> str:
        """The last segment of the problem ``type`` (``rule-violation``)."""
        return self.type.rstrip("/").rsplit("/", 1)[-1]


class TransportFailed(ClientError):
    """No answer came back: a timeout, a dropped connection, a broken proxy."""

    def __init__(self, message: str, cause: httpx.TransportError | None = None) -> None:
        super().__init__(message)
        self.cause = cause


class CannotConnect(TransportFailed):
    """No connection could be made at all (refused, no route, unknown host name)."""


class UnexpectedAnswer(ClientError):
    """A success that is not what a sitrep server answers (another server at that URL?)."""


def is_retryable(exc: BaseException) -> bool:
    """Whether sending the same request again (with the same key) may succeed."""
    if isinstance(exc, TransportFailed):
        return True
    if isinstance(exc, ApiProblem):
        return (
            exc.status in RETRYABLE_STATUSES
            or exc.status >= 500
            or (exc.status == 400 and exc.type == CLIENT_DISCONNECTED)
        )
    return False


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP-date (RFC 9110)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(seconds, 0.0)


# --- requests and answers, shared by both clients -----------------------------------------


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    params: dict[str, str] | None = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _dumps(value: Any) -> bytes:
    # Keys sorted: the same event is the same bytes every time it is sent.
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def _params(values: Mapping[str, Any]) -> dict[str, str]:
    shown: dict[str, str] = {}
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif isinstance(value, date):
            value = value.isoformat()
        elif isinstance(value, bool):
            value = "true" if value else "false"
        shown[name] = str(value)
    return shown


def _post(path: str, body: Any, idempotency_key: str | None) -> _Request:
    headers = {"Content-Type": "application/json"}
    if idempotency_key is not None:
        headers["Idempotency-Key"] = idempotency_key
    return _Request("POST", path, content=_dumps(body), headers=headers)


def _append_request(event: Mapping[str, Any], idempotency_key: str | None) -> _Request:
    return _post("/v1/events", dict(event), idempotency_key)


def _batch_request(events: Sequence[Mapping[str, Any]], idempotency_key: str | None) -> _Request:
    return _post("/v1/events/batch", {"events": [dict(e) for e in events]}, idempotency_key)


def _get_request(path: str, params: Mapping[str, Any]) -> _Request:
    return _Request("GET", path if path.startswith("/") else f"/{path}", params=_params(params))


def _problem(response: httpx.Response) -> ApiProblem:
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        # Not a sitrep problem (a proxy's page, another server): its first words will do.
        text = " ".join(response.text.split())[:200]
        return ApiProblem(response.status_code, response.reason_phrase or "Error", text,
                          retry_after=retry_after)  # fmt: skip
    errors = [
        FieldProblem(str(e.get("field", "")), str(e.get("message", "")))
        for e in body.get("errors") or []
        if isinstance(e, dict)
    ]
    return ApiProblem(
        status=response.status_code,
        title=str(body.get("title") or response.reason_phrase or "Error"),
        detail=str(body.get("detail") or ""),
        errors=errors,
        type=str(body.get("type") or "about:blank"),
        retry_after=retry_after,
        body=body,
    )


def _answer(response: httpx.Response) -> Any:
    """The JSON of a success, or the problem of anything else raised."""
    if response.status_code >= 300:
        raise _problem(response)
    try:
        return response.json()
    except ValueError:
        raise UnexpectedAnswer(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} without JSON: is this a sitrep server?"
        ) from None


def _event(body: Any) -> EventPublic:
    try:
        return EventPublic.model_validate(body)
    except ValueError:
        raise UnexpectedAnswer(
            "the answer is not a stored event: is this a sitrep server?"
        ) from None


def _events(body: Any) -> list[EventPublic]:
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        raise UnexpectedAnswer("the answer holds no events: is this a sitrep server?")
    return [_event(item) for item in body["events"]]


def _typed(model: type[Model], body: Any) -> Model:
    """An answer read into the API's own response model (api/read_schemas.py). Fields a newer
    server adds are ignored, so this client keeps working against later versions."""
    try:
        return model.model_validate(body, extra="ignore")
    except ValueError as exc:
        raise UnexpectedAnswer(
            f"the answer is not a {model.__name__}: is this a sitrep server? ({exc})"
        ) from None


def _events_request(
    after: int | None, before: int | None, order: str, limit: int, mission: str | None,
    type: str | None, stream: str | None,
) -> _Request:  # fmt: skip
    return _get_request("/v1/events", {"after": after, "before": before, "order": order,
                                       "limit": limit, "mission": mission, "type": type,
                                       "stream": stream})  # fmt: skip


def _as_of_request(mission: str, model: str, as_of: date | None, known_at: datetime | None
                   ) -> _Request:  # fmt: skip
    return _get_request(f"/v1/missions/{mission}/{model}", {"as_of": as_of, "known_at": known_at})


def _timeline_request(
    mission: str, start: date | None, end: date | None, interval: str, known_at: datetime | None
) -> _Request:
    return _get_request(f"/v1/missions/{mission}/timeline", {
        "from": start, "to": end, "interval": interval, "known_at": known_at})  # fmt: skip


def _wrapped(exc: httpx.TransportError, request: _Request) -> TransportFailed:
    what = f"{request.method} {request.path}"
    reason = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return CannotConnect(f"cannot connect ({what}): {reason}", exc)
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailed(f"no answer in time ({what}): {reason}", exc)
    return TransportFailed(f"no answer ({what}): {reason}", exc)


def _http_options(
    base_url: str, token: str | None, timeout: float, headers: Mapping[str, str] | None
) -> dict[str, Any]:
    sent = {"Accept": "application/json", "User-Agent": "sitrep-client"}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    sent.update(headers or {})
    return {"base_url": base_url.rstrip("/"), "timeout": timeout, "headers": sent}


# --- the clients ---------------------------------------------------------------------------


class Client:
    """The API over ``httpx.Client``: one method per operation; failures raise ClientError."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = httpx.Client(
            transport=transport, **_http_options(base_url, token, timeout, headers)
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, request: _Request) -> Any:
        try:
            response = self._http.request(
                request.method, request.path, params=request.params, content=request.content,
                headers=request.headers,
            )  # fmt: skip
        except httpx.TransportError as exc:
            raise _wrapped(exc, request) from None
        return _answer(response)

    def append(
        self, event: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> EventPublic:
        """``POST /v1/events``: append one event; a retry with the same key appends nothing."""
        return _event(self._send(_append_request(event, idempotency_key)))

    def append_batch(
        self, events: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> list[EventPublic]:
        """``POST /v1/events/batch``: append 1 to 1000 events, all or none."""
        return _events(self._send(_batch_request(events, idempotency_key)))

    def get(self, path: str, **params: Any) -> Any:
        """``GET`` any path of the API; the decoded JSON."""
        return self._send(_get_request(path, params))

    def events(
        self, *, after: int | None = None, before: int | None = None, order: str = "asc",
        limit: int = 100, mission: str | None = None, type: str | None = None,
        stream: str | None = None,
    ) -> EventPage:  # fmt: skip
        """``GET /v1/events``: a page of events and ``next``; ``order="desc"`` for newest
        first (``before`` then pages back)."""
        request = _events_request(after, before, order, limit, mission, type, stream)
        return _typed(EventPage, self._send(request))

    def missions(self) -> MissionList:
        """``GET /v1/missions``: every mission with its status."""
        return _typed(MissionList, self._send(_get_request("/v1/missions", {})))

    def force_strength(
        self, mission: str, as_of: date | None = None, known_at: datetime | None = None
    ) -> ForceStrengthPublic:
        """``GET /v1/missions/{mission}/force-strength``."""
        request = _as_of_request(mission, "force-strength", as_of, known_at)
        return _typed(ForceStrengthPublic, self._send(request))

    def funding(
        self, mission: str, as_of: date | None = None, known_at: datetime | None = None
    ) -> FundingPublic:
        """``GET /v1/missions/{mission}/funding``."""
        request = _as_of_request(mission, "funding", as_of, known_at)
        return _typed(FundingPublic, self._send(request))

    def mandate(
        self, mission: str, as_of: date | None = None, known_at: datetime | None = None
    ) -> MandatePublic:
        """``GET /v1/missions/{mission}/mandate``."""
        request = _as_of_request(mission, "mandate", as_of, known_at)
        return _typed(MandatePublic, self._send(request))

    def timeline(
        self, mission: str, start: date | None = None, end: date | None = None,
        interval: str = "week", known_at: datetime | None = None,
    ) -> TimelinePublic:  # fmt: skip
        """``GET /v1/missions/{mission}/timeline?from=start&to=end&interval=``."""
        request = _timeline_request(mission, start, end, interval, known_at)
        return _typed(TimelinePublic, self._send(request))


class AsyncClient:
    """The same API over ``httpx.AsyncClient``."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            transport=transport, **_http_options(base_url, token, timeout, headers)
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, request: _Request) -> Any:
        try:
            response = await self._http.request(
                request.method, request.path, params=request.params, content=request.content,
                headers=request.headers,
            )  # fmt: skip
        except httpx.TransportError as exc:
            raise _wrapped(exc, request) from None
        return _answer(response)

    async def append(
        self, event: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> EventPublic:
        """``POST /v1/events``: append one event; a retry with the same key appends nothing."""
        return _event(await self._send(_append_request(event, idempotency_key)))

    async def append_batch(
        self, events: Sequence[Mapping[str, Any]], *, idempotency_key: str | None = None
    ) -> list[EventPublic]:
        """``POST /v1/events/batch``: append 1 to 1000 events, all or none."""
        return _events(await self._send(_batch_request(events, idempotency_key)))

    async def get(self, path: str, **params: Any) -> Any:
        """``GET`` any path of the API; the decoded JSON."""
        return await self._send(_get_request(path, params))

    async def events(
        self, *, after: int | None = None, before: int | None = None, order: str = "asc",
        limit: int = 100, mission: str | None = None, type: str | None = None,
        stream: str | None = None,
    ) -> EventPage:  # fmt: skip
        """``GET /v1/events``: a page of events and ``next``; ``order="desc"`` for newest
        first (``before`` then pages back)."""
        request = _events_request(after, before, order, limit, mission, type, stream)
        return _typed(EventPage, await self._send(request))

    async def missions(self) -> MissionList:
        """``GET /v1/missions``: every mission with its status."""
        return _typed(MissionList, await self._send(_get_request("/v1/missions", {})))

    async def force_strength(
        self, mission: str, as_of: date | None = None, known_at: datetime | None = None
    ) -> ForceStrengthPublic:
        """``GET /v1/missions/{mission}/force-strength``."""
        request = _as_of_request(mission, "force-strength", as_of, known_at)
        return _typed(ForceStrengthPublic, await self._send(request))

    async def funding(
        self, mission: str, as_of: date | None = None, known_at: datetime | None = None
    ) -> FundingPublic:
        """``GET /v1/missions/{mission}/funding``."""
        request = _as_of_request(mission, "funding", as_of, known_at)
        return _typed(FundingPublic, await self._send(request))

    async def mandate(
        self, mission: str, as_of: date | None = None, known_at: datetime | None = None
    ) -> MandatePublic:
        """``GET /v1/missions/{mission}/mandate``."""
        request = _as_of_request(mission, "mandate", as_of, known_at)
        return _typed(MandatePublic, await self._send(request))

    async def timeline(
        self, mission: str, start: date | None = None, end: date | None = None,
        interval: str = "week", known_at: datetime | None = None,
    ) -> TimelinePublic:  # fmt: skip
        """``GET /v1/missions/{mission}/timeline?from=start&to=end&interval=``."""
        request = _timeline_request(mission, start, end, interval, known_at)
        return _typed(TimelinePublic, await self._send(request))
