"""The load step: dedupe what a run staged and load it; keep the staging tables bounded."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ingest import dedupe, rekey
from ingest.logs import get_logger
from ingest.pipeline import _now
from ingest.pipeline.rekeying import rekey_urls
from ingest.stats import StepStats
from ingest.store import loads, staging

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from ingest.models import LoadResult
    from ingest.settings import Settings

log = get_logger(__name__)


def load_run(
    engine: Engine,
    run_id: str,
    *,
    interval: tuple[datetime | None, datetime | None] = (None, None),
    steps: Sequence[Mapping[str, Any] | None] = (),
    then: Callable[[Connection], None] | None = None,
) -> LoadResult:
    """Dedupe what the run staged (in memory and against the warehouse), then load it.

    ``steps`` are the dicts the run's other steps returned (a failed step's is None);
    their counters go to the ledger and their failures into the result's summary. The
    load is one transaction: if the warehouse connection drops it rolls back and raises
    :class:`~ingest.errors.WarehouseUnavailable`, and running it again is safe.
    """
    stats = StepStats.total([s for s in steps if s])
    rekey_urls(engine)  # no article is inserted beside its own stale copy
    found, signatures = staging.staged_with_signatures(engine, run_id)
    staged = [(q, rekey.current_article(a)) for q, a in found]
    counters = {name: getattr(stats, name) for name in loads.LEDGER_COUNTERS}
    return loads.load_batch(
        engine, run_id, staged, dedupe.dedupe_batch, now=_now(), interval=interval,
        counters=counters, failures=stats.failures, then=then, signatures=signatures,
    )  # fmt: skip


def housekeeping(engine: Engine, settings: Settings) -> None:
    """Keep the fetch log and abandoned staging rows bounded."""
    lines, staged = staging.prune(engine, _now() - timedelta(days=settings.fetch_log_keep_days))
    if lines or staged:
        log.info("pruned %d fetch-log lines and %d abandoned staged articles", lines, staged)


__all__ = ["housekeeping", "load_run"]
