"""Page fetching across hosts: concurrent between hosts, polite within one.

Each host gets its own thread and its own one-connection client; up to
``max_parallel_hosts`` hosts are fetched at once.

**The politeness guarantee.** A request to a host starts at least ``politeness_delay_s``
after our previous request to that host *ended* (its response fully read, or the
request failed), as Nutch counts it; more when the host's robots.txt asks for a
``Crawl-delay`` (up to ``max_crawl_delay_s``). Counting from the end rather than the
start means the guarantee also holds as the server sees it, whatever the scheduling
delays on either side: the server receives our next request only after it has finished
sending the previous response, so the gap between two requests arriving at the server is
at least the delay. It holds across runs too (``hosts.last_request_at`` keeps when the
last request ended), overlapping ones included (the caller crawls only hosts it holds a
lease on, :mod:`ingest.store.leases`), for robots.txt requests and for each hop of a
redirect on the host.
It does not cover feed polls (:mod:`ingest.poll` runs them in its own tasks) nor a
robots.txt redirect's hop to another host (see :meth:`Crawl._robots_hop`).

Before a host's first page, its robots.txt is consulted (:mod:`ingest.robots`). A 429 or
503 with ``Retry-After`` (or a 429 without one: ``throttle_default_s``) sets the host's
``next_eligible_at`` and ends the host's work for this run: no thread sleeps through a
Retry-After; its pages stay pending and a later run's planner leaves the host out until
then. A host whose robots.txt is unreachable waits the same way, and so does a host
found waiting when its turn comes (it asked to since the plan was made).

What a fetched page becomes is the ``process`` callable's business (the page stage), run
on the host's thread; a bug of ours there fails that page alone (``internal_error``, it
stays pending). :class:`Crawl` hands every outcome back to the caller's thread as a value,
so that every warehouse write happens on one thread. A bug of ours in the crawl loop
itself ends that host's crawl: the page in hand is reported as ``internal_error``, and
the host's :class:`HostDone` says so.

robots.txt redirects are followed (RFC 9309), a hop on the host paced like any request;
a hop to another host is one request made there at once.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Self

from ingest import fetch, netguard, robots, urls
from ingest.logs import get_logger
from ingest.models import Fetched, FetchFailure, HostState, PageJob, Reason
from ingest.outcomes import (
    FetchRecord,
    PageDeferred,
    PageFailed,
    PageMoved,
    PageOutcome,
)

if TYPE_CHECKING:
    from ingest.settings import Settings

log = get_logger(__name__)

ROBOTS_DEADLINE_S = 15.0

#: The page stage: what one fetch of a job's page becomes.
Process = Callable[[PageJob, Fetched | FetchFailure], PageOutcome]


@dataclass(frozen=True, slots=True)
class HostDone:
    """A host's crawl ended: its state to remember (requests made, robots.txt, throttles).

    ``crashed``: a bug of ours ended the host's crawl (logged with its trace).
    """

    state: HostState
    crashed: str | None = None


#: What a :class:`Crawl` yields: a page's outcome, a robots.txt request, a host done.
CrawlEvent = PageOutcome | FetchRecord | HostDone


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Pace:
    """When the next request to a host may start: ``delay`` after the previous one ended."""

    delay: float
    next_at: float = dataclasses.field(default_factory=time.monotonic)

    def ended(self) -> None:
        """A request to the host has just ended: the next one waits ``delay`` from now."""
        self.next_at = time.monotonic() + self.delay

    def slow_down(self, delay: float) -> None:
        """Keep at least ``delay`` between requests from now on (the last one included)."""
        if delay > self.delay:
            self.next_at += delay - self.delay
            self.delay = delay


@dataclass(slots=True)
class _HostRun:
    """One host's crawl in progress: its latest state, pace, robots.txt rules and place."""

    state: HostState
    pace: _Pace
    rules: robots.Rules | None = None
    position: int = 0  # the index of the job in hand

    def ended(self) -> None:
        """A request to the host has just ended."""
        self.pace.ended()
        self.state = dataclasses.replace(self.state, last_request_at=_utcnow())


