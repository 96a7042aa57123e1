"""A sitemaps shard: one publisher's sitemaps walked politely, their pages queued, fetched, loaded."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ingest import fetch, pipeline
from ingest.backfill.counts import ShardCounts
from ingest.backfill.counts import now as _now
from ingest.backfill.request import BackfillRequest
from ingest.crawl import HostSession
from ingest.errors import InternalError
from ingest.logs import get_logger
from ingest.models import (
    FetchFailure,
    Miss,
    Reason,
    SourceKind,
    SourceRef,
)
from ingest.outcomes import QueuedEntry
from ingest.sources import sitemaps
from ingest.store import engine as db
from ingest.store import leases, queue
from ingest.store.engine import transaction
from ingest.urls import host_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.settings import Settings

log = get_logger(__name__)


#: How often a walk asks again for a host another crawl holds.
LEASE_RETRY_S = 1.0
SITEMAP_ACCEPT = "application/xml, text/xml;q=0.9, application/x-gzip;q=0.8, */*;q=0.5"


def shard(
    engine: Engine,
    settings: Settings,
    request: BackfillRequest,
    shard: dict[str, Any],
    run_id: str,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """Walk one publisher's sitemaps, queue the pages in range, fetch and load them."""
    started = time.monotonic()
    counts = ShardCounts()
    root, feed_key = shard["root"], shard["feeds"][0]
    walked = _walk(engine, settings, request, root, run_id, counts)
    if walked is None:
        return counts.result(None)
    queued, refused = sitemaps.queue_entries(walked, feed_key, max_length=settings.max_url_length)
    counts.extra["urls_in_range"] = len(walked.urls)
    counts.extra["urls_out_of_range"] = walked.out_of_range
    counts.extra["urls_undated"] = walked.undated
    counts.stats.entries_seen = len(queued)
    counts.stats.failures.update(reason for _, reason in refused)
    if request.dry_run:
        counts.extra["would_fetch"] = _unknown(engine, queued)
        return counts.result(None)
    with transaction(engine) as conn:
        now = _now()
        counts.stats.entries_new = queue.insert_entries(
            conn, feed_key, queued, run_id=run_id, now=now
        )
        if refused:
            queue.insert_refused(conn, feed_key, refused, run_id=run_id, now=now,
                                 source=SourceRef(SourceKind.SITEMAP, root))  # fmt: skip
    hosts = sorted({host_of(q.canonical_url) for q in queued})
    steps: list[dict[str, Any]] = []
    bugs: str | None = None
    if hosts:
        left = request.budget_s - (time.monotonic() - started)
        try:
            steps.append(pipeline.fetch_shard(
                engine, settings, hosts, run_id, feeds=shard["feeds"],
                sources=(SourceKind.SITEMAP,), max_pages=request.max_pages,
                budget_s=max(1.0, left), on_page=on_progress,
            ))  # fmt: skip
        except InternalError as exc:
            steps.append(exc.counts)
            bugs = str(exc)
    loaded = pipeline.load_run(
        engine, run_id, interval=(request.since, request.until),
        steps=[counts.stats.as_dict(), *steps],
    )  # fmt: skip
    out = counts.result(loaded.summary())
    for step in steps:
        for name in ("pages_fetched", "pages_failed", "pages_deferred", "articles_extracted",
                     "internal_errors"):  # fmt: skip
            out[name] = out.get(name, 0) + step.get(name, 0)
        failures = Counter(out.get("failures") or {})
        failures.update(step.get("failures") or {})
        out["failures"] = dict(failures)
    if bugs:
        out["_bugs"] = bugs
    return out


def _unknown(engine: Engine, queued: Sequence[QueuedEntry]) -> int:
    """How many of these pages a backfill would fetch: neither queued nor stored yet."""
    known = queue.known_entry_ids(engine, [q.entry_id for q in queued])
    with db.reading(engine) as conn:
        stored = queue.articles_by_url(conn, [q.canonical_url for q in queued])
    return len({q.canonical_url for q in queued if q.entry_id not in known} - set(stored))


def _walk(
    engine: Engine,
    settings: Settings,
    request: BackfillRequest,
    root: str,
    run_id: str,
    counts: ShardCounts,
) -> sitemaps.Walk | None:
    """Read a publisher's sitemaps under its host's lease, politely; None: host busy."""
    host = host_of(root)
    token = uuid.uuid4().hex
    deadline = time.monotonic() + request.budget_s
    while True:  # a live crawl of the host ends within its lease: wait for it
        held = leases.claim_hosts(engine, token, [host], now=_now(),
                                  host_lease_s=settings.host_lease_s)  # fmt: skip
        if held or time.monotonic() + LEASE_RETRY_S > deadline:
            break
        time.sleep(LEASE_RETRY_S)
    if not held:
        counts.misses.append(f"{host}: held by another crawl for the whole time budget")
        counts.stats.failures["host_busy"] += 1
        return None
    limits = dataclasses.replace(
        fetch.Limits.for_kind(settings, "feed"), max_bytes=sitemaps.MAX_INFLATED_BYTES,
        accept=SITEMAP_ACCEPT,
    )  # fmt: skip
    session = HostSession(settings, held[host], budget_s=max(0.0, deadline - time.monotonic()))
    try:
        with session:

            def get(url: str) -> bytes | Miss:
                if host_of(url) != host:
                    return Miss(Reason.REDIRECTED_OFFSITE, f"a sitemap on another host: {url}")
                result = session.get(url, limits, "sitemap")
                if isinstance(result, FetchFailure):
                    return Miss(result.reason, result.detail)
                return result.body

            session.open(root)
            named = session.robots_sitemaps()
            # robots.txt's Sitemap: lines; without them, the usual paths (most are absent)
            roots = [u for u in sitemaps.candidates(root, named) if not named or u in named]
            found = sitemaps.walk(
                roots, get, since=request.since, until=request.until,
                max_files=request.max_sitemaps,
            )  # fmt: skip
    finally:  # the host's state (its last request) is saved and its lease freed
        queue.save_pages(
            engine, run_id, [], robots=session.records, hosts_done=[session.state],
            max_attempts=settings.max_fetch_attempts, now=_now(), lease=token,
        )  # fmt: skip
    probes = set() if named else set(roots)
    absent = [url for url, miss in found.misses
              if url in probes and miss.reason is Reason.NOT_FOUND]  # fmt: skip
    counts.extra["sitemaps_read"] = found.read
    counts.extra["sitemaps_failed"] = len(found.misses) - len(absent)
    if not named and not found.read:
        counts.misses.append(f"{host}: no sitemap in robots.txt nor at the usual paths")
    for url, miss in found.misses:
        if url in absent:  # a usual path tried in vain: no failure
            continue
        counts.misses.append(f"{url}: {miss.reason.value} {miss.detail}"[:300])
        counts.stats.failures[miss.reason.value] += 1
    counts.misses.extend(f"stopped at {what}" for what in found.cut)
    log.info(
        "sitemaps of %s: %d read, %d failed, %d URLs in range (%d out of range, %d undated)",
        host, found.read, len(found.misses), len(found.urls), found.out_of_range, found.undated,
    )  # fmt: skip
    return found
