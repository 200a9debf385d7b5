"""The situation report in a real browser and on paper (issue 14): headless Chromium against a
live ``sitrep serve`` holding the bundled MSS Haiti timeline.

The week after 1 January 2025 (deployed 432 → 590; the first Kenyan contingent restated from
400 to 200, so 632 as reported then, 432 as known now) is opened as ``/report.html`` with a
reader's token, as known at a fixed instant so the page is the same on every run. In the DOM
the headline figures equal the JSON ``/report``'s; the page fetches nothing but itself from the
server; on a desktop's and a phone's screen nothing spills out of its box or past the screen's
edge but a table inside its own scrolling wrapper (nor, laid out for print, past the page's).

Printed through the DevTools protocol (``Page.printToPDF``, A4) and read back with pypdf, the
first page carries the title and the headline figures, no page is blank, and there are no more
pages than the content measured in print layout needs; a year's report, with more events,
needs more. The PDFs and desktop and phone screenshots go to ``test-artifacts/``
(``SITREP_TEST_ARTIFACTS`` to put them elsewhere), named by the window shown.

Chromium and chromedriver are found, or the test skipped, exactly as for the dashboard
(``SITREP_TEST_REQUIRE_BROWSER=1`` makes a missing browser a failure).
"""

from __future__ import annotations

import base64
import io
import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.tokens import create_token
from events.catalogue import Role
from sitrep.database import open_store
from sitrep.demo import load_timeline
from tests.conftest import make_settings
from tests.sitrep.browser import artifacts as _artifacts
from tests.sitrep.browser import chromium
from tests.sitrep.browser import requests_made as _requests
from tests.sitrep.test_serve import serving

MISSION = "mss-haiti"
#: A fixed instant after everything the timeline records about January 2025, so the page, the
#: PDF and the screenshots are the same on every run (today's deadline checks are not in it).
KNOWN_AT = "2026-01-01T00:00:00Z"
WEEK = ("2025-01-01", "2025-01-08")
#: A year of the mission (the longest window a report may cover), with many more events.
YEAR = ("2024-06-01", "2025-06-01")
#: A4 at 96 CSS pixels to the inch, less the template's ``@page`` margins (14mm 12mm 16mm).
MM = 96 / 25.4
PAGE_WIDTH_PX = (210 - 2 * 12) * MM
PAGE_HEIGHT_PX = (297 - 14 - 16) * MM
PHONE = (390, 844)
DESKTOP = (1280, 1000)
#: The headline figures of the page, each with the JSON field it shows (a dotted path).
HEADLINE = (
    "strength.to.deployed",
    "strength.to.pledged",
    "strength.personnel_ceiling",
    "funding.to.deposited",
    "funding.to.pledged",
    "funding.coverage",
    "mandate.status",
    "mandate.days_remaining",
)
#: Further figures the page carries with a ``data-figure`` of their JSON path.
FIGURES = (
    *HEADLINE,
    "funding.requirement",
    "funding.to.committed",
    "restated.strength.deployed_then",
    "restated.strength.deployed_now",
    "restated.funding.pledged_then",
    "restated.funding.pledged_now",
    "restated.funding.deposited_then",
    "restated.funding.deposited_now",
)


@pytest.fixture
def report_browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Headless Chromium keeping the DevTools performance log (every request the page made)."""
    with chromium(
        monkeypatch,
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
        "--hide-scrollbars",  # screenshots the same whichever way the host draws scrollbars
        logs=("browser", "performance"),
    ) as driver:
        yield driver


@pytest.fixture
def demo_report_store(tmp_path: Path) -> tuple[str, str]:
    """A SQLite store with the bundled timeline, and a reader's token."""
    url = f"sqlite:///{tmp_path}/report.db"
    store = open_store(make_settings(url))
    try:
        load_timeline(store)
        _, token = create_token(
            store.engine, role=Role.READER, name="report-reader", now=datetime.now(UTC)
        )
    finally:
        store.close()
    return url, token


