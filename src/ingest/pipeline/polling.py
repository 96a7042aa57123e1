"""The poll step: poll a shard of feeds and queue their new entries.

The shard's hosts are polled at once (up to ``max_parallel_hosts``), each host's feeds one
after another: a slow feed holds up only the feeds of its own host, and no host gets two
of our requests at a time. Outcomes are saved on the step's own thread.
"""

from __future__ import annotations

import queue as queues
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ingest import fetch, sandbox, schedule
from ingest.logs import get_logger
from ingest.poll import Poller
from ingest.stats import StepStats
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
    try:
        with (
            fetch.Fetcher(settings.user_agent, allow_loopback=settings.allow_loopback) as fetcher,
            sandbox.opened(settings.workers, settings.worker_memory_mb, box) as workers,
        ):
            poller = Poller(settings, fetcher, workers, partial(queue.known_entry_ids, engine))
            for outcome in _polled(poller, targets, settings.max_parallel_hosts):
                outcomes.append(outcome)
                stats.add_poll(outcome)
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


def _polled(poller: Poller, targets: Sequence[PollTarget], threads: int) -> Iterator[PollOutcome]:
    """Each target's outcome as it comes: hosts at once (``threads``), a host's feeds in turn.

    What a host's thread raises (the warehouse gone: :meth:`Poller.poll` raises nothing
    else) is raised here; the other hosts then start no new poll.
    """
    by_host: dict[str, list[PollTarget]] = {}
    for target in targets:
        by_host.setdefault(host_of(target.url), []).append(target)
    if threads <= 1 or len(by_host) <= 1:
        yield from map(poller.poll, targets)
        return
    hosts = _HostPolls(poller)
    with ThreadPoolExecutor(min(threads, len(by_host)), thread_name_prefix="poll") as pool:
        for feeds_of_host in by_host.values():
            pool.submit(hosts.poll, feeds_of_host)
        try:
            yield from hosts.outcomes(len(by_host))
        finally:
            hosts.stop.set()


class _HostPolls:
    """Hosts' polls on their own threads, their outcomes handed to the step's thread."""

    def __init__(self, poller: Poller) -> None:
        self.poller = poller
        self.out: queues.SimpleQueue[PollOutcome | BaseException | None] = queues.SimpleQueue()
        self.stop = threading.Event()

    def poll(self, feeds_of_host: Sequence[PollTarget]) -> None:
        """Poll one host's feeds in turn (on a pool thread); then say it is done."""
        try:
            for target in feeds_of_host:
                if self.stop.is_set():
                    break
                self.out.put(self.poller.poll(target))
        except BaseException as exc:  # noqa: BLE001 - handed to the step's thread, raised there
            self.out.put(exc)
        finally:
            self.out.put(None)

    def outcomes(self, hosts: int) -> Iterator[PollOutcome]:
        """The outcomes until ``hosts`` hosts are done; what a host's thread raised, raised."""
        while hosts:
            item = self.out.get()
            if item is None:
                hosts -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item


__all__ = ["poll_shard"]
