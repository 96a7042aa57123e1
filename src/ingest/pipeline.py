"""The composer: runs each stage, then saves its outcomes. Used by the DAG and the CLI.

Each public function is one step a DAG task (or the CLI) runs: plain arguments in, small
plain values out (what crosses XCom stays small; bodies go through the warehouse).

    prepare -> plan_feed_shards -> poll_shard* -> plan_page_shards -> fetch_shard* -> load_run
                                                       reprocess_interval (backfills) -^
    load_run -> cluster_stories

A step whose items met a bug of ours saves every outcome first, then raises
:class:`~ingest.errors.InternalError`, so its task shows red and is retried. Retrying a
step is the caller's job: Airflow's for the DAG, :func:`run_once`'s for the CLI.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from ingest import (
    alerts,
    archive,
    crawl,
    dedupe,
    fetch,
    monitor,
    neardup,
    registry,
    rekey,
    schedule,
)
from ingest.errors import InternalError, RunUnhealthy, WarehouseUnavailable
from ingest.logs import get_logger
from ingest.models import HostState, Miss, PageJob, Reason, SourceKind
from ingest.outcomes import FetchRecord, PageOutcome, PollOutcome
from ingest.pages import PageStage
from ingest.poll import Poller
from ingest.request import RunRequest
from ingest.sandbox import Sandbox
from ingest.stats import StepStats
from ingest.store import clusters, feeds, leases, loads, queue, recluster, rekeys, staging
from ingest.store import engine as db
from ingest.urls import host_of

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Connection, Engine

    from ingest.alerts import Channel
    from ingest.models import Article, ClusterResult, LoadResult, ReclusterResult, RekeyResult
    from ingest.settings import Settings

log = get_logger(__name__)


#: Told ``(pages done, pages in all)`` as a fetch step takes up its pages.
PageProgress = Callable[[int, int], None]


class Shard(TypedDict):
    """A unit of mapped work: a few feed keys or hosts, and a label for the UI."""

    items: list[str]
    label: str
    feeds: NotRequired[list[str]]  # a page shard of a run asked for some feeds only


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

    A registry whose content (its digest) was the last one synced is not read again.
    """
    text = registry.read_registry_text(feeds_file)
    digest = registry.digest(text)
    db.upgrade(engine)
    count = feeds.synced_count(engine, digest)
    if count is None:
        specs = registry.parse_registry(text, str(feeds_file))
        count = feeds.sync(engine, specs, now or _now(), digest=digest)
        log.info("registry %s: %d feeds", feeds_file, count)
    else:
        log.info("registry %s: %d feeds, unchanged since its last sync", feeds_file, count)
    rekey_urls(engine, now=now)
    return count


def rekey_urls(
    engine: Engine,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    rules: rekey.Rules | None = None,
    batch: int = 1000,
) -> RekeyResult:
    """Apply the current URL rules (:mod:`ingest.rekey`) to rows stored under older ones.

    Before polls (so a re-polled entry finds its re-keyed self) and before every load (so
    no article is inserted next to its own stale copy); a no-op when nothing is stale.
    """
    return rekeys.rekey(
        engine, rules or rekey.CURRENT, now=now or _now(), batch=batch, dry_run=dry_run
    )


def plan_feed_shards(
    engine: Engine, settings: Settings, at: datetime, request: RunRequest | None = None
) -> list[Shard]:
    """Feeds due at ``at`` (the run's data-interval end), grouped into shards.

    A ``request`` may keep to some feeds (an unknown key is a ConfigError naming it) and
    may ask for every enabled one of them, due or not (``poll_now``).
    """
    request = request or RunRequest()
    if request.feeds:
        request.check_feeds(feeds.known_keys(engine, request.feeds))
    if request.poll_now:
        keys = [t.key for t in feeds.enabled(engine, request.only)]
        log.info("%d feeds to poll now (%s)", len(keys), request.describe())
    else:
        chosen = set(request.feeds)
        horizon = schedule.due_by(at, settings)
        keys = [t.key for t in feeds.due(engine, horizon) if not chosen or t.key in chosen]
        log.info("%d feeds due by %s (%s)", len(keys), horizon.isoformat(), request.describe())
    return _shards(keys, settings.feed_shard_size)


