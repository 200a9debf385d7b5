"""Settings, read once from ``SITREP_*`` environment variables and ``.env`` (CONTRACT §8)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from events.codes import DEFAULT_DONOR_ORGANISATIONS

#: ``SITREP_REPORT_WEEKDAY``'s values, in ``date.weekday()`` order.
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything an operator can set. Constructed in ``sitrep`` and passed down."""

    # Inputs are kept out of error messages: the database URL and webhook secret are secrets.
    model_config = SettingsConfigDict(
        env_prefix="SITREP_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    database_url: str = "sqlite:///./sitrep.db"
    # FULL: an acknowledged append survives a power cut (one fsync of the WAL per commit);
    # NORMAL survives a crash of the process only, and commits several times faster.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    database_pool_size: int = Field(default=5, ge=1, le=100)
    alert_thresholds: Annotated[list[int], NoDecode] = [90, 60, 30, 14, 7, 1]
    alert_interval_seconds: int = Field(default=3600, ge=1)
    scheduler_enabled: bool = True
    webhook_urls: Annotated[list[str], NoDecode] = []
    # Validated even when unset: webhooks configured without a secret fail at start-up.
    webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    public_reads: bool = False
    # The day of the week each mission's weekly report is sent on (with webhooks); None: off.
    report_weekday: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = []
    donor_organisations: Annotated[list[str], NoDecode] = list(DEFAULT_DONOR_ORGANISATIONS)
    idempotency_retention_hours: int = Field(default=48, ge=24)
    # What one client may hold of a server process (``sitrep serve``, ``sitrep demo``): the
    # request line and header fields are refused past these sizes (414, 431), a request head
    # must arrive within the header timeout and a body may not stall longer than the body
    # timeout (408). Behind a proxy these are the last line, not the first.
    max_request_line_bytes: int = Field(default=8192, ge=1024, le=1_048_576)
    max_header_bytes: int = Field(default=32768, ge=4096, le=1_048_576)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # Open ``/v1/events/stream`` responses per process; past it a new one is a 503.
    max_event_streams: int = Field(default=500, ge=1, le=100_000)
    # A stream reader that accepts nothing for this long (a frozen tab, a full TCP window) is
    # dropped instead of holding its task and buffers.
    event_stream_send_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    @field_validator(
        "alert_thresholds", "webhook_urls", "donor_organisations", "cors_origins", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("sqlite_synchronous", mode="before")
    @classmethod
    def _upper_case(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("report_weekday", mode="before")
    @classmethod
    def _day_of_the_week(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError("must be a day of the week (monday to sunday), or empty for none")
        day = value.strip().lower()
        if not day:
            return None
        if day not in WEEKDAYS:
            raise ValueError("must be a day of the week (monday to sunday), or empty for none")
        return day

    @field_validator("alert_thresholds")
    @classmethod
    def _positive_thresholds(cls, value: list[int]) -> list[int]:
        if any(days <= 0 for days in value):
            raise ValueError("alert thresholds are positive numbers of days")
        return sorted(set(value), reverse=True)

    @field_validator("webhook_urls")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for number, url in enumerate(value, start=1):
            # The URL itself is not echoed: receivers often carry a token in it.
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
                raise ValueError(f"entry {number} is not an http:// or https:// URL")
        return list(dict.fromkeys(value))

    @field_validator("webhook_secret")
    @classmethod
    def _standard_webhooks_secret(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        if value is None:
            if info.data.get("webhook_urls"):
                raise ValueError("webhooks are signed: set it to a whsec_... secret")
            return None
        text = value.get_secret_value()
        encoded = text.removeprefix("whsec_")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not text.startswith("whsec_") or not key:
            raise ValueError("must be whsec_ followed by the base64 of the signing key")
        return value
