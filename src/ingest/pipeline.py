"""The composer: calls the stages in order. Used by the Airflow DAG and by the CLI.

Each public function is one step a DAG task (or the CLI) runs, takes plain arguments and
returns small plain values (counts, keys, labels), so that what crosses XCom stays
small. Bodies travel through the warehouse (``article_staging``) and the raw archive.

    prepare -> plan_feed_shards -> poll_shard* -> plan_page_shards -> fetch_shard* -> load_run
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from ingest import (
    archive,
    crawl,
    dedupe,
    extract,
    fetch,
    neardup,
    normalise,
    parse,
    registry,
    rekey,
    schedule,
    warehouse,
)
from ingest.errors import UrlRejected, WarehouseError, WarehouseUnavailable
from ingest.models import (
    Article,
    ClusterResult,
    Extracted,
    Fetched,
    FetchFailure,
    HostState,
    Miss,
    PageJob,
    ParsedFeed,
    PollTarget,
    Reason,
    RekeyResult,
    Validators,
)
from ingest.sandbox import Sandbox
from ingest.urls import canonical_url, host_of

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

    from ingest.models import FeedEntry, LoadResult
    from ingest.settings import Settings

log = logging.getLogger(__name__)


class Shard(TypedDict):
    """A unit of mapped work: a few feed keys or hosts, and a label for the UI."""

    items: list[str]
    label: str


@dataclass(slots=True)
class StepStats:
    """Counters one step reports (summed across shards by the composer or the DAG)."""

    feeds_polled: int = 0
    feeds_failed: int = 0
    feeds_unchanged: int = 0
    entries_seen: int = 0
    entries_new: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    pages_deferred: int = 0
    articles_extracted: int = 0
    failures: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for XCom)."""
        out: dict[str, Any] = {k: getattr(self, k) for k in self.__slots__ if k != "failures"}
        out["failures"] = dict(self.failures)
        return out

    @classmethod
    def total(cls, parts: Sequence[dict[str, Any]]) -> StepStats:
        """Sum the dict forms of several stats."""
        total = cls()
        for part in parts:
            for key, value in part.items():
                if key == "failures":
                    total.failures.update(value)
                else:
                    setattr(total, key, getattr(total, key) + int(value))
        return total


def _now() -> datetime:
    return datetime.now(UTC)


def _shards(items: Sequence[str], size: int) -> list[Shard]:
    out: list[Shard] = []
    for start in range(0, len(items), size):
        chunk = list(items[start : start + size])
        label = ", ".join(chunk) if len(chunk) <= 3 else f"{chunk[0]} .. {chunk[-1]} ({len(chunk)})"  # noqa: PLR2004 - label width
        out.append(Shard(items=chunk, label=label[:200]))
    return out


# --------------------------------------------------------------------------- steps


def prepare(engine: Engine, feeds_file: Path, now: datetime | None = None) -> int:
    """Bring the schema, the ``feeds`` table and the stored URL keys up to date.

    Migrations to head, the registry file synced into ``feeds``, and rows stored under
    older URL rules re-keyed (:func:`rekey_urls`).
    """
    specs = registry.load_registry(feeds_file)
    warehouse.upgrade(engine)
    count = warehouse.sync_feeds(engine, specs, now or _now())
    log.info("registry %s: %d feeds", feeds_file, count)
    rekey_urls(engine, now=now)
    return count


def rekey_urls(
    engine: Engine, *, now: datetime | None = None, dry_run: bool = False
) -> RekeyResult:
    """Apply the current URL rules to articles and entries stored under older ones.

    Before polls (so a re-polled entry finds its re-keyed self) and before every load (so
    no article is inserted next to its own stale copy); a no-op when nothing is stale.
    """
    return rekey.rekey(engine, now=now or _now(), dry_run=dry_run)


def plan_feed_shards(engine: Engine, settings: Settings, at: datetime) -> list[Shard]:
    """Feeds due at ``at`` (the run's data-interval end), grouped into shards."""
    due = [t.key for t in warehouse.due_feeds(engine, at)]
    log.info("%d feeds due at %s", len(due), at.isoformat())
    return _shards(due, settings.feed_shard_size)


