"""Flagged deadlines and their webhook delivery state (CONTRACT §4 ``GET /v1/alerts``, §7)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import ReaderDep, StoreDep, registered_mission
from api.openapi import READ_PROBLEMS
from api.read_schemas import encoder
from api.schemas import AlertList
from events.fields import MISSION_PATTERN
from projections import alerts


def create_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["alerts"])
    encode = encoder(AlertList)

    @router.get(
        "/alerts",
        summary="Flagged deadlines with their webhook delivery state",
        response_model=AlertList,
        responses=READ_PROBLEMS,
    )
    def list_alerts(
        store: StoreDep,
        _: ReaderDep,
        mission: Annotated[
            str | None, Query(pattern=MISSION_PATTERN, description="only this mission's flags")
        ] = None,
    ) -> Response:
        """Every standing flag in recorded order; `deliveries` has one entry per webhook URL
        (empty until the dispatcher has queued the flag, or when no webhook is configured)."""
        if mission is not None:
            registered_mission(store, mission)
        body = {"alerts": alerts.listing(store, mission)}
        return Response(encode(body), media_type="application/json")

    return router
