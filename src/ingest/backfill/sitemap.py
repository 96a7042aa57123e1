"""A sitemaps shard: one publisher's sitemaps walked politely, their pages queued, fetched, loaded."""

from __future__ import annotations

import dataclasses
import hashlib
import time
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
from ingest.sources import queue_leads, sitemaps
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
    queued, refused = queue_leads(
        sitemaps.leads(walked), feed_key, max_length=settings.max_url_length
    )
    counts.extra["urls_in_range"] = len(walked.urls)
    counts.extra["urls_out_of_range"] = walked.out_of_range
    counts.extra["urls_undated"] = walked.undated
    counts.extra["refused"] = len(refused)
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
    steps, bugs = _fetch(engine, settings, request, shard["feeds"], run_id, started, on_progress)
    fetched = _passes(steps)
    loaded = pipeline.load_run(
        engine, run_id, interval=(request.since, request.until),
        steps=[counts.stats.as_dict(), fetched],
    )  # fmt: skip
    out = counts.result(loaded.summary())
    for name in ("pages_fetched", "pages_failed", "pages_deferred", "articles_extracted",
                 "internal_errors"):  # fmt: skip
        out[name] = out.get(name, 0) + fetched[name]
    failures = Counter(out.get("failures") or {})
    failures.update(fetched["failures"])
    out["failures"] = dict(failures)
    if bugs:
        out["_bugs"] = bugs
    return out


#: Fetch passes in a shard: a page redirected to another host is fetched there next pass.
FETCH_PASSES = 3


def shard_family(run_id: str) -> str:
    """The host leases' family of a shard's walk and fetch passes (one after another).

    One family for both: a retry after a kill, whether the kill came in the walk or in a
    pass, takes the shard's hosts back at once (:mod:`ingest.store.leases`).
    """
    return "walk-" + hashlib.sha256(run_id.encode()).hexdigest()[:27]


def _fetch(
    engine: Engine,
    settings: Settings,
    request: BackfillRequest,
    feeds: Sequence[str],
    run_id: str,
    started: float,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Fetch the publisher's sitemap pages still pending, on whichever hosts they are now.

    Pages this walk queued and those an earlier backfill left (its limits, a stop), and
    those a redirect moved to another host (an apex to its www) in an earlier pass. On the
    hosts it holds, the publisher's live pages (its feeds' pending ones, older) are fetched
    too, first: a backfill holding a host does not hold up its live news.
    """
    steps: list[dict[str, Any]] = []
    fetched = 0
    for _ in range(FETCH_PASSES):
        left = request.budget_s - (time.monotonic() - started)
        hosts = [host for host, _ in queue.pending_hosts(
            engine, max_attempts=settings.max_fetch_attempts, at=_now(), feeds=feeds,
            sources=(SourceKind.SITEMAP,),
        )]  # fmt: skip
        if not hosts or left < 1.0 or fetched >= request.max_pages:
            break
        try:
            step = pipeline.fetch_shard(
                engine, settings, hosts, run_id, feeds=feeds,
                sources=(SourceKind.FEED, SourceKind.SITEMAP),
                max_pages=request.max_pages - fetched, budget_s=left, on_page=on_progress,
                family=shard_family(run_id),
            )  # fmt: skip
        except InternalError as exc:
            steps.append(dict(exc.counts))
            return steps, str(exc)
        steps.append(step)
        fetched += step.get("pages_fetched", 0) - step.get("pages_deferred", 0)
        if not step.get("pages_fetched") or not (
            step.get("pages_deferred") or step.get("failures", {}).get("redirected_offsite")
        ):
            break  # nothing taken up, or nothing moved or waits: another pass finds nothing
    return steps, None


def _passes(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The fetch passes as one step, each page counted once, by how it ended.

    A page deferred (or moved) in a pass and taken up in the next is extracted or failed;
    only the last pass's deferred pages wait. The failures are every pass's events.
    """
    out: dict[str, Any] = {}
    for name in ("articles_extracted", "pages_failed", "internal_errors"):
        out[name] = sum(step.get(name, 0) for step in steps)
    out["pages_deferred"] = steps[-1].get("pages_deferred", 0) if steps else 0
    out["pages_fetched"] = out["articles_extracted"] + out["pages_failed"] + out["pages_deferred"]
    failures: Counter[str] = Counter()
    for step in steps:
        failures.update(step.get("failures") or {})
    out["failures"] = dict(failures)
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
    # a try of the shard's own family: a retry after a kill takes the lease back at once
    token = leases.try_token(shard_family(run_id))
    deadline = time.monotonic() + request.budget_s
    # the lease outlasts the walk's last request: its budget, a deadline, a delay, a margin
    lease_s = settings.model_copy(update={"shard_budget_s": request.budget_s}).host_lease_s
    while True:  # a live crawl of the host ends within its lease: wait for it
        held = leases.claim_hosts(engine, token, [host], now=_now(), host_lease_s=lease_s)
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
    session: HostSession | None = None
    try:
        session = HostSession(settings, held[host], budget_s=max(0.0, deadline - time.monotonic()))
        with session:

            def get(url: str) -> bytes | Miss:
                if host_of(url) != host:
                    return Miss(Reason.REDIRECTED_OFFSITE, f"a sitemap on another host: {url}")
                result = session.get(url, limits, "sitemap")
                if isinstance(result, FetchFailure):
                    return Miss(result.reason, result.detail)
                return result.body

            if not session.open(root):  # it asked us to wait, or robots.txt is unreachable
                closed = session.closed
                reason = closed.reason.value if closed else Reason.SERVER_ERROR.value
                counts.misses.append(f"{host}: {reason} {closed.detail if closed else ''}"[:300])
                counts.stats.failures[reason] += 1
                return sitemaps.Walk()
            named = session.robots_sitemaps()
            # robots.txt's Sitemap: lines; without them, the usual paths (most are absent)
            roots = [u for u in sitemaps.candidates(root, named) if not named or u in named]
            found = sitemaps.walk(
                roots, get, since=request.since, until=request.until,
                max_files=request.max_sitemaps,
            )  # fmt: skip
    finally:  # the host's state (its last request) is saved and its lease freed
        queue.save_pages(
            engine, run_id, [], robots=session.records if session else [],
            hosts_done=[session.state if session else held[host]],
            max_attempts=settings.max_fetch_attempts, now=_now(), lease=token,
        )  # fmt: skip
    _count(found, host, named, roots, counts)
    return found


def _count(
    found: sitemaps.Walk, host: str, named: list[str], roots: list[str], counts: ShardCounts
) -> None:
    """The walk's counts and misses (a usual path tried in vain is no failure)."""
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