def _query(window: tuple[str, str]) -> str:
    return f"from={window[0]}&to={window[1]}&known_at={KNOWN_AT.replace(':', '%3A')}"


def _field(report: dict[str, Any], path: str) -> Any:
    value: Any = report
    for key in path.split("."):
        value = value[key]
    return value


def _shown(value: Any) -> str:
    """A JSON figure as the page writes it: thousands separated, money to the cent, a share as
    a percentage to one decimal, a count of days with its unit."""
    if value is None:
        return "\u2013"
    if isinstance(value, float):
        return f"{value * 100:.1f} %"
    if isinstance(value, int):
        return f"{value:,}"
    if re.fullmatch(r"-?\d+\.\d+", value):
        return f"{Decimal(value):,.2f}"
    return str(value)


def _change(before: int, after: int) -> str:
    return f"{after - before:+,}" if after != before else "0"


def _parsed(text: str, like: Any) -> Any:
    """What the page shows, read back into the JSON figure's type."""
    text = text.strip()
    if text == "\u2013":
        return None
    if isinstance(like, float):
        return float(text.removesuffix("%").strip()) / 100
    if isinstance(like, int):
        return int(text.removesuffix("days").strip().replace(",", ""))
    if isinstance(like, str) and re.fullmatch(r"-?\d+\.\d+", like):
        return f"{Decimal(text.replace(',', '')):.2f}"
    return text


def _figures(driver: Any) -> dict[str, str]:
    return dict(
        driver.execute_script(
            "const shown = {};"
            "for (const el of document.querySelectorAll('[data-figure*=\".\"]'))"
            "  shown[el.dataset.figure] = el.textContent;"
            "return shown;"
        )
    )


def _overflowing(driver: Any) -> list[str]:
    """Elements that reach past the right edge of the screen, or spill out of the box that
    holds them (a figure wider than its headline card), outside a ``.table`` wrapper (which
    scrolls its table sideways on its own)."""
    return list(
        driver.execute_script(
            "const width = document.documentElement.clientWidth, wide = [];"
            "for (const el of document.body.querySelectorAll('*')) {"
            "  if (el.closest('.table')) continue;"
            "  const box = el.getBoundingClientRect(), name = el.tagName.toLowerCase();"
            "  if (box.right > width + 0.5)"
            "    wide.push(`${name}.${el.className} ends at ${Math.round(box.right)}px`);"
            "  else if (el.clientWidth && el.scrollWidth > el.clientWidth + 1)"
            "    wide.push(`${name}.${el.className} holds ${el.scrollWidth}px`"
            "              + ` in ${el.clientWidth}px`);"
            "}"
            "return wide;"
        )
    )


def _screen(driver: Any, size: tuple[int, int], *, mobile: bool = False) -> None:
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": mobile},
    )


def _screenshot(driver: Any, size: tuple[int, int], name: str, *, mobile: bool = False) -> Path:
    """The whole page at ``size``'s width: the screen grown to the document's height."""
    _screen(driver, size, mobile=mobile)
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    _screen(driver, (size[0], max(size[1], height)), mobile=mobile)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    _screen(driver, size, mobile=mobile)
    path = _artifacts() / name
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def _pages_needed(driver: Any) -> float:
    """The A4 pages the content fills when laid out for print at the page's width; fails when
    anything would be cut off at the page's right edge (a table wider than the page, whose
    wrapper would scroll on a screen, loses its last columns on paper)."""
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    _screen(driver, (round(PAGE_WIDTH_PX), round(PAGE_HEIGHT_PX)))
    try:
        clipped = driver.execute_script(
            "return [...document.querySelectorAll('.table')]"
            ".filter(el => el.scrollWidth > el.clientWidth + 1)"
            ".map(el => `${el.querySelector('th').textContent}: ${el.scrollWidth}px`)"
        )
        assert clipped == [], f"tables wider than the printed page: {clipped}"
        assert _overflowing(driver) == []
        height = float(
            driver.execute_script("return document.documentElement.getBoundingClientRect().height")
        )
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return height / PAGE_HEIGHT_PX


