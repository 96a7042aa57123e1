"""Page fetching across hosts: concurrent between hosts, polite within one.

Each host gets its own thread and its own one-connection client. Within a host, requests
are at least ``politeness_delay_s`` apart (more when its robots.txt asks, up to
``max_crawl_delay_s``), counted from the start of the previous request (from its
connection, when it needed a new one: only then did it reach the server) and across runs
(``hosts.last_request_at``). Up to ``max_parallel_hosts`` hosts are fetched at once.

Before a host's first page, its robots.txt is consulted (:mod:`ingest.robots`). A 429 or
503 with ``Retry-After`` (or a 429 without one: ``throttle_default_s``) sets the host's
``next_eligible_at`` and ends the host's work for this run: no thread sleeps through a
Retry-After; its pages stay pending and a later run's planner leaves the host out until
then. A host whose robots.txt is unreachable waits the same way.

Parsing of page bytes (extraction) runs in the :class:`~ingest.sandbox.Sandbox` under a
time budget. Results go back to the calling thread through ``on_outcome``, so every
warehouse write happens on one thread.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from ingest import archive, extract, fetch, netguard, robots, urls
from ingest.models import (
    Extracted,
    Fetched,
    FetchFailure,
    HostState,
    Miss,
    PageJob,
    Reason,
)

if TYPE_CHECKING:
    from ingest.sandbox import Sandbox
    from ingest.settings import Settings

log = logging.getLogger(__name__)

ROBOTS_DEADLINE_S = 15.0


@dataclass(frozen=True, slots=True)
class PageResult:
    """One page's outcome, handed to the caller's thread.

    ``extracted`` is set when the page became text; ``failure`` when it failed (with its
    reason); neither when the page was deferred (the host throttled us) or redirects to
    another host (``redirect``: the page is re-queued there, to be fetched by that host's
    own polite crawler, after its robots.txt).
    """

    job: PageJob
    fetched: Fetched | FetchFailure | None
    extracted: Extracted | None = None
    failure: tuple[Reason, str] | None = None
    deferred: bool = False
    redirect: str | None = None


@dataclass(frozen=True, slots=True)
class RobotsFetch:
    """A robots.txt request, for the fetch log."""

    host: str
    result: Fetched | FetchFailure


Outcome = PageResult | RobotsFetch | HostState


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Pace:
    """When the next request to a host may start."""

    delay: float
    next_at: float = dataclasses.field(default_factory=time.monotonic)
    seen_connection: float = 0.0

    def started(self) -> None:
        """A request starts now: the next one waits ``delay`` from here."""
        self.next_at = time.monotonic() + self.delay

    def connected(self, at: float | None) -> None:
        """A request went out on a connection opened at ``at``: count the delay from there.

        A new connection's request reaches the server only once it is connected, so a
        delay counted from the request's start alone would leave the server a shorter gap.
        """
        if at is not None and at > self.seen_connection:
            self.seen_connection = at
            self.next_at = max(self.next_at, at + self.delay)


@dataclass(slots=True)
class _HostRun:
    """One host's crawl in progress: its latest state, pace and robots.txt rules."""

    state: HostState
    pace: _Pace
    rules: robots.Rules | None = None

    def requested(self) -> None:
        """A request to the host starts now."""
        self.pace.started()
        self.state = dataclasses.replace(self.state, last_request_at=_utcnow())