def poll_shard(
    engine: Engine, settings: Settings, feed_keys: Sequence[str], run_id: str
) -> dict[str, Any]:
    """Poll some feeds; queue their new entries. Returns StepStats as a dict."""
    stats = StepStats()
    limits = fetch.Limits.for_kind(settings, "feed")
    fetch_rows: list[dict[str, Any]] = []
    with (
        fetch.Fetcher(settings.user_agent, allow_loopback=settings.allow_loopback) as fetcher,
        Sandbox(settings.workers, settings.worker_memory_mb) as box,
    ):
        poller = _Poller(engine, settings, fetcher, box, limits, run_id, stats, fetch_rows)
        for target in warehouse.feeds_by_key(engine, feed_keys):
            poller.poll(target)
    warehouse.log_fetches(engine, fetch_rows)
    log.info(
        "shard polled %d feeds: %d failed, %d unchanged, %d entries seen, %d new",
        stats.feeds_polled,
        stats.feeds_failed,
        stats.feeds_unchanged,
        stats.entries_seen,
        stats.entries_new,
    )
    return stats.as_dict()


def _fetch_row(
    run_id: str,
    kind: str,
    result: Fetched | FetchFailure,
    reason: Reason | None = None,
    detail: str = "",
) -> dict[str, Any]:
    if isinstance(result, FetchFailure):
        return {
            "run_id": run_id,
            "kind": kind,
            "url": result.url[:4096],
            "final_url": result.final_url,
            "status": result.status,
            "bytes": None,
            "elapsed_ms": int(result.elapsed_s * 1000),
            "reason": result.reason.value,
            "detail": result.detail[:500],
            "fetched_at": _now(),
        }
    return {
        "run_id": run_id, "kind": kind, "url": result.url[:4096], "final_url": result.final_url,
        "status": result.status, "bytes": len(result.body),
        "elapsed_ms": int(result.elapsed_s * 1000),
        "reason": reason.value if reason else None, "detail": detail[:500] or None,
        "fetched_at": _now(),
    }  # fmt: skip


