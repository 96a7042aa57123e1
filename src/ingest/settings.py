"""Runtime settings: ``INGEST_*`` environment variables, validated once into one object.

Nothing reads the environment at import time; call :func:`load_settings` where a run
starts (the CLI, a DAG task) and hand the result down.
"""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ingest.errors import ConfigError
from ingest.textutil import visible

MIB = 1024 * 1024
GIB = 1024 * MIB
DAY_S = 24 * 3600.0
WEEK_MINUTES = 7 * 24 * 60
#: news_ingest's schedule unless INGEST_SCHEDULE says otherwise: every quarter hour.
DEFAULT_SCHEDULE = "*/15 * * * *"
#: INGEST_SCHEDULE's value for Airflow's continuous schedule.
CONTINUOUS = "@continuous"
CRON_FIELDS = 5
#: A cron field: digits, names (jan, mon), ``*``, ``?``, ranges, steps, lists, ``L``, ``#``.
_CRON_FIELD = re.compile(r"[0-9A-Za-z*?/,#\-]{1,100}")
#: What an alert recipient must look like: one address, no display name, no spaces.
_ADDRESS = re.compile(r"[^@\s,<>]{1,64}@[^@\s,<>]{1,255}")


class Settings(BaseSettings):
    """Every tunable of the pipeline; see docs/configuration.md for each one."""

    # Every number is finite (no inf, nan or 1e309) and within its bounds: an unbounded
    # deadline or delay would not fail, it would quietly stop a run from doing anything.
    model_config = SettingsConfigDict(
        env_prefix="INGEST_", frozen=True, extra="forbid", allow_inf_nan=False
    )

    home: Path = Field(default=Path("var"), description="Working directory for local state.")
    warehouse_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<home>/warehouse.db"
    )
    feeds_file: Path | None = Field(default=None, description="Feeds registry (TOML).")
    archive_dir: str | None = Field(
        default=None, max_length=1000,
        description="The raw archive's root: a directory, or an fsspec URL (s3://bucket/path).",
    )  # fmt: skip
    archive_file_mb: int = Field(
        default=256, ge=1, le=10_000, description="A raw archive WARC file rotates past this size."
    )

    user_agent: str = "news-ingest/0.1 (+https://github.com/news-ingest/news-ingest)"
    connect_timeout_s: float = Field(default=10.0, gt=0, le=600)
    feed_deadline_s: float = Field(default=20.0, gt=0, le=3600)
    page_deadline_s: float = Field(default=30.0, gt=0, le=3600)
    feed_max_bytes: int = Field(default=15 * MIB, gt=0, le=GIB)
    page_max_bytes: int = Field(default=10 * MIB, gt=0, le=GIB)
    max_redirects: int = Field(default=5, ge=0, le=20)
    max_url_length: int = Field(default=2048, ge=64, le=65_536)
    max_entries_per_feed: int = Field(default=1000, ge=1, le=1_000_000)
    allow_loopback: bool = Field(
        default=False, description="Let the fetcher reach 127.0.0.0/8 and ::1 (local sites)."
    )

    schedule: str = Field(
        default=DEFAULT_SCHEDULE, min_length=1, max_length=200,
        description="When news_ingest runs: a cron expression (5 fields, UTC), or "
        "@continuous (a new run as soon as the last one ends).",
    )  # fmt: skip
    retry_delay_s: float = Field(
        default=30.0, gt=0, le=3600,
        description="The DAGs' first retry delay of a failed task (it doubles, up to 15 min).",
    )  # fmt: skip
    poll_interval_minutes: int = Field(default=15, ge=1, le=WEEK_MINUTES)
    feed_min_interval_minutes: int = Field(default=5, ge=1, le=WEEK_MINUTES)
    feed_max_interval_minutes: int = Field(default=24 * 60, ge=1, le=WEEK_MINUTES)
    feed_broken_after: int = Field(default=5, ge=1, le=1000)
    max_retry_after_s: float = Field(default=24 * 3600.0, gt=0, le=30 * DAY_S)
    throttle_default_s: float = Field(default=300.0, gt=0, le=7 * DAY_S)

    politeness_delay_s: float = Field(default=3.0, ge=0, le=3600)
    max_crawl_delay_s: float = Field(default=60.0, ge=0, le=3600)
    max_parallel_hosts: int = Field(default=16, ge=1, le=1024)
    respect_robots: bool = True
    robots_ttl_s: float = Field(default=24 * 3600.0, gt=0, le=30 * DAY_S)
    robots_retry_s: float = Field(default=600.0, gt=0, le=7 * DAY_S)
    robots_user_agent: str = Field(default="news-ingest", min_length=1)

    parse_budget_s: float = Field(default=30.0, gt=0, le=3600)
    extract_budget_s: float = Field(default=20.0, gt=0, le=3600)
    worker_memory_mb: int = Field(default=1024, ge=256, le=1024 * 1024)
    workers: int = Field(
        default=2, ge=1, description="Parse/extract worker processes per task.", le=256
    )
    feed_shard_size: int = Field(default=8, ge=1, le=100_000)
    page_shard_hosts: int = Field(default=16, ge=1, le=100_000)
    max_shards: int = Field(
        default=256, ge=1, le=1024,
        description="The most shards a plan makes; past it its shards grow (Airflow maps a "
        "task at most 1024 times by default).",
    )  # fmt: skip
    max_pages_per_run: int = Field(default=2000, ge=1, le=10_000_000)
    max_fetch_attempts: int = Field(default=3, ge=1, le=100)
    shard_budget_s: float = Field(default=1200.0, gt=0, le=DAY_S)
    page_lease_s: float = Field(
        default=7200.0, gt=0, le=7 * DAY_S,
        description="How long a page a run fetched stays that run's while it waits for its load.",
    )  # fmt: skip
    flush_every: int = Field(default=25, ge=1, le=100_000)
    fetch_log_keep_days: int = Field(default=30, ge=1, le=36_500)

    silent_factor: float = Field(
        default=6.0, ge=1, le=1000,
        description="A feed is silent after this many times its usual gap between new items.",
    )  # fmt: skip
    silent_min_s: float = Field(default=3600.0, gt=0, le=30 * DAY_S)
    silent_unknown_s: float = Field(default=DAY_S, gt=0, le=30 * DAY_S)
    check_max_failed_share: float = Field(
        default=0.5, ge=0, le=1,
        description="The check step fails a run whose page requests failed above this share.",
    )  # fmt: skip
    check_min_pages: int = Field(
        default=10, ge=1, le=1_000_000,
        description="The failed-share rule applies from this many page requests in a run.",
    )  # fmt: skip
    freshness_limit_s: float = Field(
        default=6 * 3600.0, ge=0, le=30 * DAY_S,
        description="The check step fails a run that polled feeds when nothing was stored "
        "for longer than this (0: no freshness rule).",
    )  # fmt: skip

    alert_email_to: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="E-mail alerts to these addresses (comma-separated); empty: no e-mail.",
    )
    alert_email_from: str | None = Field(default=None, max_length=320, pattern=_ADDRESS.pattern)
    alert_smtp_conn_id: str = Field(default="smtp_default", min_length=1, max_length=250)
    alert_slack_conn_id: str | None = Field(
        default=None, max_length=250,
        description="A slackwebhook Connection to post alerts to; unset: no Slack.",
    )  # fmt: skip

    neardup_window_days: float = Field(default=7.0, gt=0, le=3650)
    cluster_batch: int = Field(default=500, ge=1, le=1_000_000)

    max_title_chars: int = Field(default=1000, ge=10, le=100_000)
    max_body_chars: int = Field(default=1_000_000, ge=1000, le=100_000_000)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        value = " ".join(value.split())
        if value.lower() in (CONTINUOUS, CONTINUOUS[1:]):
            return CONTINUOUS
        fields = value.split(" ")
        if len(fields) != CRON_FIELDS or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(
                f"{visible(value)[:80]!r} is neither {CONTINUOUS} nor a cron expression of "
                "5 fields (minute hour day month weekday), e.g. '*/15 * * * *'"
            )
        return value

    @field_validator("alert_email_to", mode="before")
    @classmethod
    def _addresses(cls, value: object) -> object:
        if isinstance(value, str):  # the environment gives "a@b.org, c@d.org"
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            bad = [v for v in value if not (isinstance(v, str) and _ADDRESS.fullmatch(v))]
            if bad:
                raise ValueError(f"not an e-mail address: {visible(bad[0])[:80]!r}")
        return value

    @model_validator(mode="after")
    def _absolute_home(self) -> Settings:
        object.__setattr__(self, "home", self.home.expanduser().resolve())
        if self.feed_min_interval_minutes > self.feed_max_interval_minutes:
            raise ValueError(
                f"INGEST_FEED_MIN_INTERVAL_MINUTES ({self.feed_min_interval_minutes}) is above "
                f"INGEST_FEED_MAX_INTERVAL_MINUTES ({self.feed_max_interval_minutes})"
            )
        return self

    @property
    def resolved_warehouse_url(self) -> str:
        """The warehouse URL, or the SQLite file under ``home``."""
        return self.warehouse_url or f"sqlite:///{self.home / 'warehouse.db'}"

    @property
    def host_lease_s(self) -> float:
        """How long a crawl holds a host: past the end of the last request it can make.

        No request starts after the shard budget, and none lasts past a page deadline;
        a delay and a minute more cover the rest (see :mod:`ingest.store.leases`).
        """
        delay = max(self.politeness_delay_s, self.max_crawl_delay_s)
        return self.shard_budget_s + self.page_deadline_s + delay + 60.0

    @property
    def archive_root(self) -> str:
        """Where raw pages are kept: a URL as given, else an absolute directory."""
        if self.archive_dir and "://" in self.archive_dir:
            return self.archive_dir
        return str(self.resolved_archive_dir)

    @property
    def resolved_archive_dir(self) -> Path:
        """The archive's local directory (``home``/archive unless set to one)."""
        if self.archive_dir and "://" in self.archive_dir:
            raise ValueError(f"the archive is not a local directory: {self.archive_dir}")
        local = Path(self.archive_dir) if self.archive_dir else self.home / "archive"
        return local.expanduser().resolve()

    @property
    def archive_file_bytes(self) -> int:
        """:attr:`archive_file_mb` in bytes."""
        return self.archive_file_mb * 1024 * 1024


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
        raise ConfigError("invalid settings: " + "; ".join(map(_describe, exc.errors()))) from None


