"""Token names unique among live tokens (issue 12), kept by the database on SQLite and PostgreSQL.

``recorded_by`` is the token's name, so two live tokens sharing one could not be told apart in
the events they record. Migration 0005 renames the later of any existing duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, insert, select
from sqlalchemy.exc import IntegrityError

from api import tokens
from api.tokens import TokenNameTaken, create_token, revoke_token
from events.catalogue import Role
from sitrep.database import alembic_config, make_engine, migrate
from tests.conftest import make_settings

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(make_settings(database_url))
    yield engine
    engine.dispose()


def _upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def _row(token_id: str, name: str, minutes: int, revoked: bool = False) -> dict[str, object]:
    created = T0 + timedelta(minutes=minutes)
    return {
        "id": token_id,
        "name": name,
        "role": "reader",
        "scope": [],
        "token_hash": token_id.ljust(64, "0"),
        "created_at": created,
        "revoked_at": created + timedelta(seconds=1) if revoked else None,
    }


def _names(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(select(tokens.tokens.c.id, tokens.tokens.c.name)).all())


def test_a_live_name_is_refused_and_a_revoked_one_given_again(engine: Engine) -> None:
    migrate(engine)
    first, _ = create_token(engine, role=Role.READER, name="desk", now=T0)
    with pytest.raises(TokenNameTaken) as taken:
        create_token(engine, role=Role.ADMIN, name="desk", now=T0)
    assert taken.value.detail == f"token name 'desk' is already held by live token {first.token_id}"
    assert taken.value.holder == first.token_id
    assert list(_names(engine).values()) == ["desk"]

    assert revoke_token(engine, first.token_id, now=T0)
    second, _ = create_token(engine, role=Role.ADMIN, name="desk", now=T0)
    assert _names(engine) == {first.token_id: "desk", second.token_id: "desk"}


def test_the_database_itself_refuses_a_second_live_name(engine: Engine) -> None:
    # Two creators at once would both pass a check made before inserting; the index does not.
    migrate(engine)
    with engine.begin() as conn:
        conn.execute(insert(tokens.tokens), _row("aaaaaaaaaaaa", "desk", 0))
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(tokens.tokens), _row("bbbbbbbbbbbb", "desk", 1))
    with engine.begin() as conn:
        conn.execute(insert(tokens.tokens), _row("cccccccccccc", "desk", 2, revoked=True))
    assert sorted(_names(engine)) == ["aaaaaaaaaaaa", "cccccccccccc"]


def test_the_migration_renames_the_later_of_duplicate_live_names(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    _upgrade(engine, "0004")
    long = "x" * 100
    rows = [
        _row("000000000002", "desk", 2),
        _row("000000000001", "desk", 1),  # the oldest live "desk" keeps the name
        _row("000000000003", "desk", 3),
        _row("000000000000", "desk", 0, revoked=True),  # revoked: left alone
        _row("000000000004", "desk-000000000003", 4),  # already holds the obvious new name
        _row("000000000005", long, 5),
        _row("000000000006", long, 6),
        _row("000000000007", "other", 7),
    ]
    with engine.begin() as conn:
        conn.execute(insert(tokens.tokens), rows)

    migrate(engine)

    assert _names(engine) == {
        "000000000000": "desk",
        "000000000001": "desk",
        "000000000002": "desk-000000000002",
        "000000000003": "desk-000000000003-2",
        "000000000004": "desk-000000000003",
        "000000000005": long,
        "000000000006": "x" * 87 + "-000000000006",
        "000000000007": "other",
    }
    assert "token 000000000002 shared its name 'desk'" in caplog.text
    with pytest.raises(TokenNameTaken):
        create_token(engine, role=Role.READER, name="desk", now=T0)
