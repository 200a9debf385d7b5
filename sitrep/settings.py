"""Settings, read once from ``SITREP_*`` environment variables and ``.env`` (CONTRACT §8)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from events.codes import DEFAULT_DONOR_ORGANISATIONS


def _split(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything an operator can set. Constructed in ``sitrep`` and passed down."""

    model_config = SettingsConfigDict(env_prefix="SITREP_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./sitrep.db"
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    database_pool_size: int = Field(default=5, ge=1, le=100)
    alert_thresholds: Annotated[list[int], NoDecode] = [90, 60, 30, 14, 7, 1]
    alert_interval_seconds: int = Field(default=3600, ge=1)
    scheduler_enabled: bool = True
    webhook_urls: Annotated[list[str], NoDecode] = []
    webhook_secret: SecretStr | None = None
    public_reads: bool = False
    cors_origins: Annotated[list[str], NoDecode] = []
    donor_organisations: Annotated[list[str], NoDecode] = list(DEFAULT_DONOR_ORGANISATIONS)
    idempotency_retention_hours: int = Field(default=48, ge=24)

    @field_validator(
        "alert_thresholds", "webhook_urls", "donor_organisations", "cors_origins", mode="before"
    )
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("alert_thresholds")
    @classmethod
    def _positive_thresholds(cls, value: list[int]) -> list[int]:
        if any(days <= 0 for days in value):
            raise ValueError("alert thresholds are positive numbers of days")
        return sorted(set(value), reverse=True)
