"""Dependencies shared by the routers: the store, the caller, the request body."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from api.auth import Authenticator
from api.errors import ClientGone, MalformedBody, PayloadTooLarge, UnsupportedMediaType
from api.tokens import Principal
from events.errors import MissionNotFound
from events.store import EventStore

log = logging.getLogger(__name__)

ONE_EVENT_LIMIT = 64 * 1024
BATCH_LIMIT = 2 * 1024 * 1024


@dataclass(frozen=True)
class ApiConfig:
    """What the routers need from the settings, handed down by ``sitrep.app``."""

    public_reads: bool = False


async def get_store(request: Request) -> EventStore:
    store: EventStore = request.app.state.store
    return store


def get_config(request: Request) -> ApiConfig:
    config: ApiConfig = request.app.state.api_config
    return config


def _authenticator(request: Request) -> Authenticator:
    auth: Authenticator = request.app.state.authenticator
    return auth


# A security scheme rather than a plain header, so OpenAPI shows it (and /docs has Authorize).
bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="`Authorization: Bearer <token>`; tokens come from `sitrep token create`.",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


# The dependencies are ``async`` on purpose: FastAPI runs plain ``def`` dependencies in its
# thread pool, and three hops per request cost more than the append itself. A token lookup
# is an in-memory hit after the first request of a token; only a miss goes to the database,
# in the thread pool, so a database that is slow to answer never stalls the event loop.


async def _principal(request: Request, credentials: Credentials) -> Principal:
    auth = _authenticator(request)
    token = credentials.credentials if credentials else None
    known = auth.cached(token)
    return known if known is not None else await run_in_threadpool(auth.principal, token)


async def writer(request: Request, credentials: Credentials) -> Principal:
    """The caller of a write: a token is always required."""
    return await _principal(request, credentials)


async def reader(request: Request, credentials: Credentials) -> Principal | None:
    """The caller of a read: a token of any role, or nobody when public reads are on."""
    # The OpenAPI document knows a read by this dependency (``api.openapi``): with public
    # reads on, it shows the token as optional there. A token that is sent is still checked.
    if credentials is None and get_config(request).public_reads:
        return None
    return await _principal(request, credentials)


def registered_mission(store: EventStore, mission: str) -> str:
    """``mission``, or :class:`MissionNotFound` (a 404) when no such mission is registered."""
    # A call in the route, not a dependency: each route keeps its order of checks (a bad
    # query parameter is a 422 before an unknown mission is a 404).
    if not store.is_registered(mission):
        raise MissionNotFound(mission)
    return mission


StoreDep = Annotated[EventStore, Depends(get_store)]
WriterDep = Annotated[Principal, Depends(writer)]
ReaderDep = Annotated[Principal | None, Depends(reader)]


async def read_json(request: Request, limit: int) -> Any:
    """The request's JSON body, refusing wrong media types and oversized bodies before parsing.

    A declared Content-Length over the limit is refused without reading; a body that streams
    past the limit is refused as soon as it does, so no more than ``limit`` bytes are held.
    """
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UnsupportedMediaType(
            f"the body must be application/json, not {media or 'unspecified'}"
        )
    declared = request.headers.get("content-length")
    # isascii() too: "²".isdigit() is true and int("²") raises (a 500 under a laxer server).
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit here is {limit}")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    except ClientDisconnect:
        # Liaisons on poor links time out and retry; this is routine, not a server error.
        log.info("client disconnected before its body arrived")
        raise ClientGone("the connection closed before the body arrived") from None
    if not body:
        raise MalformedBody("the body is empty; send a JSON object")
    try:
        # orjson also refuses text that is not UTF-8, such as lone surrogates.
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedBody(f"the body is not valid JSON: {exc}") from None
