"""The poll step: poll a shard of feeds and queue their new entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from ingest import fetch, schedule
from ingest.logs import get_logger
from ingest.poll import Poller
from ingest.sandbox import Sandbox
from ingest.stats import StepStats
from ingest.store import feeds, queue

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.outcomes import PollOutcome
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


__all__ = ["poll_shard"]
