"""HTTP semantics the OpenAPI document and RFC 9110 promise (issue 15): which operations need a
token, ``Allow`` on a 405, HEAD wherever GET, and /docs served from the package.

Each test asks the running app rather than a list kept here: every path of the document (and
the pages it leaves out) is sent every method, and what the app answers is the truth that the
``Allow`` header and the document's ``security`` must tell.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import httpx
import pytest

from api.openapi import DOCS_ASSETS, TOKEN_OPTIONAL
from tests.api.conftest import Api, open_api
from tests.conftest import Clock, arrived, deposit, registered

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
STREAM = "/v1/events/stream"
#: Paths the document leaves out (include_in_schema=False) but the server answers.
PAGES = (
    "/", "/static/countries.json", "/static/dashboard.css", "/static/main.js",
    "/static/favicon.svg", "/docs", f"{DOCS_ASSETS}/swagger-ui.css",
    f"{DOCS_ASSETS}/swagger-ui-bundle.js", "/openapi.json",
)  # fmt: skip
#: Header fields a HEAD must answer exactly as the GET does.
SAME_FIELDS = ("content-type", "content-length", "etag")
#: A fixed question, so that two askings have the same answer (``known_at`` defaults to now);
#: after everything the tests record (their clock starts at 09:00 that day).
FIXED = {"known_at": "2026-11-23T09:30:00Z"}


async def _document(api: Api) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


async def _filled(api: Api) -> dict[str, str]:
    """Demo-like values for every path parameter, naming things that exist."""
    first = await api.post("admin", arrived(200))
    assert first.status_code == 201, first.text
    assert (await api.post("admin", deposit("1000000"))).status_code == 201
    return {
        "event_id": first.json()["id"], "stream": first.json()["stream"],
        "mission": "mss-haiti", "country": "KEN", "donor": "USA", "slug": "not-found",
    }  # fmt: skip


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


async def _paths(api: Api) -> list[str]:
    values = await _filled(api)
    document = await _document(api)
    return [_fill(template, values) for template in document["paths"]] + list(PAGES)


def _allow(response: httpx.Response) -> set[str]:
    return {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()}


# --- A: the document says which operations need a token ---------------------------------


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method.upper(), operation)
            for path, item in document["paths"].items()
            for method, operation in item.items()]  # fmt: skip


async def test_without_public_reads_every_api_operation_needs_a_token(haiti: Api) -> None:
    document = await _document(haiti)
    for path, method, operation in _operations(document):
        if path.startswith("/v1/"):
            assert operation["security"] == [{"token": []}], (method, path)
            assert "401" in operation["responses"], (method, path)


async def test_with_public_reads_the_document_shows_reads_need_no_token(
    database_url: str, clock: Clock
) -> None:
    async for api in open_api(database_url, clock, public_reads=True):
        assert (await api.post("admin", registered())).status_code == 201
        values = await _filled(api)
        document = await _document(api)
        reads = writes = 0
        for template, method, operation in _operations(document):
            if not template.startswith("/v1/"):
                continue
            path = _fill(template, values)
            if method == "GET":
                reads += 1
                assert operation["security"] == TOKEN_OPTIONAL, template
                # A token that is sent is still checked: 401 stays documented, and says why.
                assert "public reads are on" in operation["responses"]["401"]["description"]
                if template == STREAM:
                    continue  # never ends in-process; tests/api/test_stream_api.py covers it
                anonymous = await api.client.get(path, params=FIXED)
                assert anonymous.status_code not in (401, 403), (template, anonymous.text)
                bad = await api.client.get(path, headers={"Authorization": "Bearer nope"})
                assert bad.status_code == 401, template
            else:
                writes += 1
                assert operation["security"] == [{"token": []}], template
                assert "public reads" not in operation["responses"]["401"]["description"]
                refused = await api.client.request(method, path, json={})
                assert refused.status_code == 401, template
        assert reads > 10 and writes >= 2


# --- B: a 405's Allow names exactly the methods that are answered -----------------------


async def test_allow_lists_exactly_the_methods_a_path_answers(haiti: Api) -> None:
    for path in await _paths(haiti):
        answers: dict[str, int] = {}
        allows: list[set[str]] = []
        for method in METHODS:
            if path == STREAM and method == "GET":
                continue  # endless in-process: its head (HEAD) answers for it below
            response = await haiti.client.request(
                method, path, headers=haiti.auth("admin"), params=FIXED,
                content=b"{}" if method in ("POST", "PUT", "PATCH") else None,
            )  # fmt: skip
            answers[method] = response.status_code
            if response.status_code == 405:
                assert response.headers["content-type"] == "application/problem+json"
                allows.append(_allow(response))
        if path == STREAM:
            answers["GET"] = answers["HEAD"]
        answered = {method for method, status in answers.items() if status != 405}
        assert allows, f"{path}: every method answered ({answers})"
        for allow in allows:
            assert allow == answered, f"{path}: Allow {sorted(allow)}, answered {answers}"


async def test_a_concrete_path_wins_over_a_template(haiti: Api) -> None:
    """``/v1/events/batch`` is the batch append's alone, as OpenAPI matches concrete paths
    first: a GET there is not taken as asking for the event whose id is "batch"."""
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        response = await haiti.client.request(method, "/v1/events/batch",
                                              headers=haiti.auth("reader"))  # fmt: skip
        assert response.status_code == 405, method
        assert response.headers["allow"] == "POST"
    listed = await haiti.client.delete("/v1/events", headers=haiti.auth("admin"))
    assert listed.headers["allow"] == "GET, HEAD, POST"


# --- C: HEAD wherever GET ---------------------------------------------------------------


async def test_head_answers_as_get_does_without_a_body(haiti: Api) -> None:
    paths = await _paths(haiti)
    for path in paths:
        if path == STREAM:
            continue
        get = await haiti.client.get(path, headers=haiti.auth("reader"), params=FIXED)
        if get.status_code == 405:
            continue
        head = await haiti.client.head(path, headers=haiti.auth("reader"), params=FIXED)
        assert head.status_code == get.status_code, path
        assert head.content == b"", path
        fields = SAME_FIELDS if path != "/metrics" else ("content-type",)  # counts move on
        for field in fields:
            assert head.headers.get(field) == get.headers.get(field), (path, field)
    # A conditional HEAD too: the read models' ETag answers 304 alike.
    mandate = "/v1/missions/mss-haiti/mandate"
    etag = (await haiti.get(mandate, **FIXED)).headers["etag"]
    again = await haiti.client.head(
        mandate, params=FIXED, headers={**haiti.auth("reader"), "If-None-Match": etag}
    )
    assert (again.status_code, again.content) == (304, b"")


async def test_head_of_the_event_stream_ends_at_once(haiti: Api) -> None:
    with anyio.fail_after(5):
        response = await haiti.client.head(STREAM, headers=haiti.auth("reader"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.content == b""
    # The stream's slot was given back: the GET behind the HEAD ended.
    assert haiti.app.state.event_tail.admitted == 0
    refused = await haiti.client.head(STREAM)
    assert refused.status_code == 401 and refused.content == b""


async def test_head_of_a_path_without_get_is_a_405(haiti: Api) -> None:
    response = await haiti.client.head("/v1/events/batch", headers=haiti.auth("admin"))
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0  # the problem's, as a GET would get it


# --- D: /docs needs nothing from the internet -------------------------------------------


async def test_docs_load_only_their_own_assets(api: Api) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    # The page's own policy lets it load nothing from anywhere else.
    assert page.headers["content-security-policy"].startswith("default-src 'self'; ")
    urls = re.findall(r"""(?:src|href)=["']([^"']+)""", page.text)
    urls += re.findall(r"""url: *["']([^"']+)""", page.text)
    assert f"{DOCS_ASSETS}/swagger-ui-bundle.js" in urls and "/openapi.json" in urls
    for url in urls:
        assert url.startswith("/"), f"/docs loads {url} from elsewhere"
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
    css = await api.client.get(f"{DOCS_ASSETS}/swagger-ui.css")
    assert css.headers["content-type"].startswith("text/css")
    assert (await api.client.get("/redoc")).status_code == 404
    assert (await api.client.get(f"{DOCS_ASSETS}/nothing.js")).status_code == 404


@pytest.mark.parametrize("path", ["/docs", f"{DOCS_ASSETS}/swagger-ui.css"])
async def test_docs_need_no_token(api: Api, path: str) -> None:
    assert (await api.client.get(path)).status_code == 200
