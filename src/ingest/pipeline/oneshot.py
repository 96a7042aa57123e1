"""Every step in one process: what the DAG does, without Airflow (the CLI, benchmarks)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ingest import pipeline
from ingest.errors import InternalError, WarehouseUnavailable
from ingest.logs import get_logger
from ingest.pipeline import Shard, _now
from ingest.pipeline.loading import housekeeping, load_run
from ingest.pipeline.planning import plan_feed_shards, plan_page_shards
from ingest.pipeline.stories import cluster_stories
from ingest.pipeline.warehouse import prepare
from ingest.request import RunRequest
from ingest.stats import StepStats

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

    from ingest.models import LoadResult
    from ingest.settings import Settings

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What a whole run did, for the CLI and the demo."""

    run_id: str
    stats: StepStats
    load: LoadResult
    seconds: float


LOAD_ATTEMPTS = 3


class _PagesSoFar:
    """The run's page count over its fetch shards, for a progress bar of pages."""

    def __init__(self, progress: Callable[[str, int, int], None] | None) -> None:
        self.progress = progress
        self.before = (0, 0)  # pages done and claimed by the shards finished
        self.current = (0, 0)

    def page(self, done: int, total: int) -> None:
        self.current = (done, total)
        if self.progress is not None:
            self.progress("pages", self.before[0] + done, self.before[1] + total)

    def shard_done(self) -> None:
        self.before = (self.before[0] + self.current[0], self.before[1] + self.current[0])
        self.current = (0, 0)


def _retrying(step: Callable[[], LoadResult], what: str) -> LoadResult:
    """The CLI's own retry of a step whose transaction the warehouse dropped."""
    for attempt in range(1, LOAD_ATTEMPTS + 1):
        try:
            return step()
        except WarehouseUnavailable as exc:
            if attempt == LOAD_ATTEMPTS:
                raise
            log.warning("%s failed (%s); retrying (%d/%d)", what, exc, attempt, LOAD_ATTEMPTS)
            time.sleep(min(2.0**attempt, 30.0))
    raise AssertionError("unreachable")  # pragma: no cover


def run_once(
    engine: Engine,
    settings: Settings,
    feeds_file: Path,
    *,
    run_id: str | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    request: RunRequest | None = None,
) -> RunSummary:
    """Every step in one process: what the DAG does, without Airflow (CLI, benchmarks).

    As in the DAG, a step failing on a bug of ours does not stop the others (its outcomes
    are saved, the load runs); the first such error is raised at the end.
    """
    started = time.monotonic()
    now = _now()
    run_id = run_id or f"cli__{now.strftime('%Y%m%dT%H%M%S.%fZ')}"
    prepare(engine, feeds_file, now)
    bugs: list[InternalError] = []
    parts: list[dict[str, Any]] = []

    def step(kind: str, shards: Sequence[Shard], name: str, **extra: object) -> None:
        if progress:
            progress(kind, 0, len(shards))
        for index, shard in enumerate(shards):
            run = getattr(pipeline, name)  # its stages are imported when it has work to do
            try:
                parts.append(run(engine, settings, shard["items"], run_id, **extra))
            except InternalError as exc:
                bugs.append(exc)
                parts.append(exc.counts)  # the step's other items were saved and counted
            if progress:
                progress(kind, index + 1, len(shards))
            if kind == "fetch":
                pages.shard_done()

    request = request or RunRequest()
    due: dict[str, Any] = {"unpolled_since": now} if request.poll_now else {"due_at": now}
    step("poll", plan_feed_shards(engine, settings, now, request), "poll_shard", **due)
    pages = _PagesSoFar(progress)
    step("fetch", plan_page_shards(engine, settings, request), "fetch_shard", feeds=request.only,
         on_page=pages.page)  # fmt: skip
    loaded = _retrying(
        lambda: load_run(engine, run_id, interval=(now, _now()), steps=parts), f"load of {run_id}"
    )
    cluster_stories(engine, settings)
    housekeeping(engine, settings)
    if bugs:
        raise bugs[0]
    return RunSummary(run_id, StepStats.total(parts), loaded, time.monotonic() - started)


__all__ = ["LOAD_ATTEMPTS", "RunSummary", "run_once"]