def poll_shard(
    engine: Engine,
    settings: Settings,
    feed_keys: Sequence[str],
    run_id: str,
    *,
    due_at: datetime | None = None,
    unpolled_since: datetime | None = None,
) -> dict[str, Any]:
    """Poll some feeds and queue their new entries. Returns StepStats as a dict.

    With ``due_at`` (the run's), a feed no longer due by then (:func:`ingest.schedule.due_by`)
    is left alone: a retried task does not poll again the feeds its first try polled (a
    feed that met a bug of ours stays due, and is polled again). A run polling feeds whether due
    or not gives ``unpolled_since`` (when it was asked for) instead: a feed polled since
    then is left alone. Outcomes are saved every ``flush_every`` feeds, and what was
    polled is saved even when the step fails.
    """
    stats = StepStats()
    horizon = None if due_at is None else schedule.due_by(due_at, settings)
    targets = [
        t for t in feeds.targets(engine, feed_keys)
        if (horizon is None or t.next_due_at is None or t.next_due_at <= horizon)
        and (unpolled_since is None or t.last_polled_at is None
             or t.last_polled_at < unpolled_since)
    ]  # fmt: skip
    if len(targets) < len(feed_keys):
        log.info(
            "%d feeds of the shard are not due (polled already)", len(feed_keys) - len(targets)
        )
    outcomes: list[PollOutcome] = []
    try:
        with (
            fetch.Fetcher(settings.user_agent, allow_loopback=settings.allow_loopback) as fetcher,
            Sandbox(settings.workers, settings.worker_memory_mb) as box,
        ):
            poller = Poller(settings, fetcher, box, partial(queue.known_entry_ids, engine))
            for target in targets:
                outcomes.append(poller.poll(target))
                stats.add_poll(outcomes[-1])
                if len(outcomes) >= settings.flush_every:
                    done, outcomes = outcomes, []
                    feeds.save_polls(engine, done, run_id)
    finally:
        feeds.save_polls(engine, outcomes, run_id)  # what was polled is kept, even on error
    log.info(
        "shard polled %d feeds: %d failed, %d unchanged, %d entries seen, %d new",
        stats.feeds_polled, stats.feeds_failed, stats.feeds_unchanged, stats.entries_seen,
        stats.entries_new,
    )  # fmt: skip
    stats.raise_for_bugs("poll")
    return stats.as_dict()


def plan_page_shards(
    engine: Engine, settings: Settings, request: RunRequest | None = None
) -> list[Shard]:
    """Hosts with pending pages, grouped into shards (all pages of a host in one shard).

    A ``request`` may keep to some feeds' pages (each shard then says which) and may put
    their failed pages back in the queue first (``retry_failed``).
    """
    request = request or RunRequest()
    if request.retry_failed:
        again = queue.retry_failed(engine, request.only)
        log.info("%d failed pages back in the queue (%s)", again, request.describe())
    pending = queue.pending_hosts(
        engine, max_attempts=settings.max_fetch_attempts, at=_now(), feeds=request.only
    )
    shards = _shards([host for host, _ in pending], settings.page_shard_hosts)
    if request.feeds:
        for shard in shards:
            shard["feeds"] = list(request.feeds)
    return shards


