"""The ``sitrep`` command line (CONTRACT §8), on SQLite and PostgreSQL wherever it uses a store."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import select, text
from typer.testing import CliRunner, Result

from api import tokens
from api.tokens import authenticate
from events.catalogue import Role
from events.envelope import format_instant
from events.store import EventStore
from sitrep.cli import app
from sitrep.database import alembic_config, is_current, make_engine, open_store
from tests.conftest import (
    POSTGRES_URL,
    Clock,
    _conninfo,
    append,
    arrived,
    authorized,
    deposit,
    make_settings,
    registered,
)

UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/x"

runner = CliRunner()

HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Keeps a developer's .env and the default ./sitrep.db out of the tests.
    monkeypatch.chdir(tmp_path)


def sitrep(url: str, *args: str, input: str | bytes | None = None) -> Result:
    return runner.invoke(app, list(args), env={"SITREP_DATABASE_URL": url}, input=input)


def one_error_line(result: Result) -> str:
    """The single ``error:`` line a failed command printed on stderr, with no traceback."""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


@contextmanager
def opened(url: str) -> Iterator[EventStore]:
    store = open_store(make_settings(url), clock=Clock())
    try:
        yield store
    finally:
        store.close()


def chain(url: str) -> list[tuple[Any, ...]]:
    with opened(url) as store:
        return [
            (e.id, e.position, e.stream, e.version, e.recorded_at, e.recorded_by, e.hash)
            for e in store.iter_events()
        ]


@pytest.fixture
def seeded(database_url: str) -> list[Any]:
    """Five events in the store at ``database_url``."""
    with opened(database_url) as store:
        return append(store, registered(), authorized()) + append(
            store, arrived(200), arrived(50, country="JAM"), deposit("1000.00")
        )


@pytest.fixture
def second_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database on the same backend as ``database_url``."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path}/second.db"
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


# --- migrate -------------------------------------------------------------------------------


def test_migrate_brings_the_database_to_the_newest_schema(database_url: str) -> None:
    first = sitrep(database_url, "migrate")
    assert first.exit_code == 0, first.output
    assert first.stdout.startswith(f"database at the newest schema (revision {HEAD}")
    assert len(first.stdout.splitlines()) == 1

    again = sitrep(database_url, "migrate")
    assert again.exit_code == 0, again.output
    assert again.stdout == f"database at the newest schema (revision {HEAD})\n"

    engine = make_engine(make_settings(database_url))
    try:
        assert is_current(engine)
    finally:
        engine.dispose()


# --- token create --------------------------------------------------------------------------


def test_token_create_prints_a_working_token_that_is_never_stored(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    result = sitrep(
        database_url,
        "token",
        "create",
        "--role",
        "liaison",
        "--scope",
        "KEN,JAM",
        "--name",
        "kenya-desk",
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    token = lines[-1]
    assert token == token.strip() and " " not in token and len(token) > 40
    description = "\n".join(lines[:-1])
    assert "liaison" in description and "kenya-desk" in description
    assert "JAM" in description and "KEN" in description

    engine = make_engine(make_settings(database_url))
    try:
        principal = authenticate(engine, token)
        assert principal is not None
        assert principal.role is Role.LIAISON
        assert principal.scope == {"KEN", "JAM"}
        assert principal.name == "kenya-desk"
        assert principal.token_id in description

        with engine.connect() as conn:
            rows = conn.execute(select(tokens.tokens)).all()
    finally:
        engine.dispose()
    assert len(rows) == 1
    secret = token.split("_", 2)[2]
    for value in rows[0]:
        assert token not in str(value)
        assert secret not in str(value)
    assert token not in result.stderr
    assert token not in caplog.text


def test_token_default_name_and_scope_for_other_roles(database_url: str) -> None:
    result = sitrep(database_url, "token", "create", "--role", "admin")
    assert result.exit_code == 0, result.output
    engine = make_engine(make_settings(database_url))
    try:
        principal = authenticate(engine, result.stdout.splitlines()[-1])
    finally:
        engine.dispose()
    assert principal is not None
    assert principal.role is Role.ADMIN
    assert principal.scope == frozenset()
    assert principal.name.startswith("admin-")


def test_token_scope_may_name_a_donor_organisation(database_url: str) -> None:
    result = sitrep(database_url, "token", "create", "--role", "liaison", "--scope", "EU")
    assert result.exit_code == 0, result.output
    engine = make_engine(make_settings(database_url))
    try:
        principal = authenticate(engine, result.stdout.splitlines()[-1])
    finally:
        engine.dispose()
    assert principal is not None and principal.scope == {"EU"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--role", "liaison"], "scope"),
        (["--role", "liaison", "--scope", ""], "scope"),
        (["--role", "liaison", "--scope", "KEN,XXX"], "XXX"),
        (["--role", "reader", "--scope", "ken"], "ken"),
        (["--role", "admin", "--name", "   "], "--name"),
    ],
    ids=[
        "liaison-without-scope",
        "liaison-empty-scope",
        "unknown-code",
        "lowercase-code",
        "blank-name",
    ],
)
def test_token_create_refuses_bad_scope_or_name(
    database_url: str, options: list[str], expected: str
) -> None:
    result = sitrep(database_url, "token", "create", *options)
    assert result.exit_code == 1
    assert expected in one_error_line(result)
    assert result.stdout == ""


def test_token_create_refuses_an_unknown_role(database_url: str) -> None:
    result = sitrep(database_url, "token", "create", "--role", "boss")
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert "boss" in result.stderr
    assert result.stdout == ""


def test_token_create_refuses_a_name_a_live_token_holds(database_url: str) -> None:
    first = sitrep(database_url, "token", "create", "--role", "reader", "--name", "desk")
    assert first.exit_code == 0, first.output
    holder = first.stdout.splitlines()[-1].split("_")[1]

    again = sitrep(database_url, "token", "create", "--role", "admin", "--name", " desk ")
    assert again.exit_code == 1
    assert one_error_line(again) == (
        f"error: a live token is already named 'desk' (id {holder}): choose another --name, "
        f"or revoke that one first (sitrep token revoke {holder})"
    )
    assert again.stdout == ""
    assert [info.name for info in listed_tokens(database_url)] == ["desk"]

    # Once revoked, the name is free again; recorded_by then names the new holder.
    assert sitrep(database_url, "token", "revoke", holder).exit_code == 0
    reused = sitrep(database_url, "token", "create", "--role", "admin", "--name", "desk")
    assert reused.exit_code == 0, reused.output
    found = listed_tokens(database_url)
    assert [(info.name, info.revoked_at is None) for info in found] == [
        ("desk", False),
        ("desk", True),
    ]
    refused = sitrep(database_url, "token", "create", "--role", "admin", "--name", "desk")
    assert refused.exit_code == 1
    assert found[1].token_id in one_error_line(refused)


def listed_tokens(url: str) -> list[tokens.TokenInfo]:
    engine = make_engine(make_settings(url))
    try:
        return tokens.list_tokens(engine)
    finally:
        engine.dispose()


def test_console_script_prints_the_token_last(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "sitrep"
    url = f"sqlite:///{tmp_path}/script.db"
    env = {**os.environ, "SITREP_DATABASE_URL": url}
    done = subprocess.run(
        [str(script), "token", "create", "--role", "reader"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    token = done.stdout.splitlines()[-1]
    engine = make_engine(make_settings(url))
    try:
        principal = authenticate(engine, token)
    finally:
        engine.dispose()
    assert principal is not None and principal.role is Role.READER


# --- export and import ---------------------------------------------------------------------


def test_export_then_import_keeps_ids_positions_and_hashes(
    database_url: str, second_url: str, seeded: list[Any], tmp_path: Path
) -> None:
    exported = tmp_path / "events.jsonl"
    result = sitrep(database_url, "export", str(exported))
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == f"exported {len(seeded)} events"
    assert result.stdout == ""
    lines = exported.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines] == [e.id for e in seeded]

    first = sitrep(second_url, "import", str(exported))
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == f"imported {len(seeded)}, skipped 0 (already present)"
    original = chain(database_url)
    assert chain(second_url) == original

    again = sitrep(second_url, "import", str(exported))
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == f"imported 0, skipped {len(seeded)} (already present)"
    assert chain(second_url) == original

    verified = sitrep(second_url, "verify", "--head", seeded[-1].hash)
    assert verified.exit_code == 0, verified.output


def test_export_to_stdout_and_import_from_stdin(
    database_url: str, second_url: str, seeded: list[Any]
) -> None:
    result = sitrep(database_url, "export", "-")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["id"], r["position"], r["hash"]) for r in records] == [
        (e.id, e.position, e.hash) for e in seeded
    ]
    assert "exported 5 events" in result.stderr

    imported = sitrep(second_url, "import", "-", input=result.stdout.encode())
    assert imported.exit_code == 0, imported.output
    assert chain(second_url) == chain(database_url)


def test_export_of_an_empty_store_is_an_empty_file(database_url: str, tmp_path: Path) -> None:
    exported = tmp_path / "empty.jsonl"
    result = sitrep(database_url, "export", str(exported))
    assert result.exit_code == 0, result.output
    assert exported.read_text() == ""
    assert "exported 0 events" in result.stderr


def test_export_to_a_directory_fails_cleanly(database_url: str, tmp_path: Path) -> None:
    result = sitrep(database_url, "export", str(tmp_path))
    assert result.exit_code == 1
    assert "directory" in one_error_line(result)


def exported_lines(url: str) -> list[dict[str, Any]]:
    result = sitrep(url, "export", "-")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def write_lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_import_with_a_bad_line_names_it_and_imports_nothing(
    database_url: str, second_url: str, seeded: list[Any], tmp_path: Path
) -> None:
    records = exported_lines(database_url)
    records[2]["data"]["personnel"] = -5  # line 3; lines 1 and 2 are fine on their own
    bad = write_lines(tmp_path / "bad.jsonl", records)

    result = sitrep(second_url, "import", str(bad))
    assert result.exit_code == 1
    assert one_error_line(result).startswith("error: line 3.data.personnel: ")
    assert result.stdout == ""
    assert chain(second_url) == []


def unregistered_mission(record: dict[str, Any]) -> str:
    record["mission"] = "mss-elsewhere"
    return "error: line 4: mission 'mss-elsewhere'"


def departure_without_arrival(record: dict[str, Any]) -> str:
    record["type"] = "ContingentDeparted"
    record["data"]["reason"] = "rotation"
    return "error: line 4.data"


@pytest.mark.parametrize("break_line_4", [unregistered_mission, departure_without_arrival])
def test_import_names_the_line_the_store_refused(
    database_url: str, second_url: str, seeded: list[Any], tmp_path: Path, break_line_4: Any
) -> None:
    # Each line is well-formed on its own; the store refuses it against what came before.
    records = exported_lines(database_url)
    expected = break_line_4(records[3])
    bad = write_lines(tmp_path / "refused.jsonl", records)

    result = sitrep(second_url, "import", str(bad))
    assert result.exit_code == 1
    assert one_error_line(result).startswith(expected)
    assert chain(second_url) == []


def test_import_refuses_an_id_stored_with_other_content(
    database_url: str, seeded: list[Any], tmp_path: Path
) -> None:
    records = exported_lines(database_url)
    records[2]["data"]["personnel"] = 999
    changed = write_lines(tmp_path / "changed.jsonl", records)
    before = chain(database_url)

    result = sitrep(database_url, "import", str(changed))
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "line 3" in line and records[2]["id"] in line
    assert chain(database_url) == before


def test_import_refuses_a_recorded_at_from_the_future(
    database_url: str, second_url: str, seeded: list[Any], tmp_path: Path
) -> None:
    # Recorded times only move forward: one line from 2099 would stamp every later append 2099.
    records = exported_lines(database_url)
    records[3]["recorded_at"] = records[4]["recorded_at"] = "2099-01-01T00:00:00.000000Z"
    future = write_lines(tmp_path / "future.jsonl", records)

    result = sitrep(second_url, "import", str(future))
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith(
        "error: line 4.recorded_at: 2099-01-01T00:00:00.000000Z is later than now ("
    ), line
    assert "60 s of clock skew" in line
    assert result.stdout == ""
    assert chain(second_url) == []


def test_import_refuses_a_fact_dated_in_the_future_naming_the_line(
    database_url: str, second_url: str, seeded: list[Any], tmp_path: Path
) -> None:
    records = exported_lines(database_url)
    records[2]["occurred_on"] = "2099-01-01"
    future = write_lines(tmp_path / "future.jsonl", records)

    result = sitrep(second_url, "import", str(future))
    assert result.exit_code == 1
    line = one_error_line(result)
    assert line.startswith("error: line 3.occurred_on: 2099-01-01 is in the future"), line
    assert chain(second_url) == []  # the file is refused whole


@pytest.mark.parametrize(("ahead", "accepted"), [(30, True), (120, False)])
def test_import_allows_a_minute_of_clock_skew(
    database_url: str,
    second_url: str,
    seeded: list[Any],
    tmp_path: Path,
    ahead: int,
    accepted: bool,
) -> None:
    records = exported_lines(database_url)
    soon = datetime.now(UTC) + timedelta(seconds=ahead)
    records[-1]["recorded_at"] = format_instant(soon)
    written = write_lines(tmp_path / "skewed.jsonl", records)

    result = sitrep(second_url, "import", str(written))
    if accepted:
        assert result.exit_code == 0, result.output
        assert chain(second_url)[-1][4] == soon
    else:
        assert result.exit_code == 1
        assert one_error_line(result).startswith(f"error: line {len(records)}.recorded_at: ")
        assert chain(second_url) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("directory", "directory"),
        (b"this is not json\n", "line 1: not JSON"),
        (b"[1, 2]\n", "line 1: each line must be a JSON object"),
        (b"\xff\xfe{}\n", "line 1: not UTF-8"),
    ],
    ids=["missing", "directory", "not-json", "not-an-object", "not-utf8"],
)
def test_import_of_an_unreadable_file_fails_in_one_line(
    database_url: str, tmp_path: Path, content: bytes | str | None, expected: str
) -> None:
    path = tmp_path / "input.jsonl"
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)

    result = sitrep(database_url, "import", str(path))
    assert result.exit_code == 1
    assert expected in one_error_line(result)
    assert result.stdout == ""


# --- verify --------------------------------------------------------------------------------


def test_verify_an_intact_store_prints_its_head(database_url: str, seeded: list[Any]) -> None:
    head = seeded[-1]
    result = sitrep(database_url, "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "ok: 5 events, chain intact",
        f"head: position {head.position} hash {head.hash}",
    ]

    anchored = sitrep(database_url, "verify", "--head", head.hash)
    assert anchored.exit_code == 0, anchored.output


def test_verify_an_empty_store(database_url: str) -> None:
    result = sitrep(database_url, "verify")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["ok: 0 events, chain intact", "head: empty store"]


def test_verify_with_another_head_fails(database_url: str, seeded: list[Any]) -> None:
    # An anchor taken earlier is still on the chain: appends since then are fine.
    assert sitrep(database_url, "verify", "--head", seeded[2].hash).exit_code == 0
    result = sitrep(database_url, "verify", "--head", "ab" * 32)
    assert result.exit_code == 1
    assert result.stdout.startswith("FAILED at position ")
    assert "Traceback" not in result.output

    malformed = sitrep(database_url, "verify", "--head", "not-a-hash")
    assert malformed.exit_code == 2


def test_verify_names_the_first_changed_event(database_url: str, seeded: list[Any]) -> None:
    engine = make_engine(make_settings(database_url))
    try:
        with engine.begin() as conn:
            # Someone with database rights goes around the append-only triggers.
            if engine.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER events_refuse_update"))
            else:
                conn.execute(text("ALTER TABLE events DISABLE TRIGGER events_refuse_change"))
            conn.execute(text("UPDATE events SET notes = 'edited' WHERE position = 3"))
    finally:
        engine.dispose()

    result = sitrep(database_url, "verify")
    assert result.exit_code == 1
    failed, head = result.stdout.splitlines()
    assert failed.startswith("FAILED at position 3: ") and "hash" in failed
    assert head == f"head: position 2 hash {seeded[1].hash} (the last intact event)"


# --- failures outside the store ------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["migrate"], ["verify"], ["export", "-"], ["token", "create", "--role", "admin"]],
    ids=["migrate", "verify", "export", "token"],
)
def test_an_unreachable_database_is_one_line(args: list[str]) -> None:
    result = sitrep(UNREACHABLE, *args)
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "127.0.0.1:1" in line and "unavailable" in line
    assert result.stdout == ""


def test_an_unreachable_database_on_import(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text("")
    result = sitrep(UNREACHABLE, "import", str(path))
    assert result.exit_code == 1
    one_error_line(result)


@pytest.mark.parametrize(
    ("url", "expected"),
    [("not a url", "SITREP_DATABASE_URL"), ("mysql://u:secret@db/x", "unsupported")],
    ids=["unparseable", "unsupported"],
)
def test_an_invalid_database_url_is_one_line(url: str, expected: str) -> None:
    result = sitrep(url, "verify")
    assert result.exit_code == 1
    line = one_error_line(result)
    assert expected in line
    assert "secret" not in line


def test_invalid_settings_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["verify"],
        env={
            "SITREP_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
            "SITREP_ALERT_THRESHOLDS": "30,-1",
        },
    )
    assert result.exit_code == 1
    assert "SITREP_ALERT_THRESHOLDS" in one_error_line(result)


@pytest.mark.parametrize(
    "args",
    [["verify", "--bogus"], ["--bogus"], ["token", "create"], ["export"]],
    ids=["unknown-option", "unknown-root-option", "missing-role", "missing-file"],
)
def test_usage_errors_exit_2_without_a_traceback(tmp_path: Path, args: list[str]) -> None:
    result = sitrep(f"sqlite:///{tmp_path}/x.db", *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert result.stdout == ""


def test_token_list_and_revoke(database_url: str) -> None:
    created = sitrep(database_url, "token", "create", "--role", "reader", "--name", "desk")
    assert created.exit_code == 0, created.output
    token = created.stdout.splitlines()[-1]
    token_id = token.split("_")[1]

    listed = sitrep(database_url, "token", "list")
    assert listed.exit_code == 0, listed.output
    assert token_id in listed.stdout and "desk" in listed.stdout and "active" in listed.stdout
    assert token.split("_", 2)[2] not in listed.stdout

    revoked = sitrep(database_url, "token", "revoke", token_id)
    assert revoked.exit_code == 0, revoked.output
    engine = make_engine(make_settings(database_url))
    try:
        assert authenticate(engine, token) is None
    finally:
        engine.dispose()
    assert "revoked" in sitrep(database_url, "token", "list").stdout

    again = sitrep(database_url, "token", "revoke", token_id)
    assert again.exit_code == 1
    assert token_id in one_error_line(again)
    unknown = sitrep(database_url, "token", "revoke", "nosuchtoken")
    assert unknown.exit_code == 1


def test_json_logs_carry_the_request_id() -> None:
    from sitrep import logs

    record = logging.LogRecord(
        "sitrep.test", logging.WARNING, __file__, 1, "hello %s", ("x",), None
    )
    token = logs.REQUEST_ID.set("req-42")
    try:
        line = logs.JsonFormatter().format(record)
        text = logs.TextFormatter().format(record)
    finally:
        logs.REQUEST_ID.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "hello x" and entry["level"] == "WARNING"
    assert entry["request_id"] == "req-42" and entry["logger"] == "sitrep.test"
    assert text.endswith("[req-42]")
    assert "request_id" not in json.loads(logs.JsonFormatter().format(record))


def test_log_format_json_writes_one_json_object_a_line(tmp_path: Path) -> None:
    import subprocess

    env = {**os.environ, "SITREP_DATABASE_URL": f"sqlite:///{tmp_path / 'logs.db'}",
           "SITREP_LOG_FORMAT": "json"}  # fmt: skip
    done = subprocess.run(
        [Path(sys.executable).with_name("sitrep"), "-v", "token", "create", "--role", "reader"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    assert any("created token" in entry["message"] for entry in lines)
    token = done.stdout.splitlines()[-1]
    assert token not in done.stderr
