"""The Dockerfile's start command and health check, and compose.yaml, checked without Docker.

No container engine runs here, so the image's own words are taken from the Dockerfile and run
as they are outside a container: ENTRYPOINT + CMD (only the port changed) against a fresh, empty
database, then the HEALTHCHECK command, then a SIGTERM as ``docker stop`` sends it. compose.yaml
is read and its settings checked against ``sitrep.settings.Settings``.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shlex
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

from sitrep.settings import Settings
from tests.processes import free_port, wait_until_healthy

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "compose.yaml"
BIN = Path(sys.executable).parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0  # well inside the 10 s `docker stop` waits before SIGKILL

# --- reading the Dockerfile ----------------------------------------------------------------


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [rest for word, rest in self.instructions if word == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"no {keyword} in the stage FROM {self.base}"
        return found[-1]


def _instructions(text: str) -> Iterator[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction: comments dropped, continuation lines joined."""
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue  # a comment, also between continuation lines (as BuildKit allows)
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            yield keyword.upper(), rest.strip()
    assert not pending, "the Dockerfile ends inside a continued line"


def stages(path: Path = DOCKERFILE) -> list[Stage]:
    args: dict[str, str] = {}
    found: list[Stage] = []
    for keyword, rest in _instructions(path.read_text()):
        if keyword == "ARG" and not found:
            arg, _, default = rest.partition("=")
            args[arg] = default
        elif keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base, name))
        else:
            assert found, f"{keyword} before the first FROM"
            found[-1].instructions.append((keyword, rest))
    return found


def runtime() -> Stage:
    return stages()[-1]


def _exec_form(rest: str) -> list[str]:
    value = json.loads(rest)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), rest
    return value


def image_env(stage: Stage) -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in stage.all("ENV"):
        for pair in shlex.split(rest):
            name, sep, value = pair.partition("=")
            assert sep, f"ENV {rest!r}: use the NAME=value form"
            env[name] = value
    return env


@dataclass
class Healthcheck:
    options: dict[str, str]
    command: list[str]


def healthcheck(stage: Stage) -> Healthcheck:
    rest = stage.last("HEALTHCHECK")
    options, _, command = rest.partition(" CMD ")
    parsed = dict(option.removeprefix("--").split("=", 1) for option in options.split())
    text = command.strip()
    argv = _exec_form(text) if text.startswith("[") else ["/bin/sh", "-c", text]
    return Healthcheck(parsed, argv)


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration)
    assert match, f"unexpected duration {duration!r}"
    return float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[match.group(2)]


def _option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


# --- running the image's command outside a container ----------------------------------------


def _local(argv: list[str]) -> list[str]:
    """The image's programs are on its PATH; here they are this virtualenv's."""
    program = argv[0]
    if program == "python":
        return [sys.executable, *argv[1:]]
    local = BIN / program
    assert local.exists(), f"{program} is not installed next to {sys.executable}"
    return [str(local), *argv[1:]]


