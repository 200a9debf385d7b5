"""API fixtures: the app over the parametrized backend, with a token per role."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from api.tokens import create_token
from events.catalogue import Role
from sitrep.app import create_app
from tests.conftest import Clock, make_settings, registered


@dataclass
class Api:
    client: httpx.AsyncClient
    app: Any
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def post(
        self, who: str, body: Any, path: str = "/v1/events", **headers: str
    ) -> httpx.Response:
        return await self.client.post(path, json=body, headers={**self.auth(who), **headers})

    async def get(self, path: str, who: str | None = "reader", **params: Any) -> httpx.Response:
        headers = self.auth(who) if who else {}
        return await self.client.get(path, params=params, headers=headers)


def make_tokens(engine: Any) -> dict[str, str]:
    now = datetime.now(UTC)
    made = {
        "admin": create_token(engine, role=Role.ADMIN, name="mission-office", now=now),
        "kenya": create_token(
            engine, role=Role.LIAISON, name="kenya-desk", scope=["KEN", "EU"], now=now
        ),
        "jamaica": create_token(
            engine, role=Role.LIAISON, name="jamaica-desk", scope=["JAM"], now=now
        ),
        "reader": create_token(engine, role=Role.READER, name="dashboard", now=now),
        "system": create_token(engine, role=Role.SYSTEM, name="scheduler", now=now),
    }
    return {who: token for who, (_, token) in made.items()}


async def open_api(url: str, clock: Clock, **settings: Any) -> AsyncIterator[Api]:
    app = create_app(make_settings(url, **settings), clock=clock)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://sitrep.test") as client:
        api = Api(client, app, make_tokens(app.state.store.engine))
        yield api
    app.state.store.close()


@pytest.fixture
async def api(database_url: str, clock: Clock) -> AsyncIterator[Api]:
    async for value in open_api(database_url, clock):
        yield value


@pytest.fixture
async def haiti(api: Api) -> Api:
    response = await api.post("admin", registered())
    assert response.status_code == 201, response.text
    return api
