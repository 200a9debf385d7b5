"""Read models over HTTP: missions, force strength, funding, mandate, timeline (CONTRACT §4).

Each answer carries a weak ``ETag`` naming the read models' state and the question asked; a
dashboard that polls with ``If-None-Match`` gets ``304`` until something new is recorded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Protocol

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, WithJsonSchema
from sqlalchemy import Connection

from api.deps import ReaderDep, StoreDep, registered_mission
from api.errors import InvalidRequest
from api.openapi import READ_PROBLEMS
from api.read_schemas import (
    KNOWN_AT_SCHEMA,
    ForceStrengthPublic,
    FundingPublic,
    MandatePublic,
    MissionList,
    QueryDay,
    TimelinePublic,
    encoder,
)
from api.report_schemas import CountryReports, DonorReports
from api.schemas import event_json
from events.envelope import parse_instant
from events.errors import FieldError, StreamNotFound
from events.fields import MISSION_PATTERN
from projections import force_strength, funding, mandate, missions, provenance, timeline
from projections.runner import Projector

MissionPath = Annotated[str, Path(pattern=MISSION_PATTERN)]
AsOf = Annotated[QueryDay | None, Query(description="the date asked about; default today (UTC)")]
# Declared, not enforced by FastAPI: instant_of() refuses a bad value with its own message.
KnownAt = Annotated[
    Annotated[str, WithJsonSchema(KNOWN_AT_SCHEMA)] | None,
    Query(description="RFC 3339 instant: answer from what had been recorded by then; default now"),
]


def projector_of(request: Request) -> Projector:
    projector: Projector = request.app.state.projector
    return projector


def now_of(request: Request) -> datetime:
    clock: Callable[[], datetime] = request.app.state.clock
    return clock()


def instant_of(value: str | None, request: Request) -> datetime:
    if value is None:
        return now_of(request)
    try:
        return parse_instant(value)
    except ValueError:
        raise InvalidRequest(
            [FieldError("query.known_at", "must be an RFC 3339 instant with an offset, "
                        "e.g. 2024-07-01T00:00:00Z")]
        ) from None  # fmt: skip


def answer(
    request: Request,
    asked: dict[str, Any],
    read: Callable[[Connection, int], Any],
    *,
    encode: Callable[[Any], bytes] = orjson.dumps,
    media_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Response:
    """A read model's answer with a weak ETag, or 304 when the client has it already."""
    projector = projector_of(request)
    position = projector.catch_up()
    # The answer depends on the question and on the events applied; hash both.
    tag = hashlib.sha256(
        orjson.dumps({"path": request.url.path, "asked": asked, "position": position}, default=str)
    ).hexdigest()[:32]
    etag = f'W/"{tag}"'
    if etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    body = projector.query(read, caught_up=True)
    return Response(encode(body), media_type=media_type, headers={"ETag": etag, **(headers or {})})


class AsOfModel(Protocol):
    def as_of(
        self, conn: Connection, generation: int, mission: str, day: date, known_at: datetime
    ) -> dict[str, Any]: ...


def _as_of_route(model: AsOfModel, public: type[BaseModel]) -> Callable[..., Response]:
    """The route of a read model asked with ``as_of`` and ``known_at``, answered through
    its response model ``public``."""
    encode = encoder(public)

    def route(
        request: Request, store: StoreDep, _: ReaderDep, mission: MissionPath,
        as_of: AsOf = None, known_at: KnownAt = None,
    ) -> Response:  # fmt: skip
        registered_mission(store, mission)
        day, at = as_of or now_of(request).date(), instant_of(known_at, request)
        return answer(
            request, {"as_of": day, "known_at": known_at},
            lambda conn, g: model.as_of(conn, g, mission, day, at), encode=encode,
        )  # fmt: skip

    return route


