"""The dashboard in a real browser (issue 6): headless Chromium against a live ``sitrep serve``.

The store holds the bundled MSS Haiti timeline; reads need a token, so the page first asks for
one. The test then watches a new event arrive without a reload, changes the as-of date and the
known-at instant and sees the figures change (the Kenyan 400 → 200 correction), and saves
screenshots under ``test-artifacts/`` (``SITREP_TEST_ARTIFACTS`` to put them elsewhere).

It needs ``chromium`` and ``chromedriver`` on ``PATH`` (Debian's ``chromium`` and
``chromium-driver`` packages); without either it is skipped, naming what is missing, unless
``SITREP_TEST_REQUIRE_BROWSER=1`` (set by CI in ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.tokens import create_token
from events.catalogue import Role
from sitrep.database import open_store
from sitrep.demo import load_timeline
from tests.conftest import make_settings
from tests.sitrep.test_serve import serving

ROOT = Path(__file__).resolve().parents[2]
#: The programs the test drives, each with the Debian package that installs it.
PROGRAMS = {"chromium": "chromium", "chromedriver": "chromium-driver"}
WAIT_SECONDS = 20.0


def _artifacts() -> Path:
    folder = Path(os.environ.get("SITREP_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class Browser:
    """Where the headless browser and its driver were found."""

    chromium: str
    chromedriver: str


def _browser_or_skip(
    search_path: str | None = None,
    *,
    required: bool | None = None,
    selenium: bool | None = None,
) -> Browser:
    """Chromium and chromedriver as found on ``search_path`` (default ``PATH``), else a skip
    naming exactly what is missing (a failure when a browser is required)."""
    found = {program: shutil.which(program, path=search_path) for program in PROGRAMS}
    absent = [program for program, where in found.items() if where is None]
    if selenium is None:
        selenium = importlib.util.find_spec("selenium") is not None
    if required is None:
        required = bool(os.environ.get("SITREP_TEST_REQUIRE_BROWSER"))
    problems = []
    if absent:
        verb = "is" if len(absent) == 1 else "are"
        packages = " ".join(PROGRAMS[program] for program in absent)
        problems.append(f"{' and '.join(absent)} {verb} not on PATH (apt-get install {packages})")
    if not selenium:
        problems.append("the selenium package is not installed (pip install -e '.[dev]')")
    if not problems:
        return Browser(chromium=str(found["chromium"]), chromedriver=str(found["chromedriver"]))
    reason = f"no headless browser: {'; '.join(problems)}"
    if required:
        pytest.fail(f"{reason}, and SITREP_TEST_REQUIRE_BROWSER is set")
    pytest.skip(reason)


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    found = _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # Never let Selenium Manager look for (or download) another browser or driver.
    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = found.chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--lang=en-GB",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(found.chromedriver))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def demo_store(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A SQLite store with the bundled timeline, and a reader's and an admin's tokens."""
    url = f"sqlite:///{tmp_path}/dashboard.db"
    store = open_store(make_settings(url))
    try:
        load_timeline(store)
        now = datetime.now(UTC)
        tokens = {
            role.value: create_token(store.engine, role=role, name=f"{role.value}-1", now=now)[1]
            for role in (Role.READER, Role.ADMIN)
        }
    finally:
        store.recorder.close()
        store.engine.dispose()
    return url, tokens


def _wait(driver: Any, what: str, condition: Callable[[], bool]) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(lambda _: condition())
    except TimeoutException:
        _screenshot(driver, "dashboard-failure.png")
        pytest.fail(f"timed out waiting for {what}; see test-artifacts/dashboard-failure.png")


def _wait_total(driver: Any, total: str, what: str) -> None:
    _wait(driver, what, lambda: _text(driver, "#deployed-total") == total)


def _text(driver: Any, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.CSS_SELECTOR, css).text)
    except NoSuchElementException:
        return ""


def _screenshot(driver: Any, name: str) -> Path:
    # The whole page, not just the window: grow the window to the document's height.
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(1000, int(height) + 40))
    path = _artifacts() / name
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 1000)
    return path


