"""The dashboard in a real browser (issue 6): headless Chromium against a live ``sitrep serve``.

The store holds the bundled MSS Haiti timeline, through the Gang Suppression Force that succeeded
the MSS, and one pass of the deadline check; reads need a token, so the page first asks for one.
Asked for no mission, the page opens on the GSF (no mandate is in force today, and it is the
newest mission), which says its mandate expired with no renewal recorded. The test then watches
a new event arrive without a reload, follows the succession link back to the MSS and forth,
changes the as-of date and the known-at instant and sees the figures change (Kenya's headcount
returns of 600 and 744 with their dates and unreconciled changes, the Kenyan 400 → 200
correction), and saves screenshots under ``test-artifacts/`` (``SITREP_TEST_ARTIFACTS`` to
put them elsewhere).

It needs ``chromium`` and ``chromedriver`` on ``PATH`` (Debian's ``chromium`` and
``chromium-driver`` packages); without either it is skipped, naming what is missing, unless
``SITREP_TEST_REQUIRE_BROWSER=1`` (set by CI in ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from api.tokens import create_token
from events.catalogue import Role
from projections.runner import Projector
from sitrep.database import open_store
from sitrep.deadlines import check_deadlines
from sitrep.demo import load_timeline
from tests.conftest import body, make_settings
from tests.sitrep.browser import WAIT_SECONDS, Browser, chromium
from tests.sitrep.browser import artifacts as _artifacts
from tests.sitrep.browser import browser_or_skip as _browser_or_skip
from tests.sitrep.test_serve import serving

MSS = "Multinational Security Support Mission in Haiti"
GSF = "Gang Suppression Force"
#: What the headcount columns show for a country with no return on or before the date (an en dash).
NO_HEADCOUNT = "\u2013"


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with chromium(monkeypatch, "--window-size=1280,1000") as driver:
        yield driver


@pytest.fixture
def demo_store(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """A SQLite store with the bundled timeline and today's deadline flags, and a reader's and an
    admin's tokens."""
    url = f"sqlite:///{tmp_path}/dashboard.db"
    store = open_store(make_settings(url))
    try:
        load_timeline(store)
        now = datetime.now(UTC)
        # As the demo's scheduler does on start-up: the GSF's expired mandate is flagged.
        check_deadlines(store, Projector(store), now.date(), (90, 60, 30, 14, 7, 1))
        tokens = {
            role.value: create_token(store.engine, role=role, name=f"{role.value}-1", now=now)[1]
            for role in (Role.READER, Role.ADMIN)
        }
    finally:
        store.close()
    return url, tokens


def _wait(driver: Any, what: str, condition: Callable[[], bool]) -> None:
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.1).until(lambda _: condition())
    except TimeoutException:
        _screenshot(driver, "dashboard-failure.png")
        pytest.fail(f"timed out waiting for {what}; see test-artifacts/dashboard-failure.png")


def _wait_loaded(driver: Any, what: str) -> None:
    """Until the page's latest refresh has drawn everything (events and hint included)."""
    script = "return !document.body.classList.contains('loading') && document.body.dataset.loaded"
    _wait(driver, what, lambda: bool(driver.execute_script(script)))


def _wait_total(driver: Any, total: str, what: str) -> None:
    _wait(driver, what, lambda: _text(driver, "#deployed-total") == total)


def _text(driver: Any, css: str) -> str:
    from selenium.common.exceptions import NoSuchElementException
    from selenium.webdriver.common.by import By

    try:
        return str(driver.find_element(By.CSS_SELECTOR, css).text)
    except NoSuchElementException:
        return ""


def _row(driver: Any, country: str) -> tuple[str, str, str]:
    """A country's deployed figure, latest headcount date and unreconciled change as shown."""
    row = f"#strength-table tr[data-country={country}]"
    return (_text(driver, f"{row} .deployed"), _text(driver, f"{row} .reported-on"),
            _text(driver, f"{row} .unreconciled"))  # fmt: skip