class _HostCrawler:
    """Fetches one host's pages in order, politely; runs on a worker thread per host."""

    def __init__(
        self,
        settings: Settings,
        process: Process,
        deadline: float,
        out: queue.SimpleQueue[CrawlEvent],
        stop: threading.Event,
    ) -> None:
        self.settings, self.process = settings, process
        self.deadline, self.out, self.stop = deadline, out, stop
        self.limits = fetch.Limits.for_kind(settings, "page")

    def run(self, state: HostState, jobs: Sequence[PageJob]) -> None:
        """Crawl one host; whatever happens, end with its :class:`HostDone`."""
        host = _HostRun(state, _Pace(self.settings.politeness_delay_s))
        crashed = None
        try:
            now = _utcnow()
            if state.next_eligible_at is not None and state.next_eligible_at > now:
                return  # it asked us to wait since the plan was made: its pages stay pending
            self._pace_from_before(host, now)
            self._crawl(host, jobs)
        except Exception as exc:
            log.exception("crawl of host %s stopped by a bug of ours", state.host)
            crashed = f"{type(exc).__name__}: {exc}"[:300]
            if host.position < len(jobs):  # the page in hand waits for the fix
                job = jobs[host.position]
                self.out.put(PageFailed(job, Reason.INTERNAL_ERROR, f"crawl: {crashed}"))
        finally:
            self.out.put(HostDone(host.state, crashed=crashed))

    def _pace_from_before(self, host: _HostRun, now: datetime) -> None:
        """Go on from the previous run: its last request's end, the crawl delay it knew."""
        state, pace = host.state, host.pace
        if state.crawl_delay_s:
            pace.delay = max(pace.delay, min(state.crawl_delay_s, self.settings.max_crawl_delay_s))
        if state.last_request_at is not None:
            since = (now - state.last_request_at).total_seconds()
            pace.next_at = time.monotonic() + max(0.0, min(pace.delay - since, pace.delay))

    def _crawl(self, host: _HostRun, jobs: Sequence[PageJob]) -> None:
        settings = self.settings
        with fetch.Fetcher(
            settings.user_agent, allow_loopback=settings.allow_loopback, max_connections=1
        ) as fetcher:
            if settings.respect_robots and not self._robots(fetcher, host, jobs[0].link, len(jobs)):
                return
            for index, job in enumerate(jobs):
                host.position = index
                if host.rules is not None and not host.rules.allows(job.link):
                    record = FetchRecord.refused(
                        "page", job.link, Reason.ROBOTS_DISALLOWED, "robots.txt", _utcnow()
                    )
                    self.out.put(PageFailed(job, Reason.ROBOTS_DISALLOWED, "robots.txt", record))
                    continue
                if not self._wait_until(host.pace.next_at):
                    break
                result = fetcher.get(
                    job.link, self.limits,
                    on_redirect=lambda _from, to: self._redirect_hop(host, to),
                )  # fmt: skip
                host.ended()
                if isinstance(result, FetchFailure) and _throttled(result):
                    host.state = self._throttle(host.state, result)
                    self.out.put(PageDeferred(job, FetchRecord.of("page", result, _utcnow())))
                    break  # the rest of this host waits for a later run
                if isinstance(result, FetchFailure) and result.reason is Reason.REDIRECTED_OFFSITE:
                    target = result.final_url or job.link
                    self.out.put(PageMoved(job, target, FetchRecord.of("page", result, _utcnow())))
                    continue
                self.out.put(self._processed(job, result))
            host.position = len(jobs)

    def _processed(self, job: PageJob, result: Fetched | FetchFailure) -> PageOutcome:
        """The page stage's outcome; a bug of ours there fails this page alone (it waits)."""
        try:
            return self.process(job, result)
        except Exception as exc:
            log.exception("page %s: a bug of ours in the page stage; the page waits", job.link)
            detail = f"page stage: {type(exc).__name__}: {exc}"[:300]
            return PageFailed(
                job, Reason.INTERNAL_ERROR, detail, FetchRecord.of("page", result, _utcnow())
            )

    def _redirect_hop(self, host: _HostRun, target: str) -> tuple[Reason, str] | None:
        """Follow a redirect hop now only if it stays on this host, paced and allowed."""
        host.ended()  # the redirect response has just been read
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
        return None

    def _robots_hop(self, host: _HostRun, target: str) -> tuple[Reason, str] | None:
        """A robots.txt redirect (RFC 9309 follows them, across hosts too): paced on the host.

        A hop to another host is one request there, made at once: that host's own crawler
        paces the pages it will fetch from it.
        """
        host.ended()  # the redirect response has just been read
        if urls.host_of(target) == host.state.host and not self._wait_until(host.pace.next_at):
            return Reason.TIMEOUT, "shard budget spent before a robots.txt redirect hop"
        return None

    def _robots(self, fetcher: fetch.Fetcher, host: _HostRun, first_url: str, waiting: int) -> bool:
        """Load the host's robots.txt rules (fetched when stale); False: fetch nothing now.

        ``first_url``: a URL on the host (its robots.txt is asked for); ``waiting``: how
        many requests wait for it (for the log).
        """
        settings = self.settings
        if not robots.is_fresh(host.state, _utcnow()):
            if not self._wait_until(host.pace.next_at):
                return False
            limits = dataclasses.replace(
                self.limits, deadline_s=min(self.limits.deadline_s, ROBOTS_DEADLINE_S),
                max_bytes=robots.MAX_ROBOTS_BYTES, truncate=True, accept="text/plain, */*;q=0.5",
            )  # fmt: skip
            result = fetcher.get(
                robots.robots_url(first_url), limits,
                on_redirect=lambda _from, to: self._robots_hop(host, to),
            )  # fmt: skip
            host.ended()
            self.out.put(FetchRecord.of("robots", result, _utcnow()))
            retry_s = settings.robots_retry_s
            if isinstance(result, FetchFailure) and result.retry_after_s is not None:
                retry_s = max(retry_s, min(result.retry_after_s, settings.max_retry_after_s))
            host.state = robots.remember(
                host.state, result, now=_utcnow(), ttl_s=settings.robots_ttl_s, retry_s=retry_s
            )
        host.rules = robots.Rules.of(host.state, settings.robots_user_agent)
        if not host.rules.reachable:
            log.warning(
                "robots.txt of %s unreachable (status %s): its %d requests wait until %s",
                host.state.host, host.state.robots_status, waiting, host.state.next_eligible_at,
            )  # fmt: skip
            return False
        crawl_delay = host.rules.crawl_delay()
        if crawl_delay:
            host.pace.slow_down(min(crawl_delay, settings.max_crawl_delay_s))
        # what the current robots.txt asks: a Crawl-delay it no longer has is forgotten
        host.state = dataclasses.replace(host.state, crawl_delay_s=crawl_delay or None)
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


