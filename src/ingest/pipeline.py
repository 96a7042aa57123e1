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

from ingest import archive, dedupe, extract, fetch, normalise, parse, registry, warehouse
from ingest.errors import UrlRejected, WarehouseUnavailable
from ingest.models import (
    Article,
    Extracted,
    Fetched,
    FetchFailure,
    Miss,
    PageJob,
    PollTarget,
    Reason,
    Validators,
)
from ingest.urls import canonical_url

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
    """Bring the schema to head and the ``feeds`` table in line with the registry file."""
    specs = registry.load_registry(feeds_file)
    warehouse.upgrade(engine)
    count = warehouse.sync_feeds(engine, specs, now or _now())
    log.info("registry %s: %d feeds", feeds_file, count)
    return count


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
    with fetch.Fetcher(settings.user_agent) as fetcher:
        for target in warehouse.feeds_by_key(engine, feed_keys):
            _poll_one(engine, settings, fetcher, limits, target, run_id, stats, fetch_rows)
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


def _poll_one(
    engine: Engine,
    settings: Settings,
    fetcher: fetch.Fetcher,
    limits: fetch.Limits,
    target: PollTarget,
    run_id: str,
    stats: StepStats,
    fetch_rows: list[dict[str, Any]],
) -> None:
    interval = timedelta(minutes=target.interval_minutes or settings.poll_interval_minutes)
    validators = Validators(target.etag, target.last_modified, target.body_hash)
    stats.feeds_polled += 1
    result = fetcher.get(target.url, limits, validators)
    now = _now()

    def fail(reason: Reason, detail: str, status: int | None) -> None:
        stats.feeds_failed += 1
        stats.failures[reason.value] += 1
        failures = warehouse.record_poll_failure(
            engine,
            target,
            now=now,
            interval=interval,
            reason=reason,
            detail=detail,
            status=status,
        )
        log.warning("feed %s failed (%s, %d in a row): %s", target.key, reason, failures, detail)

    if isinstance(result, FetchFailure):
        fetch_rows.append(_fetch_row(run_id, "feed", result))
        fail(result.reason, result.detail, result.status)
        return
    unchanged = result.not_modified or result.body_hash == target.body_hash
    if unchanged:
        fetch_rows.append(_fetch_row(run_id, "feed", result))
        stats.feeds_unchanged += 1
        warehouse.record_poll_success(
            engine, target, result, now=now, interval=interval, seen=0, new=0
        )
        return
    parsed = parse.parse_feed(
        result.body,
        result.final_url,
        result.content_type,
        max_entries=settings.max_entries_per_feed,
    )
    if isinstance(parsed, Miss):
        fetch_rows.append(_fetch_row(run_id, "feed", result, parsed.reason, parsed.detail))
        fail(parsed.reason, parsed.detail, result.status)
        return
    fetch_rows.append(_fetch_row(run_id, "feed", result, None, parsed.warning or ""))
    good: list[tuple[FeedEntry, str]] = []
    bad: list[tuple[FeedEntry, str]] = []
    for entry in parsed.entries:
        try:
            good.append((entry, canonical_url(entry.link, max_length=settings.max_url_length)))
        except UrlRejected as exc:
            bad.append((entry, exc.reason))
    new = warehouse.record_entries(engine, target.key, good, run_id=run_id, now=now)
    warehouse.record_bad_entries(engine, target.key, bad, run_id=run_id, now=now)
    for _, reason in bad:
        stats.failures[reason] += 1
    stats.entries_seen += len(parsed.entries)
    stats.entries_new += new
    if parsed.ttl_minutes:
        interval = max(interval, timedelta(minutes=min(parsed.ttl_minutes, 24 * 60)))
    warehouse.record_poll_success(
        engine, target, result, now=now, interval=interval, seen=len(parsed.entries), new=new
    )
    log.debug("feed %s: %d entries, %d new", target.key, len(parsed.entries), new)


def plan_page_shards(engine: Engine, settings: Settings) -> list[Shard]:
    """Hosts with pending pages, grouped into shards (all pages of a host in one shard)."""
    hosts = [
        h for h, _ in warehouse.pending_hosts(engine, max_attempts=settings.max_fetch_attempts)
    ]
    return _shards(hosts, settings.page_shard_hosts)