class _HostCrawler:
    """Fetches one host's pages in order, politely; runs on a worker thread per host."""

    def __init__(
        self,
        settings: Settings,
        box: Sandbox,
        raw: archive.RawArchive,
        deadline: float,
        out: queue.SimpleQueue[Outcome],
        stop: threading.Event,
    ) -> None:
        self.settings, self.box, self.raw = settings, box, raw
        self.deadline, self.out, self.stop = deadline, out, stop
        self.limits = fetch.Limits.for_kind(settings, "page")

    def run(self, state: HostState, jobs: Sequence[PageJob]) -> None:
        pace = _Pace(self.settings.politeness_delay_s)
        if state.last_request_at is not None:  # the delay runs on from the previous run
            since = (_utcnow() - state.last_request_at).total_seconds()
            pace.next_at += max(0.0, min(pace.delay - since, pace.delay))
        host = _HostRun(state, pace)
        try:
            self._crawl(host, jobs)
        except Exception:  # a bug must not hang the shard; the jobs stay pending
            log.exception("crawl of host %s stopped by an unexpected error", state.host)
        finally:
            self.out.put(host.state)  # the latest state: requests made, robots, throttles

    def _crawl(self, host: _HostRun, jobs: Sequence[PageJob]) -> None:
        settings = self.settings
        with fetch.Fetcher(
            settings.user_agent, allow_loopback=settings.allow_loopback, max_connections=1
        ) as fetcher:
            if settings.respect_robots and not self._robots(fetcher, host, jobs):
                return
            for job in jobs:
                if host.rules is not None and not host.rules.allows(job.link):
                    self.out.put(
                        PageResult(job, None, failure=(Reason.ROBOTS_DISALLOWED, "robots.txt"))
                    )
                    continue
                if not self._wait_until(host.pace.next_at):
                    break
                host.requested()
                result = fetcher.get(
                    job.link, self.limits,
                    on_redirect=lambda _from, to: self._redirect_hop(host, to),
                )  # fmt: skip
                host.pace.connected(fetcher.connected_at)
                if isinstance(result, FetchFailure) and _throttled(result):
                    host.state = self._throttle(host.state, result)
                    self.out.put(PageResult(job, result, deferred=True))
                    break  # the rest of this host waits for a later run
                if isinstance(result, FetchFailure) and result.reason is Reason.REDIRECTED_OFFSITE:
                    self.out.put(PageResult(job, result, redirect=result.final_url))
                    continue
                self.out.put(self._process(job, result))

    def _redirect_hop(self, host: _HostRun, target: str) -> tuple[Reason, str] | None:
        """Follow a redirect hop now only if it stays on this host, paced and allowed."""
        target_host = urls.host_of(target)
        if target_host != host.state.host:
            # An address we would refuse anyway fails now; a name is re-queued under its
            # host (and checked when that host's crawler connects).
            problem = netguard.literal_problem(
                target_host, allow_loopback=self.settings.allow_loopback
            )
            if problem:
                return Reason.BLOCKED_ADDRESS, f"redirect to {target[:200]}: {problem}"
            return Reason.REDIRECTED_OFFSITE, f"redirects to another host: {target[:300]}"
        if host.rules is not None and not host.rules.allows(target):
            return Reason.ROBOTS_DISALLOWED, f"robots.txt (redirect to {target[:300]})"
        if not self._wait_until(host.pace.next_at):
            return Reason.TIMEOUT, "shard budget spent before a redirect hop"
        host.requested()
        return None

    def _robots(self, fetcher: fetch.Fetcher, host: _HostRun, jobs: Sequence[PageJob]) -> bool:
        """Load the host's robots.txt rules (fetched when stale); False: fetch nothing now."""
        settings = self.settings
        if not robots.is_fresh(host.state, _utcnow()):
            if not self._wait_until(host.pace.next_at):
                return False
            host.requested()
            limits = dataclasses.replace(
                self.limits, deadline_s=min(self.limits.deadline_s, ROBOTS_DEADLINE_S),
                max_bytes=robots.MAX_ROBOTS_BYTES, truncate=True, accept="text/plain, */*;q=0.5",
            )  # fmt: skip
            result = fetcher.get(robots.robots_url(jobs[0].link), limits)
            self.out.put(RobotsFetch(host.state.host, result))
            retry_s = settings.robots_retry_s
            if isinstance(result, FetchFailure) and result.retry_after_s is not None:
                retry_s = max(retry_s, min(result.retry_after_s, settings.max_retry_after_s))
            host.state = robots.remember(
                host.state, result, now=_utcnow(), ttl_s=settings.robots_ttl_s, retry_s=retry_s
            )
        host.rules = robots.Rules.of(host.state, settings.robots_user_agent)
        if not host.rules.reachable:
            log.warning(
                "robots.txt of %s unreachable (status %s): its %d pages wait until %s",
                host.state.host, host.state.robots_status, len(jobs), host.state.next_eligible_at,
            )  # fmt: skip
            return False
        crawl_delay = host.rules.crawl_delay()
        if crawl_delay:
            slower = max(host.pace.delay, min(crawl_delay, settings.max_crawl_delay_s))
            host.pace.next_at += slower - host.pace.delay  # the request just made counts too
            host.pace.delay = slower
            host.state = dataclasses.replace(host.state, crawl_delay_s=crawl_delay)
        host.pace.connected(fetcher.connected_at)
        return True

    def _wait_until(self, moment: float) -> bool:
        """Sleep until ``moment`` (politeness); False when the shard's budget runs out first."""
        if moment > self.deadline:
            return False
        return not self.stop.wait(max(0.0, moment - time.monotonic()))

    def _throttle(self, state: HostState, result: FetchFailure) -> HostState:
        settings = self.settings
        wait = result.retry_after_s
        if wait is None:
            wait = settings.throttle_default_s
        wait = min(wait, settings.max_retry_after_s)
        until = _utcnow() + timedelta(seconds=wait)
        log.warning(
            "host %s throttles us (%s): next request after %s", state.host, result.detail, until
        )
        return dataclasses.replace(
            state,
            next_eligible_at=max(state.next_eligible_at or until, until),
            throttled_count=state.throttled_count + 1,
            last_throttle=f"{result.reason.value}: {result.detail}"[:500],
        )

    def _process(self, job: PageJob, result: Fetched | FetchFailure) -> PageResult:
        if isinstance(result, FetchFailure):
            return PageResult(job, result, failure=(result.reason, result.detail))
        self.raw.put(result.body, result.body_hash)
        outcome = self.box.run(
            self.settings.extract_budget_s,
            extract.extract_page,
            result.body,
            result.content_type,
            result.final_url,
        )
        if isinstance(outcome, Miss):
            return PageResult(job, result, failure=(outcome.reason, outcome.detail))
        return PageResult(job, result, extracted=outcome)