def _describe(error: Any) -> str:  # noqa: ANN401 - pydantic's ErrorDetails
    """One problem: the variable, the value given, what is wrong and what is allowed."""
    if not error["loc"]:  # a check across settings: its message names them
        return str(error["msg"]).removeprefix("Value error, ")
    name = str(error["loc"][0])
    shown = visible(error["input"])
    shown = shown if len(shown) <= 40 else shown[:40] + "..."  # noqa: PLR2004 - a short echo
    allowed = allowed_range(name)
    return f"INGEST_{name.upper()}={shown!r}: {error['msg']}" + (
        f" (allowed: {allowed})" if allowed else ""
    )


def allowed_range(name: str) -> str:
    """The bounds of a numeric setting, written out (``0 < value <= 3600``), or ``""``."""
    field = Settings.model_fields.get(name)
    if field is None:
        return ""
    low = high = ""
    for bound in field.metadata:  # annotated-types' Gt, Ge and Le, as Field() made them
        if (gt := getattr(bound, "gt", None)) is not None:
            low = f"{int(gt) if float(gt).is_integer() else gt} < "
        elif (ge := getattr(bound, "ge", None)) is not None:
            low = f"{int(ge) if float(ge).is_integer() else ge} <= "
        elif (le := getattr(bound, "le", None)) is not None:
            high = f" <= {int(le) if float(le).is_integer() else le}"
    kind = field.annotation.__name__ if isinstance(field.annotation, type) else "value"
    if kind not in ("int", "float") or not (low or high):
        return ""
    return f"{'an integer' if kind == 'int' else 'a number'}, {low}value{high}"
