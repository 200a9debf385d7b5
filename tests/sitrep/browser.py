"""Headless Chromium for the browser tests: found on ``PATH`` or the test skipped, then started.

It needs ``chromium`` and ``chromedriver`` on ``PATH`` (Debian's ``chromium`` and
``chromium-driver`` packages) and the selenium package; without one of them a test is skipped,
naming what is missing, unless ``SITREP_TEST_REQUIRE_BROWSER=1`` (set by CI in ``.ci/run``)
makes that a failure. Screenshots and PDFs go to ``test-artifacts/`` (``SITREP_TEST_ARTIFACTS``
to put them elsewhere).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The programs the tests drive, each with the Debian package that installs it.
PROGRAMS = {"chromium": "chromium", "chromedriver": "chromium-driver"}
WAIT_SECONDS = 20.0


def artifacts() -> Path:
    folder = Path(os.environ.get("SITREP_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class Browser:
    """Where the headless browser and its driver were found."""

    chromium: str
    chromedriver: str


def browser_or_skip(
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


@contextmanager
def chromium(
    monkeypatch: pytest.MonkeyPatch, *arguments: str, logs: Iterable[str] = ("browser",)
) -> Iterator[Any]:
    """A headless Chromium driven by selenium, with ``arguments`` added to the usual ones and
    the named logs (``browser``, ``performance``) kept; quit on leaving."""
    found = browser_or_skip()
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
        "--lang=en-GB",
        *arguments,
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", dict.fromkeys(logs, "ALL"))
    driver = webdriver.Chrome(options=options, service=Service(found.chromedriver))
    driver.set_page_load_timeout(WAIT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


def requests_made(driver: Any) -> list[str]:
    """The URLs the browser asked for since its performance log was last read."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls
