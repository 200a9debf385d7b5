"""No credential in any log line or ``error:`` line, whichever library writes it (issue 12).

Every URL setting carries credentials here: the webhook URLs user info and a ``?token=``, the
PostgreSQL URL a password both as user info and as ``?password=``. The logs are captured at DEBUG
for every logger (the quiet defaults for chatty libraries are turned off, so what passes is the
redaction, not the silence), as text and as JSON, and must still name the hosts they redact.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from api.tokens import create_token
from events.catalogue import Role
from events.store import EventStore
from projections.runner import Projector
from sitrep import logs
from sitrep.app import create_app
from sitrep.database import open_store
from sitrep.scheduler import AlertScheduler
from tests.alerting import SECRET, receiving
from tests.conftest import Clock, append, authorized, make_settings, registered
from tests.processes import free_port, wait_until_healthy

SITREP = Path(sys.executable).with_name("sitrep")

HOOK_USER = "hook-user-q7"
HOOK_PASSWORD = "hook-pa55word-q7"
URL_TOKEN = "url-t0ken-q7"
DB_PASSWORD = "db-pa55word-q7"
DB_QUERY_PASSWORD = "db-query-pa55word-q7"

#: Everything that logs in a serving process; all of it is turned up to DEBUG here.
LOGGERS = (
    "", "sitrep", "api", "events", "projections", "httpx", "httpcore", "uvicorn", "psycopg",
    "apscheduler", "sqlalchemy", "alembic", "asyncio",
)  # fmt: skip

FORMATS = pytest.mark.parametrize("kind", ["text", "json"])


def hook(port: int, path: str = "/hooks/sitrep") -> str:
    """A webhook URL as receivers hand them out: user info and a token in the query."""
    return f"http://{HOOK_USER}:{HOOK_PASSWORD}@127.0.0.1:{port}{path}?token={URL_TOKEN}"


def shown_hook(port: int, path: str = "/hooks/sitrep") -> str:
    return f"http://127.0.0.1:{port}{path}?…"


def with_password(url: str) -> tuple[str, list[str]]:
    """``url`` with a password as user info and as ``?password=``, and the passwords; SQLite
    URLs have neither. The test PostgreSQL trusts local connections (any password will do);
    one that checks passwords keeps its own, given both ways."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url, []
    own = parsed.password
    password, query_password = (str(own), str(own)) if own else (DB_PASSWORD, DB_QUERY_PASSWORD)
    parsed = parsed.set(password=password).update_query_dict({"password": query_password})
    return parsed.render_as_string(hide_password=False), [password, query_password]


def assert_clean(output: str, secrets: list[str]) -> None:
    for secret in [HOOK_USER, HOOK_PASSWORD, URL_TOKEN, SECRET.removeprefix("whsec_"), *secrets]:
        assert secret not in output, f"{secret!r} is in the output:\n{output}"


def json_lines(output: str) -> list[dict[str, Any]]:
    """The JSON log lines of ``output`` (the CLI also prints plain lines of its own)."""
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def due_soon(today: datetime) -> list[dict[str, Any]]:
    """The MSS mission with a mandate expiring in 30 days: the first pass flags it."""
    expires_on = (today.date() + timedelta(days=30)).isoformat()
    return [registered(), authorized(expires_on=expires_on)]


@contextmanager
def captured(kind: str) -> Iterator[io.StringIO]:
    """Every record of every logger, DEBUG and up, through the handler sitrep installs."""
    out = io.StringIO()
    handler = logs.handler(kind, out)
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    logging.getLogger().addHandler(handler)
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        logging.getLogger().removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def check_captured(out: io.StringIO, kind: str, secrets: list[str]) -> str:
    """What was captured, checked for secrets; as text (JSON lines decoded to their messages
    and exceptions, each line having to be a JSON object)."""
    text = out.getvalue()
    assert_clean(text, secrets)
    if kind == "text":
        return text
    entries = [json.loads(line) for line in text.splitlines()]
    assert entries and all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    decoded = "\n".join(
        f"{e['level']} {e['logger']}: {e['message']}\n{e.get('exception', '')}" for e in entries
    )
    assert_clean(decoded, secrets)
    return decoded


def _wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.05)


# --- the app and its scheduler in this process -------------------------------------------