def create_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["missions"])

    encode_missions, encode_timeline = encoder(MissionList), encoder(TimelinePublic)

    @router.get(
        "/missions",
        summary="Every mission with its status",
        response_model=MissionList,
        responses=READ_PROBLEMS,
    )
    def list_missions(request: Request, _: ReaderDep) -> Response:
        now = now_of(request)
        today = now.date()
        return answer(
            request, {"as_of": today},
            lambda conn, g: {"missions": missions.listing(conn, g, today, now)},
            encode=encode_missions,
        )  # fmt: skip

    for name, model, public, summary in (
        ("force-strength", force_strength, ForceStrengthPublic,
         "Deployed and pledged personnel by country"),
        ("funding", funding, FundingPublic, "Pledged, committed, deposited and outstanding USD"),
        ("mandate", mandate, MandatePublic,
         "Mandate status, resolution in force, history and reviews"),
    ):  # fmt: skip
        router.add_api_route(
            f"/missions/{{mission}}/{name}",
            _as_of_route(model, public),
            methods=["GET"],
            name=f"get_{name.replace('-', '_')}",
            summary=summary,
            response_model=public,
            responses=READ_PROBLEMS,
        )

    @router.get(
        "/missions/{mission}/timeline",
        summary="Strength and money at each step, for charts",
        response_model=TimelinePublic,
        responses=READ_PROBLEMS,
    )
    def get_timeline(
        request: Request, store: StoreDep, _: ReaderDep, mission: MissionPath,
        from_: Annotated[QueryDay | None, Query(alias="from")] = None,
        to: Annotated[QueryDay | None, Query()] = None,
        interval: Annotated[timeline.Interval, Query()] = "week",
        known_at: KnownAt = None,
    ) -> Response:  # fmt: skip
        registered_mission(store, mission)
        end = to or now_of(request).date()
        start = from_ or (
            end - timedelta(days=365) if end > date.min + timedelta(days=365) else date.min
        )
        if start > end:
            raise InvalidRequest([FieldError("query.from", "must not be after `to`")])
        if len(timeline.steps(start, end, interval)) > timeline.MAX_POINTS:
            raise InvalidRequest(
                [FieldError("query.interval", f"more than {timeline.MAX_POINTS} points; "
                            "use a longer interval or a shorter range")]
            )  # fmt: skip
        at = instant_of(known_at, request)
        return answer(
            request, {"from": start, "to": end, "interval": interval, "known_at": known_at},
            lambda conn, g: timeline.as_of(conn, g, mission, start, end, interval, at),
            encode=encode_timeline,
        )  # fmt: skip

    strength_of = _provenance(force_strength, "contingent", provenance.CONTINGENT_TYPES,
                              "country", _no_strength)  # fmt: skip
    funds_of = _provenance(funding, "funding", provenance.FUNDS_TYPES, "donor", _no_funds)

    @router.get(
        "/missions/{mission}/force-strength/{country}",
        summary="Where a country's figures come from: its entry and the reports behind it",
        responses={200: {"model": CountryReports}, **READ_PROBLEMS},
    )
    def get_force_strength_of_country(
        request: Request, store: StoreDep, _: ReaderDep, mission: MissionPath,
        country: Annotated[str, Path()], as_of: AsOf = None, known_at: KnownAt = None,
    ) -> Response:  # fmt: skip
        return strength_of(request, store, mission, country, as_of, known_at)

    @router.get(
        "/missions/{mission}/funding/{donor}",
        summary="Where a donor's figures come from: its entry and the reports behind it",
        responses={200: {"model": DonorReports}, **READ_PROBLEMS},
    )
    def get_funding_of_donor(
        request: Request, store: StoreDep, _: ReaderDep, mission: MissionPath,
        donor: Annotated[str, Path()], as_of: AsOf = None, known_at: KnownAt = None,
    ) -> Response:  # fmt: skip
        return funds_of(request, store, mission, donor, as_of, known_at)

    return router


CODE = re.compile(r"^[A-Z][A-Z0-9]{1,15}$")


def _no_strength(code: str) -> dict[str, Any]:
    return {"country": code, "deployed": 0, "pledged": 0, "female": 0,
            "by_category": dict.fromkeys(force_strength.CATEGORIES, 0), "reported_on": None,
            "unreconciled": 0}  # fmt: skip


def _no_funds(code: str) -> dict[str, Any]:
    return {"donor": code, "pledged": "0.00", "committed": "0.00", "deposited": "0.00",
            "outstanding": "0.00"}  # fmt: skip


def _provenance(
    model: AsOfModel, kind: str, types: frozenset[str], field: str,
    empty: Callable[[str], dict[str, Any]],
) -> Callable[..., Response]:  # fmt: skip
    """The answer of one country's or donor's entry with the effective reports behind it."""
    listed = "by_country" if field == "country" else "by_donor"

    def route(
        request: Request, store: Any, mission: str, code: str, as_of: date | None,
        known_at: str | None,
    ) -> Response:  # fmt: skip
        registered_mission(store, mission)
        day, at = as_of or now_of(request).date(), instant_of(known_at, request)
        stream = f"{kind}:{mission}:{code}"
        if not CODE.match(code):
            raise StreamNotFound(stream)

        def read(conn: Connection, g: int) -> dict[str, Any]:
            # Here, not before answer(): a client holding the answer gets its 304 without
            # the stream being read again.
            found = provenance.reports(store.read(stream=stream, limit=1_000_000).events, types,
                                       day, at)  # fmt: skip
            if not found:
                raise StreamNotFound(f"{stream} (no report dated by {day.isoformat()})")
            whole = model.as_of(conn, g, mission, day, at)
            entry = next((e for e in whole[listed] if e[field] == code), None) or empty(code)
            return {
                "mission": mission, "as_of": day.isoformat(), "known_at": whole["known_at"],
                **entry,
                "events": [
                    {**event_json(r.event),
                     "effective": {"occurred_on": r.occurred_on.isoformat(), "data": r.data},
                     "corrected_by": r.corrected_by}
                    for r in found
                ],
            }  # fmt: skip

        return answer(request, {"as_of": day, "known_at": known_at}, read)

    return route
