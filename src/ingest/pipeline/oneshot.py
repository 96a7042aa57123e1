"""Every step in one process: what the DAG does, without Airflow (the CLI, benchmarks)."""

from __future__ import annotations

import contextlib
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
from ingest.sandbox import Sandbox, warm_up
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


class _Steps:
    """A run's poll and fetch steps, shard by shard: their counts and the bugs they met.

    One sandbox serves every shard (opened at the first that needs it), so its workers
    start once.
    """

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        run_id: str,
        progress: Callable[[str, int, int], None] | None,
        stack: contextlib.ExitStack,
    ) -> None:
        self.engine, self.settings, self.run_id, self.progress = engine, settings, run_id, progress
        self.stack = stack
        self.parts: list[dict[str, Any]] = []
        self.bugs: list[InternalError] = []
        self.pages = _PagesSoFar(progress)
        self._box: Sandbox | None = None

    def box(self) -> Sandbox:
        if self._box is None:
            workers, memory_mb = self.settings.workers, self.settings.worker_memory_mb
            self._box = self.stack.enter_context(Sandbox(workers, memory_mb))
        return self._box

    def run(self, kind: str, shards: Sequence[Shard], name: str, **extra: object) -> None:
        """Run step ``name`` on each shard in turn."""
        if self.progress:
            self.progress(kind, 0, len(shards))
        if not shards:
            return
        step = getattr(pipeline, name)  # its stages are imported when it has work to do
        for index, shard in enumerate(shards):
            items = shard["items"]
            try:
                self.parts.append(step(self.engine, self.settings, items, self.run_id,
                                       box=self.box(), **extra))  # fmt: skip
            except InternalError as exc:
                self.bugs.append(exc)
                self.parts.append(exc.counts)  # the step's other items were saved and counted
            if self.progress:
                self.progress(kind, index + 1, len(shards))
            if kind == "fetch":
                self.pages.shard_done()


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
    warm_up()  # the workers' imports on the other core, during the migrations and registry
    prepare(engine, feeds_file, now)
    request = request or RunRequest()
    due: dict[str, Any] = {"unpolled_since": now} if request.poll_now else {"due_at": now}
    with contextlib.ExitStack() as stack:
        steps = _Steps(engine, settings, run_id, progress, stack)
        steps.run("poll", plan_feed_shards(engine, settings, now, request), "poll_shard", **due)
        steps.run("fetch", plan_page_shards(engine, settings, request), "fetch_shard",
                  feeds=request.only, on_page=steps.pages.page)  # fmt: skip
    loaded = _retrying(
        lambda: load_run(engine, run_id, interval=(now, _now()), steps=steps.parts),
        f"load of {run_id}",
    )
    cluster_stories(engine, settings)
    housekeeping(engine, settings)
    if steps.bugs:
        raise steps.bugs[0]
    return RunSummary(run_id, StepStats.total(steps.parts), loaded, time.monotonic() - started)


__all__ = ["LOAD_ATTEMPTS", "RunSummary", "run_once"]
