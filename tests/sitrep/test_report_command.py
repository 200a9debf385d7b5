"""``sitrep report`` (CONTRACT §8): the situation report from the configured database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitrep.demo import load_timeline
from tests.sitrep.test_cli import one_error_line, opened, sitrep

WEEK = ("--from", "2025-01-01", "--to", "2025-01-08", "--known-at", "2026-06-01T00:00:00Z")


@pytest.fixture
def demo_url(database_url: str) -> str:
    assert sitrep(database_url, "migrate").exit_code == 0
    with opened(database_url) as store:
        load_timeline(store)
    return database_url


def test_prints_the_report_as_json_markdown_or_html(demo_url: str, tmp_path: Path) -> None:
    result = sitrep(demo_url, "report", "mss-haiti", *WEEK)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["strength"]["to"]["deployed"] == 590
    restated = answer["restated"]["strength"]
    assert (restated["deployed_then"], restated["deployed_now"]) == (632, 432)
    assert answer["known_at"] == "2026-06-01T00:00:00.000000Z"
    md = sitrep(demo_url, "report", "mss-haiti", *WEEK, "--format", "md")
    assert md.exit_code == 0 and md.stdout.startswith("# Situation report: ")
    assert "| Personnel deployed | 432 | 590 | +158 |" in md.stdout
    out = tmp_path / "week.html"
    page = sitrep(demo_url, "report", "mss-haiti", *WEEK, "--format", "html", "--output",
                  str(out))  # fmt: skip
    assert page.exit_code == 0 and page.stdout == ""
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert 'data-figure="strength.to.deployed">590<' in out.read_text(encoding="utf-8")


def test_the_same_report_as_the_api(demo_url: str) -> None:
    from fastapi.testclient import TestClient

    from sitrep.app import create_app
    from tests.conftest import make_settings

    cli = json.loads(sitrep(demo_url, "report", "mss-haiti", *WEEK).stdout)
    app = create_app(make_settings(demo_url, public_reads=True))
    with TestClient(app) as client:
        api = client.get("/v1/missions/mss-haiti/report", params={
            "from": "2025-01-01", "to": "2025-01-08", "known_at": "2026-06-01T00:00:00Z"})
    assert api.json() == cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--from", "2025-01-08", "--to", "2025-01-01"), "--from"),
        (("--to", "2025-02-30"), "--to"),
        (("--known-at", "soon"), "--known-at"),
        (("--format", "pdf"), "--format"),
    ],
)
def test_bad_options_are_usage_errors(demo_url: str, args: tuple[str, ...], message: str) -> None:
    result = sitrep(demo_url, "report", "mss-haiti", *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_an_unknown_mission_or_an_unwritable_file_is_one_error_line(
    demo_url: str, tmp_path: Path
) -> None:
    result = sitrep(demo_url, "report", "nowhere")
    assert result.exit_code == 1
    assert "nowhere" in one_error_line(result)
    missing = tmp_path / "no" / "such" / "dir" / "r.md"
    result = sitrep(demo_url, "report", "mss-haiti", "--format", "md", "--output", str(missing))
    assert result.exit_code == 1
    assert "cannot write" in one_error_line(result)
