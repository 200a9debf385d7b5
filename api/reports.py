"""The situation report over HTTP and on paper (CONTRACT §4): JSON, Markdown and a printable page.

One report, three forms: :func:`compute` asks the read models (projections.report); the
Markdown and the HTML are Jinja2 templates in ``api/templates`` rendering that same dict, with
autoescaping on for HTML and every string from an event escaped for Markdown too, so a report's
notes are data in every form, never markup.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from api.deps import ReaderDep, StoreDep, registered_mission
from api.errors import InvalidRequest
from api.missions import KnownAt, MissionPath, answer, instant_of, now_of
from api.openapi import READ_PROBLEMS
from api.read_schemas import QueryDay
from api.report_schemas import ReportPublic
from events.errors import FieldError
from events.store import EventStore
from projections import report
from projections.runner import Projector

MEDIA = {
    "json": "application/json",
    "md": "text/markdown; charset=utf-8",
    "html": "text/html; charset=utf-8",
}


def window(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The period asked: ``to`` default today, ``from`` default a week before ``to``."""
    end = end or today
    start = start or end - timedelta(days=7)
    if start >= end:
        raise InvalidRequest([FieldError("query.from", "must be before `to`")])
    if (end - start).days > report.MAX_DAYS:
        raise InvalidRequest(
            [FieldError("query.from", f"at most {report.MAX_DAYS} days before `to`")]
        )
    return start, end


def compute(
    store: EventStore, projector: Projector, mission: str, start: date, end: date,
    known_at: datetime,
) -> dict[str, Any]:  # fmt: skip
    """The situation report of CONTRACT §4 (from=start, to=end) as its JSON dict."""
    window(start, end, end)
    registered_mission(store, mission)
    return projector.query(
        lambda conn, g: report.build(conn, g, mission, start, end, known_at, store.recorder)
    )


# --- rendering ------------------------------------------------------------------------------

#: What can start markup inside a line (every interpolation follows text, so the characters
#: that matter only at a line's start need nothing): emphasis, code, links, HTML, tables.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