def _print(driver: Any, name: str) -> list[str]:
    """The page printed on A4 as Chromium prints it, saved; the text of each page."""
    from pypdf import PdfReader

    printed = driver.execute_cdp_cmd(
        "Page.printToPDF",
        {"paperWidth": 8.27, "paperHeight": 11.69, "printBackground": True,
         "preferCSSPageSize": True},
    )  # fmt: skip
    pdf = base64.b64decode(printed["data"])
    (_artifacts() / name).write_bytes(pdf)
    reader = PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        # preferCSSPageSize: the template's ``@page { size: A4 }`` (595 x 842 points).
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)
    return [page.extract_text() or "" for page in reader.pages]


def _flat(text: str) -> str:
    return " ".join(text.split())


def _open(driver: Any, base_url: str, window: tuple[str, str]) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base_url}/v1/missions/{MISSION}/report.html?{_query(window)}")
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Situation report: ")


def test_report_page_matches_the_json_and_prints_on_a4(
    report_browser: Any, demo_report_store: tuple[str, str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    driver = report_browser
    url, token = demo_report_store
    auth = {"Authorization": f"Bearer {token}"}
    with serving(url, tmp_path) as server:
        origin = server.base_url

        def report(window: tuple[str, str]) -> dict[str, Any]:
            answer = httpx.get(
                f"{origin}/v1/missions/{MISSION}/report?{_query(window)}", headers=auth, timeout=10
            )
            assert answer.status_code == 200, answer.text
            return dict(answer.json())

        week = report(WEEK)
        # The worked example: 432 -> 590 in the week; the Kenyan 400 -> 200 correction of 4
        # January restates 1 January from 632 as reported then to 432 as known now.
        assert (week["strength"]["from"]["deployed"], week["strength"]["to"]["deployed"]) == (
            432, 590
        )  # fmt: skip
        restated = week["restated"]["strength"]
        assert (restated["deployed_then"], restated["deployed_now"]) == (632, 432)

        # The page is a read like the JSON: the browser sends the reader's token.
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": auth})
        _requests(driver)  # forget the start-up's
        _open(driver, origin, WEEK)

        # Every figure the page marks is the JSON's, as the page formats it and read back.
        shown = _figures(driver)
        assert set(FIGURES) <= set(shown), sorted(set(FIGURES) - set(shown))
        for path in FIGURES:
            expected = _field(week, path)
            # (A share is shown to a tenth of a per cent.)
            near = pytest.approx(expected, abs=5e-4) if isinstance(expected, float) else expected
            assert _parsed(shown[path], expected) == near, (path, shown[path], expected)
        assert shown["strength.to.deployed"] == "590"
        assert shown["strength.change.deployed"] == "+158"
        assert shown["funding.to.deposited"] == _shown(week["funding"]["to"]["deposited"])
        assert shown["restated.strength.deployed_then"] == "632"
        assert shown["restated.strength.deployed_now"] == "432"
        # The footer says which window and instant it was computed for, to reproduce it.
        footer = _flat(driver.find_element(By.TAG_NAME, "footer").text)
        assert f"known_at {week['known_at']}" in footer
        assert f"report.html?from={WEEK[0]}&to={WEEK[1]}&known_at={week['known_at']}" in footer

        # Nothing but the server: no request elsewhere, and nothing in the page that would make
        # one (a stylesheet, script, image, frame or font).
        asked = _requests(driver)
        assert asked, "the performance log recorded no request"
        elsewhere = [u for u in asked if not u.startswith(f"{origin}/") and not
                     u.startswith(("data:", "about:"))]  # fmt: skip
        assert elsewhere == [], elsewhere
        fetching = driver.execute_script(
            "return [...document.querySelectorAll("
            "'link[href], script[src], img, iframe, object, embed, video, audio, source')]"
            ".map(el => el.outerHTML)"
        )
        assert fetching == []
        rules = driver.execute_script(
            "return [...document.styleSheets].flatMap(s => [...s.cssRules]).map(r => r.cssText)"
        )
        assert not [rule for rule in rules if "url(" in rule or "@import" in rule], rules

        # A phone: nothing wider than the screen but the tables, inside their own scrolling
        # wrappers; and the body itself does not scroll sideways.
        _screen(driver, PHONE, mobile=True)
        assert driver.execute_script("return document.documentElement.clientWidth") == PHONE[0]
        assert _overflowing(driver) == []
        # (A page wider than the screen makes a phone zoom out to show it all.)
        assert driver.execute_script("return window.innerWidth") == PHONE[0]
        assert driver.execute_script(
            "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        )
        phone = _screenshot(driver, PHONE, f"report-{WEEK[0]}-{WEEK[1]}-phone.png", mobile=True)
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        assert _overflowing(driver) == []
        desktop = _screenshot(driver, DESKTOP, f"report-{WEEK[0]}-{WEEK[1]}-desktop.png")
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

        # On paper: the title and every headline figure on the first page.
        needed = _pages_needed(driver)
        pages = _print(driver, f"report-{WEEK[0]}-{WEEK[1]}.pdf")
        first = _flat(pages[0])
        assert f"Situation report: {week['name']}" in first and WEEK[1] in first, first
        for path in HEADLINE:
            assert _shown(_field(week, path)) in first, (path, first)
        assert "590 +158" in first and "85,000,000.00" in first
        # Every column of the strength table made it onto the paper, and the restatement.
        printed = _flat(" ".join(pages))
        for c in week["strength"]["by_country"]:
            row = (c["country"], c["deployed_from"], c["deployed_to"],
                   _change(c["deployed_from"], c["deployed_to"]), c["pledged_from"],
                   c["pledged_to"], _change(c["pledged_from"], c["pledged_to"]))  # fmt: skip
            assert " ".join(_shown(v) for v in row) in printed, row
        assert "Personnel deployed 632 432 -200" in printed
        assert "400 police of KEN arrived → 2024-06-25: 200 police of KEN arrived" in printed
        # Laid out for print the content is some 2.3 pages long: no more pages than that takes
        # (a blank last page would be one more), none blank, the footer on the last.
        assert len(pages) <= math.ceil(needed) <= 3, (len(pages), needed)
        assert all(_flat(text) for text in pages), [len(_flat(text)) for text in pages]
        assert "Reproduce:" in _flat(pages[-1])

        # A year of the mission: more events, more pages, still none blank or to spare.
        year = report(YEAR)
        assert len(year["events"]) > 2 * len(week["events"]), len(year["events"])
        _open(driver, origin, YEAR)
        assert _overflowing(driver) == []
        _screen(driver, PHONE, mobile=True)
        assert _overflowing(driver) == []
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        deployed = _shown(year["strength"]["to"]["deployed"])
        assert _figures(driver)["strength.to.deployed"] == deployed
        year_needed = _pages_needed(driver)
        year_pages = _print(driver, f"report-{YEAR[0]}-{YEAR[1]}.pdf")
        assert len(year_pages) > len(pages), (len(year_pages), len(pages))
        assert len(year_pages) <= math.ceil(year_needed), (len(year_pages), year_needed)
        assert all(_flat(text) for text in year_pages)
        assert "Reproduce:" in _flat(year_pages[-1])
        assert f"Situation report: {year['name']}" in _flat(year_pages[0])
        assert deployed in _flat(year_pages[0])

        # (The browser asks for /favicon.ico of its own accord; the server has none.)
        errors = [e["message"] for e in driver.get_log("browser")
                  if e["level"] == "SEVERE" and "/favicon.ico " not in e["message"]]  # fmt: skip
        assert errors == [], errors
    assert phone.stat().st_size > 10_000 and desktop.stat().st_size > 10_000