class HostSession:
    """Requests to one host outside a page crawl (a sitemap walk), as politely as a crawl's.

    The caller holds the host's lease (:func:`ingest.store.leases.claim_hosts`). Requests
    are paced from the host's last one (across runs) and by its ``Crawl-delay``; robots.txt
    is consulted first (fetched when stale) and each URL is checked against it; a 429, or
    a 503 with ``Retry-After``, ends the session's requests (the host's state says until
    when). No request starts after ``budget_s``. :attr:`records` are the requests made,
    robots.txt's included, for the fetch log; :attr:`state` is the host's to save.
    """

    def __init__(self, settings: Settings, state: HostState, *, budget_s: float) -> None:
        self._settings = settings
        self._out: queue.SimpleQueue[CrawlEvent] = queue.SimpleQueue()
        self._crawler = _HostCrawler(
            settings, _no_process, time.monotonic() + budget_s, self._out, threading.Event()
        )
        self._host = _HostRun(state, _Pace(settings.politeness_delay_s))
        self._crawler._pace_from_before(self._host, _utcnow())  # noqa: SLF001 - this module's
        self._fetcher = fetch.Fetcher(
            settings.user_agent, allow_loopback=settings.allow_loopback, max_connections=1
        )
        self._robots_read = not settings.respect_robots
        self._closed_reason: FetchFailure | None = None
        self.records: list[FetchRecord] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._fetcher.close()

    @property
    def state(self) -> HostState:
        """The host's state now (its last request, robots.txt, a throttle)."""
        return self._host.state

    @property
    def closed(self) -> FetchFailure | None:
        """Why no more requests go to the host in this session (None: they may)."""
        return self._closed_reason

    def open(self, url: str) -> bool:
        """Read the host's robots.txt (when stale) before the first request; False: wait.

        An unreachable robots.txt (5xx, no answer) allows nothing, as for a crawl.
        """
        waits = self._host.state.next_eligible_at
        if self._closed_reason is None and waits is not None and waits > _utcnow():
            # it asked us to wait (a Retry-After, robots.txt unreachable): as a crawl would
            self._close(
                url,
                Reason.THROTTLED,
                f"the host asked us to wait until {waits:%Y-%m-%d %H:%M:%S} UTC",
            )
            self._robots_read = True
        if not self._robots_read:
            self._robots_read = True
            reachable = self._crawler._robots(self._fetcher, self._host, url, 1)  # noqa: SLF001
            self._drain()
            if not reachable:
                self._close(url, Reason.SERVER_ERROR, "robots.txt unreachable: the host waits")
        return self._closed_reason is None

    def get(self, url: str, limits: fetch.Limits, kind: str) -> Fetched | FetchFailure:
        """One paced, robots.txt-checked GET of ``url`` on this host (``kind``: the log's)."""
        host, crawler = self._host, self._crawler
        if not self.open(url) or self._closed_reason is not None:
            failed = self._closed_reason or FetchFailure(url=url, reason=Reason.SERVER_ERROR)
            return dataclasses.replace(failed, url=url, final_url=url)
        if host.rules is not None and not host.rules.allows(url):
            record = FetchRecord.refused(
                kind, url, Reason.ROBOTS_DISALLOWED, "robots.txt", _utcnow()
            )
            self.records.append(record)
            return FetchFailure(url=url, reason=Reason.ROBOTS_DISALLOWED, detail="robots.txt")
        if not crawler._wait_until(host.pace.next_at):  # noqa: SLF001
            return self._close(url, Reason.TIMEOUT, "the time budget is spent")
        result = self._fetcher.get(
            url,
            limits,
            on_redirect=lambda _from, to: crawler._redirect_hop(host, to),  # noqa: SLF001
        )
        host.ended()
        self.records.append(FetchRecord.of(kind, result, _utcnow()))
        if isinstance(result, FetchFailure) and _throttled(result):
            host.state = crawler._throttle(host.state, result)  # noqa: SLF001
            self._closed_reason = result
        return result

    def robots_sitemaps(self) -> list[str]:
        """The ``Sitemap:`` lines of the host's robots.txt (read by the first :meth:`get`)."""
        rules = self._host.rules
        if rules is None or rules.parser is None:
            return []
        return [str(url) for url in rules.parser.sitemaps]

    def _close(self, url: str, reason: Reason, detail: str) -> FetchFailure:
        self._closed_reason = FetchFailure(url=url, reason=reason, detail=detail)
        return self._closed_reason

    def _drain(self) -> None:
        while not self._out.empty():
            event = self._out.get()
            if isinstance(event, FetchRecord):
                self.records.append(event)


