"""The situation report over HTTP (CONTRACT §4): JSON, Markdown and HTML of one report.

The worked example is the bundled demo timeline: the week after 1 January 2025 is when the
first Kenyan contingent's 400 was corrected to 200 (4 January), so that week's report restates
it: Kenya deployed on 1 January 600 as reported then, 400 as known now.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from api.report_schemas import ReportPublic
from sitrep.demo import load_timeline
from tests.api.conftest import Api
from tests.api.test_events_api import assert_problem
from tests.conftest import arrived, body

REPORT = "/v1/missions/mss-haiti/report"
WEEK = {"from": "2025-01-01", "to": "2025-01-08", "known_at": "2026-06-01T00:00:00Z"}


@pytest.fixture
async def demo(api: Api) -> Api:
    load_timeline(api.app.state.store)
    return api


async def test_the_week_of_the_correction_restates_the_first_contingent(demo: Api) -> None:
    answer = (await demo.get(REPORT, **WEEK)).json()
    assert (answer["mission"], answer["from"], answer["to"], answer["known_at"]) == (
        "mss-haiti", "2025-01-01", "2025-01-08", "2026-06-01T00:00:00.000000Z",
    )  # fmt: skip
    assert answer["strength"]["from"] == {"deployed": 432, "pledged": 3150}
    assert answer["strength"]["to"] == {"deployed": 590, "pledged": 3300}
    guatemala = next(c for c in answer["strength"]["by_country"] if c["country"] == "GTM")
    assert guatemala == {"country": "GTM", "deployed_from": 0, "deployed_to": 150,
                         "pledged_from": 0, "pledged_to": 150}  # fmt: skip
    assert answer["funding"]["to"]["deposited"] == "85000000.00"
    assert answer["funding"]["requirement"] == "600000000.00"
    assert answer["mandate"] == {"status": "active", "resolution": "S/RES/2751 (2024)",
                                 "expires_on": "2025-10-02", "days_remaining": 267}  # fmt: skip
    # The period: Guatemala's pledge and two flights, El Salvador's airmen, dated 3-4 January.
    assert [(e["effective"]["occurred_on"], e["type"], e["data"]["country"])
            for e in answer["events"]] == [
        ("2025-01-03", "PersonnelPledged", "GTM"), ("2025-01-03", "ContingentArrived", "GTM"),
        ("2025-01-03", "ContingentArrived", "SLV"), ("2025-01-04", "ContingentArrived", "GTM"),
    ]  # fmt: skip
    assert all(e["source"]["title"] for e in answer["events"])
    restated = answer["restated"]
    assert restated["known_then"] == "2025-01-01T23:59:59.999999Z"
    assert restated["strength"]["deployed_then"] == 632
    assert restated["strength"]["deployed_now"] == 432
    assert restated["strength"]["by_country"] == [{
        "country": "KEN", "deployed_then": 600, "deployed_now": 400,
        "pledged_then": 1000, "pledged_now": 1000,
    }]  # fmt: skip
    (fix,) = restated["events"]
    assert fix["type"] == "EventCorrected" and fix["occurred_on"] == "2025-01-04"
    assert fix["concerns"]["type"] == "ContingentArrived"
    assert fix["concerns"]["then"] == {"occurred_on": "2024-06-25",
                                       "data": {**fix["concerns"]["now"]["data"],
                                                "personnel": 400}}  # fmt: skip
    assert fix["concerns"]["now"]["data"]["personnel"] == 200
    assert "200 police officers, not 400" in fix["data"]["reason"]
    assert answer["deadlines"] == [] and answer["alerts"] == []
    ReportPublic.model_validate(answer)  # the answer fits the schema OpenAPI gives


async def test_the_report_answers_304_to_a_client_that_has_it(demo: Api) -> None:
    first = await demo.get(REPORT, **WEEK)
    etag = first.headers["etag"]
    having = demo.auth("reader") | {"If-None-Match": etag}
    again = await demo.client.get(REPORT, params=WEEK, headers=having)
    assert again.status_code == 304
    md = await demo.client.get(f"{REPORT}.md", params=WEEK, headers=having)
    assert md.status_code == 200, "each form has its own tag"
    # Something new recorded: a new answer.
    await demo.post("admin", arrived(5, on="2025-01-05", country="JAM"))
    changed = await demo.client.get(REPORT, params=WEEK, headers=having)
    assert changed.status_code == 200 and changed.headers["etag"] != etag


async def test_defaults_are_the_week_up_to_today(demo: Api) -> None:
    answer = (await demo.get(REPORT)).json()
    today = demo.app.state.clock().date()
    assert answer["to"] == today.isoformat()
    assert (today - __import__("datetime").date.fromisoformat(answer["from"])).days == 7
    only_to = (await demo.get(REPORT, to="2025-01-08")).json()
    assert only_to["from"] == "2025-01-01"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2025-01-08", "to": "2025-01-08"}, "query.from"),
        ({"from": "2025-01-09", "to": "2025-01-08"}, "query.from"),
        ({"from": "2024-01-01", "to": "2025-01-08"}, "query.from"),  # 373 days
        ({"from": "2025-13-01"}, "query.from"),
        ({"known_at": "yesterday"}, "query.known_at"),
    ],
)
async def test_a_bad_window_is_a_422_naming_it(
    demo: Api, params: dict[str, str], field: str
) -> None:
    for form in ("", ".md", ".html"):
        problem = assert_problem(await demo.get(REPORT + form, **params), 422, "invalid-request")
        assert field in [e["field"] for e in problem["errors"]]


async def test_366_days_is_the_longest_report(demo: Api) -> None:
    year = await demo.get(REPORT, **{"from": "2024-01-08", "to": "2025-01-08"})
    assert year.status_code == 200, year.text


async def test_unknown_mission_and_no_token(demo: Api) -> None:
    assert_problem(await demo.get("/v1/missions/nowhere/report"), 404, "mission-not-found")
    assert_problem(await demo.get("/v1/missions/nowhere/report.html"), 404, "mission-not-found")
    assert_problem(await demo.get(REPORT, who=None), 401, "unauthenticated")


# --- the same figures in every form ------------------------------------------------------


class Figures(HTMLParser):
    """Every element's text by its ``data-figure``, and the page's tags and attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.found: dict[str, str] = {}
        self.rows: dict[str, dict[str, str]] = {}
        self.tags: list[str] = []
        self._open: list[tuple[str | None, str | None]] = []
        self._row: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "tr":
            self._row = a.get("data-country") or a.get("data-donor")
        self._open.append((a.get("data-figure"), self._row))

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._row = None
        if self._open and tag not in ("br", "meta"):
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open and self._open[-1][0]:
            figure, row = self._open[-1]
            assert figure is not None
            if row:
                self.rows.setdefault(row, {})[figure] = data.strip()
            else:
                self.found[figure] = self.found.get(figure, "") + data.strip()


