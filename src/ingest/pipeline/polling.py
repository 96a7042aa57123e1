"""The poll step: poll a shard of feeds and queue their new entries.

The shard's hosts are polled at once (up to ``max_parallel_hosts``), each host's feeds one
after another: a slow feed holds up only the feeds of its own host, and no host gets two
of our requests at a time. Outcomes are saved on the step's own thread.
"""

from __future__ import annotations

import contextlib
import queue as queues
import threading
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ingest import fetch, sandbox, schedule
from ingest.errors import WarehouseError
from ingest.logs import get_logger
from ingest.poll import KnownEntries, Poller
from ingest.stats import StepStats
from ingest.store import engine as db
from ingest.store import feeds, queue
from ingest.urls import host_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.models import PollTarget
    from ingest.outcomes import PollOutcome
    from ingest.sandbox import Sandbox
    from ingest.settings import Settings

log = get_logger(__name__)


def poll_shard(
    engine: Engine,
    settings: Settings,
    feed_keys: Sequence[str],
    run_id: str,
    *,
    due_at: datetime | None = None,
    unpolled_since: datetime | None = None,
    box: Sandbox | None = None,
) -> dict[str, Any]:
    """Poll some feeds and queue their new entries. Returns StepStats as a dict.

    With ``due_at`` (the run's), a feed no longer due by then (:func:`ingest.schedule.due_by`)
    is left alone: a retried task does not poll again the feeds its first try polled (a
    feed that met a bug of ours stays due, and is polled again). A run polling feeds whether due
    or not gives ``unpolled_since`` (when it was asked for) instead: a feed polled since
    then is left alone. Outcomes are saved every ``flush_every`` feeds, and what was
    polled is saved even when the step fails. ``box``: a sandbox the caller lends (else
    the step opens its own).
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
    known = _one_at_a_time(partial(queue.known_entry_ids, engine))
    hosts: _HostPolls | None = None
    try:
        with sandbox.opened(settings.workers, settings.worker_memory_mb, box) as workers:
            hosts = _HostPolls(settings, workers, known)
            threads = _threads(engine, settings)
            with contextlib.closing(_polled(hosts, targets, threads)) as polled:
                for outcome in polled:
                    outcomes.append(outcome)
                    stats.add_poll(outcome)
                    if len(outcomes) >= settings.flush_every:
                        done, outcomes = outcomes, []
                        feeds.save_polls(engine, done, run_id)
    finally:  # what was polled is kept, even on error (the hosts' last polls included)
        feeds.save_polls(engine, outcomes + (hosts.leftovers() if hosts else []), run_id)
    log.info(
        "shard polled %d feeds: %d failed, %d unchanged, %d entries seen, %d new",
        stats.feeds_polled, stats.feeds_failed, stats.feeds_unchanged, stats.entries_seen,
        stats.entries_new,
    )  # fmt: skip
    stats.raise_for_bugs("poll")
    return stats.as_dict()


def _threads(engine: Engine, settings: Settings) -> int:
    """Hosts polled at once; one where each thread would see a warehouse of its own."""
    return 1 if db.one_per_thread(engine) else settings.max_parallel_hosts


def _one_at_a_time(known: KnownEntries) -> KnownEntries:
    """``known``, asked by one thread at a time; after it failed once, failing at once.

    A poll task holds one warehouse connection for the lookups however many hosts it polls
    at once (and its own thread another, to save): PostgreSQL's connections are few. A
    warehouse gone is found once, not once by each host waiting for the lock.
    """
    lock = threading.Lock()
    failed: list[str] = []

    def ask(entry_ids: Sequence[str]) -> set[str]:
        with lock:
            if failed:
                raise WarehouseError(f"the warehouse failed a lookup already: {failed[0]}")
            try:
                return known(entry_ids)
            except Exception as exc:
                failed.append(f"{type(exc).__name__}: {exc}"[:300])
                raise

    return ask


def _polled(
    hosts: _HostPolls, targets: Sequence[PollTarget], threads: int
) -> Generator[PollOutcome]:
    """Each target's outcome as it comes: hosts at once (``threads``), a host's feeds in turn.

    Each host has its own HTTP client (one connection), as a crawl's hosts do. What a
    host's thread raises (the warehouse gone: :meth:`Poller.poll` raises nothing else) is
    raised once the other hosts have stopped, after their outcomes. Closed early (the
    caller failed), it waits for the hosts' polls in hand: :meth:`_HostPolls.leftovers`.
    """
    by_host: dict[str, list[PollTarget]] = {}
    for target in targets:
        by_host.setdefault(host_of(target.url), []).append(target)
    if min(threads, len(by_host)) <= 1:
        for feeds_of_host in by_host.values():
            yield from hosts.in_turn(feeds_of_host)
        return
    with ThreadPoolExecutor(min(threads, len(by_host)), thread_name_prefix="poll") as pool:
        for feeds_of_host in by_host.values():
            pool.submit(hosts.run, feeds_of_host)
        try:
            yield from hosts.outcomes(len(by_host))
        finally:
            hosts.stop.set()


class _HostPolls:
    """Hosts' polls, each host's on a thread of its own, handed to the step's thread."""

    def __init__(self, settings: Settings, box: Sandbox, known: KnownEntries) -> None:
        self.settings, self.box, self.known = settings, box, known
        self.out: queues.SimpleQueue[PollOutcome | BaseException | None] = queues.SimpleQueue()
        self.stop = threading.Event()

    def in_turn(self, feeds_of_host: Sequence[PollTarget]) -> Iterator[PollOutcome]:
        """Poll one host's feeds one after another, with a client of its own."""
        settings = self.settings
        with fetch.Fetcher(
            settings.user_agent, allow_loopback=settings.allow_loopback, max_connections=1
        ) as fetcher:
            poller = Poller(settings, fetcher, self.box, self.known)
            for target in feeds_of_host:
                if self.stop.is_set():
                    return
                yield poller.poll(target)

    def run(self, feeds_of_host: Sequence[PollTarget]) -> None:
        """:meth:`in_turn` on a pool thread, each outcome queued; then: this host is done."""
        try:
            for outcome in self.in_turn(feeds_of_host):
                self.out.put(outcome)
        except BaseException as exc:  # noqa: BLE001 - handed to the step's thread, raised there
            self.out.put(exc)
        finally:
            self.out.put(None)

    def outcomes(self, hosts: int) -> Iterator[PollOutcome]:
        """The outcomes until ``hosts`` hosts are done; then what a host raised, if any."""
        failed: BaseException | None = None
        while hosts:
            item = self.out.get()
            if item is None:
                hosts -= 1
            elif isinstance(item, BaseException):
                failed = failed or item
                self.stop.set()  # the other hosts finish the feed in hand, then stop
            else:
                yield item
        if failed is not None:
            raise failed

    def leftovers(self) -> list[PollOutcome]:
        """Outcomes handed over but not taken (the step stopped taking them)."""
        left = []
        while not self.out.empty():
            item = self.out.get()
            if item is not None and not isinstance(item, BaseException):
                left.append(item)
        return left


__all__ = ["poll_shard"]
