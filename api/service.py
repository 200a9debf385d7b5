"""Service endpoints that need no token: health, readiness, problem type descriptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text

from api.deps import StoreDep
from api.errors import BY_SLUG, RouteNotFound
from api.openapi import problems
from api.read_schemas import HealthPublic, ReadinessPublic, UnreadyPublic


def create_router() -> APIRouter:
    router = APIRouter(tags=["service"])

    # On the event loop, not in the thread pool: busy worker threads must not delay the answer.
    # Load balancers probe with HEAD, which sitrep.app answers as GET without the body.
    @router.get("/healthz", summary="The process is up", response_model=HealthPublic)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="The database answers, its schema is current; the read models' lag",
        response_model=ReadinessPublic,
        responses={503: {"description": "not ready", "model": UnreadyPublic}},
    )
    def readyz(request: Request, store: StoreDep) -> Response:
        readiness: Callable[[], dict[str, Any]] | None = getattr(
            request.app.state, "readiness", None
        )
        try:
            if readiness is None:
                with store.engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                found: dict[str, Any] = {}
            else:
                found = readiness()
        except Exception as exc:
            return JSONResponse({"status": "unavailable", "detail": type(exc).__name__}, 503)
        ready = found.get("migrations", "current") == "current"
        return JSONResponse({"status": "ready" if ready else "not ready", **found},
                            200 if ready else 503)  # fmt: skip

    @router.get(
        "/problems/{slug}",
        summary="What a problem type means",
        response_class=HTMLResponse,
        responses=problems(404),
    )
    def problem_type(slug: str, request: Request) -> HTMLResponse:
        problem = BY_SLUG.get(slug)
        if problem is None:
            raise RouteNotFound(f"no problem type {slug!r}")
        return HTMLResponse(
            f"<!doctype html><title>{problem.title}</title><h1>{problem.title}</h1>"
            f"<p>HTTP {problem.status}</p><p>{problem.description}</p>"
        )

    return router