def plain(text: str) -> str:
    return text.replace(",", "").replace(" %", "")


async def test_markdown_and_html_carry_the_json_figures(demo: Api) -> None:
    answer = (await demo.get(REPORT, **WEEK)).json()
    md = await demo.get(f"{REPORT}.md", **WEEK)
    assert md.headers["content-type"] == "text/markdown; charset=utf-8"
    page = await demo.get(f"{REPORT}.html", **WEEK)
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    s, f, rs = answer["strength"], answer["funding"], answer["restated"]

    # Markdown: the tables read back.
    rows = {}
    for line in md.text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 3:
            rows.setdefault(cells[0], cells[1:])
    assert [plain(c) for c in rows["Personnel deployed"][:2]] == [
        str(s["from"]["deployed"]), str(s["to"]["deployed"])
    ]
    assert plain(rows["Deposited (USD)"][1]) == f["to"]["deposited"]
    assert plain(rows["KEN deployed"][0]) == str(rs["strength"]["by_country"][0]["deployed_then"])
    for c in s["by_country"]:
        assert [plain(x) for x in rows[c["country"]][:2]] == [
            str(c["deployed_from"]), str(c["deployed_to"])
        ]
    assert f"known at** {answer['known_at']}" in md.text
    assert f"report?from=2025-01-01&to=2025-01-08&known_at={answer['known_at']}" in md.text

    # HTML: the figures marked on the page.
    parsed = Figures()
    parsed.feed(page.text)
    assert plain(parsed.found["strength.to.deployed"]) == str(s["to"]["deployed"])
    assert parsed.found["strength.change.deployed"] == "+158"
    assert plain(parsed.found["funding.to.deposited"]) == f["to"]["deposited"]
    assert plain(parsed.found["funding.requirement"]) == f["requirement"]
    assert plain(parsed.found["funding.coverage"]) == f"{f['coverage'] * 100:.1f}"
    assert parsed.found["mandate.status"] == answer["mandate"]["status"]
    assert plain(parsed.found["restated.strength.deployed_then"]) == "632"
    for c in s["by_country"]:
        assert {k: plain(v) for k, v in parsed.rows[c["country"]].items()
                if not k.endswith("change")} == {
            "deployed_from": str(c["deployed_from"]), "deployed_to": str(c["deployed_to"]),
            "pledged_from": str(c["pledged_from"]), "pledged_to": str(c["pledged_to"]),
        }  # fmt: skip
    assert "2025-01-01" in page.text and answer["known_at"] in page.text
    # Nothing on the page is fetched from elsewhere, and no script runs.
    assert "script" not in parsed.tags and "link" not in parsed.tags
    assert not re.search(r"""(src|href)=["']?(?!https?://)[a-z]+:""", page.text)
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_strings_from_events_are_data_in_every_form(api: Api) -> None:
    await api.post("admin", body("MissionRegistered", "2024-01-01", {
        "name": "<b>Bold</b> mission", "lead_country": "KEN", "host_country": "HTI",
    }))  # fmt: skip
    hostile = arrived(5, on="2024-06-25")
    hostile["notes"] = ('<script>alert("notes")</script> & <img src=x onerror=alert(1)> '
                        "*bold* [x](http://evil.example) | pipe")  # fmt: skip
    hostile["source"] = {"title": "</a><script>alert(2)</script>",
                         "url": "https://example.org/a?b=\"c\"&d=<e>"}  # fmt: skip
    assert (await api.post("kenya", hostile)).status_code == 201
    window = {"from": "2024-06-20", "to": "2024-06-27"}
    page = (await api.get(f"{REPORT}.html", **window)).text
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#34;notes&#34;)&lt;/script&gt;" in page
    assert "&lt;b&gt;Bold&lt;/b&gt; mission" in page
    assert 'href="https://example.org/a?b=%22c%22&amp;d=%3Ce%3E"' in page
    parsed = Figures()
    parsed.feed(page)
    assert "script" not in parsed.tags and "img" not in parsed.tags
    md = (await api.get(f"{REPORT}.md", **window)).text
    assert "<script>" not in md and "<b>" not in md
    assert r'\<script\>alert("notes")\</script\>' in md
    assert r"\*bold\* \[x\](http://evil.example) \| pipe" in md
    assert "](https://example.org/a?b=%22c%22&d=%3Ce%3E)" in md
    assert "[x](http://evil.example)" not in md
    assert r"[\</a\>\<script\>alert(2)\</script\>](" in md  # the title, as link text


