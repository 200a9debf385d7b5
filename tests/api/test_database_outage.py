"""PostgreSQL going away and coming back, seen through the HTTP API (no app restart).

The app talks to PostgreSQL through a TCP proxy on loopback that this test controls. The proxy
can go *down* (its listening socket closed, so a connect is refused at once, and every open
connection cut), come *back* on the same port, cut every open connection while staying up (a
database restart as a pooled connection sees it), and cut the one connection that sends a given
statement (a connection lost in the middle of a transaction). While the database cannot be
reached every request must answer a quick ``503`` problem with ``Retry-After`` — never a ``500``,
never a hang — and once it is back the service must answer again by itself, an append retried
with its ``Idempotency-Key`` being stored exactly once.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from events.errors import StoreUnavailable
from tests.api.conftest import Api, open_api
from tests.conftest import Clock, arrived, need_postgres, registered

QUICK = 3.0  # seconds: an answer while the database is away must come at least this fast
STRENGTH = "/v1/missions/mss-haiti/force-strength"
# What the app sends when it writes an event, and when it catches the read models up.
INSERT_EVENT = b"INSERT INTO events"
CATCH_UP_LOCK = b"pg_advisory_xact_lock(1936292211"


class Proxy:
    """A TCP proxy on 127.0.0.1 to PostgreSQL, run by an event loop of its own in a thread.

    Its own thread, not the test's loop: the app makes blocking database calls on the test's
    loop (token lookups), which would otherwise wait for a proxy that cannot run.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0  # chosen by the first ``up``, then kept
        self.connections = 0  # accepted so far
        self.sprung = 0  # connections cut by the trap
        self._trap: bytes | None = None
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def _call(self, coro: Awaitable[Any]) -> Any:
        async def run() -> Any:
            return await coro

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout=5)

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        """Refuse new connections (ECONNREFUSED) and cut every open one."""
        self._call(self._down())

    def cut_all(self) -> None:
        """Cut every open connection but keep accepting new ones."""
        self._call(self._cut_all())

    def trap(self, statement: bytes) -> None:
        """Cut the next connection on which the app sends ``statement``, before it arrives."""
        self._call(self._arm(statement))

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    async def _up(self) -> None:
        assert self._server is None, "the proxy is up already"
        # ``start_server`` sets SO_REUSEADDR, so the same port can be listened on again at once.
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()  # the listening socket is closed here: connects are refused
            self._server = None
        await self._cut_all()

    async def _cut_all(self) -> None:
        for link in list(self._links):
            self._cut(link)
        await asyncio.sleep(0)  # let the aborted sockets close before the caller goes on

    async def _arm(self, statement: bytes) -> None:
        self._trap = statement

    def _cut(self, link: tuple[asyncio.StreamWriter, asyncio.StreamWriter]) -> None:
        self._links.discard(link)
        for writer in link:
            writer.transport.abort()  # no FIN handshake: the peer sees the connection reset

    async def _serve(self, client_in: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            server_in, server = await asyncio.open_connection(*self.target)
        except OSError:
            client.transport.abort()
            return
        link = (client, server)
        self._links.add(link)
        await asyncio.gather(
            self._pump(client_in, server, link, watch=True), self._pump(server_in, client, link)
        )

    async def _pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        link: tuple[asyncio.StreamWriter, asyncio.StreamWriter],
        *,
        watch: bool = False,
    ) -> None:
        tail = b""  # the end of the previous chunk, so a statement split across two is seen
        try:
            while data := await source.read(65536):
                if watch and self._trap is not None and self._trap in tail + data:
                    self._trap = None
                    self.sprung += 1
                    break
                tail = data[-64:]
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        self._cut(link)  # either side closing or failing ends both


