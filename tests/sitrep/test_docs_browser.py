"""/docs in a real browser with no network but the loopback (issue 15): headless Chromium against
a live ``sitrep serve``, its name resolution and proxy pointed at nothing, so a page that reached
for a CDN would fail to draw.

Swagger UI must draw the API's operations (``getForceStrength`` among them) from the package's
own copy of its files, every request the page made must have gone to the server, and the browser
must log no failed load. Over the same real socket, HEAD answers wherever GET does, and a HEAD
of the endless event stream ends at once. Chromium and chromedriver are found, or the test
skipped, as for the dashboard (``SITREP_TEST_REQUIRE_BROWSER=1`` makes a missing one a failure).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from api.tokens import create_token
from events.catalogue import Role
from sitrep.database import open_store
from tests.conftest import make_settings
from tests.sitrep.browser import WAIT_SECONDS, artifacts, chromium, requests_made
from tests.sitrep.test_serve import serving

#: Nothing but the loopback: every other name resolves to nothing, and anything that still
#: tried would go to a proxy that is not there (port 9, discard).
OFFLINE = (
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1",
)
#: Operations Swagger UI must list, by operationId (its elements' ids end with them).
OPERATIONS = ("getForceStrength", "appendEvent", "listEvents", "getReport", "streamEvents")


@pytest.fixture
def offline_browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with chromium(
        monkeypatch, "--window-size=1280,1000", *OFFLINE, logs=("browser", "performance")
    ) as driver:
        yield driver


@pytest.fixture
def store_url(tmp_path: Path) -> tuple[str, str]:
    """An empty SQLite store, migrated, and a reader's token."""
    url = f"sqlite:///{tmp_path}/docs.db"
    store = open_store(make_settings(url))
    try:
        _, token = create_token(store.engine, role=Role.READER, name="docs", now=datetime.now(UTC))
    finally:
        store.close()
    return url, token


def test_docs_render_with_no_network(
    offline_browser: Any, store_url: tuple[str, str], tmp_path: Path
) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = offline_browser
    url, _ = store_url
    with serving(url, tmp_path) as server:
        # The cut is real: the CDN /docs used to load from cannot be reached from this browser.
        driver.get(f"{server.base_url}/healthz")
        reached = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css',"
            "      {mode: 'no-cors'}).then(() => done(true), () => done(false));"
        )
        assert reached is False
        driver.get_log("performance")
        driver.get_log("browser")

        driver.get(f"{server.base_url}/docs")

        def drawn(_: Any) -> bool:
            return all(
                driver.find_elements(By.CSS_SELECTOR, f"[id$='-{operation}']")
                for operation in OPERATIONS
            )

        try:
            WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(drawn)
        except TimeoutException:
            driver.save_screenshot(str(artifacts() / "docs-failure.png"))
            pytest.fail(
                "Swagger UI did not list the operations; see test-artifacts/docs-failure.png; "
                f"browser log: {driver.get_log('browser')}"
            )
        title = driver.find_element(By.CSS_SELECTOR, ".information-container .title").text
        assert title.startswith("sitrep")
        # The bearer scheme is offered, so a reader can try the reads with a token.
        assert driver.find_elements(By.CSS_SELECTOR, "button.authorize")
        operation = driver.find_element(By.CSS_SELECTOR, "[id$='-getForceStrength']")
        assert "/v1/missions/{mission}/force-strength" in operation.text
        driver.save_screenshot(str(artifacts() / "docs.png"))

        requested = requests_made(driver)
        assert f"{server.base_url}/docs/assets/swagger-ui-bundle.js" in requested
        assert f"{server.base_url}/openapi.json" in requested
        elsewhere = [u for u in requested if urlsplit(u).netloc != urlsplit(server.base_url).netloc
                     and not u.startswith("data:")]  # fmt: skip
        assert elsewhere == [], f"/docs asked for {elsewhere}"
        failures = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert failures == [], failures


def test_head_over_a_real_socket(store_url: tuple[str, str], tmp_path: Path) -> None:
    """``curl -I``: HEAD answers as GET does, and a HEAD of the event stream ends at once."""
    url, token = store_url
    with serving(url, tmp_path) as server, httpx.Client(base_url=server.base_url) as client:
        for path in ("/", "/docs", "/docs/assets/swagger-ui.css", "/openapi.json", "/healthz"):
            get, head = client.get(path, timeout=10), client.head(path, timeout=10)
            assert (head.status_code, head.content) == (get.status_code, b""), path
            for field in ("content-type", "content-length"):
                assert head.headers.get(field) == get.headers.get(field), (path, field)
        stream = client.head(
            "/v1/events/stream", headers={"Authorization": f"Bearer {token}"}, timeout=5
        )
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.content == b""
        refused = client.put("/v1/events/batch", timeout=5)
        assert (refused.status_code, refused.headers["allow"]) == (405, "POST")