def _env(stage: Stage, url: str) -> dict[str, str]:
    """This process's environment without SITREP_*, then the image's ENV, then the database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SITREP_")}
    env.update(image_env(stage))
    env["SITREP_DATABASE_URL"] = url  # the image's /data does not exist here
    return env


def _run_healthcheck(check: Healthcheck, port: int) -> subprocess.CompletedProcess[str]:
    argv = [part.replace(":8000/", f":{port}/") for part in check.command]
    return subprocess.run(
        _local(argv),
        capture_output=True,
        text=True,
        timeout=_seconds(check.options.get("timeout", "30s")) + 5,
    )


def test_the_image_start_command_migrates_serves_passes_its_healthcheck_and_stops(
    database_url: str, tmp_path: Path
) -> None:
    stage = runtime()
    start = _exec_form(stage.last("ENTRYPOINT")) + _exec_form(stage.last("CMD"))
    check = healthcheck(stage)
    assert start[:2] == ["sitrep", "serve"], start
    assert any("127.0.0.1:8000/healthz" in part for part in check.command), check.command

    port = free_port("0.0.0.0")
    command = list(start)
    command[command.index("--port") + 1] = str(port)
    # --host 0.0.0.0 is kept as the image has it: inside a container only a listener on all
    # interfaces is reachable through a published port, and the health check dials
    # 127.0.0.1 - that pair is what this test checks. The port is random and lives seconds.
    assert _option(command, "--host") == "0.0.0.0"

    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            _local(command),
            env=_env(stage, database_url),
            cwd=tmp_path,  # like the image's WORKDIR: an empty, writable directory
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, base, log.read_text, what="the image's command",
                           timeout=START_TIMEOUT)  # fmt: skip

        healthy = _run_healthcheck(check, port)
        assert healthy.returncode == 0, healthy.stderr

        # The empty database was migrated before the server answered.
        ready = httpx.get(f"{base}/readyz", timeout=5.0)
        assert ready.status_code == 200, ready.text
        assert ready.json()["migrations"] == "current", ready.json()

        # `docker run IMAGE token create ...`: the entrypoint with other arguments.
        created = subprocess.run(
            _local([*_exec_form(stage.last("ENTRYPOINT")), "token", "create", "--role", "admin"]),
            env=_env(stage, database_url),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip().splitlines()[-1]
        events = httpx.get(
            f"{base}/v1/events", headers={"Authorization": f"Bearer {token}"}, timeout=5.0
        )
        assert events.status_code == 200, events.text

        assert stage.last("STOPSIGNAL") == "SIGTERM"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_TIMEOUT}s after SIGTERM:\n{log.read_text()}")
        assert time.monotonic() - started < STOP_TIMEOUT
        # uvicorn stops gracefully and re-raises SIGTERM (as PID 1 in a container the
        # re-raised signal is ignored and the exit status is 0).
        assert status in (0, -signal.SIGTERM), f"exit {status}:\n{log.read_text()}"
        assert "Traceback" not in log.read_text(), log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)

    # With nothing listening the check reports unhealthy: 1, never Docker's reserved 2.
    unhealthy = _run_healthcheck(check, port)
    assert unhealthy.returncode == 1, (unhealthy.returncode, unhealthy.stderr)


# --- the Dockerfile's other promises --------------------------------------------------------


def test_the_runtime_stage_is_small_non_root_and_keeps_its_data_in_a_volume() -> None:
    build, stage = stages()[0], runtime()
    assert build.name == "build"
    assert stage.base.endswith("-slim"), stage.base

    # Wheels come in through a bind mount of the build stage, never through a layer.
    assert not [rest for rest in stage.all("COPY") if "--from" in rest]
    installs = [rest for rest in stage.all("RUN") if "pip install" in rest]
    assert len(installs) == 1, installs
    assert "--mount=type=bind,from=build,source=/wheels,target=/wheels" in installs[0]
    assert "--no-index" in installs[0] and "--no-cache-dir" in installs[0]

    env = image_env(stage)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    user = stage.last("USER")
    assert user.split(":")[0] == "10001", user

    database = make_url(env["SITREP_DATABASE_URL"])
    assert database.get_backend_name() == "sqlite"
    assert database.database
    volumes = [v for rest in stage.all("VOLUME") for v in _exec_form(rest)]
    assert posixpath.dirname(database.database) in volumes, (database.database, volumes)
    assert stage.last("WORKDIR") in volumes

    cmd = _exec_form(stage.last("CMD"))
    assert stage.last("EXPOSE") == _option(cmd, "--port") == "8000"
    assert _exec_form(stage.last("ENTRYPOINT")) == ["sitrep"]
    assert set(healthcheck(stage).options) >= {"interval", "timeout", "start-period", "retries"}


def test_the_build_stage_copies_every_package_the_wheel_needs() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    found = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in found}
    copied = {
        part.rstrip("/").removeprefix("./")
        for rest in stages()[0].all("COPY")
        for part in rest.split()[:-1]
        if not part.startswith("--")
    }
    assert packages | {"pyproject.toml", pyproject["project"]["readme"]} <= copied, copied


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_context() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".venv", ".git", ".env", "tests", "bench", "**/*.db", ".sitrep-demo"):
        assert required in patterns, required
    for needed in ("pyproject.toml", "README.md", "sitrep", "events", "projections", "api"):
        assert needed not in patterns and f"/{needed}" not in patterns, needed


# --- compose.yaml ---------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _environment(service: dict[str, Any]) -> dict[str, str]:
    value = service.get("environment") or {}
    if isinstance(value, list):  # the `- NAME=value` form
        return dict(str(item).partition("=")[::2] for item in value)
    return {str(k): str(v) for k, v in value.items()}


def test_compose_runs_the_api_on_a_healthy_postgres_with_real_settings() -> None:
    compose = _compose()
    assert "version" not in compose  # the Compose Specification has no version
    services = compose["services"]
    db, api = services["db"], services["api"]

    fields = set(Settings.model_fields)
    for name, service in services.items():
        for variable in _environment(service):
            if variable.startswith("SITREP_"):
                setting = variable.removeprefix("SITREP_").lower()
                assert setting in fields, f"{name}: {variable} is not a sitrep setting"

    url = make_url(_environment(api)["SITREP_DATABASE_URL"])
    assert url.drivername == "postgresql+psycopg"
    assert url.host == "db"
    db_env = _environment(db)
    assert (url.username, url.password, url.database) == (
        db_env["POSTGRES_USER"],
        db_env["POSTGRES_PASSWORD"],
        db_env["POSTGRES_DB"],
    )

    assert api["depends_on"]["db"]["condition"] == "service_healthy"
    test = db["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))
    assert db["image"].startswith("postgres:")

    build = api["build"]
    context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
    dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
    assert (context / dockerfile).resolve() == DOCKERFILE
    assert "8000:8000" in [str(port) for port in api["ports"]]

    named = set(compose.get("volumes") or {})
    for volume in db.get("volumes", []):
        source = str(volume).split(":")[0]
        assert source in named, f"{source} is not a named volume"