class _PageBatch:
    """Page outcomes, robots.txt requests and finished hosts not saved yet."""

    def __init__(self, lease: str, page_lease_s: float) -> None:
        self.lease, self.page_lease_s = lease, page_lease_s
        self.pages: list[PageOutcome] = []
        self.robots: list[FetchRecord] = []
        self.hosts: list[HostState] = []

    def add(self, event: crawl.CrawlEvent, stats: StepStats) -> None:
        if isinstance(event, crawl.HostDone):
            self.hosts.append(event.state)
            if event.crashed:
                stats.bug(f"crawl of {event.state.host}: {event.crashed}")
        elif isinstance(event, FetchRecord):
            self.robots.append(event)
        else:
            self.pages.append(event)
            stats.add_page(event)

    def __len__(self) -> int:
        return len(self.pages) + len(self.robots)

    def save(self, engine: Engine, run_id: str, settings: Settings) -> None:
        """Save what is held, and hold nothing more: a failed save is not tried twice."""
        pages, robots, hosts = self.pages, self.robots, self.hosts
        self.pages, self.robots, self.hosts = [], [], []
        if pages or robots or hosts:
            queue.save_pages(
                engine, run_id, pages, robots=robots, hosts_done=hosts,
                max_attempts=settings.max_fetch_attempts, now=_now(), lease=self.lease,
                page_lease_s=self.page_lease_s,
            )  # fmt: skip


def fetch_shard(
    engine: Engine,
    settings: Settings,
    hosts: Sequence[str],
    run_id: str,
    *,
    feeds: Sequence[str] | None = None,
    on_page: PageProgress | None = None,
    sources: Sequence[SourceKind] = (SourceKind.FEED,),
    max_pages: int | None = None,
    budget_s: float | None = None,
) -> dict[str, Any]:
    """Fetch, archive, extract and normalise the pending pages of some hosts; stage them.

    Hosts are fetched concurrently and each one politely (:mod:`ingest.crawl`). Outcomes
    are saved every ``flush_every`` pages, and the shard starts no request after
    ``shard_budget_s`` (the rest stay pending for the next run), so a slow host cannot
    push the task past its execution timeout and lose the work already done.

    Runs that overlap share the work: this shard crawls only the hosts no other crawl
    holds, and the pages no other run holds (:mod:`ingest.store.leases`). Only the pages
    ``feeds`` and ``sources`` listed (a backfill sets its own ``max_pages``, ``budget_s``).
    ``on_page(done, total)`` is told of each page taken up (the CLI's progress bar).
    """
    stats = StepStats()
    now = _now()
    if budget_s is not None:
        settings = settings.model_copy(update={"shard_budget_s": max(1.0, budget_s)})
    jobs = queue.pending_jobs(
        engine, limit=max_pages or settings.max_pages_per_run,
        max_attempts=settings.max_fetch_attempts, hosts=hosts, run_id=run_id, now=now,
        feeds=feeds, sources=sources,
    )  # fmt: skip
    by_host: dict[str, list[PageJob]] = {}
    for job in jobs:  # the host we will ask (a redirected entry points at its new host)
        if host_of(job.link) in hosts:  # only this shard's hosts: no host in two shards
            by_host.setdefault(host_of(job.link), []).append(job)
    token = uuid.uuid4().hex  # this crawl's hold on its hosts (ingest.store.leases)
    claimed = leases.claim(
        engine, run_id, token, by_host, now=now, host_lease_s=settings.host_lease_s
    )
    by_host, states = claimed.jobs_by_host, claimed.states
    try:
        held = leases.pages_held_elsewhere(engine, run_id, hosts, now)
        if claimed.busy_hosts or held:
            log.info(
                "left to the runs holding them: %d hosts (%s), %d pages",
                len(claimed.busy_hosts), ", ".join(claimed.busy_hosts[:5]), held,
            )  # fmt: skip
        _crawl(engine, settings, run_id, token, by_host, states, stats, claimed_at=now,
               on_page=on_page)  # fmt: skip
    finally:  # whatever the crawl did not hand back (an error) is free again
        leases.release_crawl(
            engine, run_id, token, [job.canonical_url for js in by_host.values() for job in js],
            now=_now(),
        )  # fmt: skip
    log.info(
        "shard fetched %d pages for %d hosts: %d extracted, %d failed, %d deferred %s",
        stats.pages_fetched, len(by_host), stats.articles_extracted,
        stats.pages_failed, stats.pages_deferred, dict(stats.failures),
    )  # fmt: skip
    stats.raise_for_bugs("fetch")
    return stats.as_dict()


