"""Backfills: a publisher's history from its news sitemaps, from CC-NEWS or from our archive.

The composer of history, as :mod:`ingest.pipeline` is of live runs; the DAG
``news_backfill`` and ``ingest backfill`` run the same steps::

    plan (shards: one per publisher's site, or per WARC file) -> shard* -> finish

* **sitemaps** (leads): a shard walks one publisher's sitemaps through our fetcher, under
  the host's lease and politeness (:class:`ingest.crawl.HostSession`), queues the pages
  dated in range as entries of the publisher's feed (source ``sitemap``), fetches them as
  a live run would (leases, robots.txt, politeness: :func:`ingest.pipeline.fetch_shard`),
  and loads them.
* **ccnews** (captures): a shard streams one CC-NEWS WARC file, keeps the responses on a
  publisher's host captured in range, extracts them in the sandbox and loads them; the file
  is marked done in the load's transaction (:mod:`ingest.store.backfills`), so a killed
  backfill resumes after the files it loaded.
* **archive**: the pages we captured in the range, re-extracted from the raw archive.

Each shard loads under its own id (``<run id>/<n>``), so parallel shards never load each
other's pages and each ledger row counts its own shard. History lands in the same tables as
live runs: entries, pages and articles are keyed, so nothing is stored twice, and
:func:`finish` puts the new articles in their story clusters, live ones included. A page
already stored (by a live run, or an earlier backfill) is never fetched or extracted again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ingest import pipeline
from ingest.backfill.counts import ShardCounts, totals_of
from ingest.backfill.counts import now as _now
from ingest.backfill.request import SOURCES, BackfillRequest, Publisher, Source, publishers
from ingest.errors import ConfigError, InternalError
from ingest.logs import get_logger
from ingest.store import engine as db
from ingest.store import queue
from ingest.urls import host_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.backfill.ccnews import CCNEWS_TRIES
    from ingest.settings import Settings

log = get_logger(__name__)


# --------------------------------------------------------------------------- plan


def plan(engine: Engine, settings: Settings, request: BackfillRequest) -> dict[str, Any]:
    """The shards of a backfill: one per publisher (sitemaps), per WARC file (CC-NEWS).

    Returns ``{"shards": [...], "notes": [...]}``; each shard is a dict with a ``label``
    (the UI's map index), and the notes say what the plan passed over (a month not
    published yet, a listing that failed, files done before).
    """
    chosen = publishers(engine, request)
    if request.source == "archive":
        shard = {"kind": "archive", "label": f"archive {request.since:%Y-%m-%d}.."
                 f"{request.until:%Y-%m-%d}"}  # fmt: skip
        return {"shards": [shard], "notes": []}
    if request.source == "sitemaps":
        if len(chosen) > settings.max_shards:  # a shard each; Airflow maps at most 1024
            raise ConfigError(
                f"{len(chosen)} publishers make more shards than INGEST_MAX_SHARDS "
                f"({settings.max_shards}): choose some of them (sites or feeds) at a time"
            )
        shards = [
            {"kind": "sitemaps", "label": host_of(p.root) or p.root, "root": p.root,
             "hosts": list(p.hosts), "feeds": list(p.feeds)}
            for p in chosen
        ]  # fmt: skip
        return {"shards": shards, "notes": []}
    from ingest.backfill import ccnews as ccnews_shards  # noqa: PLC0415 - see __getattr__

    return ccnews_shards.plan(engine, settings, request, chosen)


# --------------------------------------------------------------------------- shards


def run_shard(
    engine: Engine,
    settings: Settings,
    request: BackfillRequest,
    shard: dict[str, Any],
    run_id: str,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """One shard of a backfill, loaded under ``run_id`` (the shard's own); its counts.

    Raises :class:`~ingest.errors.InternalError` after saving and loading the rest when an
    item met a bug of ours.
    """
    kind = shard["kind"]
    if kind == "sitemaps":
        from ingest.backfill import sitemap as sitemap_shards  # noqa: PLC0415 - see __getattr__

        result = sitemap_shards.shard(engine, settings, request, shard, run_id, on_progress)
    elif kind == "ccnews":
        from ingest.backfill import ccnews as ccnews_shards  # noqa: PLC0415 - see __getattr__

        result = ccnews_shards.shard(engine, settings, request, shard, run_id, on_progress)
    elif kind == "archive":
        result = _archive_shard(engine, settings, request, run_id)
    else:
        raise ConfigError(f"unknown backfill shard kind {kind!r}")
    result["label"] = shard["label"]
    bugs = result.pop("_bugs", None)
    if bugs:
        raise InternalError(bugs, counts=result)
    return result


def _archive_shard(
    engine: Engine, settings: Settings, request: BackfillRequest, run_id: str
) -> dict[str, Any]:
    counts = ShardCounts()
    feeds = _archive_feeds(engine, request)
    end = request.until + timedelta(microseconds=1)
    if request.dry_run:
        counts.extra["would_read"] = sum(
            len(batch) for batch in queue.captured_between(engine, request.since, end, feeds=feeds)
        )
        return counts.result(None)
    bugs = None
    try:
        step = pipeline.reprocess_interval(
            engine, settings, request.since, end, run_id, feeds=feeds
        )
    except InternalError as exc:
        step, bugs = exc.counts, str(exc)
    loaded = pipeline.load_run(
        engine, run_id, interval=(request.since, request.until), steps=[step]
    )
    out = {**step, **counts.result(loaded.summary())}
    for name in ("pages_fetched", "pages_failed", "articles_extracted", "internal_errors"):
        out[name] = step.get(name, 0)
    out["failures"] = step.get("failures", {})
    out.pop("_bugs", None)
    if bugs:
        out["_bugs"] = bugs
    return out


def _archive_feeds(engine: Engine, request: BackfillRequest) -> list[str] | None:
    """The feeds whose stored pages an archive backfill re-extracts (None: every page).

    Every feed of each chosen publisher (a page is stored under one of them), not only the
    feeds named: a site's feeds are one publisher.
    """
    if not request.feeds and not request.sites:
        return None  # every page in the range, of feeds removed since too
    roots = {p.root for p in publishers(engine, request)}
    every = publishers(engine, dataclasses.replace(request, feeds=(), sites=()))
    return sorted(key for p in every if p.root in roots for key in p.feeds)


# --------------------------------------------------------------------------- finish


def finish(
    engine: Engine, settings: Settings, results: Sequence[dict[str, Any] | None]
) -> dict[str, Any]:
    """After the shards: cluster the new articles (with live ones); the backfill's totals."""
    done = [r for r in results if r]
    totals = totals_of(done)
    if totals["inserted"] or totals["updated"]:
        pipeline.cluster_stories(engine, settings)
    return totals


def shard_run_id(run_id: str, index: int) -> str:
    """The id a shard loads under: its run's, and its place."""
    return f"{run_id}/{index:04d}"


def run_backfill(
    engine: Engine,
    settings: Settings,
    request: BackfillRequest,
    *,
    run_id: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    raise_bugs: bool = True,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str]]:
    """A whole backfill in one process (the CLI): plan, each shard, finish.

    Returns the totals, each shard's counts and the plan's notes. A shard whose items met
    a bug of ours does not stop the others; the first such error is raised at the end
    (unless not ``raise_bugs``: the caller reads ``internal_errors`` in the totals).
    """
    run_id = run_id or f"backfill__{_now():%Y%m%dT%H%M%S.%fZ}"
    db.upgrade(engine)
    planned = plan(engine, settings, request)
    shards: list[dict[str, Any]] = planned["shards"]
    results: list[dict[str, Any]] = []
    bugs: list[InternalError] = []
    if progress:
        progress("shards", 0, len(shards))
    for index, shard in enumerate(shards):
        try:
            results.append(run_shard(engine, settings, request, shard, shard_run_id(run_id, index),
                                     on_progress=_progress_of(progress)))  # fmt: skip
        except InternalError as exc:
            bugs.append(exc)
            results.append({**exc.counts, "label": shard["label"]})
        if progress:
            progress("shards", index + 1, len(shards))
    totals = finish(engine, settings, results) if not request.dry_run else totals_of(results)
    if bugs and raise_bugs:
        raise bugs[0]
    return totals, results, planned["notes"]


def _progress_of(
    progress: Callable[[str, int, int], None] | None,
) -> Callable[[int, int], None] | None:
    if progress is None:
        return None
    return lambda done, total: progress("items", done, total)


# The shard modules (ingest.backfill.sitemap, .ccnews) are imported when a shard of theirs
# runs: they import the fetcher, the archive and the extractor, which the DAG's parse (its
# form's request) and its prepare, plan and finish tasks do not need.
def __getattr__(name: str) -> Any:  # noqa: ANN401 - a constant of a shard module
    if name == "CCNEWS_TRIES":
        from ingest.backfill import ccnews as ccnews_shards  # noqa: PLC0415 - see above

        return ccnews_shards.CCNEWS_TRIES
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CCNEWS_TRIES", "SOURCES", "BackfillRequest", "Publisher", "Source", "finish", "plan",
    "publishers", "run_backfill", "run_shard", "shard_run_id", "totals_of",
]  # fmt: skip