@FORMATS
async def test_the_app_scheduler_and_delivery_log_no_credential_at_debug(
    database_url: str, kind: str
) -> None:
    url, db_secrets = with_password(database_url)
    down = free_port()
    clock = Clock(datetime.now(UTC))
    with receiving() as receiver, captured(kind) as out:
        settings = make_settings(
            url, scheduler_enabled=True, webhook_urls=[hook(receiver.port), hook(down, "/down")],
            webhook_secret=SECRET,
        )  # fmt: skip
        app = create_app(settings, clock=clock)
        store: EventStore = app.state.store
        append(store, *due_soon(clock.now), recorded_by="mission-office")
        _, token = create_token(store.engine, role=Role.ADMIN, name="logs", now=clock.now)
        secrets = [*db_secrets, token.split("_", 2)[2]]
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://sitrep.test") as c:
                auth = {"Authorization": f"Bearer {token}"}
                assert (await c.get("/v1/events", headers=auth)).status_code == 200
                query = {"token": token, "password": DB_PASSWORD}
                assert (await c.get("/v1/events", params=query, headers=auth)).status_code == 200
                wrong = {"Authorization": f"Bearer {token[:-4]}xxxx"}
                assert (await c.get("/v1/events", headers=wrong)).status_code == 401
            for _ in range(400):  # until both URLs have been tried
                if receiver.received and f"{down}/down?… failed" in out.getvalue():
                    break
                await asyncio.sleep(0.05)
            assert receiver.received, "the flag was not delivered"
    text = check_captured(out, kind, secrets)
    # Third-party lines were written (not silenced), their URLs cut down to the host and path.
    assert f'HTTP Request: POST {shown_hook(receiver.port)} "HTTP/1.0 204' in text
    assert "GET http://sitrep.test/v1/events?…" in text
    assert f"to {shown_hook(receiver.port)} (attempt 1)" in text
    assert f"to {shown_hook(down, '/down')} failed" in text
    assert "apscheduler" in text and "sqlalchemy.engine" in text and "httpcore" in text


