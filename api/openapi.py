"""The OpenAPI document: the event catalogue's schemas and the problem responses; /docs."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from starlette.staticfiles import StaticFiles

from api import deps
from api.errors import PROBLEM_JSON, Problem, flat_routes
from events.catalogue import NewEvent
from events.store import MAX_BATCH

_REF = "#/components/schemas/{model}"

NEW_EVENT = {"$ref": "#/components/schemas/NewEvent"}
BATCH = {
    "type": "object",
    "required": ["events"],
    "additionalProperties": False,
    "properties": {
        "events": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": NEW_EVENT}
    },
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting problem answers with these statuses."""
    return {
        status: {
            "description": _DESCRIPTIONS.get(status, "Problem"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


_DESCRIPTIONS = {
    400: "Unparseable body",
    401: "No token, or an unknown one",
    403: "Role or scope does not allow it",
    404: "Unknown mission, event or stream",
    409: "expected_version does not match",
    413: "Body over 64 KiB (one event) or 2 MiB (a batch)",
    415: "Not JSON",
    422: "Schema or rule violation, or a reused Idempotency-Key",
    503: "Database unavailable; retry with the same Idempotency-Key",
}

#: What a read may answer besides its data, and what an append may.
READ_PROBLEMS = problems(401, 404, 422, 503)
WRITE_PROBLEMS = problems(400, 401, 403, 404, 409, 413, 415, 422, 503)


#: Swagger UI's files as the pinned ``fastapi-offline`` ships them, so /docs needs no CDN.
SWAGGER_UI = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS = "/docs/assets"

#: Who may call a read when public reads are on: anybody, or the bearer of a token.
TOKEN_OPTIONAL: list[dict[str, list[str]]] = [{}, {"token": []}]
PUBLIC_READ_401 = (
    "A token that is unknown or revoked. Reads need no token on this server (public reads are "
    "on), but a token that is sent is checked."
)


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    return dependant.call is call or any(_depends_on(d, call) for d in dependant.dependencies)


def _show_public_reads(document: dict[str, Any], routes: list[APIRoute]) -> None:
    """Mark every read (a route depending on ``deps.reader``) as needing no token."""
    for route in routes:
        if not route.include_in_schema or not _depends_on(route.dependant, deps.reader):
            continue
        for method in route.methods or ():
            operation = document["paths"][route.path_format][method.lower()]
            operation["security"] = TOKEN_OPTIONAL
            responses = operation.get("responses", {})
            if "401" in responses:
                # A copy: the routes share their ``responses=`` entries.
                responses["401"] = {**responses["401"], "description": PUBLIC_READ_401}


def install(app: FastAPI, *, public_reads: bool = False) -> None:
    """Build the document once, adding the catalogue's schemas to its components (and saying
    which operations need no token), and serve /docs with Swagger UI from the package."""

    def build() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        catalogue = TypeAdapter(NewEvent).json_schema(ref_template=_REF)
        schemas.update(catalogue.pop("$defs", {}))
        schemas["NewEvent"] = catalogue
        schemas["Problem"] = Problem.model_json_schema(ref_template=_REF)
        schemas.update(schemas["Problem"].pop("$defs", {}))
        if public_reads:
            routes = [r for r in flat_routes(app.routes) if isinstance(r, APIRoute)]
            _show_public_reads(document, routes)
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]

    app.mount(DOCS_ASSETS, StaticFiles(directory=SWAGGER_UI), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        """Swagger UI over the document; no token needed (it holds no data)."""
        root = request.scope.get("root_path", "")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} API",
            swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}/static/favicon.svg",
        )
        page.headers.update(_docs_headers(bytes(page.body)))
        return page


def _docs_headers(page: bytes) -> dict[str, str]:
    """The /docs page's policy: its own origin only (so it cannot quietly lean on a CDN), the
    page's inline start-up script by its hash, and the inline styles Swagger UI sets."""
    scripts = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script).digest()).decode()}'"
        for script in re.findall(rb"<script>(.*?)</script>", page, re.DOTALL)
    )
    return {
        "Content-Security-Policy": (
            f"default-src 'self'; script-src 'self' {scripts}; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
