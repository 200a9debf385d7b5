"""The dashboard: the page at ``GET /`` and its assets; the browser reads the ``/v1`` API.

The page itself needs no token (it holds no data); every figure comes from the ``/v1`` reads,
which carry the token the user gives when the server asks for one. Nothing is fetched from the
internet and nothing is built: plain HTML, CSS and a few JavaScript modules drawing SVG charts.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated

import orjson
import pycountry
from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response

from api import reports
from api.errors import RouteNotFound

STATIC = Path(__file__).parent / "static"

#: The files under ``/static/`` and their media types; nothing else in the folder is served.
#: The page's ES modules, loaded from ``main.js``: one concern each.
MODULES = (
    "api.js", "charts.js", "documents.js", "dom.js", "events.js", "format.js", "live.js",
    "main.js", "mandate.js", "provenance.js", "state.js", "tables.js", "timetravel.js",
)  # fmt: skip
ASSETS = {
    "dashboard.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
} | dict.fromkeys(MODULES, "text/javascript; charset=utf-8")

# The page loads only its own assets and talks only to its own origin; sources cited by events
# are plain links, opened without a referrer.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; "
        # The report's inline style sheet, for a report opened from here as a Blob URL (which
        # inherits this policy); no other inline style.
        f"style-src 'self' {reports.STYLE_HASH}; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidated by ETag on every load, so an upgraded server never pairs old and new files.
    "Cache-Control": "no-cache",
}


@cache
def _country_names() -> bytes:
    names = {c.alpha_3: getattr(c, "common_name", c.name) for c in pycountry.countries}
    return orjson.dumps(names, option=orjson.OPT_SORT_KEYS)


def create_router() -> APIRouter:
    router = APIRouter(tags=["dashboard"], include_in_schema=False)

    @router.get("/")
    def dashboard() -> FileResponse:
        """The dashboard page."""
        return FileResponse(
            STATIC / "index.html", media_type="text/html; charset=utf-8", headers=SECURITY_HEADERS
        )

    @router.get("/static/countries.json")
    def country_names() -> Response:
        """ISO 3166-1 alpha-3 codes to English short names, for labels."""
        return Response(
            _country_names(),
            media_type="application/json",
            headers={"Cache-Control": "max-age=86400"},
        )

    @router.get("/static/{name}")
    def asset(name: Annotated[str, PathParam(max_length=64)]) -> FileResponse:
        """One of the dashboard's files."""
        media_type = ASSETS.get(name)
        if media_type is None:
            raise RouteNotFound(f"no route /static/{name}")
        return FileResponse(STATIC / name, media_type=media_type, headers=SECURITY_HEADERS)

    return router