def _crawl(
    engine: Engine,
    settings: Settings,
    run_id: str,
    token: str,
    by_host: dict[str, list[PageJob]],
    states: dict[str, HostState],
    stats: StepStats,
    *,
    claimed_at: datetime,
    on_page: PageProgress | None = None,
) -> None:
    """Crawl the claimed hosts, saving outcomes every ``flush_every`` and at the end.

    The shard's budget runs from the claim (the leases' clock): the sandbox's start-up too.
    """
    batch = _PageBatch(token, settings.page_lease_s)
    total = sum(len(jobs) for jobs in by_host.values())
    if on_page is not None:
        on_page(0, total)
    with archive.RawArchive(
        settings.archive_root, max_file_bytes=settings.archive_file_bytes
    ) as raw, Sandbox(settings.workers, settings.worker_memory_mb) as box, crawl.Crawl(
        settings, by_host, states, process=PageStage(settings, box, raw),
        budget_s=max(0.0, settings.shard_budget_s - (_now() - claimed_at).total_seconds()),
    ) as hosts_crawl:  # fmt: skip
        try:
            for event in hosts_crawl:
                batch.add(event, stats)
                if on_page is not None and batch.pages and batch.pages[-1] is event:
                    on_page(stats.pages_fetched, total)
                if len(batch) >= settings.flush_every:
                    batch.save(engine, run_id, settings)
        except BaseException:
            hosts_crawl.stop()  # each host reports the request in hand and its state
            for event in hosts_crawl:
                batch.add(event, stats)
            raise
        finally:
            batch.save(engine, run_id, settings)  # what was done is kept, even on error
    # The pages no request reached (a host that asked us to wait, robots.txt unreachable,
    # the budget spent) stay pending for a later run: deferred, with no fetch-log line.
    unreached = total - stats.pages_fetched
    if unreached > 0:
        stats.pages_fetched += unreached
        stats.pages_deferred += unreached
        if on_page is not None:
            on_page(stats.pages_fetched, total)