def _open_reports(driver: Any, css: str) -> Any:
    """Click ``css`` (in a country's or donor's row) and wait for the reports behind the row."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, css).click()
    dialog = driver.find_element(By.ID, "provenance")
    _wait(driver, f"the reports of {css}", lambda: dialog.get_attribute("data-state") == "loaded")
    assert dialog.is_displayed()
    return dialog


def _reports(dialog: Any) -> list[dict[str, Any]]:
    """Each report the provenance dialog lists, as the reader sees it."""
    from selenium.webdriver.common.by import By

    shown = []
    for item in dialog.find_elements(By.CSS_SELECTOR, "#provenance-reports > li"):

        def text(css: str, item: Any = item) -> str:
            found = item.find_elements(By.CSS_SELECTOR, css)
            return str(found[0].text) if found else ""

        links = item.find_elements(By.CSS_SELECTOR, ".source a")
        link = (links[0].get_attribute("href"), links[0].get_attribute("rel")) if links else None
        day = item.find_element(By.CSS_SELECTOR, ".event-head time").get_attribute("datetime")
        shown.append({
            "on": day, "type": text(".type"), "effective": text(".effective"),
            "reported": text(".as-reported"), "source": text(".source"), "notes": text(".notes"),
            "by": text(".recorded-by"), "meta": text(".recorded"),
            "corrected_by": text(".corrected-by"), "link": link,
        })  # fmt: skip
    return shown


def _close_with_escape(driver: Any, focused: str) -> None:
    """Escape closes the dialog and gives the focus back to the row's button."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(driver).send_keys(Keys.ESCAPE).perform()
    closed = "return !document.getElementById('provenance').open"
    _wait(driver, "the dialog to close", lambda: bool(driver.execute_script(closed)))
    back = "return document.activeElement.closest('tr')?.matches(arguments[0])"
    assert driver.execute_script(back, focused)