@dataclass(slots=True)
class _Poller:
    """Polls feeds one by one: fetch, parse in the sandbox, queue entries, schedule."""

    engine: Engine
    settings: Settings
    fetcher: fetch.Fetcher
    box: Sandbox
    limits: fetch.Limits
    run_id: str
    stats: StepStats
    fetch_rows: list[dict[str, Any]]

    def _timing(self, target: PollTarget) -> tuple[schedule.FeedTiming, schedule.Bounds]:
        settings = self.settings
        bounds = schedule.Bounds.for_feed(
            fixed_minutes=target.interval_minutes,
            min_minutes=target.min_interval_minutes,
            max_minutes=target.max_interval_minutes,
            default_min_minutes=settings.feed_min_interval_minutes,
            default_max_minutes=settings.feed_max_interval_minutes,
        )
        timing = schedule.FeedTiming(
            interval_s=target.poll_interval_s,
            new_per_hour=target.new_per_hour,
            last_success_at=target.last_success_at,
            consecutive_failures=target.consecutive_failures,
        )
        return timing, bounds

    def _fail(
        self,
        target: PollTarget,
        now: datetime,
        reason: Reason,
        detail: str,
        status: int | None,
        retry_after_s: float | None = None,
    ) -> None:
        settings = self.settings
        timing, bounds = self._timing(target)
        plan = schedule.after_failure(
            timing, bounds, now=now, reason=reason,
            default_s=settings.poll_interval_minutes * 60.0,
            broken_after=settings.feed_broken_after, retry_after_s=retry_after_s,
            max_retry_after_s=settings.max_retry_after_s,
        )  # fmt: skip
        self.stats.feeds_failed += 1
        self.stats.failures[reason.value] += 1
        warehouse.record_poll_failure(
            self.engine, target, now=now, plan=plan, reason=reason, detail=detail, status=status
        )
        log.warning(
            "feed %s failed (%s, %s, %d in a row%s; next poll %s): %s",
            target.key, reason, plan.failure_kind, plan.consecutive_failures,
            ", BROKEN" if plan.broken else "", plan.due_at.isoformat(), detail,
        )  # fmt: skip

    def _succeed(
        self,
        target: PollTarget,
        now: datetime,
        result: Fetched,
        parsed: ParsedFeed | None,
        new: int,
    ) -> None:
        timing, bounds = self._timing(target)
        entries = len(parsed.entries) if parsed else 0
        # A 304 (or the same body again) carries no ttl: the one read last time still holds.
        ttl = parsed.ttl_minutes if parsed else target.ttl_minutes
        plan = schedule.after_success(
            timing, bounds, now=now, new_items=new, entries=entries,
            default_s=self.settings.poll_interval_minutes * 60.0,
            ttl_s=ttl * 60.0 if ttl else None, max_age_s=result.max_age_s,
        )  # fmt: skip
        warehouse.record_poll_success(
            self.engine, target, result, now=now, plan=plan, seen=entries, new=new,
            ttl_minutes=ttl,
        )  # fmt: skip

    def poll(self, target: PollTarget) -> None:
        """Poll one feed and record the outcome; never raises for what the feed does.

        An unexpected error in our own code is that feed's failure (``internal_error``,
        logged with its trace), not the shard's: the other feeds are still polled and the
        feed backs off (and is flagged broken) like any failing feed. Warehouse errors
        still end the task, so that Airflow retries it.
        """
        try:
            self._poll(target)
        except WarehouseError:
            raise
        except Exception as exc:
            log.exception("feed %s: unexpected error while polling", target.key)
            self._fail(
                target, _now(), Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:300], None
            )

    def _poll(self, target: PollTarget) -> None:
        settings, stats = self.settings, self.stats
        validators = Validators(target.etag, target.last_modified, target.body_hash)
        stats.feeds_polled += 1
        result = self.fetcher.get(target.url, self.limits, validators)
        now = _now()
        if isinstance(result, FetchFailure):
            self.fetch_rows.append(_fetch_row(self.run_id, "feed", result))
            self._fail(
                target, now, result.reason, result.detail, result.status, result.retry_after_s
            )
            return
        if result.not_modified or result.body_hash == target.body_hash:
            self.fetch_rows.append(_fetch_row(self.run_id, "feed", result))
            stats.feeds_unchanged += 1
            self._succeed(target, now, result, None, 0)
            return
        parsed = self.box.run(
            settings.parse_budget_s, parse.parse_feed, result.body, result.final_url,
            result.content_type, max_entries=settings.max_entries_per_feed,
        )  # fmt: skip
        if isinstance(parsed, Miss):
            self.fetch_rows.append(
                _fetch_row(self.run_id, "feed", result, parsed.reason, parsed.detail)
            )
            self._fail(target, now, parsed.reason, parsed.detail, result.status)
            return
        self.fetch_rows.append(
            _fetch_row(
                self.run_id, "feed", result, parsed.warnings[0] if parsed.warnings else None,
                parsed.warning or "",
            )
        )  # fmt: skip
        if parsed.warnings:
            log.warning("feed %s read with warnings: %s", target.key, parsed.warning)
        good: list[tuple[FeedEntry, str]] = []
        bad: list[tuple[FeedEntry, str]] = []
        for entry in parsed.entries:
            try:
                good.append((entry, canonical_url(entry.link, max_length=settings.max_url_length)))
            except UrlRejected as exc:
                bad.append((entry, exc.reason))
        new = warehouse.record_entries(self.engine, target.key, good, run_id=self.run_id, now=now)
        warehouse.record_bad_entries(self.engine, target.key, bad, run_id=self.run_id, now=now)
        for _, reason in bad:
            stats.failures[reason] += 1
        stats.entries_seen += len(parsed.entries)
        stats.entries_new += new
        self._succeed(target, now, result, parsed, new)
        log.debug("feed %s: %d entries, %d new", target.key, len(parsed.entries), new)