async def test_openapi_describes_the_report(api: Api) -> None:
    doc = (await api.client.get("/openapi.json")).json()
    get = doc["paths"]["/v1/missions/{mission}/report"]["get"]
    schema = get["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ReportPublic"}
    report = doc["components"]["schemas"]["ReportPublic"]
    assert {"mission", "from", "to", "known_at", "strength", "funding", "mandate", "events",
            "restated", "deadlines", "alerts"} <= set(report["properties"])  # fmt: skip
    md = doc["paths"]["/v1/missions/{mission}/report.md"]["get"]["responses"]["200"]
    assert "text/markdown" in md["content"]
    html = doc["paths"]["/v1/missions/{mission}/report.html"]["get"]["responses"]["200"]
    assert "text/html" in html["content"]


async def test_deadlines_ahead_and_the_alerts_of_the_period(haiti: Api) -> None:
    from datetime import date

    from projections.runner import Projector
    from sitrep.deadlines import check_deadlines
    from tests.conftest import authorized

    assert (await haiti.post("admin", authorized(expires_on="2024-10-02"))).status_code == 201
    for review_id, due_on in (("SG-1", "2024-09-15"), ("SG-2", "2025-03-01"),
                              ("SG-0", "2024-08-01")):  # fmt: skip
        review = body("ReviewScheduled", "2024-01-10", {
            "review_id": review_id, "body": "secretary_general", "due_on": due_on,
            "title": f"Report {review_id}",
        })  # fmt: skip
        assert (await haiti.post("admin", review)).status_code == 201
    store = haiti.app.state.store
    flags = check_deadlines(store, Projector(store), date(2024, 9, 5), [90, 30, 14, 7, 1])
    assert flags
    answer = (await haiti.get(REPORT, **{"from": "2024-09-01", "to": "2024-09-08"})).json()
    assert answer["deadlines"] == [
        {"deadline": "review_due", "due_on": "2024-08-01", "days_remaining": -38,
         "review_id": "SG-0"},  # overdue: listed
        {"deadline": "review_due", "due_on": "2024-09-15", "days_remaining": 7,
         "review_id": "SG-1"},
        {"deadline": "mandate_expiry", "due_on": "2024-10-02", "days_remaining": 24,
         "resolution": "S/RES/2699 (2023)"},
    ]  # SG-2 is more than 90 days after `to`  # fmt: skip
    assert sorted(a["id"] for a in answer["alerts"]) == sorted(f.id for f in flags)
    assert all(a["effective"]["occurred_on"] == "2024-09-05" for a in answer["alerts"])
    ReportPublic.model_validate(answer)
    md = (await haiti.get(f"{REPORT}.md", **{"from": "2024-09-01", "to": "2024-09-08"})).text
    assert "overdue by 38 days" in md and "24 days after 2024-09-08" in md
    # A completed review is no longer due; an ended mandate's expiry is not either.
    done = body("ReviewCompleted", "2024-09-07", {"review_id": "SG-1", "outcome": "submitted"})
    assert (await haiti.post("admin", done)).status_code == 201
    ended = body("MandateEnded", "2024-09-08", {"reason": "handed over"})
    assert (await haiti.post("admin", ended)).status_code == 201
    later = (await haiti.get(REPORT, **{"from": "2024-09-01", "to": "2024-09-08"})).json()
    assert [d.get("review_id") for d in later["deadlines"]] == ["SG-0"]
    assert later["mandate"]["status"] == "ended"


