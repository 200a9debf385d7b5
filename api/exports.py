"""CSV exports of the read models with an HXL hashtag row, for HDX and spreadsheets.

The Humanitarian Exchange Language (https://hxlstandard.org) puts a row of hashtags between the
header row and the data, so HDX and HXL tools know what each column holds whatever its header
says. The figures are the JSON routes' own, for the same ``as_of`` and ``known_at``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import ReaderDep, StoreDep, registered_mission
from api.missions import AsOf, AsOfModel, KnownAt, MissionPath, answer, instant_of, now_of
from api.openapi import READ_PROBLEMS
from events.codes import country_name
from projections import force_strength, funding

# (header, HXL hashtag) per column. HXL 1.1 has core hashtags for countries (#country),
# organisations (#org, with +funder for donors), dates and money (#value, #currency);
# attributes may be coined freely, so personnel counts are the mission's #capacity with
# +personnel, +deployed / +pledged, the core sex attribute +f, and the category.
# A headcount's date is when the counted strength held, so #date with the core +occurred ("when
# something took place"; +reported already marks known_at, when the figures were on record) and
# a coined +headcount. The unreconciled change is a difference of personnel, not a count: the
# mission's #capacity+personnel with a coined +unreconciled and without +deployed, so a tool
# summing "#capacity+deployed" columns does not add it to the strength.
FORCE_STRENGTH_COLUMNS = [
    ("country", "#country+code"),
    ("country_name", "#country+name"),
    ("deployed", "#capacity+personnel+deployed"),
    ("pledged", "#capacity+personnel+pledged"),
    ("female", "#capacity+personnel+deployed+f"),
    ("police", "#capacity+personnel+deployed+police"),
    ("military", "#capacity+personnel+deployed+military"),
    ("civilian", "#capacity+personnel+deployed+civilian"),
    ("reported_on", "#date+occurred+headcount"),
    ("unreconciled", "#capacity+personnel+unreconciled"),
    ("mission", "#activity+code"),
    ("as_of", "#date"),
    ("known_at", "#date+reported"),
]
# `deposited` carries HDX's "funding received" tag (#value+funding+total+usd): HDX's percent
# funded divides it by the requirement, as this API's `coverage` divides deposits.
FUNDING_COLUMNS = [
    ("donor", "#org+code+funder"),
    ("donor_name", "#org+name+funder"),
    ("pledged", "#value+funding+pledged+usd"),
    ("committed", "#value+funding+committed+usd"),
    ("deposited", "#value+funding+total+received+usd"),
    ("outstanding", "#value+funding+outstanding+usd"),
    ("currency", "#currency"),
    ("mission", "#activity+code"),
    ("as_of", "#date"),
    ("known_at", "#date+reported"),
]

# Names for the default donor organisations; a code configured beyond these is its own name.
ORGANISATION_NAMES = {
    "EU": "European Union",
    "CARICOM": "Caribbean Community",
    "OAS": "Organization of American States",
    "UN": "United Nations",
}


def _csv(columns: list[tuple[str, str]], rows: Iterable[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)  # RFC 4180: CRLF line ends, quoted only where needed
    writer.writerow([name for name, _ in columns])
    writer.writerow([tag for _, tag in columns])
    writer.writerows([row[name] for name, _ in columns] for row in rows)
    return out.getvalue().encode()


def force_strength_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per country of a force-strength answer."""
    common = {k: answer[k] for k in ("mission", "as_of", "known_at")}
    return [
        {**common, **c, **c["by_category"], "country_name": country_name(c["country"])}
        for c in answer["by_country"]
    ]


def funding_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per donor of a funding answer (USD as decimal strings)."""
    common = {k: answer[k] for k in ("mission", "as_of", "known_at", "currency")}
    return [
        {**common, **d,
         "donor_name": ORGANISATION_NAMES.get(d["donor"]) or country_name(d["donor"])}
        for d in answer["by_donor"]
    ]  # fmt: skip


CSV_RESPONSE = {
    200: {
        "description": "CSV (RFC 4180, UTF-8): a header row, an HXL hashtag row, then the data.",
        "content": {"text/csv": {"schema": {"type": "string"}}},
    },
    **READ_PROBLEMS,
}


def create_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["missions"])

    def route(
        name: str,
        model: AsOfModel,
        columns: list[tuple[str, str]],
        rows: Callable[[dict[str, Any]], list[dict[str, Any]]],
    ) -> Callable[..., Response]:
        def export(
            request: Request, store: StoreDep, _: ReaderDep, mission: MissionPath,
            as_of: AsOf = None, known_at: KnownAt = None,
        ) -> Response:  # fmt: skip
            # The JSON routes' defaults and parsing: both answer the same question alike.
            registered_mission(store, mission)
            day: date = as_of or now_of(request).date()
            at = instant_of(known_at, request)
            filename = f"{mission}-{name}-{day.isoformat()}.csv"
            return answer(
                request, {"as_of": day, "known_at": known_at},
                lambda conn, g: model.as_of(conn, g, mission, day, at),
                encode=lambda found: _csv(columns, rows(found)), media_type="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )  # fmt: skip

        return export

    for name, model, columns, rows, summary in (
        ("force-strength", force_strength, FORCE_STRENGTH_COLUMNS, force_strength_rows,
         "Force strength by country as CSV with HXL hashtags"),
        ("funding", funding, FUNDING_COLUMNS, funding_rows,
         "Funding by donor (USD) as CSV with HXL hashtags"),
    ):  # fmt: skip
        router.add_api_route(
            f"/missions/{{mission}}/{name}.csv",
            route(name, model, columns, rows),
            methods=["GET"],
            name=f"export_{name.replace('-', '_')}",
            summary=summary,
            response_class=Response,
            responses=CSV_RESPONSE,
        )
    return router
