"""Who is asking, and what they may write: bearer tokens, roles and scopes (CONTRACT §3, §5)."""

from __future__ import annotations

import hashlib
import threading
import time
from typing import Any

from sqlalchemy import Engine

from api import tokens
from api.errors import Forbidden, Unauthenticated
from api.tokens import Principal
from events.catalogue import AMENDMENT_TYPES, CATALOGUE, Role


class Authenticator:
    """Resolves bearer tokens to principals, remembering good answers for a few seconds.

    Only positive answers are cached, so a token created by the CLI works at once on a running
    server; the cache is keyed by the token's hash, never by the token.
    """

    def __init__(self, engine: Engine, *, ttl_seconds: float = 30.0) -> None:
        self.engine = engine
        self.ttl = ttl_seconds
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def cached(self, token: str | None) -> Principal | None:
        """The principal of a token remembered from a recent lookup, else None (no I/O)."""
        token = (token or "").strip()
        if not token:
            return None
        key = hashlib.sha256(token.encode()).hexdigest()
        with self._lock:
            cached = self._cache.get(key)
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def principal(self, token: str | None) -> Principal:
        """The principal of a bearer token (None: no ``Authorization: Bearer`` header)."""
        token = (token or "").strip()
        if not token:
            raise Unauthenticated("send Authorization: Bearer <token>")
        known = self.cached(token)
        if known is not None:
            return known
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        found = tokens.authenticate(self.engine, token)
        if found is None:
            raise Unauthenticated("the token is unknown or revoked")
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now + self.ttl, found)
        return found


def may_write(principal: Principal, event: Any, effective_type: str, data: dict[str, Any]) -> None:
    """Raise :class:`Forbidden` unless the principal may append this event.

    ``effective_type`` is the event's own type, or for a correction or retraction the type of
    the event it names: whoever may post that type may amend it (CONTRACT §3). ``data`` is the
    data whose country or donor decides the scope.
    """
    spec = CATALOGUE[effective_type]
    what = f"{event.type} of a {effective_type}" if event.type in AMENDMENT_TYPES else event.type
    if principal.role not in spec.roles:
        roles = ", ".join(sorted(r.value for r in spec.roles))
        article = "an" if principal.role.value[0] in "aeiou" else "a"
        raise Forbidden(
            f"{article} {principal.role.value} token may not post {what} (allowed: {roles})"
        )
    if principal.role is Role.LIAISON and spec.scope_field is not None:
        code = data.get(spec.scope_field)
        if code not in principal.scope:
            scope = ", ".join(sorted(principal.scope)) or "nothing"
            raise Forbidden(
                f"{spec.scope_field} {code} is outside this liaison token's scope ({scope})"
            )