def test_dashboard_reads_travels_in_time_and_updates_live(
    browser: Any, demo_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    url, tokens = demo_store
    with serving(url, tmp_path) as server:
        browser.get(f"{server.base_url}/")

        # Reads need a token here: the page asks for one and keeps it for the tab.
        token = browser.find_element(By.ID, "token")
        _wait(browser, "the token form", token.is_displayed)
        token.send_keys(tokens["reader"])
        browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        _wait_total(browser, "590", "the deployed total")
        assert not browser.find_element(By.ID, "token-panel").is_displayed()
        assert _text(browser, "#mission-name") == "Multinational Security Support Mission in Haiti"
        assert _text(browser, "#strength-table tr[data-country=KEN] .deployed") == "400"
        assert _text(browser, "#strength-table tr[data-country=GTM] .deployed") == "150"
        assert "Kenya" in _text(browser, "#strength-table tr[data-country=KEN] th")
        assert _text(browser, "#mandate-days") == "Lapsed"
        # the newest event is the correction of the first Kenyan contingent, 400 -> 200
        newest = _text(browser, "#events li:first-child")
        assert "Corrects the report of 25 Jun 2024" in newest
        assert "now 200 police personnel of Kenya arrived" in newest

        # Live: an event posted elsewhere shows up without a reload.
        arrival = {
            "mission": "mss-haiti",
            "type": "ContingentArrived",
            "occurred_on": datetime.now(UTC).date().isoformat(),
            "data": {"country": "JAM", "personnel": 10, "category": "police"},
            "source": {"title": "Browser test", "url": "https://example.org/report"},
        }
        posted = httpx.post(
            f"{server.base_url}/v1/events",
            json=arrival,
            headers={"Authorization": f"Bearer {tokens['admin']}"},
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        _wait_total(browser, "600", "the live update")
        newest = browser.find_element(By.CSS_SELECTOR, "#events li:first-child")
        assert "10 police personnel of Jamaica arrived" in newest.text
        link = newest.find_element(By.CSS_SELECTOR, ".source a")
        assert link.get_attribute("href") == "https://example.org/report"
        _screenshot(browser, "dashboard-today.png")

        # As of 1 July 2024: only the first Kenyan contingent, at its corrected 200.
        browser.execute_script(
            "document.getElementById('as-of').value = arguments[0]", "2024-07-01"
        )
        browser.find_element(By.CSS_SELECTOR, "#time-form button[type=submit]").click()
        _wait_total(browser, "200", "the figures as of 2024-07-01")
        assert _text(browser, "#strength-table tr[data-country=KEN] .deployed") == "200"
        assert _text(browser, "#strength-table tr[data-country=GTM]") == ""
        assert "As of 1 Jul 2024" in _text(browser, "#time-banner")
        assert "as_of=2024-07-01" in browser.current_url

        # As known on 31 December 2024, before the correction was recorded: 400 again.
        browser.execute_script(
            "document.getElementById('known-at').value = arguments[0]", "2024-12-31T00:00:00"
        )
        browser.find_element(By.CSS_SELECTOR, "#time-form button[type=submit]").click()
        _wait_total(browser, "400", "the figures as known then")
        banner = browser.find_element(By.ID, "time-banner")
        assert "as known at 31 Dec 2024, 00:00:00 UTC" in banner.text
        assert "past" in (banner.get_attribute("class") or "")
        assert "known_at=2024-12-31T00%3A00%3A00Z" in browser.current_url
        shot = _screenshot(browser, "dashboard.png")

        # Back to today, as known now, with one button.
        browser.find_element(By.ID, "reset-time").click()
        _wait_total(browser, "600", "today's figures")

        errors = [
            entry["message"]
            for entry in browser.get_log("browser")
            if entry["level"] == "SEVERE" and " 401 " not in entry["message"]
        ]
        assert errors == [], errors
        browser.get("about:blank")  # closes the live stream before the server is asked to stop
    assert shot.stat().st_size > 10_000


BOTH_MISSING = (
    "chromium and chromedriver are not on PATH (apt-get install chromium chromium-driver)"
)


def _fake_programs(folder: Path, *programs: str) -> str:
    """A search path holding executable stand-ins for ``programs`` and nothing else."""
    folder.mkdir()
    for program in programs:
        fake = folder / program
        fake.write_text("#!/bin/sh\nexit 1\n")
        fake.chmod(0o755)
    return str(folder)


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ((), BOTH_MISSING),
        (("chromedriver",), "chromium is not on PATH (apt-get install chromium)"),
        (("chromium",), "chromedriver is not on PATH (apt-get install chromium-driver)"),
    ],
    ids=["neither", "only-chromedriver", "only-chromium"],
)
def test_a_missing_browser_skips_unless_required(
    tmp_path: Path, present: tuple[str, ...], missing: str
) -> None:
    # Whatever this machine has installed: the search path holds only the named stand-ins.
    search = _fake_programs(tmp_path / "bin", *present)
    with pytest.raises(pytest.skip.Exception) as skipped:
        _browser_or_skip(search, required=False, selenium=True)
    assert str(skipped.value) == f"no headless browser: {missing}"
    with pytest.raises(pytest.fail.Exception, match="SITREP_TEST_REQUIRE_BROWSER is set") as failed:
        _browser_or_skip(search, required=True, selenium=True)
    assert missing in str(failed.value)


def test_a_browser_on_the_path_is_used(tmp_path: Path) -> None:
    search = _fake_programs(tmp_path / "bin", "chromium", "chromedriver")
    for required in (False, True):
        found = _browser_or_skip(search, required=required, selenium=True)
        assert found == Browser(f"{search}/chromium", f"{search}/chromedriver")


def test_a_missing_selenium_is_named_too(tmp_path: Path) -> None:
    search = _fake_programs(tmp_path / "bin", "chromium", "chromedriver")
    with pytest.raises(pytest.skip.Exception, match=r"^no headless browser: the selenium package"):
        _browser_or_skip(search, required=False, selenium=False)
