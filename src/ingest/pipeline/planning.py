"""The planning steps: the feeds due and the hosts with pages waiting, cut into shards."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ingest import schedule
from ingest.logs import get_logger
from ingest.pipeline import Shard, _now, _shards
from ingest.request import RunRequest
from ingest.store import feeds, queue

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.settings import Settings

log = get_logger(__name__)


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
    return _shards(keys, settings.feed_shard_size, settings.max_shards)


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
    shards = _shards([host for host, _ in pending], settings.page_shard_hosts, settings.max_shards)
    if request.feeds:
        for shard in shards:
            shard["feeds"] = list(request.feeds)
    return shards


__all__ = ["plan_feed_shards", "plan_page_shards"]
