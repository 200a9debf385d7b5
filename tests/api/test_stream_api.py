"""``GET /v1/events/stream``: Server-Sent Events of new events, on SQLite and PostgreSQL.

An in-process ASGI client waits for the end of a body, which a live stream never reaches, so
the streams here are read from a real uvicorn server running the app in a thread (and, for the
shutdown, from ``sitrep serve`` itself). Refusals end before streaming and use the usual client.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import pytest
import uvicorn
from sse_starlette.sse import AppStatus

from api import stream
from api.errors import InvalidRequest
from api.tokens import create_token
from events.catalogue import Role
from events.errors import StoreUnavailable
from sitrep.app import create_app
from sitrep.database import open_store
from tests.api.conftest import Api, make_tokens
from tests.api.test_events_api import assert_problem
from tests.conftest import arrived, make_settings, registered
from tests.sitrep.test_serve import STOP_TIMEOUT, serving

WAIT = 5.0  # seconds to wait for a message that should come within a poll or two


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Poll ten times a second here: the interval is a setting, not the behaviour under test."""
    monkeypatch.setattr(stream, "POLL_SECONDS", 0.1)


@dataclass
class Live:
    """The app served by uvicorn on a free port of 127.0.0.1, in a thread of this process."""

    client: httpx.AsyncClient
    app: Any
    server: uvicorn.Server
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def post(self, body: dict[str, Any], who: str = "admin") -> dict[str, Any]:
        response = await self.client.post("/v1/events", json=body, headers=self.auth(who))
        assert response.status_code == 201, response.text
        event: dict[str, Any] = response.json()
        return event


@contextmanager
def _serve(url: str, **settings: Any) -> Iterator[tuple[Any, uvicorn.Server, str]]:
    app = create_app(make_settings(url, **settings))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield app, server, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        app.state.store.close()


@asynccontextmanager
async def live_api(url: str, **settings: Any) -> AsyncIterator[Live]:
    with _serve(url, **settings) as (app, server, base_url):
        async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as client:
            yield Live(client, app, server, make_tokens(app.state.store.engine))


@pytest.fixture
async def live(database_url: str) -> AsyncIterator[Live]:
    async with live_api(database_url) as api:
        yield api


@pytest.fixture
async def live_sqlite(tmp_path: Path) -> AsyncIterator[Live]:
    """For what does not depend on the backend."""
    async with live_api(f"sqlite:///{tmp_path}/live.db") as api:
        yield api


class Sse:
    """Reads SSE messages off a streaming response, one at a time, with a deadline."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def message(self, wait: float = WAIT) -> dict[str, str]:
        """The next message's fields (``id``, ``event``, ``data``, ``comment``)."""
        fields: dict[str, str] = {}
        with anyio.fail_after(wait):
            while True:
                line = await self._lines.__anext__()
                if not line:
                    if fields:
                        return fields
                    continue
                name, _, value = line.partition(":")
                fields[name or "comment"] = value.removeprefix(" ")

    async def event(self, wait: float = WAIT) -> dict[str, Any]:
        """The next event message's stored event, checking its framing; pings are skipped."""
        while True:
            fields = await self.message(wait)
            if set(fields) != {"comment"}:
                break
        assert fields.keys() == {"id", "event", "data"}, fields
        assert fields["event"] == "event"
        event: dict[str, Any] = orjson.loads(fields["data"])
        assert fields["id"] == str(event["position"])
        return event


