"""What an operator asks of the pipeline, answered from the warehouse alone.

The CLI (``ingest feeds``, ``ingest stats``), the Airflow plugin and its JSON API all
call these functions, so they cannot disagree. Nothing here knows Airflow; the numbers
come from :mod:`ingest.store.metrics`, and the rules that judge them live here:

- **feed health** (:func:`feed_status`): each feed is ``ok``, ``degraded``, ``failing``,
  ``broken``, ``silent``, ``never_polled`` or ``disabled``, with why;
- **throughput**: articles stored per hour per source;
- **failures**: by reason over a window, each with its URL, feed and time;
- **the queue**: pages pending, by host, and the age of the oldest;
- **lag**: from first seen in a feed to stored, and from published to stored (p50/p95);
- **dedupe**: exact copies skipped, near-duplicates joined, clusters they joined;
- **hosts**: throttled until when, robots.txt refusals, crawl delays.

The silence rule (docs/operations.md, "Monitoring and alerts"): a feed is *silent*
when, at its last successful poll, it had listed nothing new for more than
``silent_factor`` times its usual gap between new items (and at least
``silent_min_s``); with no usual gap known yet (fewer than two polls that found
something), for more than ``silent_unknown_s``. The usual gap is a moving average of the
gaps between polls that found new items (:func:`ingest.schedule.new_gap`); a silent feed
does not move it, so silence stays visible instead of becoming the new normal.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from ingest.models import FeedStatus
from ingest.store import metrics
from ingest.store.engine import reading
from ingest.urls import host_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.settings import Settings

#: The longest window any view reads (31 days), and the most rows one page lists.
MAX_WINDOW_HOURS = 31 * 24
MAX_PAGE_SIZE = 500
#: How many hosts a summary lists (the busiest first); totals count them all.
MAX_HOSTS_LISTED = 50
#: How many unhealthy feeds a summary names (the worst first); ``feeds`` counts them all.
MAX_PROBLEM_FEEDS = 20
#: The sources the hourly series keeps apart; the rest are summed as ``OTHER_SOURCES``.
TOP_SOURCES = 9
OTHER_SOURCES = "(other sources)"


@dataclass(frozen=True, slots=True)
class SilenceRule:
    """When a feed that answers counts as silent (see the module's docstring)."""

    factor: float = 6.0
    min_s: float = 3600.0
    unknown_s: float = 86400.0

    @classmethod
    def of(cls, settings: Settings) -> SilenceRule:
        """The rule the settings give."""
        return cls(settings.silent_factor, settings.silent_min_s, settings.silent_unknown_s)

    def limit_s(self, usual_gap_s: float | None) -> float:
        """How long a feed may list nothing new before it is silent."""
        if usual_gap_s is None or usual_gap_s <= 0:
            return self.unknown_s
        return max(self.factor * usual_gap_s, self.min_s)


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """One feed's status and what it rests on."""

    feed_key: str
    url: str
    title: str | None
    status: FeedStatus
    why: str
    last_error: str | None
    last_warning: str | None
    last_polled_at: datetime | None
    last_success_at: datetime | None
    last_new_at: datetime | None
    next_due_at: datetime | None
    consecutive_failures: int
    poll_interval_s: float | None
    new_per_hour: float | None
    usual_gap_s: float | None
    silent_after_s: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (times as ISO 8601)."""
        return dict(_jsonable(asdict(self)))


PROBLEM_STATUSES = frozenset(
    {FeedStatus.BROKEN, FeedStatus.FAILING, FeedStatus.SILENT, FeedStatus.DEGRADED}
)


def _span(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{max(seconds, 0) / 60:.0f} min"


def feed_status(row: dict[str, Any], rule: SilenceRule) -> tuple[FeedStatus, str]:  # noqa: PLR0911 - one return per status
    """The status of one ``feeds`` row (:func:`ingest.store.metrics.feed_rows`), and why."""
    failures = row["consecutive_failures"] or 0
    if not row["enabled"]:
        return FeedStatus.DISABLED, "disabled in the registry"
    if row["broken"]:
        since = row["broken_since"]
        return FeedStatus.BROKEN, (
            f"{failures} failed poll(s) in a row"
            + (f", broken since {since:%Y-%m-%d %H:%M} UTC" if since else "")
            + f": {row['last_error'] or 'no error noted'}"
        )
    if failures:
        return FeedStatus.FAILING, f"{failures} failed poll(s) in a row: {row['last_error']}"
    success = row["last_success_at"]
    if row["last_polled_at"] is None or success is None:
        return FeedStatus.NEVER_POLLED, "not polled yet"
    quiet_from = row["last_new_at"] or row["created_at"]
    limit = rule.limit_s(row["new_gap_s"])
    if quiet_from is not None and (success - quiet_from).total_seconds() > limit:
        return FeedStatus.SILENT, (
            f"nothing new for {_span((success - quiet_from).total_seconds())} at its last "
            f"poll (silent after {_span(limit)}"
            + (f", {rule.factor:g}x its usual gap of {_span(row['new_gap_s'])})"
               if row["new_gap_s"] else ", no usual gap known yet)")
        )  # fmt: skip
    if row["last_warning"]:
        return FeedStatus.DEGRADED, f"read with warnings: {row['last_warning']}"
    return FeedStatus.OK, "read cleanly at its last poll"


def feeds_health(engine: Engine, rule: SilenceRule | None = None) -> list[FeedHealth]:
    """Every feed's health, worst first, then by key."""
    rule = rule or SilenceRule()
    with reading(engine) as conn:
        rows = metrics.feed_rows(conn)
    out = []
    for row in rows:
        status, why = feed_status(row, rule)
        out.append(
            FeedHealth(
                feed_key=row["feed_key"], url=row["url"], title=row["title"], status=status,
                why=why, last_error=row["last_error"], last_warning=row["last_warning"],
                last_polled_at=row["last_polled_at"], last_success_at=row["last_success_at"],
                last_new_at=row["last_new_at"], next_due_at=row["next_due_at"],
                consecutive_failures=row["consecutive_failures"] or 0,
                poll_interval_s=row["poll_interval_s"], new_per_hour=row["new_per_hour"],
                usual_gap_s=row["new_gap_s"], silent_after_s=rule.limit_s(row["new_gap_s"]),
            )
        )  # fmt: skip
    out.sort(key=lambda h: (h.status.rank, h.feed_key))
    return out


def status_counts(health: Sequence[FeedHealth]) -> dict[str, int]:
    """Feeds per status, every status listed (zeros included), worst first."""
    counted = Counter(h.status for h in health)
    return {s.value: counted[s] for s in FeedStatus}


def percentile(sorted_values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile of sorted values (None for none)."""
    if not sorted_values:
        return None
    rank = max(math.ceil(share * len(sorted_values)), 1)
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class Lag:
    """Seconds from a moment to an article's storing, over a window's articles."""

    count: int
    p50_s: float | None
    p95_s: float | None

    @classmethod
    def of(cls, sorted_values: Sequence[float]) -> Lag:
        """The lag of sorted samples."""
        return cls(len(sorted_values), percentile(sorted_values, 0.5),
                   percentile(sorted_values, 0.95))  # fmt: skip


@dataclass(frozen=True, slots=True)
class Window:
    """A time window ending now."""

    hours: float
    since: datetime
    until: datetime

    @classmethod
    def last(cls, hours: float, now: datetime | None = None) -> Window:
        """The last ``hours`` hours, ending ``now``.

        A window is a positive span of at most :data:`MAX_WINDOW_HOURS`.
        """
        if not (isinstance(hours, int | float) and math.isfinite(hours)) or not (
            0 < hours <= MAX_WINDOW_HOURS
        ):
            raise ValueError(f"a window is more than 0 and at most {MAX_WINDOW_HOURS} hours")
        until = now or datetime.now(UTC)
        return cls(float(hours), until - timedelta(hours=hours), until)


@dataclass(frozen=True, slots=True)
class Summary:
    """Everything the dashboard's front page shows, for one window."""

    window: Window
    stored: int
    stored_by_source: dict[str, int]
    stored_per_hour: list[dict[str, Any]]  # {"hour", "source", "count"}
    failed: int
    failed_by_reason: dict[str, int]
    failures_per_hour: list[dict[str, Any]]  # {"hour", "reason", "count"}
    dedupe: dict[str, int]  # exact, near, clusters
    loads: dict[str, int]  # what the window's loads counted
    queue: dict[str, Any]  # pending, hosts, oldest_first_seen_at, oldest_age_s, by_host
    lag_seen: Lag
    lag_published: Lag
    hosts: dict[str, Any]  # throttled, crawl_delayed, robots_unreachable, robots_refused
    feeds: dict[str, int] = field(default_factory=dict)  # per status
    problem_feeds: list[dict[str, Any]] = field(
        default_factory=list
    )  # worst first: key, status, why

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (times as ISO 8601)."""
        return dict(_jsonable(asdict(self)))


def summary(
    engine: Engine, hours: float = 24, *, now: datetime | None = None,
    rule: SilenceRule | None = None, health: Sequence[FeedHealth] | None = None,
) -> Summary:  # fmt: skip
    """What landed, failed, waits and was deduplicated in the last ``hours`` hours.

    ``health`` is the feeds' health when the caller has it already (``feeds_health``).
    The hourly series keeps the ``TOP_SOURCES`` sources that stored the most apart and
    sums the rest as ``OTHER_SOURCES``, so that a chart stays readable at 500 sources.
    """
    window = Window.last(hours, now)
    since, now = window.since, window.until
    if health is None:
        health = feeds_health(engine, rule)
    with reading(engine) as conn:
        by_source = metrics.stored_by_source(conn, since)
        top = list(by_source)[:TOP_SOURCES]
        per_hour = metrics.stored_per_hour(conn, since, top) if by_source else []
        fails = metrics.failures_per_hour(conn, since)
        dedupe = metrics.dedupe_counts(conn, since)
        loads = metrics.loads_since(conn, since)
        pages, on_hosts, oldest = metrics.pending_totals(conn)
        by_host = metrics.pending_by_host(conn, MAX_HOSTS_LISTED)
        seen, published = metrics.lag_seconds(conn, since)
        held = metrics.held_hosts(conn, now, MAX_HOSTS_LISTED)
        refused = metrics.refused_by_robots(conn, since, 10 * MAX_PAGE_SIZE)
    by_reason: Counter[str] = Counter()
    for _, reason, n in fails:
        by_reason[reason] += n
    refused_hosts = Counter(host_of(url) for url in refused)
    problems = [h for h in health if h.status in PROBLEM_STATUSES]
    return Summary(
        window=window,
        stored=sum(by_source.values()),
        stored_by_source=by_source,
        stored_per_hour=[
            {"hour": h, "source": OTHER_SOURCES if s is None else s, "count": n}
            for h, s, n in per_hour
        ],
        failed=sum(by_reason.values()),
        failed_by_reason=dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        failures_per_hour=[{"hour": h, "reason": r, "count": n} for h, r, n in fails],
        dedupe={k: dedupe[k] for k in ("exact", "near", "clusters")},
        loads=loads,
        queue={
            "pending": pages,
            "hosts": on_hosts,
            "oldest_first_seen_at": oldest,
            "oldest_age_s": (now - oldest).total_seconds() if oldest else None,
            "by_host": [
                {
                    "host": h,
                    "pending": n,
                    "oldest_first_seen_at": o,
                    "oldest_age_s": (now - o).total_seconds(),
                }
                for h, n, o in by_host
            ],
        },
        lag_seen=Lag.of(seen),
        lag_published=Lag.of(published),
        hosts=_hosts(held, refused_hosts, now),
        feeds=status_counts(health),
        problem_feeds=[
            {"feed_key": h.feed_key, "status": h.status.value, "why": h.why}
            for h in problems[:MAX_PROBLEM_FEEDS]
        ],
    )


def _robots_unreachable(status: int | None) -> bool:
    """A robots.txt answer that holds its host back: a 5xx, a 429 or none (0; RFC 9309)."""
    return status is not None and (status >= 500 or status in (0, 429))  # noqa: PLR2004 - HTTP


def _hosts(held: list[dict[str, Any]], refused: Counter[str], now: datetime) -> dict[str, Any]:
    throttled = [
        {"host": h["host"], "until": h["next_eligible_at"], "why": h["last_throttle"],
         "times": h["throttled_count"]}
        for h in held if h["next_eligible_at"] is not None and h["next_eligible_at"] > now
    ]  # fmt: skip
    delayed = [
        {"host": h["host"], "crawl_delay_s": h["crawl_delay_s"]}
        for h in held if h["crawl_delay_s"]
    ]  # fmt: skip
    unreachable = [
        {"host": h["host"], "robots_status": h["robots_status"], "retry_at": h["robots_expires_at"]}
        for h in held if _robots_unreachable(h["robots_status"])
    ]  # fmt: skip
    return {
        "throttled": throttled,
        "crawl_delayed": delayed,
        "robots_unreachable": unreachable,
        "robots_refused": [{"host": h, "pages": n} for h, n in refused.most_common()],
    }


@dataclass(frozen=True, slots=True)
class FailurePage:
    """One page of a window's failures, newest first."""

    window: Window
    total: int
    page: int
    per_page: int
    items: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(_jsonable(asdict(self)))


def failures(
    engine: Engine, hours: float = 24, *, page: int = 1, per_page: int = 50,
    reason: str | None = None, run_id: str | None = None, now: datetime | None = None,
) -> FailurePage:  # fmt: skip
    """The failures of the last ``hours`` hours (of one run, of one reason), paginated."""
    window = Window.last(hours, now)
    if not (isinstance(page, int) and page >= 1):
        raise ValueError("page is a whole number from 1")
    if not (isinstance(per_page, int) and 1 <= per_page <= MAX_PAGE_SIZE):
        raise ValueError(f"per_page is a whole number from 1 to {MAX_PAGE_SIZE}")
    with reading(engine) as conn:
        counts = metrics.failures_per_hour(conn, window.since, run_id)
        items = metrics.failures(
            conn, window.since, limit=per_page, offset=(page - 1) * per_page, reason=reason,
            run_id=run_id,
        )  # fmt: skip
    total = sum(n for _, r, n in counts if reason is None or r == reason)
    return FailurePage(window, total, page, per_page, items)


@dataclass(frozen=True, slots=True)
class RunView:
    """What one run did: its loads, its requests by kind, its failures (with URLs)."""

    run_id: str
    loads: list[dict[str, Any]]  # ledger rows, in order
    requests: dict[str, dict[str, int]]  # kind -> ok / failed / warned
    failed_by_reason: dict[str, int]
    failures: list[dict[str, Any]]  # the first MAX_PAGE_SIZE, newest first
    stored: int  # inserted + updated over its loads
    duplicates: int

    @property
    def found(self) -> bool:
        """Whether the warehouse knows the run at all."""
        return bool(self.loads or self.requests)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form."""
        return dict(_jsonable(asdict(self)))


def run_view(engine: Engine, run_id: str, *, hours: float = MAX_WINDOW_HOURS) -> RunView:
    """One run, from its ledger rows and its fetch-log lines (kept ``fetch_log_keep_days``)."""
    since = Window.last(hours).since
    with reading(engine) as conn:
        loaded = metrics.run_loads(conn, run_id)
        requests = metrics.run_requests(conn, run_id)
        counts = metrics.failures_per_hour(conn, since, run_id)
        items = metrics.failures(conn, since, limit=MAX_PAGE_SIZE, run_id=run_id)
    by_reason: Counter[str] = Counter()
    for _, reason, n in counts:
        by_reason[reason] += n
    return RunView(
        run_id=run_id, loads=loaded, requests=requests,
        failed_by_reason=dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0]))),
        failures=items, stored=sum(r["inserted"] + r["updated"] for r in loaded),
        duplicates=sum(r["duplicates"] for r in loaded),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class CheckRule:
    """When the check step fails a run (settings ``check_*`` and ``freshness_limit_s``)."""

    max_failed_share: float = 0.5
    min_pages: int = 10
    freshness_s: float = 6 * 3600.0  # 0: no freshness rule

    @classmethod
    def of(cls, settings: Settings) -> CheckRule:
        """The rule the settings give."""
        return cls(settings.check_max_failed_share, settings.check_min_pages,
                   settings.freshness_limit_s)  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunCheck:
    """One run judged: what it did, and each health rule it broke (none: healthy)."""

    run: RunView
    problems: list[str]
    newly_broken: list[dict[str, Any]]  # feed_key, last_error, broken_since
    pages_ok: int
    pages_failed: int
    feeds_polled: int
    last_stored_at: datetime | None
    checked_at: datetime
    #: Whether nothing has landed for longer than the freshness limit; None when the
    #: rule did not apply (switched off, or the run polled nothing).
    stale: bool | None = None

    @property
    def healthy(self) -> bool:
        """Whether the run broke no rule."""
        return not self.problems

    def lines(self) -> list[str]:
        """The one-screen summary the check step logs."""
        r = self.run
        verdict = "healthy" if self.healthy else f"UNHEALTHY ({len(self.problems)} rule(s) broken)"
        out = [
            f"run {r.run_id}: {verdict}",
            f"  feeds polled {self.feeds_polled}; page requests {self.pages_ok + self.pages_failed}"
            f" ({self.pages_ok} ok, {self.pages_failed} failed)",
            f"  articles stored (new or changed) {r.stored}; exact duplicates skipped "
            f"{r.duplicates}",
            "  failed by reason: "
            + (", ".join(f"{k} {n}" for k, n in r.failed_by_reason.items()) or "none"),
            "  newest article stored "
            + (f"{self.last_stored_at:%Y-%m-%d %H:%M:%S} UTC" if self.last_stored_at else "never"),
        ]
        out += [f"  problem: {p}" for p in self.problems]
        return out


def check_run(
    engine: Engine, run_id: str, rule: CheckRule | None = None, *, now: datetime | None = None
) -> RunCheck:
    """Judge one run against the health rules; see docs/operations.md "The check step".

    A run is unhealthy when a feed turned broken in it; when more than
    ``max_failed_share`` of its page requests failed (from ``min_pages`` requests on);
    or when it polled feeds and yet nothing was stored for longer than ``freshness_s``
    (counted from the newest article, or from the first feed's addition before any).
    """
    rule = rule or CheckRule()
    now = now or datetime.now(UTC)
    view = run_view(engine, run_id)
    with reading(engine) as conn:
        broken = metrics.newly_broken_feeds(conn, run_id)
        newest = metrics.last_stored_at(conn)
        reference = newest or metrics.first_feed_added_at(conn)
    pages = view.requests.get("page", {})
    ok, failed = pages.get("ok", 0) + pages.get("warned", 0), pages.get("failed", 0)
    feeds = view.requests.get("feed", {})
    polled = sum(feeds.values())
    problems = [
        f"feed {b['feed_key']} turned broken in this run: {b['last_error'] or 'no error noted'}"
        for b in broken
    ]
    tried = ok + failed
    if tried >= rule.min_pages and failed > rule.max_failed_share * tried:
        problems.append(
            f"{failed} of {tried} page requests failed ({failed / tried:.0%}; the limit is "
            f"{rule.max_failed_share:.0%})"
        )
    stale = None
    if rule.freshness_s and polled and reference is not None:
        quiet = (now - reference).total_seconds()
        stale = quiet > rule.freshness_s
        if stale:
            since = "the newest article was stored" if newest else "the first feed was added"
            problems.append(
                f"nothing stored for {_span(quiet)} since {since} (the freshness limit is "
                f"{_span(rule.freshness_s)}), though this run polled {polled} feed(s)"
            )
    return RunCheck(view, problems, broken, ok, failed, polled, newest, now, stale)


def latest_articles(engine: Engine, limit: int = 10) -> list[dict[str, Any]]:
    """The ``limit`` articles stored last, newest first (at most ``MAX_PAGE_SIZE``)."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValueError(f"a page is 1 to {MAX_PAGE_SIZE} rows")
    with reading(engine) as conn:
        return metrics.latest_articles(conn, limit)


def recent_runs(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest loads (one row per run's load), newest first."""
    if not (isinstance(limit, int) and 1 <= limit <= MAX_PAGE_SIZE):
        raise ValueError(f"limit is a whole number from 1 to {MAX_PAGE_SIZE}")
    with reading(engine) as conn:
        return metrics.recent_loads(conn, limit)


def _jsonable(value: Any) -> Any:  # noqa: ANN401 - any JSON-able value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def by_hour(rows: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, int]]:
    """Per-hour rows regrouped as ``{hour: {key value: count}}`` (for charts)."""
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        out[row["hour"]][row[key]] = row["count"]
    return dict(out)


__all__ = [
    "MAX_PAGE_SIZE", "MAX_WINDOW_HOURS", "FailurePage", "FeedHealth", "FeedStatus", "Lag",
    "RunView", "SilenceRule", "Summary", "Window", "by_hour", "failures", "feed_status",
    "feeds_health", "percentile", "recent_runs", "run_view", "status_counts", "summary",
]  # fmt: skip
