"""The one settings object every target reads (environment prefix ``CACHEBENCH_``)."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

InvalidationMode = Literal["ttl", "delete", "version"]
ENV_PREFIX = "CACHEBENCH_"


class SettingsError(ValueError):
    """Bad settings, described by the environment variable that holds them."""


class Settings(BaseSettings):
    """Everything a target needs; ``GET /healthz`` shows the values in force."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    #: The target's name, as ``targets.TARGETS`` spells it; the target module sets it.
    strategy: str = Field("nocache", pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    namespace: str = Field("cb", pattern=r"^[a-z0-9_-]{1,16}$")

    l1_max_entries: int = Field(10_000, ge=1)
    l1_max_bytes: int | None = Field(None, ge=1)
    l1_ttl_s: float = Field(30.0, gt=0)

    redis_url: str | None = Field(None, validation_alias=AliasChoices(f"{ENV_PREFIX}REDIS_URL", "REDIS_URL"))
    redis_ttl_s: float = Field(60.0, gt=0)
    redis_timeout_s: float = Field(0.25, gt=0)
    redis_failures_before_cooldown: int = Field(3, ge=1)
    redis_cooldown_s: float = Field(2.0, gt=0)

    invalidation: InvalidationMode = "delete"
    ttl_jitter: float = Field(0.0, ge=0, lt=1)
    coalesce: bool = False

    client_headers: bool = False
    max_age_s: int = Field(30, ge=0)

    origin_items: int = Field(10_000, ge=1, le=10_000_000)
    origin_users: int = Field(1_000, ge=1, le=1_000_000)
    payload_bytes: int = Field(1024, ge=0, le=1_000_000)
    origin_latency_ms: float = Field(20.0, ge=0)
    origin_jitter_ms: float = Field(5.0, ge=0)
    #: Connections in each worker's pool to the origin, as a database pool has: operations beyond
    #: it queue, so the origin saturates near concurrency ÷ latency per worker.
    origin_concurrency: int = Field(10, ge=1, le=10_000)
    origin_path: Path | None = None
    seed: int = 42

    max_body_bytes: int = Field(65_536, ge=256)
    backend: str | None = Field(None, pattern=r"^[\w.]+:\w+$")

    def public_dump(self) -> dict[str, object]:
        """The settings in force, with the Redis password masked."""
        shown = self.model_dump(mode="json")
        if self.redis_url:
            shown["redis_url"] = re.sub(r"//([^@/]*)@", "//***@", self.redis_url)
        return shown

    @property
    def origin_file(self) -> Path:
        """The SQLite file; by default one per seed shape, so every worker opens the same one."""
        if self.origin_path is not None:
            return self.origin_path
        shape = f"{self.origin_items}-{self.origin_users}-{self.payload_bytes}-{self.seed}"
        return Path(tempfile.gettempdir()) / f"cachebench-origin-{shape}.sqlite3"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into one clear message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            value = error.get("input")
            shown = "" if isinstance(value, dict) else f"={value!r}"
            name = field.upper()
            # Aliased fields (redis_url) report their alias, which may carry the prefix already.
            variable = name if name.startswith(ENV_PREFIX) or name == "REDIS_URL" else ENV_PREFIX + name
            problems.append(f"{variable}{shown}: {error['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
