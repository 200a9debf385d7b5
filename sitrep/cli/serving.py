"""``sitrep serve`` and ``sitrep demo``: the HTTP API on the configured store, or on a fresh
demo store loaded with the bundled timeline."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from api import tokens
from events.catalogue import Role
from sitrep.cli.common import Failure, load_settings, migrated_engine, plural, reported
from sitrep.database import open_store
from sitrep.settings import Settings

DEMO_DATABASE = Path(".sitrep-demo") / "demo.db"


def serve_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=64, help="Worker processes (uvicorn).")
    ] = 1,
) -> None:
    """Serve the HTTP API, with the deadline scheduler unless SITREP_SCHEDULER_ENABLED=false."""
    import uvicorn  # only serving needs it; other commands start faster without

    with reported():
        settings = load_settings()
        # Migrate once here, so that several workers never race to create the schema.
        with reported(settings), migrated_engine(settings):
            pass
        _check_listen(host, port)
    typer.echo(f"sitrep serving on http://{host}:{port} ({plural(workers, 'worker')})", err=True)
    uvicorn.run(
        "sitrep.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
        **_client_limits(settings),
    )


def demo_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
) -> None:
    """Serve a fresh store loaded with the bundled MSS Haiti timeline, and its dashboard.

    The store is ./.sitrep-demo/demo.db, rebuilt on every run; SITREP_DATABASE_URL is ignored.

    Reads are public, the deadline scheduler runs, and no webhook is sent.
    """
    import uvicorn

    from sitrep import demo
    from sitrep.app import create_app

    with reported():
        settings = load_settings()
        # Before the old store is removed: a demo already serving on this port keeps its data.
        _check_listen(host, port)
        path = _fresh_demo_database()
        # The demo never touches the configured database, and never alerts real receivers.
        settings = settings.model_copy(
            update={
                "database_url": f"sqlite:///{path.resolve()}",
                "public_reads": True,
                "scheduler_enabled": True,
                "webhook_urls": [],
                "webhook_secret": None,
            }
        )
        with reported(settings):
            store = open_store(settings)
            try:
                loaded = demo.load_timeline(store)
                _, token = tokens.create_token(
                    store.engine, role=Role.ADMIN, name="demo-admin", now=datetime.now(UTC)
                )
            except BaseException as exc:
                store.close()
                if isinstance(exc, demo.TimelineError):
                    raise Failure(f"the bundled timeline did not load: {exc}") from None
                raise
            # The timeline was recorded at its historical instants; the server runs on the
            # real clock, so whatever is posted now is recorded after all of it.
            served = create_app(settings, store=store)
    _print_demo(host, port, path, len(loaded), token)
    uvicorn.run(
        served,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        **_client_limits(settings),
    )


def _client_limits(settings: Settings) -> dict[str, Any]:
    """``uvicorn.run`` arguments bounding what one client holds (sizes, slowness)."""
    from sitrep.http_server import ClientLimits, protocol

    # uvicorn's keep-alive timeout (5 s) closes a connection idle between requests; the
    # guarded protocol times out the head and body of each request, the first one included.
    return {"http": protocol(ClientLimits.from_settings(settings))}


def _fresh_demo_database() -> Path:
    path = DEMO_DATABASE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm", "-journal"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    except OSError as exc:
        raise Failure(f"cannot prepare {path}: {exc.strerror or exc}") from None
    return path


def _print_demo(host: str, port: int, path: Path, events: int, token: str) -> None:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    base = f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"
    today = datetime.now(UTC).date().isoformat()
    example = (
        f'{{"mission": "gsf-haiti", "type": "ContingentArrived", "occurred_on": "{today}", '
        '"data": {"country": "JAM", "personnel": 10, "category": "police"}}'
    )
    typer.echo(
        f"sitrep demo: {plural(events, 'event')} of the MSS Haiti timeline loaded into {path}"
        " (recreated on every run)\n"
        f"\n  Dashboard  {base}/\n  API docs   {base}/docs\n"
        # The week the demo restates a correction in (the first Kenyan contingent, 4 Jan 2025).
        f"  Report     {base}/v1/missions/mss-haiti/report.html?from=2025-01-01&to=2025-01-08\n"
        "\nReads are public. Posting needs this admin token (of this demo store only):\n"
    )
    typer.echo(token)
    typer.echo(
        "\nPost an event and watch the dashboard update:\n"
        f"  curl -X POST {base}/v1/events -H 'Authorization: Bearer {token}' \\\n"
        f"    -H 'Content-Type: application/json' -d '{example}'\n"
        "\nServing until Ctrl+C."
    )


def _check_listen(host: str, port: int) -> None:
    """Fail with one line, before uvicorn starts, when the address cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(infos[0][0], socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(infos[0][4])
    except OSError as exc:
        raise Failure(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
