"""The OpenAPI document: the event catalogue's schemas and the problem responses."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from api.errors import PROBLEM_JSON, Problem
from events.catalogue import NewEvent

_REF = "#/components/schemas/{model}"

NEW_EVENT = {"$ref": "#/components/schemas/NewEvent"}
BATCH = {
    "type": "object",
    "required": ["events"],
    "additionalProperties": False,
    "properties": {
        "events": {"type": "array", "minItems": 1, "maxItems": 1000, "items": NEW_EVENT}
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


def install(app: FastAPI) -> None:
    """Build the document once, adding the catalogue's schemas to its components."""

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
        app.openapi_schema = document
        return document

    app.openapi = build  # type: ignore[method-assign]