@pytest.fixture
def proxy(postgres_url: str) -> Iterator[Proxy]:
    need_postgres()
    url = make_url(postgres_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.up()
    yield proxy
    proxy.close()


@pytest.fixture
async def api(postgres_url: str, proxy: Proxy, clock: Clock) -> AsyncIterator[Api]:
    """The app on the schema of ``postgres_url``, reaching PostgreSQL only through the proxy."""
    # Plain TCP even if the server offers TLS, so the proxy's trap can see the statements.
    url = make_url(postgres_url).set(host="127.0.0.1", port=proxy.port)
    url = url.update_query_dict({"sslmode": "disable"})
    async for value in open_api(url.render_as_string(hide_password=False), clock):
        yield value


async def timed(request: Awaitable[httpx.Response]) -> httpx.Response:
    started = time.monotonic()
    response = await request
    took = time.monotonic() - started
    assert took < QUICK, f"{response.request.url} took {took:.1f}s"
    return response


def assert_unavailable(response: httpx.Response) -> None:
    """A 503 problem the client may retry: RFC 9457 body, ``Retry-After``."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/store-unavailable")
    assert problem["status"] == 503
    assert problem["title"] == "Store unavailable"
    assert problem["detail"]
    assert int(response.headers["retry-after"]) >= 1


async def arrivals(api: Api) -> list[int]:
    response = await timed(api.get("/v1/events", mission="mss-haiti", type="ContingentArrived"))
    assert response.status_code == 200, response.text
    return [event["data"]["personnel"] for event in response.json()["events"]]


async def deployed(api: Api) -> int:
    response = await timed(api.get(STRENGTH))
    assert response.status_code == 200, response.text
    return int(response.json()["deployed"])


async def test_database_outage_answers_503_then_recovers(api: Api, proxy: Proxy) -> None:
    need_postgres()
    # Before: everything works. Only admin, kenya and reader are used, so the authenticator
    # has cached them; jamaica's token exists but its lookup still has to reach the database.
    assert (await timed(api.post("admin", registered()))).status_code == 201
    first = await timed(api.post("kenya", arrived(200), **{"Idempotency-Key": "first"}))
    assert first.status_code == 201, first.text
    event_id = first.json()["id"]
    assert await deployed(api) == 200
    assert (await timed(api.get("/v1/alerts", mission="mss-haiti"))).status_code == 200
    assert (await timed(api.get("/readyz", who=None))).json()["status"] == "ready"

    # PostgreSQL restarted under the pool: every pooled connection is dead. The pre-ping sees
    # it and connects again, so the request that meets it does not fail at all.
    opened = proxy.connections
    proxy.cut_all()
    assert await arrivals(api) == [200]
    assert proxy.connections > opened

    # A connection lost in the middle of an append (before its commit): 503, nothing stored,
    # and the retry with the same key appends once.
    proxy.trap(INSERT_EVENT)
    cut = await timed(api.post("kenya", arrived(50), **{"Idempotency-Key": "cut"}))
    assert proxy.sprung == 1
    assert_unavailable(cut)
    assert await arrivals(api) == [200]
    retried = await timed(api.post("kenya", arrived(50), **{"Idempotency-Key": "cut"}))
    assert retried.status_code == 201, retried.text
    assert "idempotency-replayed" not in retried.headers
    assert await arrivals(api) == [200, 50]

    # A connection lost while a reader catches the read models up (the 50 is not applied yet).
    proxy.trap(CATCH_UP_LOCK)
    assert_unavailable(await timed(api.get(STRENGTH)))
    assert proxy.sprung == 2
    assert await deployed(api) == 250

    # The database goes away: connects are refused and the open connections are cut.
    proxy.down()
    arrival, key = arrived(25), {"Idempotency-Key": "during-outage"}
    batch = {"events": [arrived(5), arrived(6)]}
    requests = {
        "append": lambda: api.post("kenya", arrival, **key),
        "batch": lambda: api.post("kenya", batch, "/v1/events/batch", **{"Idempotency-Key": "b"}),
        "events": lambda: api.get("/v1/events"),
        "event": lambda: api.get(f"/v1/events/{event_id}"),
        "stream": lambda: api.get("/v1/streams/mission:mss-haiti"),
        "new event stream": lambda: api.get("/v1/events/stream"),  # where to start: 503
        "read model": lambda: api.get(STRENGTH),
        "missions": lambda: api.get("/v1/missions"),
        "timeline": lambda: api.get("/v1/missions/mss-haiti/timeline"),
        "export": lambda: api.get(f"{STRENGTH}.csv"),
        "alerts": lambda: api.get("/v1/alerts", mission="mss-haiti"),
        "token lookup": lambda: api.get("/v1/events", who="jamaica"),
    }
    for _ in range(2):  # the second round finds the pool empty, the first finds it cut
        for name, request in requests.items():
            response = await timed(request())
            assert response.status_code == 503, f"{name}: {response.status_code} {response.text}"
            assert_unavailable(response)
    # The jamaica request failed in the token lookup itself: that token is not cached.
    with pytest.raises((DBAPIError, StoreUnavailable)):
        api.app.state.authenticator.principal(api.tokens["jamaica"])
    not_ready = await timed(api.get("/readyz", who=None))
    assert not_ready.status_code == 503
    assert not_ready.headers["content-type"] == "application/json"
    assert not_ready.json()["status"] == "unavailable"
    alive = await timed(api.get("/healthz", who=None))
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    assert (await timed(api.get("/metrics", who=None))).status_code == 200  # a scrape answers

    # The database is back on the same address: the service answers again by itself.
    proxy.up()
    ready = await timed(api.get("/readyz", who=None))
    assert ready.status_code == 200, ready.text
    assert ready.json()["status"] == "ready"
    appended = await timed(api.post("kenya", arrival, **key))
    assert appended.status_code == 201, appended.text
    assert "idempotency-replayed" not in appended.headers
    replayed = await timed(api.post("kenya", arrival, **key))
    assert replayed.status_code == 201, replayed.text
    assert replayed.headers["idempotency-replayed"] == "true"
    assert replayed.json()["id"] == appended.json()["id"]
    assert await arrivals(api) == [200, 50, 25]
    assert await deployed(api) == 275
    assert (await timed(api.get("/v1/alerts", mission="mss-haiti"))).status_code == 200
    assert (await timed(api.get("/v1/events", who="jamaica"))).status_code == 200
