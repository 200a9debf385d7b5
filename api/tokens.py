"""API tokens: created by the CLI, stored only as SHA-256 hashes, looked up on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Column, Engine, MetaData, String, Table, select, update

from events.catalogue import Role
from events.schema import UTCDateTime

metadata = MetaData()

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("role", String(16), nullable=False),
    Column("scope", JSON, nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("revoked_at", UTCDateTime, nullable=True),
)

PREFIX = "srp"


@dataclass(frozen=True)
class Principal:
    """Who is asking: a token's id, name, role and scope of country/donor codes."""

    token_id: str
    name: str
    role: Role
    scope: frozenset[str]


def _digest(token: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough; what matters is that the
    # database never holds anything a client could present.
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    engine: Engine, *, role: Role, name: str, scope: Sequence[str] = (), now: datetime
) -> tuple[Principal, str]:
    """Store a new token's hash and return the principal with the token (shown once)."""
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    with engine.begin() as conn:
        conn.execute(
            tokens.insert(),
            {
                "id": token_id,
                "name": name,
                "role": role.value,
                "scope": sorted(set(scope)),
                "token_hash": _digest(token),
                "created_at": now,
            },
        )
    return Principal(token_id, name, role, frozenset(scope)), token


def authenticate(engine: Engine, token: str) -> Principal | None:
    """The principal a presented token stands for, or None; compared in constant time."""
    parts = token.split("_")
    if len(parts) < 3 or parts[0] != PREFIX:
        return None
    with engine.connect() as conn:
        row = conn.execute(select(tokens).where(tokens.c.id == parts[1])).first()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.token_hash, _digest(token)):
        return None
    return Principal(row.id, row.name, Role(row.role), frozenset(row.scope))


@dataclass(frozen=True)
class TokenInfo:
    """What an operator may see of a token: never the token or its hash."""

    token_id: str
    name: str
    role: str
    scope: list[str]
    created_at: datetime
    revoked_at: datetime | None


def list_tokens(engine: Engine) -> list[TokenInfo]:
    """Every token, oldest first."""
    t = tokens
    query = select(t.c.id, t.c.name, t.c.role, t.c.scope, t.c.created_at, t.c.revoked_at)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(t.c.created_at, t.c.id)).all()
    return [TokenInfo(*row) for row in rows]


def revoke_token(engine: Engine, token_id: str, *, now: datetime) -> bool:
    """Mark a token revoked from ``now``; False if no such token or it was already revoked."""
    with engine.begin() as conn:
        done = conn.execute(
            update(tokens)
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return done.rowcount == 1