def reprocess_interval(
    engine: Engine, settings: Settings, start: datetime, end: datetime, run_id: str,
    feeds: Sequence[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Re-extract the pages captured in ``[start, end)`` from the raw archive; stage them.

    Of ``feeds`` only, when given; the load leaves alone the ones that come out the same.
    """
    stats = StepStats()
    with (
        archive.RawArchive(settings.archive_root) as raw,
        Sandbox(settings.workers, settings.worker_memory_mb) as box,
    ):
        stage = PageStage(settings, box, raw)
        pages = queue.captured_between(engine, start, end, batch=settings.flush_every * 20,
                                       feeds=feeds)  # fmt: skip
        for captures in pages:
            staged: list[tuple[str, Article]] = []
            for job, final_url, raw_hash, content_type, fetched_at, ref in captures:
                try:
                    result = stage.reextract(
                        job, final_url=final_url, raw_hash=raw_hash,
                        content_type=content_type, fetched_at=fetched_at, ref=ref,
                    )  # fmt: skip
                except Exception as exc:  # a bug of ours: this page only, the step fails
                    log.exception("re-extraction of %s met a bug of ours", job.canonical_url)
                    result = Miss(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:300])
                stats.pages_fetched += 1  # a capture taken up: extracted or failed
                if isinstance(result, Miss):
                    stats.pages_failed += 1
                    stats.failures[result.reason.value] += 1
                    if result.reason is Reason.INTERNAL_ERROR:
                        stats.bug(f"re-extraction of {job.canonical_url}: {result.detail}")
                    continue
                staged.append((job.canonical_url, result))
            staging.stage_articles(engine, run_id, staged, _now())
            stats.articles_extracted += len(staged)
    log.info(
        "reprocessed %d archived pages captured in [%s, %s): %d extracted, %d failed",
        stats.pages_fetched, start, end, stats.articles_extracted, stats.pages_failed,
    )  # fmt: skip
    stats.raise_for_bugs("reprocess")
    return stats.as_dict()


def load_run(
    engine: Engine,
    run_id: str,
    *,
    interval: tuple[datetime | None, datetime | None] = (None, None),
    steps: Sequence[Mapping[str, Any] | None] = (),
    then: Callable[[Connection], None] | None = None,
) -> LoadResult:
    """Dedupe what the run staged (in memory and against the warehouse), then load it.

    ``steps`` are the dicts the run's other steps returned (a failed step's is None);
    their counters go to the ledger and their failures into the result's summary. The
    load is one transaction: if the warehouse connection drops it rolls back and raises
    :class:`~ingest.errors.WarehouseUnavailable`, and running it again is safe.
    """
    stats = StepStats.total([s for s in steps if s])
    rekey_urls(engine)  # no article is inserted beside its own stale copy
    staged = [(q, rekey.current_article(a)) for q, a in staging.staged_articles(engine, run_id)]
    counters = {name: getattr(stats, name) for name in loads.LEDGER_COUNTERS}
    return loads.load_batch(
        engine, run_id, staged, dedupe.dedupe_batch, now=_now(), interval=interval,
        counters=counters, failures=stats.failures, then=then,
    )  # fmt: skip


def cluster_stories(engine: Engine, settings: Settings) -> ClusterResult:
    """Sign every new article and put it in its story cluster (near-duplicates)."""
    clusterer = neardup.MinHashClusterer(window=timedelta(days=settings.neardup_window_days))
    result = clusters.cluster_pending(engine, clusterer, now=_now(), batch=settings.cluster_batch)
    log.info(
        "clustered %d articles: %d joined a story, %d stories merged into another",
        result.signed, result.joined, result.merged,
    )  # fmt: skip
    return result


def recluster_stories(engine: Engine, settings: Settings, *, dry_run: bool) -> ReclusterResult:
    """Decide every stored article's story cluster again by the current rules."""
    clusterer = neardup.MinHashClusterer(window=timedelta(days=settings.neardup_window_days))
    return recluster.recluster(
        engine, clusterer, now=_now(), batch=settings.cluster_batch, dry_run=dry_run
    )


def check_run(
    engine: Engine, settings: Settings, run_id: str, channels: Sequence[Channel] | None = None
) -> monitor.RunCheck:
    """The check step: log the run's one-screen summary; raise if it broke a health rule.

    With ``channels``, it also notes each feed's and the freshness rule's state and sends
    the transitions (and any alert still waiting) through them (:mod:`ingest.alerts`).
    Raises :class:`~ingest.errors.RunUnhealthy` (the run shows red) listing each rule broken.
    """
    result = monitor.check_run(engine, run_id, monitor.CheckRule.of(settings))
    for line in result.lines():
        (log.info if result.healthy else log.warning)("%s", line)
    if channels is not None:
        noted = alerts.note(engine, settings, result)
        delivery = alerts.deliver(engine, channels)
        if noted or delivery.sent or delivery.waiting:
            log.info(
                "alerts: %d new transition(s), %d sent, %d waiting for a channel",
                len(noted), len(delivery.sent), len(delivery.waiting),
            )  # fmt: skip
    if not result.healthy:
        raise RunUnhealthy(f"run {run_id}: " + "; ".join(result.problems))
    return result


def housekeeping(engine: Engine, settings: Settings) -> None:
    """Keep the fetch log and abandoned staging rows bounded."""
    lines, staged = staging.prune(engine, _now() - timedelta(days=settings.fetch_log_keep_days))
    if lines or staged:
        log.info("pruned %d fetch-log lines and %d abandoned staged articles", lines, staged)


# --------------------------------------------------------------------------- one-shot


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a whole run did, for the CLI and the demo."""

    run_id: str
    stats: StepStats
    load: LoadResult
    seconds: float


LOAD_ATTEMPTS = 3


class _PagesSoFar:
    """The run's page count over its fetch shards, for a progress bar of pages."""

    def __init__(self, progress: Callable[[str, int, int], None] | None) -> None:
        self.progress = progress
        self.before = (0, 0)  # pages done and claimed by the shards finished
        self.current = (0, 0)

    def page(self, done: int, total: int) -> None:
        self.current = (done, total)
        if self.progress is not None:
            self.progress("pages", self.before[0] + done, self.before[1] + total)

    def shard_done(self) -> None:
        self.before = (self.before[0] + self.current[0], self.before[1] + self.current[0])
        self.current = (0, 0)


def _retrying(step: Callable[[], LoadResult], what: str) -> LoadResult:
    """The CLI's own retry of a step whose transaction the warehouse dropped."""
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        try:
            return step()
        except WarehouseUnavailable as exc:
            if attempt == LOAD_ATTEMPTS:
                raise
            log.warning("%s failed (%s); retrying (%d/%d)", what, exc, attempt, LOAD_ATTEMPTS)
            time.sleep(min(2.0**attempt, 30.0))
    raise AssertionError("unreachable")  # pragma: no cover


def run_once(
    engine: Engine,
    settings: Settings,
    feeds_file: Path,
    *,
    run_id: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    request: RunRequest | None = None,
) -> RunSummary:
    """Every step in one process: what the DAG does, without Airflow (CLI, benchmarks).

    As in the DAG, a step failing on a bug of ours does not stop the others (its outcomes
    are saved, the load runs); the first such error is raised at the end.
    """
    started = time.monotonic()
    now = _now()
    run_id = run_id or f"cli__{now.strftime('%Y%m%dT%H%M%S.%fZ')}"
    prepare(engine, feeds_file, now)
    bugs: list[InternalError] = []
    parts: list[dict[str, Any]] = []

    def step(
        kind: str, shards: Sequence[Shard], run: Callable[..., dict[str, Any]], **extra: object
    ) -> None:
        if progress:
            progress(kind, 0, len(shards))
        for index, shard in enumerate(shards):
            try:
                parts.append(run(engine, settings, shard["items"], run_id, **extra))
            except InternalError as exc:
                bugs.append(exc)
                parts.append(exc.counts)  # the step's other items were saved and counted
            if progress:
                progress(kind, index + 1, len(shards))
            if kind == "fetch":
                pages.shard_done()

    request = request or RunRequest()
    due: dict[str, Any] = {"unpolled_since": now} if request.poll_now else {"due_at": now}
    step("poll", plan_feed_shards(engine, settings, now, request), poll_shard, **due)
    pages = _PagesSoFar(progress)
    step("fetch", plan_page_shards(engine, settings, request), fetch_shard, feeds=request.only,
         on_page=pages.page)  # fmt: skip
    loaded = _retrying(
        lambda: load_run(engine, run_id, interval=(now, _now()), steps=parts), f"load of {run_id}"
    )
    cluster_stories(engine, settings)
    housekeeping(engine, settings)
    if bugs:
        raise bugs[0]
    return RunSummary(run_id, StepStats.total(parts), loaded, time.monotonic() - started)


__all__ = [
    "RunSummary", "Shard", "cluster_stories", "fetch_shard", "housekeeping", "load_run",
    "plan_feed_shards", "plan_page_shards", "poll_shard", "prepare", "rekey_urls", "reprocess_interval",
    "run_once",
]  # fmt: skip