def _no_process(_job: PageJob, _result: Fetched | FetchFailure) -> PageOutcome:
    raise AssertionError("a host session fetches no page jobs")  # pragma: no cover


def _throttled(result: FetchFailure) -> bool:
    """A 429, or a 503 that says when to come back: the host wants us to slow down."""
    return result.reason is Reason.THROTTLED or (
        result.status == 503 and result.retry_after_s is not None  # noqa: PLR2004 - HTTP status
    )


class Crawl:
    """Every host's jobs fetched concurrently, each host politely; iterate for the events.

    Use as a context manager. Iterating yields each page's outcome and each robots.txt
    request as they come, and each host's :class:`HostDone` when that host is done; it ends
    when every host is done. No host starts a request after ``budget_s`` (its remaining
    pages stay pending). :meth:`stop` ends every host's waits at once: each finishes the
    request in hand and reports it, so iterating again after a stop yields what was left
    (the last outcomes and every host's final state) and then ends.
    """

    def __init__(
        self,
        settings: Settings,
        jobs_by_host: dict[str, list[PageJob]],
        states: dict[str, HostState],
        *,
        process: Process,
        budget_s: float,
    ) -> None:
        self._jobs, self._states = jobs_by_host, states
        self._out: queue.SimpleQueue[CrawlEvent] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._crawler = _HostCrawler(
            settings, process, time.monotonic() + budget_s, self._out, self._stop
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(settings.max_parallel_hosts, len(jobs_by_host))),
            thread_name_prefix="crawl",
        )
        self._done = 0

    def __enter__(self) -> Self:
        for host, jobs in self._jobs.items():
            self._pool.submit(
                self._crawler.run, self._states.get(host) or HostState(host=host), jobs
            )
        return self

    def __iter__(self) -> Iterator[CrawlEvent]:
        while self._done < len(self._jobs):
            event = self._out.get()
            if isinstance(event, HostDone):
                self._done += 1
            yield event

    def stop(self) -> None:
        """End every host's waits; no host starts another request."""
        self._stop.set()

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True)


__all__ = ["Crawl", "CrawlEvent", "HostDone", "HostSession", "Process"]