def plan_page_shards(engine: Engine, settings: Settings) -> list[Shard]:
    """Hosts with pending pages, grouped into shards (all pages of a host in one shard)."""
    hosts = [
        h
        for h, _ in warehouse.pending_hosts(
            engine, max_attempts=settings.max_fetch_attempts, at=_now()
        )
    ]
    return _shards(hosts, settings.page_shard_hosts)


def fetch_shard(
    engine: Engine, settings: Settings, hosts: Sequence[str], run_id: str
) -> dict[str, Any]:
    """Fetch, archive, extract and normalise the pending pages of some hosts; stage them.

    Hosts are fetched concurrently and each one politely (:mod:`ingest.crawl`). Progress
    is saved every ``flush_every`` pages, and the shard stops taking new pages after
    ``shard_budget_s`` (they stay pending for the next run), so a slow host cannot push
    the task past its execution timeout and lose the work already done.
    """
    stats = StepStats()
    jobs = warehouse.pending_jobs(
        engine, limit=settings.max_pages_per_run, max_attempts=settings.max_fetch_attempts,
        hosts=hosts,
    )  # fmt: skip
    by_host: dict[str, list[PageJob]] = {}
    for job in jobs:  # the host we will ask (a redirected entry points at its new host)
        by_host.setdefault(host_of(job.link), []).append(job)
    states = warehouse.host_states(engine, sorted(by_host))
    now = _now()
    waiting = [h for h, s in states.items() if s.next_eligible_at and s.next_eligible_at > now]
    for host in waiting:  # asked us to wait since the plan was made
        del by_host[host]
    raw = archive.RawArchive(settings.resolved_archive_dir)
    pending = _ShardBuffer(engine, settings, run_id, stats)
    finished: list[HostState] = []

    def on_outcome(outcome: crawl.Outcome) -> None:
        if isinstance(outcome, HostState):
            finished.append(outcome)
        elif isinstance(outcome, crawl.RobotsFetch):
            pending.rows.append(_fetch_row(run_id, "robots", outcome.result))
        elif outcome.redirect is not None:
            assert isinstance(outcome.fetched, FetchFailure)  # noqa: S101 - PageResult's contract
            stats.pages_deferred += 1
            stats.failures[Reason.REDIRECTED_OFFSITE.value] += 1
            pending.rows.append(_fetch_row(run_id, "page", outcome.fetched))
            pending.moved.append((outcome.job, outcome.redirect))
        else:
            pending.add(_page_outcome(settings, outcome, run_id, stats))
        if len(pending) >= settings.flush_every:
            pending.flush()

    try:
        with Sandbox(settings.workers, settings.worker_memory_mb) as box:
            crawl.crawl_hosts(
                settings, box, raw, by_host, states, budget_s=settings.shard_budget_s,
                on_outcome=on_outcome,
            )  # fmt: skip
    finally:
        pending.flush()
        warehouse.save_host_states(engine, finished, _now())
    log.info(
        "shard fetched %d pages for %d hosts (%d waiting): %d extracted, %d failed, "
        "%d deferred %s",
        stats.pages_fetched + stats.pages_failed, len(by_host), len(waiting),
        stats.articles_extracted, stats.pages_failed, stats.pages_deferred,
        dict(stats.failures),
    )  # fmt: skip
    return stats.as_dict()


_PageOutcome = tuple[dict[str, Any], tuple[str, Article] | None, tuple[PageJob, Reason, str] | None]


def _page_outcome(
    settings: Settings, result: crawl.PageResult, run_id: str, stats: StepStats
) -> _PageOutcome:
    """One page: (fetch-log row, staged article or None, failure or None); counts it."""
    job, fetched = result.job, result.fetched
    if result.deferred:
        assert isinstance(fetched, FetchFailure)  # noqa: S101 - a deferral is a failed fetch
        stats.pages_deferred += 1
        stats.failures[fetched.reason.value] += 1
        return _fetch_row(run_id, "page", fetched), None, None
    if result.failure is not None:
        reason, detail = result.failure
        stats.pages_failed += 1
        stats.failures[reason.value] += 1
        if fetched is None:  # refused before any request (robots.txt)
            row = _fetch_row(
                run_id, "page", FetchFailure(url=job.link, reason=reason, detail=detail)
            )
        elif isinstance(fetched, FetchFailure):
            row = _fetch_row(run_id, "page", fetched)
        else:
            stats.pages_fetched += 1
            row = _fetch_row(run_id, "page", fetched, reason, detail)
        return row, None, (job, reason, detail)
    assert isinstance(fetched, Fetched) and result.extracted is not None  # noqa: S101, PT018 - PageResult's contract
    stats.pages_fetched += 1
    stats.articles_extracted += 1
    article = _normalise(settings, job, fetched, result.extracted)
    return _fetch_row(run_id, "page", fetched), (job.canonical_url, article), None