def _report_link(driver: Any, id_: str) -> tuple[str, dict[str, str]]:
    """A report link's path and query."""
    from selenium.webdriver.common.by import By

    href = urlsplit(driver.find_element(By.ID, id_).get_attribute("href") or "")
    return href.path, dict(parse_qsl(href.query))


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
        # No mission asked for: none has a mandate in force today, so the newest one, the GSF.
        _wait(browser, "the default mission", lambda: _text(browser, "#mission-name") == GSF)
        _wait_total(browser, "700", "the GSF's deployed total")
        assert not browser.find_element(By.ID, "token-panel").is_displayed()
        assert "mission=" not in browser.current_url
        assert browser.find_element(By.ID, "mission").get_attribute("value") == "gsf-haiti"
        assert "ceiling 5,550" in _text(browser, "#deployed-detail")
        # Expired on 30 September 2026, and nothing says it was renewed: the page says so, and
        # does not say the mandate lapsed.
        assert _text(browser, "#mandate-days") == "Expired"
        # (ICU writes September "Sep" or "Sept" in en-GB, depending on its version.)
        assert "2026 (S/RES/2793 (2025))" in _text(browser, "#mandate-detail")
        assert "no renewal recorded" in _text(browser, "#mandate-detail")
        assert "Expired, no renewal recorded" in _text(browser, "#mandate-summary")
        assert "no renewal recorded" in _text(browser, "#alerts li:first-child")
        assert "lapse" not in browser.find_element(By.TAG_NAME, "main").text.lower()
        # The newest event is the deadline check's flag; then Kenya's headcount return and the
        # December 2025 pledges, recorded before it.
        _wait_loaded(browser, "the GSF's events")
        assert "no renewal recorded" in _text(browser, "#events li:first-child")
        assert "9 Dec 2025" in _text(browser, "#events li:nth-child(2) time")
        assert "Latin Times" in _text(browser, "#events li:nth-child(2) .source")
        assert "Kenya reports 700 police personnel in the mission at the end of the day" in (
            _text(browser, "#events li:nth-child(2)")
        )
        assert "Haiti pledged 50,000,000 USD (in kind)" in _text(browser, "#events li:nth-child(3)")
        assert _text(browser, "#strength-table tr[data-country=TCD] .pledged") == "1,500"
        # Deployed: only Kenya's headcount return of about 700, none of it from movements.
        assert _row(browser, "KEN") == ("700", "9 Dec 2025", "+700")
        assert _row(browser, "TCD") == ("0", NO_HEADCOUNT, NO_HEADCOUNT)
        # The succession: back to the MSS the GSF took over from.
        back = browser.find_element(By.CSS_SELECTOR, "#succession a[data-mission=mss-haiti]")
        assert _text(browser, "#succession") == f"Successor to {MSS}"
        assert "mission=mss-haiti" in (back.get_attribute("href") or "")

        # Live: an event posted elsewhere shows up without a reload.
        arrival = {
            "mission": "gsf-haiti",
            "type": "ContingentArrived",
            "occurred_on": datetime.now(UTC).date().isoformat(),
            "data": {"country": "JAM", "personnel": 10, "category": "police"},
            "source": {"title": "Browser test", "url": "https://example.org/report"},
        }

        def post(event: dict[str, Any]) -> None:
            posted = httpx.post(
                f"{server.base_url}/v1/events",
                json=event,
                headers={"Authorization": f"Bearer {tokens['admin']}"},
                timeout=10,
            )
            assert posted.status_code == 201, posted.text

        post(arrival)
        _wait_total(browser, "710", "the live update")
        newest = browser.find_element(By.CSS_SELECTOR, "#events li:first-child")
        assert "10 police personnel of Jamaica arrived" in newest.text
        link = newest.find_element(By.CSS_SELECTOR, ".source a")
        assert link.get_attribute("href") == "https://example.org/report"
        _screenshot(browser, "dashboard-today.png")

        # Following the link opens the MSS: ended on 2 October 2025, succeeded by the GSF. (The
        # live update redrew the link.)
        browser.find_element(By.CSS_SELECTOR, "#succession a[data-mission=mss-haiti]").click()
        _wait(browser, "the MSS", lambda: _text(browser, "#mission-name") == MSS)
        _wait_total(browser, "934", "the MSS's deployed total")
        assert "mission=mss-haiti" in browser.current_url
        # Kenya: the return of 744 after its fourth contingent, which matched the movements.
        assert _row(browser, "KEN") == ("744", "6 Feb 2025", "0")
        assert _row(browser, "GTM") == ("150", NO_HEADCOUNT, NO_HEADCOUNT)
        assert "Kenya" in _text(browser, "#strength-table tr[data-country=KEN] th")
        assert _text(browser, "#mandate-days") == "Ended"
        assert "2 Oct 2025 (S/RES/2751 (2024))" in _text(browser, "#mandate-detail")
        assert _text(browser, "#succession") == f"Succeeded by {GSF}"
        browser.find_element(By.CSS_SELECTOR, "#succession a[data-mission=gsf-haiti]")
        # The newest event is the end of the MSS, naming its successor.
        _wait_loaded(browser, "the MSS's events")
        newest_text = _text(browser, "#events li:first-child")
        assert "Mandate ended" in newest_text and f"Succeeded by {GSF}." in newest_text
        # Its twelve newest of many, newest first (the last twelve of the ascending read), asked
        # for in one newest-first read. (The live stream would fill in a wrong first list.)
        at = [
            int(li.get_attribute("data-position") or 0)
            for li in browser.find_elements(By.CSS_SELECTOR, "#events li.event")
        ]
        asc = httpx.get(
            f"{server.base_url}/v1/events",
            params={"mission": "mss-haiti", "limit": 1000},
            headers={"Authorization": f"Bearer {tokens['reader']}"},
            timeout=10,
        ).json()
        assert asc["next"] is None and at == [e["position"] for e in asc["events"][-12:]][::-1]
        asked = browser.execute_script(
            "return performance.getEntriesByType('resource').map((entry) => entry.name)"
        )
        assert any("/v1/events?mission=mss-haiti&order=desc&limit=12" in u for u in asked), asked
        # The hint walks through the correction that stood longest: 400 -> 200, six months on
        # (the 168 -> 144 one was corrected within the minute).
        story = _text(browser, "#story")
        assert "the report of 25 Jun 2024 said" in story
        assert "corrected to “200 police personnel of Kenya arrived" in story

        # Where Kenya's figures come from: its row opens its reports, oldest first, as corrected.
        dialog = _open_reports(browser, "#strength-table tr[data-country=KEN] th button")
        assert _text(browser, "#provenance-heading") == "Kenya: the reports behind the figures"
        assert "Deployed\n744" in _text(browser, "#provenance-entry")
        kenya = _reports(dialog)
        assert [r["type"] for r in kenya[:2]] == ["PERSONNEL PLEDGED", "CONTINGENT ARRIVED"]
        assert {r["by"] for r in kenya} == {"demo"}
        first = kenya[1]  # the first contingent: 400 as reported, 200 since the correction
        assert first["on"] == "2024-06-25"
        assert first["effective"].startswith("200 police personnel of Kenya arrived in Port-au")
        assert "As first reported: 400 police personnel" in first["reported"]
        assert "encyclopaedia snapshot of January 2025" in first["source"]
        assert first["link"] is None  # a source without a URL is named, not linked
        assert first["notes"].startswith("Notes: ")
        assert first["meta"].startswith("Recorded ") and " UTC by demo · id " in first["meta"]
        assert "The UN's page on the MSS gives the first Kenyan contingent" in first["corrected_by"]
        headcount = next(r for r in kenya if r["on"] == "2025-02-05")
        assert headcount["type"] == "HEADCOUNT RETURN"
        assert headcount["link"] == (
            "https://www.kenyans.co.ke/news/108735-kenya-sends-144-more-police-officers-haiti",
            "noopener noreferrer",
        )
        arrived = [r for r in kenya if r["type"] == "CONTINGENT ARRIVED"]
        fourth = next(r for r in arrived if r["on"] == "2025-02-06")
        assert fourth["effective"].startswith("144 police personnel of Kenya arrived")
        assert "Two reports of the flight of 6 February 2025 disagree" in fourth["corrected_by"]
        _screenshot(browser, "dashboard-provenance.png")
        _close_with_escape(browser, "tr[data-country=KEN]")

        # A donor's row too, clicked anywhere: the UN's pledge and two deposits, no correction.
        dialog = _open_reports(browser, "#funding-table tr[data-donor=UN] td")
        un = _reports(dialog)
        assert [(r["on"], r["type"]) for r in un] == [
            ("2024-03-31", "FUNDS PLEDGED"), ("2024-03-31", "FUNDS DEPOSITED"),
            ("2024-10-31", "FUNDS DEPOSITED"),
        ]  # fmt: skip
        assert un[0]["effective"] == "UN pledged 78,000,000 USD (trust fund)"
        assert all("encyclopaedia snapshot" in r["source"] and not r["corrected_by"] for r in un)
        assert "Deposited\n$85,000,000" in _text(browser, "#provenance-entry")
        browser.find_element(By.ID, "provenance-close").click()
        _wait(browser, "the dialog to close", lambda: not dialog.is_displayed())

        # The situation report of the week to today, as known now.
        today = datetime.now(UTC).date()
        week = {"from": (today - timedelta(days=7)).isoformat(), "to": today.isoformat()}
        for link, document in (("report-html", "report.html"), ("report-md", "report.md")):
            assert _report_link(browser, link) == (f"/v1/missions/mss-haiti/{document}", week)

        # As of 5 February 2025: Kenya's return of 600, 200 more than the movements gave.
        def as_of(day: str) -> None:
            browser.execute_script("document.getElementById('as-of').value = arguments[0]", day)
            browser.find_element(By.CSS_SELECTOR, "#time-form button[type=submit]").click()

        as_of("2025-02-05")
        _wait_total(browser, "790", "the figures as of 2025-02-05")
        assert _row(browser, "KEN") == ("600", "5 Feb 2025", "+200")
        assert _row(browser, "GTM") == ("150", NO_HEADCOUNT, NO_HEADCOUNT)
        unreconciled = browser.find_element(
            By.CSS_SELECTOR, "#strength-table tr[data-country=KEN] .unreconciled"
        )
        assert "5 Feb 2025" in (unreconciled.get_attribute("title") or "")
        # As of 6 February 2025: the return of 744 after the fourth contingent, nothing missing.
        as_of("2025-02-06")
        _wait_total(browser, "934", "the figures as of 2025-02-06")
        assert _row(browser, "KEN") == ("744", "6 Feb 2025", "0")
        assert "As of 6 Feb 2025" in _text(browser, "#time-banner")
        _screenshot(browser, "dashboard-headcounts.png")

        # As of 1 July 2024: only the first Kenyan contingent, at its corrected 200.
        as_of("2024-07-01")
        _wait_total(browser, "200", "the figures as of 2024-07-01")
        assert _row(browser, "KEN") == ("200", NO_HEADCOUNT, NO_HEADCOUNT)
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

        # Kenya's reports in that view: the first contingent as reported then, not yet corrected.
        dialog = _open_reports(browser, "#strength-table tr[data-country=KEN] th button")
        assert "As of 1 Jul 2024, as known at 31 Dec 2024, 00:00:00 UTC" in _text(
            browser, "#provenance-view"
        )
        then = _reports(dialog)
        assert [(r["on"], r["type"]) for r in then] == [
            ("2023-07-31", "PERSONNEL PLEDGED"), ("2024-06-25", "CONTINGENT ARRIVED"),
        ]  # fmt: skip
        assert then[1]["effective"].startswith("400 police personnel of Kenya arrived")
        assert (then[1]["reported"], then[1]["corrected_by"]) == ("", "")
        _close_with_escape(browser, "tr[data-country=KEN]")

        # The report of the week to that date, as known at that instant.
        pinned = {"from": "2024-06-24", "to": "2024-07-01", "known_at": "2024-12-31T00:00:00Z"}
        for link, document in (("report-html", "report.html"), ("report-md", "report.md")):
            assert _report_link(browser, link) == (f"/v1/missions/mss-haiti/{document}", pinned)
        shot = _screenshot(browser, "dashboard.png")

        # Back to today, as known now, with one button; then forth to the GSF, kept in that view.
        browser.find_element(By.ID, "reset-time").click()
        _wait_total(browser, "934", "today's figures")
        browser.find_element(By.CSS_SELECTOR, "#succession a[data-mission=gsf-haiti]").click()
        _wait(browser, "the GSF again", lambda: _text(browser, "#mission-name") == GSF)
        _wait_total(browser, "710", "the GSF's figures with the live arrival")
        assert "mission=gsf-haiti" in browser.current_url

        # The default again, with a mission newer than the GSF: the newest while none is in
        # force, then the one in force once the GSF is renewed (the test's events, not the
        # record's: no source records a renewal).
        today = datetime.now(UTC).date()
        post(
            body(
                "MissionRegistered",
                today,
                {"name": "Test force", "lead_country": "JAM", "host_country": "HTI"},
                mission="test-force",
            )
        )
        browser.get(f"{server.base_url}/")
        _wait(
            browser, "the newest mission", lambda: _text(browser, "#mission-name") == "Test force"
        )
        assert _text(browser, "#succession") == ""
        post(body("MandateRenewed", today, {"resolution": "S/RES/9999 (2026)",
                                            "expires_on": f"{today.year + 1}-12-31"},
                  mission="gsf-haiti"))  # fmt: skip
        browser.get(f"{server.base_url}/")
        _wait(browser, "the mission in force", lambda: _text(browser, "#mission-name") == GSF)
        _wait(browser, "its countdown", lambda: "left" in _text(browser, "#mandate-detail"))

        errors = [
            entry["message"]
            for entry in browser.get_log("browser")
            if entry["level"] == "SEVERE" and " 401 " not in entry["message"]
        ]
        assert errors == [], errors
        browser.get("about:blank")  # closes the live stream before the server is asked to stop
    assert shot.stat().st_size > 10_000