@FORMATS
def test_a_failed_scheduler_pass_logs_its_traceback_redacted(
    store: EventStore, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, db_secrets = with_password("postgresql+psycopg://sitrep@db.internal:5432/sitrep")

    def broken(*args: Any) -> Any:
        raise RuntimeError(f"cannot reach {url} (Authorization: Bearer {URL_TOKEN})")

    monkeypatch.setattr("sitrep.scheduler.check_deadlines", broken)
    scheduler = AlertScheduler(store, Projector(store), make_settings("sqlite://"))
    with captured(kind) as out:
        assert scheduler.check() == []
    text = check_captured(out, kind, db_secrets)
    assert "ERROR sitrep.scheduler: deadline check failed" in text
    assert "RuntimeError: cannot reach postgresql+psycopg://db.internal:5432/sitrep?… " in text
    assert "(Authorization: Bearer ***)" in text


@pytest.fixture
def uvicorn_loggers() -> Iterator[None]:
    """uvicorn's loggers put back as they were after a test configures them."""
    names = [*logs.UVICORN, "uvicorn.access"]
    saved = [
        (lg, lg.level, lg.propagate, lg.handlers[:], lg.filters[:])
        for lg in map(logging.getLogger, names)
    ]
    yield
    for logger, level, propagate, handlers, filters in saved:
        logger.setLevel(level)
        logger.propagate, logger.handlers, logger.filters = propagate, handlers, filters


def test_uvicorn_own_handlers_redact_too(
    uvicorn_loggers: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # As in `sitrep serve`: sitrep's configuration first, then uvicorn's (its own handlers).
    logs.configure(logging.WARNING)
    uvicorn.Config("sitrep.app:app_from_environment", log_level="warning", access_log=False)
    try:
        raise ConnectionError(f"refused by {hook(9)}")
    except ConnectionError:
        logging.getLogger("uvicorn.error").exception("Exception in ASGI application")
    logging.getLogger("uvicorn.error").warning("Invalid request from %s", hook(9))
    err = capsys.readouterr().err
    assert_clean(err, [])
    assert f"ConnectionError: refused by {shown_hook(9)}" in err
    assert f"Invalid request from {shown_hook(9)}" in err


# --- real processes ----------------------------------------------------------------------


def _env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    env.update(settings, PYTHONIOENCODING="utf-8")
    return env


def read(log: Path) -> str:
    return log.read_text(encoding="utf-8")


def _seeded(database_url: str, today: datetime) -> tuple[str, list[str]]:
    """The store at ``database_url`` with a flag due today and an admin token."""
    store = open_store(make_settings(database_url))
    try:
        append(store, *due_soon(today), recorded_by="mission-office")
        _, token = create_token(store.engine, role=Role.ADMIN, name="logs", now=today)
    finally:
        store.close()
    return token, [token.split("_", 2)[2]]


@FORMATS
def test_sitrep_serve_logs_no_credential(database_url: str, tmp_path: Path, kind: str) -> None:
    token, token_secrets = _seeded(database_url, datetime.now(UTC))
    url, db_secrets = with_password(database_url)
    down, port = free_port(), free_port()
    log = tmp_path / "serve.log"
    with receiving() as receiver, open(log, "wb") as sink:
        env = _env(
            SITREP_DATABASE_URL=url, SITREP_WEBHOOK_SECRET=SECRET, SITREP_LOG_FORMAT=kind,
            SITREP_WEBHOOK_URLS=f"{hook(receiver.port)},{hook(down, '/down')}",
        )  # fmt: skip
        process = subprocess.Popen(
            [str(SITREP), "-v", "serve", "--port", str(port)],
            env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            wait_until_healthy(process, base, lambda: read(log), what="sitrep serve", timeout=30)
            auth = {"Authorization": f"Bearer {token}"}
            query = {"token": token, "password": DB_PASSWORD}
            assert httpx.get(f"{base}/v1/events", params=query, headers=auth).status_code == 200
            _wait_for(lambda: bool(receiver.received))
            _wait_for(lambda: shown_hook(down, "/down") in read(log))
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=10)
    output = read(log)
    assert_clean(output, [*db_secrets, *token_secrets])
    assert f"to {shown_hook(receiver.port)} (attempt 1)" in output
    assert "GET /v1/events 200" in output
    if kind == "json":
        assert any(e["logger"] == "sitrep.webhooks" for e in json_lines(output))


def test_serve_workers_log_redacted_json(tmp_path: Path) -> None:
    # Workers are fresh interpreters: they configure their logging from the environment.
    database_url = f"sqlite:///{tmp_path}/workers.db"
    _seeded(database_url, datetime.now(UTC))
    port = free_port()
    log = tmp_path / "serve.log"
    with receiving(default=500) as receiver, open(log, "wb") as sink:
        env = _env(
            SITREP_DATABASE_URL=database_url, SITREP_WEBHOOK_SECRET=SECRET,
            SITREP_LOG_FORMAT="json", SITREP_WEBHOOK_URLS=hook(receiver.port),
        )  # fmt: skip
        process = subprocess.Popen(
            [str(SITREP), "serve", "--port", str(port), "--workers", "2"],
            env=env, cwd=tmp_path, stdout=sink, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            _wait_for(lambda: shown_hook(receiver.port) in read(log), timeout=60)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
    output = read(log)
    assert_clean(output, [])
    [warning, *_] = [e for e in json_lines(output) if e["logger"] == "sitrep.webhooks"]
    assert warning["level"] == "WARNING"
    assert f"to {shown_hook(receiver.port)} failed (attempt 1: HTTP 500)" in warning["message"]


def _deadlines_check(database_url: str, kind: str, *urls: str) -> subprocess.CompletedProcess[str]:
    env = _env(
        SITREP_DATABASE_URL=database_url, SITREP_WEBHOOK_SECRET=SECRET,
        SITREP_WEBHOOK_URLS=",".join(urls),
    )  # fmt: skip
    return subprocess.run(
        [str(SITREP), "-v", "--log-format", kind, "deadlines", "check", "--wait", "1"],
        env=env, capture_output=True, encoding="utf-8", timeout=60, check=False,
    )  # fmt: skip


@FORMATS
def test_deadlines_check_verbose_logs_no_credential(
    database_url: str, tmp_path: Path, kind: str
) -> None:
    _, token_secrets = _seeded(database_url, datetime.now(UTC))
    url, db_secrets = with_password(database_url)
    down = free_port()
    with receiving() as receiver:
        done = _deadlines_check(url, kind, hook(receiver.port), hook(down, "/down"))
        assert done.returncode == 0, done.stderr
        assert len(receiver.received) == 1
    output = done.stdout + done.stderr
    assert_clean(output, [*db_secrets, *token_secrets])
    assert "flagged mss-haiti mandate_expiry" in done.stdout
    assert f"to {shown_hook(receiver.port)} (attempt 1)" in done.stderr
    assert f"to {shown_hook(down, '/down')} failed" in done.stderr
    assert "1 new flag; 1 webhook delivered, 1 pending" in done.stderr
    if kind == "json":
        assert any(e["logger"] == "sitrep.webhooks" for e in json_lines(done.stderr))


def _closed_database(port: int, **parts: str) -> str:
    return "postgresql+psycopg://{user}127.0.0.1:{port}/sitrep{query}".format(port=port, **parts)


@FORMATS
@pytest.mark.parametrize(
    "command", [["deadlines", "check"], ["migrate"], ["token", "list"], ["serve"]],
    ids=["deadlines", "migrate", "token", "serve"],
)  # fmt: skip
def test_a_database_failure_is_one_redacted_error_line(
    tmp_path: Path, kind: str, command: list[str]
) -> None:
    port = free_port()
    url = _closed_database(
        port, user=f"sitrep:{DB_PASSWORD}@", query=f"?password={DB_QUERY_PASSWORD}"
    )
    env = _env(SITREP_DATABASE_URL=url, SITREP_WEBHOOK_SECRET=SECRET,
               SITREP_WEBHOOK_URLS=hook(free_port()))  # fmt: skip
    done = subprocess.run(
        [str(SITREP), "-v", "--log-format", kind, *command],
        env=env, cwd=tmp_path, capture_output=True, encoding="utf-8", timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert_clean(done.stdout + done.stderr, [DB_PASSWORD, DB_QUERY_PASSWORD])
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith(
        f"error: the database at postgresql+psycopg://127.0.0.1:{port}/sitrep?… is unavailable"
    ), error
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "parts",
    [
        {"user": f"sitrep:{DB_PASSWORD}@", "query": ""},
        {"user": "", "query": f"?sslmode=disable&password={DB_PASSWORD}"},
    ],
    ids=["user-info", "query"],
)
def test_either_way_of_giving_the_password_is_redacted(
    tmp_path: Path, parts: dict[str, str]
) -> None:
    port = free_port()
    env = _env(SITREP_DATABASE_URL=_closed_database(port, **parts))
    done = subprocess.run(
        [str(SITREP), "token", "list"],
        env=env, cwd=tmp_path, capture_output=True, encoding="utf-8", timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert DB_PASSWORD not in done.stderr
    assert f"the database at postgresql+psycopg://127.0.0.1:{port}/sitrep" in done.stderr


# --- the redaction itself ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"POST {hook(80)} done", f"POST {shown_hook(80)} done"),
        (
            f"postgresql+psycopg://u:{DB_PASSWORD}@db:5432/x?password={DB_QUERY_PASSWORD}",
            "postgresql+psycopg://db:5432/x?…",
        ),
        ("sqlite:////data/sitrep.db", "sqlite:////data/sitrep.db"),
        (f"host=db password='{DB_PASSWORD} x' user=u", "host=db password=*** user=u"),
        (f"SITREP_WEBHOOK_SECRET={SECRET}", "SITREP_WEBHOOK_SECRET=***"),
        (f"secret {SECRET} here", "secret whsec_*** here"),
        ("Authorization: Basic aG9vazpwYXNz", "Authorization: Basic ***"),
        ("sent Bearer srp_0123456789ab_Zx-9_q", "sent Bearer ***"),
        ("token srp_0123456789ab_Zx-9_q revoked", "token srp_0123456789ab_*** revoked"),
        (f"{{'password': '{DB_PASSWORD}'}}", "{'password': '***'}"),
        (f"http://u:{DB_PASSWORD}@h:port/x", "http://***"),
        (
            "invalid setting SITREP_WEBHOOK_SECRET: webhooks are signed: set it to a whsec_... "
            "secret",
            "invalid setting SITREP_WEBHOOK_SECRET: webhooks are signed: set it to a whsec_... "
            "secret",
        ),
    ],
)
def test_redact(text: str, shown: str) -> None:
    assert logs.redact(text) == shown
    assert logs.redact(shown) == shown


def test_a_record_with_nothing_to_hide_keeps_its_arguments() -> None:
    plain = logging.LogRecord("x", logging.INFO, __file__, 1, "%s - %s", ("a", 1), None)
    assert logs.RedactingFilter().filter(plain)
    assert plain.args == ("a", 1)
    secret = logging.LogRecord("x", logging.INFO, __file__, 1, "to %s", (hook(80),), None)
    logs.RedactingFilter().filter(secret)
    assert (secret.getMessage(), secret.args) == (f"to {shown_hook(80)}", ())
