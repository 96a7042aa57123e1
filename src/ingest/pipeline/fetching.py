"""The fetch step: crawl a shard of hosts, archive, extract and normalise their pages."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ingest import archive, crawl, sandbox
from ingest.logs import get_logger
from ingest.models import HostState, PageJob, SourceKind
from ingest.outcomes import FetchRecord, PageOutcome
from ingest.pages import PageStage
from ingest.pipeline import _now
from ingest.stats import StepStats
from ingest.store import leases, queue
from ingest.urls import host_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.sandbox import Sandbox
    from ingest.settings import Settings

log = get_logger(__name__)


#: Told ``(pages done, pages in all)`` as a fetch step takes up its pages.
PageProgress = Callable[[int, int], None]


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
    family: str | None = None,
    box: Sandbox | None = None,
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
    ``family``: the host leases' family (:func:`ingest.store.leases.try_token`), when the
    caller's work is more than this crawl (a backfill shard's walk and fetch passes).
    ``box``: a sandbox the caller lends (else the step opens its own).
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
    # This crawl's hold on its hosts (ingest.store.leases): a try of the shard's own family
    # (its run and hosts), so a retry after a kill (a lost worker) takes its hosts back at
    # once, its last request counted as ended then, instead of leaving them to a later run.
    token = leases.try_token(family or crawl_family(run_id, hosts))
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
               on_page=on_page, box=box)  # fmt: skip
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


def _asked_to_wait(event: crawl.CrawlEvent) -> bool:
    """A host done that asked us to wait (Retry-After): saved at once, not at a flush.

    A retry that takes the host over after a kill then still waits.
    """
    return (
        isinstance(event, crawl.HostDone)
        and event.state.next_eligible_at is not None
        and event.state.next_eligible_at > _now()
    )


def crawl_family(run_id: str, hosts: Sequence[str]) -> str:
    """The lease family of a run's crawl of ``hosts``: the same for every try of a shard."""
    key = "\n".join([run_id, *sorted(set(hosts))]).encode()
    return "crawl-" + hashlib.sha256(key).hexdigest()[:26]


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
    box: Sandbox | None = None,
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
    ) as raw, sandbox.opened(settings.workers, settings.worker_memory_mb, box) as workers, crawl.Crawl(
        settings, by_host, states, process=PageStage(settings, workers, raw),
        budget_s=max(0.0, settings.shard_budget_s - (_now() - claimed_at).total_seconds()),
    ) as hosts_crawl:  # fmt: skip
        try:
            for event in hosts_crawl:
                batch.add(event, stats)
                if on_page is not None and batch.pages and batch.pages[-1] is event:
                    on_page(stats.pages_fetched, total)
                if len(batch) >= settings.flush_every or _asked_to_wait(event):
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


__all__ = ["PageProgress", "fetch_shard"]