async def test_the_pages_policy_allows_exactly_its_own_style_sheet(demo: Api) -> None:
    import base64
    import hashlib

    page = await demo.get(f"{REPORT}.html", **WEEK)
    (style,) = re.findall(r"<style>(.*?)</style>", page.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    policy = page.headers["content-security-policy"]
    assert f"style-src 'sha256-{digest}';" in policy and "unsafe-inline" not in policy
    # The dashboard allows the same sheet, for a report it opens from a Blob URL.
    dashboard = await demo.client.get("/")
    assert f"'sha256-{digest}'" in dashboard.headers["content-security-policy"]


async def test_a_headcount_returns_unreconciled_change_is_reported(demo: Api) -> None:
    """The demo's week of Kenya's returns: 600 on 5 February 2025, 200 beyond the movements
    (the third contingent, which no source dates), then 744 on the 6th, which they explain."""
    week = {"from": "2025-02-01", "to": "2025-02-08", "known_at": "2026-06-01T00:00:00Z"}
    answer = (await demo.get(REPORT, **week)).json()
    returns = [(e["effective"]["occurred_on"], e["effective"]["data"]["personnel"],
                e["unreconciled"]) for e in answer["events"] if e["type"] == "StrengthReported"]
    assert returns == [("2025-02-05", 600, 200), ("2025-02-06", 744, 0)]  # fmt: skip
    assert all("unreconciled" not in e for e in answer["events"]
               if e["type"] != "StrengthReported")  # fmt: skip
    ReportPublic.model_validate(answer)
    md = (await demo.get(f"{REPORT}.md", **week)).text
    assert "600 police deployed, +200 beyond the movements recorded (unreconciled)." in md
    page = (await demo.get(f"{REPORT}.html", **week)).text
    assert '<strong data-figure="unreconciled">+200</strong>' in page