@asynccontextmanager
async def connect(live: Live, who: str | None = "reader", **options: Any) -> AsyncIterator[Sse]:
    headers = {**(live.auth(who) if who else {}), **options.pop("headers", {})}
    async with live.client.stream(
        "GET", "/v1/events/stream", params=options, headers=headers
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "no-cache" in response.headers["cache-control"]
        yield Sse(response)


async def test_a_client_receives_an_event_appended_after_it_connected(live: Live) -> None:
    await live.post(registered())
    async with connect(live) as sse:
        appended = await live.post(arrived(200), who="kenya")
        received = await sse.event()
        # Only what was appended after connecting, exactly as GET /v1/events lists it.
        assert received["position"] == 2
        listed = (await live.client.get("/v1/events?after=1", headers=live.auth("reader"))).json()
        assert received == appended == listed["events"][0]
        second = await live.post(arrived(24, country="JAM", category="military"))
        assert (await sse.event()) == second


async def test_resume_with_last_event_id_or_after(live: Live) -> None:
    posted = [await live.post(registered())]
    posted += [await live.post(arrived(n)) for n in (10, 20, 30)]  # positions 2, 3, 4
    async with connect(live, after=1) as sse:
        assert [await sse.event() for _ in range(3)] == posted[1:]
    # A reconnecting EventSource keeps its first URL and sends the last id it saw: that wins.
    async with connect(live, after=1, headers={"Last-Event-ID": "3"}) as sse:
        assert (await sse.event()) == posted[3]
        later = await live.post(arrived(40))
        assert (await sse.event()) == later


async def test_mission_filter(live: Live) -> None:
    await live.post(registered())
    await live.post(registered(mission="gss-haiti"))
    haiti = await live.post(arrived(200))
    await live.post(arrived(100, country="JAM") | {"mission": "gss-haiti"})
    async with connect(live, mission="mss-haiti", after=0) as sse:
        assert (await sse.event())["type"] == "MissionRegistered"
        assert (await sse.event()) == haiti
        await live.post(arrived(5, country="JAM") | {"mission": "gss-haiti"})
        mine = await live.post(arrived(7))
        assert (await sse.event()) == mine  # the other mission's event was not sent


async def test_refusals_are_problems(api: Api) -> None:
    assert_problem(await api.get("/v1/events/stream", who=None), 401, "unauthenticated")
    await api.post("admin", registered())
    missing = await api.get("/v1/events/stream", mission="gss-nowhere")
    assert_problem(missing, 404, "mission-not-found")
    assert_problem(await api.get("/v1/events/stream", after=-1), 422, "invalid-request")
    assert_problem(await api.get("/v1/events/stream", mission="NO"), 422, "invalid-request")
    bad_id = await api.client.get(
        "/v1/events/stream", headers=api.auth("reader") | {"Last-Event-ID": "abc"}
    )
    problem = assert_problem(bad_id, 400, "malformed-header")
    assert problem["errors"][0]["field"] == "header.Last-Event-ID"


BAD_LAST_EVENT_IDS = [
    "²".encode("latin-1"),  # str.isdigit() accepts it, int() does not: was a 500
    "³".encode("latin-1"),
    "١٢".encode(),  # Arabic-Indic digits, as UTF-8 bytes
    b"-1",
    b"+1",
    b"1 2",
    b"1_000",
    b"0x10",
    b"9223372036854775808",  # one past the largest position
    b"9" * 32,
    b"9" * 200,  # past the header's length limit
]


async def test_a_bad_last_event_id_is_a_problem_never_a_500(api: Api) -> None:
    for value in BAD_LAST_EVENT_IDS:
        token = api.auth("reader")["Authorization"].encode()
        response = await api.client.get(
            "/v1/events/stream", headers=[(b"Authorization", token), (b"Last-Event-ID", value)]
        )
        problem = assert_problem(response, 400, "malformed-header")
        assert problem["errors"][0]["field"] == "header.Last-Event-ID", value


def test_last_event_id_takes_ascii_digits_only() -> None:
    # Superscripts, Arabic-Indic and fullwidth digits, a no-break space around a digit.
    for text in ("²", "١٢", "٣", "\uff11\uff12", "1\u00a0", "\u00a01"):
        with pytest.raises(InvalidRequest):
            stream._start(text, None)
    assert stream._start(" 12\t", None) == 12
    assert stream._start(str(stream.MAX_POSITION), None) == stream.MAX_POSITION
    assert stream._start("  ", 5) == 5  # blank: as if absent
    assert stream._start(None, None) is None


async def test_public_reads_need_no_token(tmp_path: Path) -> None:
    async with (
        live_api(f"sqlite:///{tmp_path}/public.db", public_reads=True) as live,
        connect(live, who=None) as sse,
    ):
        posted = await live.post(registered())
        assert (await sse.event()) == posted


async def test_pings_and_disconnects(live_sqlite: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream, "PING_SECONDS", 0.2)
    async with connect(live_sqlite) as sse:
        assert (await sse.message())["comment"].startswith("ping")
        assert live_sqlite.app.state.event_tail.open == 1
    # The client left: the server stops polling for it.
    with anyio.fail_after(WAIT):
        while live_sqlite.app.state.event_tail.open:
            await anyio.sleep(0.05)


async def test_open_streams_outlive_a_store_outage(
    live_sqlite: Live, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = live_sqlite.app.state.store

    def down(*_: Any, **__: Any) -> Any:
        raise StoreUnavailable("the database connection was lost")

    await live_sqlite.post(registered())
    async with connect(live_sqlite) as sse:
        with monkeypatch.context() as outage:
            outage.setattr(store, "head", down)
            outage.setattr(store, "read", down)
            appended = await live_sqlite.post(arrived(200))  # appends do not read the head
            await anyio.sleep(4 * stream.POLL_SECONDS)  # polls fail meanwhile
            assert "event streams cannot read the store" in caplog.text
            # A new stream cannot know where "now" is: 503, retry later.
            refused = await live_sqlite.client.get(
                "/v1/events/stream", headers=live_sqlite.auth("reader")
            )
            assert_problem(refused, 503, "store-unavailable")
        assert (await sse.event()) == appended  # caught up once the store answers


async def test_open_streams_end_when_the_server_shuts_down(live_sqlite: Live) -> None:
    try:
        async with connect(live_sqlite) as sse:
            # What a SIGTERM does (this thread cannot receive the signal itself).
            live_sqlite.server.handle_exit(signal.SIGTERM, None)
            with anyio.fail_after(WAIT):
                rest = [line async for line in sse.response.aiter_lines()]
            assert not [line for line in rest if line and not line.startswith(":")]
    finally:
        AppStatus.should_exit = False  # process-wide: later servers in this process stream on


def test_sitrep_serve_stops_on_sigterm_with_a_stream_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/serve.db"
    store = open_store(make_settings(url))
    _, token = create_token(store.engine, role=Role.READER, name="tv", now=datetime.now(UTC))
    store.close()
    with serving(url, tmp_path) as server:
        auth = {"Authorization": f"Bearer {token}"}
        with (
            httpx.Client(base_url=server.base_url, timeout=WAIT) as client,
            client.stream("GET", "/v1/events/stream", headers=auth) as response,
        ):
            assert response.status_code == 200
            started = time.monotonic()
            server.stop()  # fails unless the process ends within STOP_TIMEOUT
            assert time.monotonic() - started < STOP_TIMEOUT
            response.read()  # the stream ended cleanly, not cut off
    assert "Traceback" not in server.output(), server.output()
