"""The dashboard page and its assets (issue 6), without a browser.

The page needs no token whatever the settings say (the data calls carry one); its markup has
the landmarks and labels assistive technology relies on; its assets are served from the package
with the right media types and a content security policy, and nothing else in the folder is.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import pytest

from api.dashboard import ASSETS, MODULES, STATIC
from tests.api.conftest import Api, open_api
from tests.conftest import Clock


@pytest.fixture
async def site(tmp_path: Path, clock: Clock) -> AsyncIterator[Api]:
    # Public reads off: the page itself must still load.
    async for value in open_api(f"sqlite:///{tmp_path}/dashboard.db", clock):
        yield value


class Markup(HTMLParser):
    """Tags with their attributes, and which ids a <label for> names."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


async def test_the_page_is_served_without_a_token_with_its_landmarks(site: Api) -> None:
    response = await site.client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"

    page = Markup()
    page.feed(response.text)
    assert page.all("html")[0]["lang"] == "en"
    for landmark in ("header", "main", "footer"):
        assert len(page.all(landmark)) == 1, landmark
    assert len(page.all("h1")) == 1
    assert len(page.all("h2")) >= 8  # one per section

    # every form control has a label
    labelled = {attrs["for"] for attrs in page.all("label")}
    controls = [a for t in ("input", "select") for a in page.all(t)]
    assert controls
    assert all(control["id"] in labelled for control in controls)
    inputs = {attrs["id"]: attrs for attrs in page.all("input")}
    assert inputs["as-of"]["type"] == "date"
    assert inputs["known-at"]["type"] == "datetime-local"

    # the numbers are tables with captions, not only pictures
    assert {"strength-table", "funding-table", "reviews-table", "timeline-table"} <= {
        attrs["id"] for attrs in page.all("table")
    }
    assert response.text.count("<caption>") >= 4

    # only the app's own assets: nothing from the internet, no inline script (the CSP forbids it)
    sources = [a["src"] for a in page.all("script")] + [a["href"] for a in page.all("link")]
    assert sources and all(s and s.startswith("/static/") for s in sources)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text)


@pytest.mark.parametrize(("name", "media_type"), sorted(ASSETS.items()))
async def test_assets_are_served_with_their_media_types(
    site: Api, name: str, media_type: str
) -> None:
    response = await site.client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == media_type
    assert response.content == (STATIC / name).read_bytes()
    assert "etag" in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"


def test_every_file_in_the_folder_is_an_asset_or_the_page() -> None:
    assert {p.name for p in STATIC.iterdir()} == set(ASSETS) | {"index.html"}


def _scripts() -> dict[str, str]:
    return {name: (STATIC / name).read_text() for name in MODULES}


IMPORT = re.compile(r"""^import\s[^;]*?\sfrom\s+"([^"]+)";""", re.MULTILINE | re.DOTALL)


async def test_the_page_loads_its_modules_from_one_entry(site: Api) -> None:
    page = Markup()
    page.feed((await site.client.get("/")).text)
    assert page.all("script") == [{"type": "module", "src": "/static/main.js"}]
    # Every module is reached from main.js by relative imports of served files, and is served.
    scripts = _scripts()
    reached, todo = set(), ["main.js"]
    while todo:
        name = todo.pop()
        reached.add(name)
        for target in IMPORT.findall(scripts[name]):
            assert target.startswith("./") and target.endswith(".js"), (name, target)
            assert target[2:] in MODULES, (name, target)
            if target[2:] not in reached:
                todo.append(target[2:])
        assert "import(" not in scripts[name]  # no import built at run time
    assert reached == set(MODULES)
    for name in MODULES:
        response = await site.client.get(f"/static/{name}")
        assert response.headers["content-type"] == "text/javascript; charset=utf-8"
        # Modules load under the page's policy: same origin only, no inline script allowed.
        policy = response.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe" not in policy


def test_no_static_file_asks_the_internet() -> None:
    for path in STATIC.iterdir():
        text = path.read_text().replace("http://www.w3.org/2000/svg", "")  # a namespace, not a URL
        for scheme in ("http://", "https://", "//cdn", 'src="//', 'href="//', "url(//"):
            assert scheme not in text, (path.name, scheme)
        assert "@import" not in text, path.name


def test_the_scripts_ask_the_contracts_paths() -> None:
    scripts = "\n".join(_scripts().values())
    for path in (
        "/v1/missions",
        "/force-strength",
        "/funding",
        "/mandate",
        "/timeline",
        "/v1/alerts",
        "/v1/events/stream",
        "/v1/events/",
        ".csv",
        "report.html",
        "report.md",
    ):
        assert path in scripts, path
    # the provenance dialog reads a country's and a donor's entry at the view's date and instant
    provenance = _scripts()["provenance.js"]
    assert 'READS = { country: "force-strength", donor: "funding" }' in provenance
    assert "when()" in provenance


def test_strings_from_events_are_never_parsed_as_markup() -> None:
    # The page is built with createElement, createTextNode and textContent alone.
    for name, script in _scripts().items():
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                     "createContextualFragment", "DOMParser", "srcdoc", "eval(",
                     "new Function"):  # fmt: skip
            assert sink not in script, (name, sink)
    dom = _scripts()["dom.js"]
    assert "document.createTextNode(String(child))" in dom
    # Links from events: http(s) only, without opener or referrer.
    events = _scripts()["events.js"]
    assert 'parsed.protocol === "https:" || parsed.protocol === "http:"' in dom
    assert 'rel: "noopener noreferrer"' in events


async def test_other_names_under_static_are_not_found(site: Api) -> None:
    for path in ("/static/index.html", "/static/..%2Fdashboard.py", "/static/nope.js"):
        response = await site.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"


async def test_country_names_for_labels(site: Api) -> None:
    response = await site.client.get("/static/countries.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    names = response.json()
    assert names["KEN"] == "Kenya"
    assert names["HTI"] == "Haiti"
    assert len(names) > 240


async def test_the_data_still_needs_a_token(site: Api) -> None:
    assert (await site.client.get("/v1/missions")).status_code == 401
    assert (await site.get("/v1/missions")).status_code == 200
