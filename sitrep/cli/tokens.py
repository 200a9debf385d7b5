"""``sitrep token create|list|revoke``: the API tokens (only their hashes are stored)."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime
from typing import Annotated

import typer

from api import tokens
from events import codes
from events.catalogue import Role
from sitrep.cli.common import Failure, configured, migrated_engine
from sitrep.settings import Settings

log = logging.getLogger(__name__)


def token_create(
    role: Annotated[Role, typer.Option("--role", help="What the token may do.")],
    scope: Annotated[
        str,
        typer.Option(
            "--scope",
            help="Comma-separated ISO 3166-1 alpha-3 country or donor organisation codes "
            "the token may report for; required for a liaison.",
        ),
    ] = "",
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="Who holds the token (events record it as recorded_by), unique among "
            "tokens not revoked; default ROLE-<random>.",
        ),
    ] = None,
) -> None:
    """Create an API token and print it alone on the last line (it is shown only once)."""
    with configured() as settings:
        codes_ = _scope(scope, role, settings)
        holder = _name(name, role)
        with migrated_engine(settings) as engine:
            try:
                principal, token = tokens.create_token(
                    engine, role=role, name=holder, scope=codes_, now=datetime.now(UTC)
                )
            except tokens.TokenNameTaken as exc:
                raise Failure(
                    f"a live token is already named {exc.name!r} (id {exc.holder}): choose "
                    f"another --name, or revoke that one first (sitrep token revoke "
                    f"{exc.holder})"
                ) from None
    log.info("created token %s (%s, %s)", principal.token_id, principal.role, principal.name)
    shown_scope = ",".join(sorted(principal.scope)) or "none"
    typer.echo(
        f"created token {principal.token_id}: role {principal.role.value}, "
        f"name {principal.name}, scope {shown_scope} (only its hash is stored; "
        "copy it now)"
    )
    typer.echo(token)


def token_list() -> None:
    """List tokens (id, role, name, scope, created, revoked); never the tokens themselves."""
    with configured() as settings, migrated_engine(settings) as engine:
        found = tokens.list_tokens(engine)
    for info in found:
        revoked = f"revoked {info.revoked_at.isoformat()}" if info.revoked_at else "active"
        typer.echo(
            f"{info.token_id}  {info.role:<8} {info.name}  scope {','.join(info.scope) or '-'}  "
            f"created {info.created_at.isoformat()}  {revoked}"
        )


def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (see `sitrep token list`).")],
) -> None:
    """Revoke a token: refused from now on (a running server notices within 30 seconds)."""
    with configured() as settings, migrated_engine(settings) as engine:
        if not tokens.revoke_token(engine, token_id, now=datetime.now(UTC)):
            raise Failure(f"no active token with id {token_id!r} (see `sitrep token list`)")
    log.info("revoked token %s", token_id)
    typer.echo(f"revoked token {token_id}")


def _scope(text: str, role: Role, settings: Settings) -> list[str]:
    found = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [c for c in found if not (codes.is_country(c) or c in settings.donor_organisations)]
    if unknown:
        organisations = ", ".join(settings.donor_organisations) or "none configured"
        raise Failure(
            f"unknown scope code{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: use "
            f"ISO 3166-1 alpha-3 country codes such as KEN or a donor organisation "
            f"({organisations})"
        )
    if role is Role.LIAISON and not found:
        raise Failure(
            "a liaison token needs --scope with the country or donor codes it reports for, "
            "e.g. --scope KEN,JAM"
        )
    return found


def _name(name: str | None, role: Role) -> str:
    if name is None:
        return f"{role.value}-{secrets.token_hex(3)}"
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise Failure("--name must be 1 to 100 printable characters")
    return name
