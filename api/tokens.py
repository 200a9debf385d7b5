"""API tokens: created by the CLI, stored only as SHA-256 hashes, looked up on every request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import JSON, Column, Engine, Index, MetaData, String, Table, select, text, update
from sqlalchemy.exc import IntegrityError

from events.catalogue import Role
from events.errors import SitrepError
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
    # A live token's name is what ``recorded_by`` says, so it names one holder; a revoked
    # token's name may be given again (migration 0005).
    Index(
        "uq_tokens_live_name",
        "name",
        unique=True,
        sqlite_where=text("revoked_at IS NULL"),
        postgresql_where=text("revoked_at IS NULL"),
    ),
)

PREFIX = "srp"


class TokenNameTaken(SitrepError):
    """A live (not revoked) token already has the name asked for."""

    title = "Token name taken"

    def __init__(self, name: str, holder: str) -> None:
        super().__init__(f"token name {name!r} is already held by live token {holder}")
        self.name = name
        self.holder = holder


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
    """Store a new token's hash and return the principal with the token (shown once).

    Raises :class:`TokenNameTaken` when a live token already has ``name``.
    """
    token_id = secrets.token_hex(6)
    token = f"{PREFIX}_{token_id}_{secrets.token_urlsafe(32)}"
    try:
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
    except IntegrityError:
        # The unique index is the guard (two creators at once both pass any check made
        # first); which constraint failed is read back rather than parsed from the message.
        holder = _live_holder(engine, name)
        if holder is None:
            raise
        raise TokenNameTaken(name, holder) from None
    return Principal(token_id, name, role, frozenset(scope)), token


def _live_holder(engine: Engine, name: str) -> str | None:
    query = select(tokens.c.id).where(tokens.c.name == name, tokens.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one_or_none()


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
