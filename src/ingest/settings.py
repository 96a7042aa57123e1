"""Runtime settings: ``INGEST_*`` environment variables, validated once into one object.

Nothing reads the environment at import time; call :func:`load_settings` where a run
starts (the CLI, a DAG task) and hand the result down.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.errors import ConfigError

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Every tunable of the pipeline; see docs/configuration.md for each one."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", frozen=True, extra="forbid")

    home: Path = Field(default=Path("var"), description="Working directory for local state.")
    warehouse_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<home>/warehouse.db"
    )
    feeds_file: Path | None = Field(default=None, description="Feeds registry (TOML).")
    archive_dir: Path | None = Field(default=None, description="Raw page archive directory.")

    user_agent: str = "news-ingest/0.1 (+https://github.com/news-ingest/news-ingest)"
    connect_timeout_s: float = Field(default=10.0, gt=0)
    feed_deadline_s: float = Field(default=20.0, gt=0)
    page_deadline_s: float = Field(default=30.0, gt=0)
    feed_max_bytes: int = Field(default=15 * MIB, gt=0)
    page_max_bytes: int = Field(default=10 * MIB, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_url_length: int = Field(default=2048, ge=64)
    max_entries_per_feed: int = Field(default=1000, ge=1)
    allow_loopback: bool = Field(
        default=False, description="Let the fetcher reach 127.0.0.0/8 and ::1 (local sites)."
    )

    poll_interval_minutes: int = Field(default=15, ge=1)
    feed_min_interval_minutes: int = Field(default=5, ge=1)
    feed_max_interval_minutes: int = Field(default=24 * 60, ge=1)
    feed_broken_after: int = Field(default=5, ge=1)
    max_retry_after_s: float = Field(default=24 * 3600.0, gt=0)
    throttle_default_s: float = Field(default=300.0, gt=0)

    politeness_delay_s: float = Field(default=3.0, ge=0)
    max_crawl_delay_s: float = Field(default=60.0, ge=0)
    max_parallel_hosts: int = Field(default=16, ge=1)
    respect_robots: bool = True
    robots_ttl_s: float = Field(default=24 * 3600.0, gt=0)
    robots_retry_s: float = Field(default=600.0, gt=0)
    robots_user_agent: str = Field(default="news-ingest", min_length=1)

    parse_budget_s: float = Field(default=30.0, gt=0)
    extract_budget_s: float = Field(default=20.0, gt=0)
    worker_memory_mb: int = Field(default=1024, ge=128)
    workers: int = Field(default=2, ge=1, description="Parse/extract worker processes per task.")
    feed_shard_size: int = Field(default=8, ge=1)
    page_shard_hosts: int = Field(default=16, ge=1)
    max_pages_per_run: int = Field(default=2000, ge=1)
    max_fetch_attempts: int = Field(default=3, ge=1)
    shard_budget_s: float = Field(default=1200.0, gt=0)
    flush_every: int = Field(default=25, ge=1)
    fetch_log_keep_days: int = Field(default=30, ge=1)

    neardup_window_days: float = Field(default=7.0, gt=0)
    cluster_batch: int = Field(default=500, ge=1)

    max_title_chars: int = Field(default=1000, ge=10)
    max_body_chars: int = Field(default=1_000_000, ge=1000)

    @model_validator(mode="after")
    def _absolute_home(self) -> Settings:
        object.__setattr__(self, "home", self.home.expanduser().resolve())
        if self.feed_min_interval_minutes > self.feed_max_interval_minutes:
            raise ValueError("feed_min_interval_minutes is above feed_max_interval_minutes")
        return self

    @property
    def resolved_warehouse_url(self) -> str:
        """The warehouse URL, or the SQLite file under ``home``."""
        return self.warehouse_url or f"sqlite:///{self.home / 'warehouse.db'}"

    @property
    def resolved_archive_dir(self) -> Path:
        """Where raw pages are kept."""
        return (self.archive_dir or self.home / "archive").expanduser().resolve()


def load_settings(**overrides: object) -> Settings:
    """Read and validate ``INGEST_*`` settings; explicit overrides win over the environment.

    An ``INGEST_*`` variable that is not a setting is an error (a typo would otherwise be
    ignored silently).
    """
    known = {f"INGEST_{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(k for k in os.environ if k.startswith("INGEST_") and k not in known)
    if unknown:
        hints = [
            f"{name}" + (f" (did you mean {close[0]}?)" if close else "")
            for name in unknown
            for close in [difflib.get_close_matches(name, known, n=1)]
        ]
        raise ConfigError("unknown settings: " + ", ".join(hints))
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(
            f"INGEST_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
