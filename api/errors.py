"""RFC 9457 problem details: one table maps every error class to its ``type``, status and title.

Routes raise domain errors (``events.errors``) or the request errors below; nothing raises a
free-text ``HTTPException``. Every answer that is not a success is ``application/problem+json``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import fastapi.routing
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from events.errors import (
    ConflictingImport,
    EventNotFound,
    FieldError,
    IdempotencyKeyReused,
    InvalidEvent,
    MissionNotFound,
    RuleViolation,
    SitrepError,
    StoreUnavailable,
    StreamNotFound,
    VersionConflict,
)

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class RequestProblem(SitrepError):
    """An error in the HTTP request itself rather than in the event it carries."""


class Unauthenticated(RequestProblem):
    title = "Unauthenticated"


class Forbidden(RequestProblem):
    title = "Forbidden"


class MalformedBody(RequestProblem):
    title = "Malformed body"


class PayloadTooLarge(RequestProblem):
    title = "Payload too large"


class UnsupportedMediaType(RequestProblem):
    title = "Unsupported media type"


class ClientGone(RequestProblem):
    """The client closed the connection before its body arrived (a poor link, a timeout)."""

    title = "Client disconnected"


class RouteNotFound(RequestProblem):
    title = "Not found"


class MethodNotAllowed(RequestProblem):
    title = "Method not allowed"


class RequestTimeout(RequestProblem):
    """The request head or body did not arrive in time (answered by the server, not a route)."""

    title = "Request timeout"


class RequestLineTooLong(RequestProblem):
    title = "Request line too long"


class HeadersTooLarge(RequestProblem):
    title = "Header fields too large"


class TooManyEventStreams(RequestProblem):
    title = "Too many event streams"


class InvalidRequest(InvalidEvent):
    """Query, path or header values that do not fit (the body's event has its own class)."""

    title = "Invalid request"


class MalformedHeader(InvalidRequest):
    """A header whose value cannot be read at all (``Last-Event-ID: ²``)."""

    title = "Malformed header"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        # A relative reference, resolved against the API's own address; GET it for the text.
        return f"/problems/{self.slug}"


# Most specific classes first: the first match wins.
PROBLEMS: list[tuple[type[Exception], ProblemType]] = [
    (RuleViolation, ProblemType("rule-violation", 422, "Rule violation",
        "The event is well formed but the history of its stream does not allow it, e.g. a "
        "departure larger than the strength on its date. Nothing was appended.")),
    (MalformedHeader, ProblemType("malformed-header", 400, "Malformed header",
        "A request header's value cannot be read; `errors` names the header.")),
    (InvalidRequest, ProblemType("invalid-request", 422, "Invalid request",
        "A query parameter, path segment or header has a value that does not fit.")),
    (InvalidEvent, ProblemType("invalid-event", 422, "Invalid event",
        "The event's shape, codes or ranges are wrong; `errors` lists each field. Nothing was "
        "appended.")),
    (IdempotencyKeyReused, ProblemType("idempotency-key-reused", 422, "Idempotency-Key reused",
        "The Idempotency-Key was already used by this token with a different request body.")),
    (VersionConflict, ProblemType("version-conflict", 409, "Version conflict",
        "`expected_version` differs from the stream's version; `current_version` is the "
        "version now. Read the stream, then decide whether to send again.")),
    (ConflictingImport, ProblemType("conflicting-import", 409, "Conflicting import",
        "An imported event id is already stored with different content.")),
    (MissionNotFound, ProblemType("mission-not-found", 404, "Mission not found",
        "No MissionRegistered event exists for this mission id.")),
    (EventNotFound, ProblemType("event-not-found", 404, "Event not found",
        "No event has this id.")),
    (StreamNotFound, ProblemType("stream-not-found", 404, "Stream not found",
        "No event belongs to this stream.")),
    (StoreUnavailable, ProblemType("store-unavailable", 503, "Store unavailable",
        "The database cannot be reached or is busy. Retry with the same Idempotency-Key.")),
    (Unauthenticated, ProblemType("unauthenticated", 401, "Unauthenticated",
        "No token, or a token that is unknown or revoked: send `Authorization: Bearer <token>`.")),
    (Forbidden, ProblemType("forbidden", 403, "Forbidden",
        "The token's role or scope does not allow this.")),
    (MalformedBody, ProblemType("malformed-body", 400, "Malformed body",
        "The body is not valid UTF-8 JSON.")),
    (PayloadTooLarge, ProblemType("payload-too-large", 413, "Payload too large",
        "One event may be at most 64 KiB and a batch at most 2 MiB.")),
    (UnsupportedMediaType, ProblemType("unsupported-media-type", 415, "Unsupported media type",
        "Send `Content-Type: application/json`.")),
    (ClientGone, ProblemType("client-disconnected", 400, "Client disconnected",
        "The connection closed before the body arrived; nothing was appended. Retry with the "
        "same Idempotency-Key.")),
    (RouteNotFound, ProblemType("not-found", 404, "Not found", "No such path.")),
    (MethodNotAllowed, ProblemType("method-not-allowed", 405, "Method not allowed",
        "The path exists but not with this method.")),
    (RequestTimeout, ProblemType("request-timeout", 408, "Request timeout",
        "The request's header fields or its body did not arrive in time; the connection was "
        "closed. Send the request again.")),
    (RequestLineTooLong, ProblemType("request-line-too-long", 414, "Request line too long",
        "The request line (method, path and query) is longer than the server accepts.")),
    (HeadersTooLarge, ProblemType("headers-too-large", 431, "Header fields too large",
        "The request's header fields together are larger than the server accepts.")),
    (TooManyEventStreams, ProblemType("too-many-streams", 503, "Too many event streams",
        "This server process has as many event streams open as it allows; retry after "
        "`Retry-After` seconds, or read `GET /v1/events?after=` meanwhile.")),
    (Exception, ProblemType("internal-error", 500, "Internal error",
        "Something failed inside the server; it was logged with the request id.")),
]  # fmt: skip

BY_SLUG = {problem.slug: problem for _, problem in PROBLEMS}


def problem_for(exc: Exception) -> ProblemType:
    for cls, problem in PROBLEMS:
        if isinstance(exc, cls):
            return problem
    raise AssertionError("Exception is the last row")  # pragma: no cover


class ProblemField(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details, as every error answers."""

    type: str = Field(examples=["/problems/version-conflict"])
    title: str
    status: int
    detail: str
    errors: list[ProblemField] | None = None
    current_version: int | None = None
    request_id: str | None = None


def problem_response(
    exc: Exception, request: Request | None = None, *, detail: str | None = None
) -> Response:
    problem = problem_for(exc)
    body: dict[str, Any] = {
        "type": problem.uri,
        "title": problem.title,
        "status": problem.status,
        "detail": detail or (exc.detail if isinstance(exc, SitrepError) else problem.description),
    }
    if isinstance(exc, InvalidEvent):
        body["errors"] = [{"field": e.field, "message": e.message} for e in exc.errors]
    if isinstance(exc, VersionConflict):
        body["current_version"] = exc.current_version
        body["stream"] = exc.stream
    headers: dict[str, str] = {}
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    if request_id:
        body["request_id"] = request_id
        # A 500 is answered outside the request-id middleware, so the header is set here too.
        headers["X-Request-ID"] = request_id
    if problem.status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if problem.status == 503:
        headers["Retry-After"] = "1"
    return Response(
        orjson.dumps(body), status_code=problem.status, media_type=PROBLEM_JSON, headers=headers
    )


def validation_errors(exc: RequestValidationError) -> InvalidEvent | MalformedBody:
    """FastAPI's own validation errors as ours (``query.limit: ...``)."""
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            return MalformedBody("the body is not valid JSON")
        loc = [str(part) for part in err.get("loc", ())]
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        errors.append(FieldError(".".join(loc), message))
    return InvalidRequest(errors)


@dataclass(frozen=True)
class PathMethods:
    """One route's path pattern, how many parameters its template has, and its methods."""

    pattern: re.Pattern[str]
    parameters: int
    methods: frozenset[str]


def flat_routes(routes: Iterable[BaseRoute]) -> list[BaseRoute]:
    """The routes an app serves, in order, with each included router opened up."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:  # FastAPI before 0.16x copies an included router's routes itself
        return list(routes)
    return [context.original_route for context in contexts(list(routes))]


def allow_table(routes: Iterable[BaseRoute]) -> list[PathMethods]:
    """Each route's path pattern and methods, for ``served_methods`` and so ``Allow``."""
    table = []
    for route in flat_routes(routes):
        if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
            methods: set[str] = {"GET", "HEAD"}
        elif isinstance(route, Route) and route.methods:
            methods = set(route.methods)
        else:
            continue
        table.append(PathMethods(route.path_regex, len(route.param_convertors), frozenset(methods)))
    return table


def route_path(scope: Scope) -> str:
    """The path the routes are matched against (without a proxy's ``root_path``)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def served_methods(table: list[PathMethods], path: str) -> frozenset[str] | None:
    """The methods the routes declare for ``path``, None when no route's template matches.

    Of the templates that match, only those with the fewest parameters count, as OpenAPI
    matches concrete paths before templated ones: ``/v1/events/batch`` is the batch append's
    (POST) even though ``/v1/events/{event_id}`` would match it too.
    """
    matching = [entry for entry in table if entry.pattern.match(path)]
    if not matching:
        return None
    fewest = min(entry.parameters for entry in matching)
    return frozenset().union(*(e.methods for e in matching if e.parameters == fewest))


def allowed(methods: frozenset[str]) -> list[str]:
    """The ``Allow`` list of a path whose routes declare ``methods``: HEAD wherever GET is."""
    return sorted(methods | {"HEAD"} if "GET" in methods else methods)


def method_not_allowed(request: Request, methods: frozenset[str]) -> Response:
    """The 405 problem for ``request``, whose path serves only ``methods``."""
    response = problem_response(MethodNotAllowed(f"{request.method} is not allowed here"), request)
    # Starlette's own Allow names only the first route that matched the path; GET and POST of
    # one path are two routes here, so every route of the path is asked (see ``allow_table``).
    response.headers["Allow"] = ", ".join(allowed(methods))
    return response


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into a problem response."""

    @app.exception_handler(SitrepError)
    async def _domain(request: Request, exc: SitrepError) -> Response:
        return problem_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return problem_response(validation_errors(exc), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 405:
            table: list[PathMethods] = getattr(request.app.state, "allow", [])
            methods = served_methods(table, route_path(request.scope)) or frozenset()
            return method_not_allowed(request, methods)
        if exc.status_code == 404:
            return problem_response(RouteNotFound(f"no route {request.url.path}"), request)
        if exc.status_code == 413:
            return problem_response(PayloadTooLarge(str(exc.detail)), request)
        log.warning("unmapped HTTP error %s on %s", exc.status_code, request.url.path)
        return problem_response(Exception(), request)

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        # The store translates its own errors; this catches the rest (token lookups, alerts)
        # so a database that is down or restarting is a 503 to retry, never a 500.
        if isinstance(exc, OperationalError) or exc.connection_invalidated:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            log.warning("database unavailable on %s: %s", request.url.path, reason)
            return problem_response(
                StoreUnavailable(f"the database cannot be reached or is busy: {reason}"), request
            )
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error(
            "unexpected error on %s %s (request %s)",
            request.method,
            request.url.path,
            getattr(request.state, "request_id", "-"),
            exc_info=exc,
        )
        return problem_response(exc, request)