def test_the_report_link_opens_the_report_with_the_token(
    browser: Any, demo_store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    url, tokens = demo_store
    view = "?mission=mss-haiti&as_of=2025-01-08&known_at=2025-01-10T00:00:00Z"
    with serving(url, tmp_path) as server:
        browser.get(f"{server.base_url}/{view}")
        token = browser.find_element(By.ID, "token")
        _wait(browser, "the token form", token.is_displayed)
        token.send_keys(tokens["reader"])
        browser.find_element(By.CSS_SELECTOR, "#token-form button[type=submit]").click()
        _wait_loaded(browser, "the MSS as of 8 January 2025")
        # The week holding the 4 January 2025 correction of the first Kenyan contingent.
        week = {"from": "2025-01-01", "to": "2025-01-08", "known_at": "2025-01-10T00:00:00Z"}
        path, query = _report_link(browser, "report-html")
        assert (path, query) == ("/v1/missions/mss-haiti/report.html", week)
        assert _text(browser, "#report-period") == "1 Jan 2025 to 8 Jan 2025"
        direct = httpx.get(f"{server.base_url}{path}", params=query, timeout=10,
                           headers={"Authorization": f"Bearer {tokens['reader']}"})  # fmt: skip
        assert direct.status_code == 200, f"the report route answers {direct.text}"

        # A link cannot carry the token: the page is fetched with it and opened from a Blob URL
        # in a new tab, styled: that page inherits the dashboard's policy, which allows the
        # report's style sheet by its hash and no other inline style.
        dashboard = browser.current_window_handle
        browser.find_element(By.ID, "report-html").click()
        _wait(browser, "the report's tab", lambda: len(browser.window_handles) == 2)
        browser.switch_to.window(next(w for w in browser.window_handles if w != dashboard))
        styled = ("return document.querySelector('.headline') && getComputedStyle("
                  "document.querySelector('.headline')).display")  # fmt: skip
        _wait(browser, "the styled report", lambda: browser.execute_script(styled) == "grid")
        assert browser.current_url.startswith(f"blob:{server.base_url}/")
        page = browser.find_element(By.TAG_NAME, "body").text
        assert MSS in page and "Kenya" in page
        _screenshot(browser, "dashboard-report.png")
        browser.close()
        browser.switch_to.window(dashboard)
        assert _text(browser, "#load-error") == ""
        browser.get("about:blank")


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