def fetch_shard(
    engine: Engine, settings: Settings, hosts: Sequence[str], run_id: str
) -> dict[str, Any]:
    """Fetch, archive, extract and normalise the pending pages of some hosts; stage them.

    Progress is saved every ``flush_every`` pages, and the shard stops taking new pages
    after ``shard_budget_s`` (they stay pending for the next run), so a slow host cannot
    push the task past its execution timeout and lose the work already done.
    """
    started = time.monotonic()
    stats = StepStats()
    jobs = warehouse.pending_jobs(
        engine, limit=settings.max_pages_per_run, max_attempts=settings.max_fetch_attempts,
        hosts=hosts,
    )  # fmt: skip
    raw = archive.RawArchive(settings.resolved_archive_dir)
    limits = fetch.Limits.for_kind(settings, "page")
    pending = _ShardBuffer(engine, settings, run_id, stats)
    with fetch.Fetcher(settings.user_agent) as fetcher:
        for done, job in enumerate(jobs):
            if time.monotonic() - started > settings.shard_budget_s:
                log.warning(
                    "shard budget spent after %d of %d pages; the rest waits", done, len(jobs)
                )
                break
            pending.add(_fetch_one(settings, fetcher, limits, raw, job, run_id, stats))
            if len(pending) >= settings.flush_every:
                pending.flush()
    pending.flush()
    log.info(
        "shard fetched %d pages for %d hosts: %d extracted, %d failed %s",
        stats.pages_fetched + stats.pages_failed, len(hosts), stats.articles_extracted,
        stats.pages_failed, dict(stats.failures),
    )  # fmt: skip
    return stats.as_dict()


_PageOutcome = tuple[dict[str, Any], tuple[str, Article] | None, tuple[PageJob, Reason, str] | None]


def _fetch_one(
    settings: Settings,
    fetcher: fetch.Fetcher,
    limits: fetch.Limits,
    raw: archive.RawArchive,
    job: PageJob,
    run_id: str,
    stats: StepStats,
) -> _PageOutcome:
    """One page: (fetch-log row, staged article or None, failure or None)."""
    result = fetcher.get(job.link, limits)
    if isinstance(result, FetchFailure):
        stats.pages_failed += 1
        stats.failures[result.reason.value] += 1
        return _fetch_row(run_id, "page", result), None, (job, result.reason, result.detail)
    stats.pages_fetched += 1
    raw.put(result.body, result.body_hash)
    outcome = extract.extract_page(result.body, result.content_type, result.final_url)
    if isinstance(outcome, Miss):
        stats.pages_failed += 1
        stats.failures[outcome.reason.value] += 1
        row = _fetch_row(run_id, "page", result, outcome.reason, outcome.detail)
        return row, None, (job, outcome.reason, outcome.detail)
    stats.articles_extracted += 1
    article = _normalise(settings, job, result, outcome)
    return _fetch_row(run_id, "page", result), (job.canonical_url, article), None


class _ShardBuffer:
    """Pages done but not yet saved: staged articles, failures and fetch-log rows."""

    def __init__(self, engine: Engine, settings: Settings, run_id: str, stats: StepStats) -> None:
        self.engine, self.settings, self.run_id, self.stats = engine, settings, run_id, stats
        self.staged: list[tuple[str, Article]] = []
        self.failed: list[tuple[PageJob, Reason, str]] = []
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
        warehouse.log_fetches(self.engine, self.rows)
        self.staged, self.failed, self.rows = [], [], []


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
    for captures in warehouse.captured_between(engine, start, end, batch=settings.flush_every * 20):
        staged: list[tuple[str, Article]] = []
        for job, final_url, raw_hash, content_type, fetched_at in captures:
            body = raw.get(raw_hash)
            if body is None:
                stats.failures["archive_missing"] += 1
                continue
            outcome = extract.extract_page(body, content_type, final_url)
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
    staged = warehouse.staged_articles(engine, run_id)
    for attempt in range(1, attempts + 1):
        try:
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
    "RunSummary", "Shard", "StepStats", "counters_of", "fetch_shard", "housekeeping",
    "load_run", "plan_feed_shards", "plan_page_shards", "poll_shard", "prepare",
    "reprocess_interval", "run_once",
]  # fmt: skip
