"""The reprocess step: re-extract the pages an interval captured, from the raw archive."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ingest.logs import get_logger
from ingest.models import Miss, Reason
from ingest.pipeline import _now
from ingest.stats import StepStats

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.models import Article
    from ingest.settings import Settings

log = get_logger(__name__)


def reprocess_interval(
    engine: Engine, settings: Settings, start: datetime, end: datetime, run_id: str,
    feeds: Sequence[str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Re-extract the pages captured in ``[start, end)`` from the raw archive; stage them.

    Of ``feeds`` only, when given; the load leaves alone the ones that come out the same.
    """
    # Imported here, not above: every live run's reprocess task imports this step and
    # returns at once (only backfills reprocess); it should not load the extractor.
    from ingest import archive  # noqa: PLC0415 - see above
    from ingest.pages import PageStage  # noqa: PLC0415 - see above
    from ingest.sandbox import Sandbox  # noqa: PLC0415 - see above
    from ingest.store import queue, staging  # noqa: PLC0415 - see above

    stats = StepStats()
    with (
        archive.RawArchive(settings.archive_root) as raw,
        Sandbox(settings.workers, settings.worker_memory_mb) as box,
    ):
        stage = PageStage(settings, box, raw)
        pages = queue.captured_between(engine, start, end, batch=settings.flush_every * 20,
                                       feeds=feeds)  # fmt: skip
        for captures in pages:
            staged: list[tuple[str, Article]] = []
            for job, final_url, raw_hash, content_type, fetched_at, ref in captures:
                try:
                    result = stage.reextract(
                        job, final_url=final_url, raw_hash=raw_hash,
                        content_type=content_type, fetched_at=fetched_at, ref=ref,
                    )  # fmt: skip
                except Exception as exc:  # a bug of ours: this page only, the step fails
                    log.exception("re-extraction of %s met a bug of ours", job.canonical_url)
                    result = Miss(Reason.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}"[:300])
                stats.pages_fetched += 1  # a capture taken up: extracted or failed
                if isinstance(result, Miss):
                    stats.pages_failed += 1
                    stats.failures[result.reason.value] += 1
                    if result.reason is Reason.INTERNAL_ERROR:
                        stats.bug(f"re-extraction of {job.canonical_url}: {result.detail}")
                    continue
                staged.append((job.canonical_url, result))
            staging.stage_articles(engine, run_id, staged, _now())
            stats.articles_extracted += len(staged)
    log.info(
        "reprocessed %d archived pages captured in [%s, %s): %d extracted, %d failed",
        stats.pages_fetched, start, end, stats.articles_extracted, stats.pages_failed,
    )  # fmt: skip
    stats.raise_for_bugs("reprocess")
    return stats.as_dict()


__all__ = ["reprocess_interval"]
