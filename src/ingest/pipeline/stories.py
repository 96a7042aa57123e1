"""The cluster steps: put articles in their story clusters (near-duplicates), or again."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from ingest import neardup
from ingest.logs import get_logger
from ingest.pipeline import _now
from ingest.store import clusters, recluster

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.models import ClusterResult, ReclusterResult
    from ingest.settings import Settings

log = get_logger(__name__)


def cluster_stories(engine: Engine, settings: Settings) -> ClusterResult:
    """Sign every new article and put it in its story cluster (near-duplicates)."""
    clusterer = neardup.MinHashClusterer(window=timedelta(days=settings.neardup_window_days))
    result = clusters.cluster_pending(engine, clusterer, now=_now(), batch=settings.cluster_batch)
    log.info(
        "clustered %d articles: %d joined a story, %d stories merged into another",
        result.signed, result.joined, result.merged,
    )  # fmt: skip
    return result


def recluster_stories(engine: Engine, settings: Settings, *, dry_run: bool) -> ReclusterResult:
    """Decide every stored article's story cluster again by the current rules."""
    clusterer = neardup.MinHashClusterer(window=timedelta(days=settings.neardup_window_days))
    return recluster.recluster(
        engine, clusterer, now=_now(), batch=settings.cluster_batch, dry_run=dry_run
    )


__all__ = ["cluster_stories", "recluster_stories"]