def md(value: Any) -> str:
    """Text safe inside Markdown (tables included): markup characters escaped, one line."""
    if value is None:
        return ""
    text = " ".join(str(value).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def link(url: Any) -> str | None:
    """A source URL fit for a link target: http(s) only, with the characters that would end
    a Markdown link target or break out of an attribute percent-encoded."""
    if not isinstance(url, str) or not re.match(r"^https?://", url, re.IGNORECASE):
        return None
    return re.sub(r"[\s()<>\"'\\`]", lambda m: f"%{ord(m.group()):02X}", url)


def signed(value: Any) -> str:
    """A change with its sign: +200, -35, 0 (money to the cent)."""
    if isinstance(value, str):
        amount = Decimal(value)
        text = f"{abs(amount):,.2f}"
    else:
        amount = Decimal(value)
        text = f"{abs(int(value)):,}"
    if amount > 0:
        return f"+{text}"
    return f"-{text}" if amount < 0 else ("0.00" if isinstance(value, str) else "0")


def change(before: Any, after: Any) -> str:
    if isinstance(before, str) or isinstance(after, str):
        return signed(str(Decimal(after or "0") - Decimal(before or "0")))
    return signed((after or 0) - (before or 0))


def number(value: Any) -> str:
    if value is None:
        return "\u2013"
    if isinstance(value, str):
        return f"{Decimal(value):,.2f}"
    return f"{value:,}"


def percent(value: float | None) -> str:
    return "\u2013" if value is None else f"{value * 100:.1f} %"


def _units(data: dict[str, Any]) -> str:
    return f"{data.get('personnel', 0):,} {data.get('category', '')}"


def describe(type_: str, data: dict[str, Any]) -> str:
    """One plain sentence for an event's effective data (unescaped: the template escapes)."""
    d = data
    money = (
        f"{d.get('donor')} {{}} {Decimal(str(d.get('amount', 0))):,.2f} {d.get('currency')} "
        f"({str(d.get('channel', '')).replace('_', ' ')})"
    )
    said = {
        "MissionRegistered": lambda: (
            f"{d.get('name')} registered (lead {d.get('lead_country')}, "
            f"host {d.get('host_country')})"
        ),
        "MandateAuthorized": lambda: (
            f"{d.get('resolution')} authorized the mandate to {d.get('expires_on')}" + _ceiling(d)
        ),
        "MandateRenewed": lambda: (
            f"{d.get('resolution')} renewed the mandate to {d.get('expires_on')}" + _ceiling(d)
        ),
        "MandateEnded": lambda: (
            "The mandate ended"
            + (f"; succeeded by {d['successor_mission']}" if d.get("successor_mission") else "")
        ),
        "ReviewScheduled": lambda: (
            f"Review {d.get('review_id')} ({d.get('body')}) due {d.get('due_on')}: {d.get('title')}"
        ),
        "ReviewCompleted": lambda: f"Review {d.get('review_id')} completed: {d.get('outcome')}",
        "BudgetRequirementSet": lambda: (
            f"Budget requirement US$ "
            f"{Decimal(str(d.get('amount_usd', 0))):,.2f} for {d.get('period_start')} to "
            f"{d.get('period_end')}"
        ),
        "PersonnelPledged": lambda: f"{d.get('country')} pledged {_units(d)}",
        "PledgeWithdrawn": lambda: f"{d.get('country')} withdrew a pledge of {_units(d)}",
        "ContingentArrived": lambda: (
            f"{_units(d)} of {d.get('country')} arrived"
            + (f" ({d['female']:,} women)" if d.get("female") else "")
        ),
        "ContingentDeparted": lambda: (
            f"{_units(d)} of {d.get('country')} departed "
            f"({str(d.get('reason', '')).replace('_', ' ')})"
        ),
        "StrengthReported": lambda: (
            f"{d.get('country')} reported {_units(d)} deployed"
            + (f" ({d['female']:,} women)" if d.get("female") is not None else "")
        ),
        "FundsPledged": lambda: money.format("pledged"),
        "FundsCommitted": lambda: money.format("committed"),
        "FundsDeposited": lambda: money.format("deposited"),
        "DeadlineFlagged": lambda: (
            f"{str(d.get('deadline', '')).replace('_', ' ')} due "
            f"{d.get('due_on')}: {d.get('days_remaining')} days remaining"
        ),
        "EventCorrected": lambda: f"Correction: {d.get('reason')}",
        "EventRetracted": lambda: f"Retraction: {d.get('reason')}",
    }
    found = said.get(type_)
    return found() if found else ", ".join(f"{k}: {v}" for k, v in d.items())


def _ceiling(d: dict[str, Any]) -> str:
    ceiling = d.get("personnel_ceiling")
    return f", ceiling {ceiling:,}" if ceiling else ""


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=PackageLoader("api", "templates"),
        autoescape=select_autoescape(["html", "j2"]) if autoescape else False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(md=md, link=link, signed=signed, change=change, number=number,
                       percent=percent)  # fmt: skip
    env.globals.update(describe=describe)
    return env


_HTML, _MD = _environment(autoescape=True), _environment(autoescape=False)


def _style_source() -> str:
    """The page's one inline style sheet, as the template holds it (it interpolates nothing)."""
    assert _HTML.loader is not None
    source = _HTML.loader.get_source(_HTML, "report.html.j2")[0]
    found = re.search(r"<style>(.*?)</style>", source, re.DOTALL)
    assert found is not None, "the report page has its style sheet"
    return found.group(1)


#: The CSP source allowing exactly that style sheet: the page runs no script and loads nothing,
#: and the dashboard, whose policy a report opened from it as a Blob URL inherits, allows it too.
_DIGEST = base64.b64encode(hashlib.sha256(_style_source().encode()).digest()).decode()
STYLE_HASH = f"'sha256-{_DIGEST}'"
HEADERS = {
    "html": {"Content-Security-Policy": f"default-src 'none'; style-src {STYLE_HASH}; "
             "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
}  # fmt: skip


def _context(body: dict[str, Any], query: str) -> dict[str, Any]:
    return {"r": body, "query": query, "shown": [e for e in body["events"]
                                                 if e["type"] != report.ALERT]}  # fmt: skip


def markdown(body: dict[str, Any]) -> str:
    """The report as Markdown, for a cable or a wiki."""
    return _MD.get_template("report.md.j2").render(_context(body, _query(body)))


def html(body: dict[str, Any]) -> str:
    """The report as one printable HTML page (A4, and a phone's screen)."""
    page = _HTML.get_template("report.html.j2").render(_context(body, _query(body)))
    assert not isinstance(page, Markup)
    return page


def _query(body: dict[str, Any]) -> str:
    return f"from={body['from']}&to={body['to']}&known_at={body['known_at']}"


RENDER = {"md": markdown, "html": html}


# --- routes -------------------------------------------------------------------------------


From = Annotated[
    QueryDay | None, Query(alias="from", description="the day before the period; default a week "
                       "before `to`")
]  # fmt: skip
To = Annotated[QueryDay | None, Query(description="the period's last day; default today (UTC)")]


def create_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["report"])

    def route(form: str) -> Any:
        def get_report(
            request: Request, store: StoreDep, _: ReaderDep, mission: MissionPath,
            from_: From = None, to: To = None, known_at: KnownAt = None,
        ) -> Response:  # fmt: skip
            start, end = window(from_, to, now_of(request).date())
            at = instant_of(known_at, request)
            registered_mission(store, mission)

            def read(conn: Any, g: int) -> dict[str, Any]:
                return report.build(conn, g, mission, start, end, at, store.recorder)

            encode = RENDER.get(form)
            return answer(
                request, {"from": start, "to": end, "known_at": known_at, "form": form}, read,
                encode=(lambda b: encode(b).encode()) if encode else orjson.dumps,
                media_type=MEDIA[form], headers=HEADERS.get(form),
            )  # fmt: skip

        return get_report

    content = {
        "md": {"text/markdown": {"schema": {"type": "string"}}},
        "html": {"text/html": {"schema": {"type": "string"}}},
    }
    router.add_api_route(
        "/missions/{mission}/report", route("json"), methods=["GET"], name="get_report",
        summary="The situation report of a period: figures, events, restatements, deadlines",
        responses={200: {"model": ReportPublic}, **READ_PROBLEMS},
    )  # fmt: skip
    for form, what in (("md", "Markdown"), ("html", "a printable HTML page")):
        router.add_api_route(
            f"/missions/{{mission}}/report.{form}", route(form), methods=["GET"],
            name=f"get_report_{form}", summary=f"The situation report as {what}",
            # A plain Response: the document lists only the text form, not an empty JSON one.
            response_class=Response,
            responses={200: {"content": content[form], "description": f"the report as {what}"},
                       **READ_PROBLEMS},
        )  # fmt: skip
    return router