def _throttled(result: FetchFailure) -> bool:
    """A 429, or a 503 that says when to come back: the host wants us to slow down."""
    return result.reason is Reason.THROTTLED or (
        result.status == 503 and result.retry_after_s is not None  # noqa: PLR2004 - HTTP status
    )


def crawl_hosts(
    settings: Settings,
    box: Sandbox,
    raw: archive.RawArchive,
    jobs_by_host: dict[str, list[PageJob]],
    states: dict[str, HostState],
    *,
    budget_s: float,
    on_outcome: Callable[[Outcome], None],
) -> None:
    """Fetch every host's jobs (in order) concurrently; report outcomes on this thread.

    ``on_outcome`` receives each :class:`PageResult` and :class:`RobotsFetch` as they
    come, and each host's final :class:`HostState` when that host is done.
    """
    if not jobs_by_host:
        return
    out: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
    stop = threading.Event()
    crawler = _HostCrawler(settings, box, raw, time.monotonic() + budget_s, out, stop)
    workers = min(settings.max_parallel_hosts, len(jobs_by_host))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crawl") as pool:
        for host, jobs in jobs_by_host.items():
            pool.submit(crawler.run, states.get(host) or HostState(host=host), jobs)
        done = 0
        try:
            while done < len(jobs_by_host):
                item = out.get()
                if isinstance(item, HostState):
                    done += 1
                on_outcome(item)
        finally:
            stop.set()  # on an error here, end the hosts' waits at once