class _ShardBuffer:
    """Pages done but not yet saved: staged articles, failures and fetch-log rows."""

    def __init__(self, engine: Engine, settings: Settings, run_id: str, stats: StepStats) -> None:
        self.engine, self.settings, self.run_id, self.stats = engine, settings, run_id, stats
        self.staged: list[tuple[str, Article]] = []
        self.failed: list[tuple[PageJob, Reason, str]] = []
        self.moved: list[tuple[PageJob, str]] = []
        self.rows: list[dict[str, Any]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def add(self, outcome: _PageOutcome) -> None:
        row, staged, failed = outcome
        self.rows.append(row)
        if staged:
            self.staged.append(staged)
        if failed:
            self.failed.append(failed)

    def flush(self) -> None:
        warehouse.stage(self.engine, self.run_id, self.staged, _now())
        warehouse.mark_failed_jobs(
            self.engine, self.failed, run_id=self.run_id,
            max_attempts=self.settings.max_fetch_attempts,
        )  # fmt: skip
        warehouse.requeue_jobs(
            self.engine, self.moved, run_id=self.run_id,
            max_attempts=self.settings.max_fetch_attempts,
        )  # fmt: skip
        warehouse.log_fetches(self.engine, self.rows)
        self.staged, self.failed, self.moved, self.rows = [], [], [], []


def _normalise(
    settings: Settings,
    job: PageJob,
    fetched: Fetched,
    extracted: Extracted,
    fetched_at: datetime | None = None,
) -> Article:
    return normalise.normalise(
        job,
        fetched,
        extracted,
        now=_now(),
        fetched_at=fetched_at,
        max_title_chars=settings.max_title_chars,
        max_body_chars=settings.max_body_chars,
    )


def reprocess_interval(
    engine: Engine, settings: Settings, start: datetime, end: datetime, run_id: str
) -> dict[str, Any]:
    """Re-extract, from the raw archive, the pages captured in ``[start, end)``; stage them.

    This is what a backfill does: the current extractor over what was captured then.
    Articles whose content comes out the same are left untouched by the load.
    """
    stats = StepStats()
    raw = archive.RawArchive(settings.resolved_archive_dir)
    with Sandbox(settings.workers, settings.worker_memory_mb) as box:
        for captures in warehouse.captured_between(
            engine, start, end, batch=settings.flush_every * 20
        ):
            staged: list[tuple[str, Article]] = []
            for job, final_url, raw_hash, content_type, fetched_at in captures:
                body = raw.get(raw_hash)
                if body is None:
                    stats.failures["archive_missing"] += 1
                    continue
                outcome = box.run(
                    settings.extract_budget_s, extract.extract_page, body, content_type, final_url
                )
                if isinstance(outcome, Miss):
                    stats.failures[outcome.reason.value] += 1
                    continue
                fetched = Fetched(
                    url=job.link, final_url=final_url, status=200, content_type=content_type,
                    body=body, body_hash=raw_hash, etag=None, last_modified=None, elapsed_s=0.0,
                )  # fmt: skip
                staged.append(
                    (job.canonical_url, _normalise(settings, job, fetched, outcome, fetched_at))
                )
            warehouse.stage(engine, run_id, staged, _now())
            stats.articles_extracted += len(staged)
    log.info(
        "reprocessed %d archived pages captured in [%s, %s)", stats.articles_extracted, start, end
    )
    return stats.as_dict()


def load_run(
    engine: Engine,
    run_id: str,
    *,
    interval: tuple[datetime | None, datetime | None] = (None, None),
    counters: dict[str, int] | None = None,
    attempts: int = 3,
    fault: warehouse.FaultHook | None = None,
) -> LoadResult:
    """Dedupe what the run staged (in memory and against the warehouse), then load it.

    The load is one transaction; if the warehouse connection drops mid-way it rolls back
    and is tried again (``attempts`` times in all, with a short back-off).
    """
    staged = [(q, rekey.current_article(a)) for q, a in warehouse.staged_articles(engine, run_id)]
    for attempt in range(1, attempts + 1):
        try:
            rekey_urls(engine)  # no article is inserted beside its own stale copy
            return warehouse.load_batch(
                engine, run_id, staged, dedupe.dedupe_batch,
                now=_now(), interval=interval, counters=counters, fault=fault,
            )  # fmt: skip
        except WarehouseUnavailable as exc:
            if attempt == attempts:
                raise
            log.warning(
                "load of run %s failed (%s); retrying (%d/%d)", run_id, exc, attempt, attempts
            )
            time.sleep(min(2.0**attempt, 30.0))
    raise AssertionError("unreachable")  # pragma: no cover


def cluster_stories(engine: Engine, settings: Settings) -> ClusterResult:
    """Sign every new article and put it in its story cluster (near-duplicates)."""
    result = warehouse.cluster_pending(
        engine, neardup.CLUSTERER, now=_now(),
        window=timedelta(days=settings.neardup_window_days), batch=settings.cluster_batch,
    )  # fmt: skip
    log.info("clustered %d articles: %d joined a story", result.signed, result.joined)
    return result


# --------------------------------------------------------------------------- one-shot


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a whole run did, for the CLI and the demo."""

    run_id: str
    stats: StepStats
    load: LoadResult
    seconds: float


def run_once(
    engine: Engine,
    settings: Settings,
    feeds_file: Path,
    *,
    run_id: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> RunSummary:
    """Every step in one process: what the DAG does, without Airflow (CLI, benchmarks)."""
    started = time.monotonic()
    now = _now()
    run_id = run_id or f"cli__{now.strftime('%Y%m%dT%H%M%S.%fZ')}"
    prepare(engine, feeds_file, now)
    feed_shards = plan_feed_shards(engine, settings, now)
    parts: list[dict[str, Any]] = []
    for index, shard in enumerate(feed_shards):
        parts.append(poll_shard(engine, settings, shard["items"], run_id))
        if progress:
            progress("poll", index + 1, len(feed_shards))
    page_shards = plan_page_shards(engine, settings)
    for index, shard in enumerate(page_shards):
        parts.append(fetch_shard(engine, settings, shard["items"], run_id))
        if progress:
            progress("fetch", index + 1, len(page_shards))
    stats = StepStats.total(parts)
    loaded = load_run(engine, run_id, interval=(now, _now()), counters=counters_of(stats))
    cluster_stories(engine, settings)
    housekeeping(engine, settings)
    return RunSummary(run_id, stats, loaded, time.monotonic() - started)


def housekeeping(engine: Engine, settings: Settings) -> None:
    """Keep the fetch log and abandoned staging rows bounded."""
    warehouse.prune(engine, _now() - timedelta(days=settings.fetch_log_keep_days))


def counters_of(stats: StepStats) -> dict[str, int]:
    """The counters the load ledger keeps."""
    return {
        "feeds_polled": stats.feeds_polled,
        "feeds_failed": stats.feeds_failed,
        "entries_seen": stats.entries_seen,
        "entries_new": stats.entries_new,
        "pages_fetched": stats.pages_fetched,
        "pages_failed": stats.pages_failed,
    }


__all__ = [
    "RunSummary", "Shard", "StepStats", "cluster_stories", "counters_of", "fetch_shard",
    "housekeeping",
    "load_run", "plan_feed_shards", "plan_page_shards", "poll_shard", "prepare",
    "rekey_urls", "reprocess_interval", "run_once",
]  # fmt: skip
