"""The composer: runs each stage, then saves its outcomes. Used by the DAG and the CLI.

Each public function is one step a DAG task (or the CLI) runs: plain arguments in, small
plain values out (what crosses XCom stays small; bodies go through the warehouse).

    prepare -> plan_feed_shards -> poll_shard* -> plan_page_shards -> fetch_shard* -> load_run
                                                       reprocess_interval (backfills) -^
    load_run -> cluster_stories

A step whose items met a bug of ours saves every outcome first, then raises
:class:`~ingest.errors.InternalError`, so its task shows red and is retried. Retrying a
step is the caller's job: Airflow's for the DAG, :func:`run_once`'s for the CLI.

Each step lives in a module of this package with the stages it runs, and this package
imports a step's module only when the step is first asked for (``from ingest.pipeline
import poll_shard``): every Airflow task starts, and a task imports only its own step's
stages (no extractor for a poll, no MinHash for a load; docs/architecture.md, "Cheap
starts"). tests/unit/test_startup.py checks what each step loads.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from ingest.pipeline.checks import check_run
    from ingest.pipeline.fetching import PageProgress, fetch_shard
    from ingest.pipeline.loading import housekeeping, load_run
    from ingest.pipeline.oneshot import LOAD_ATTEMPTS, RunSummary, run_once
    from ingest.pipeline.planning import plan_feed_shards, plan_page_shards
    from ingest.pipeline.polling import poll_shard
    from ingest.pipeline.rekeying import rekey_urls
    from ingest.pipeline.reprocessing import reprocess_interval
    from ingest.pipeline.stories import cluster_stories, recluster_stories
    from ingest.pipeline.warehouse import prepare


class Shard(TypedDict):
    """A unit of mapped work: a few feed keys or hosts, and a label for the UI."""

    items: list[str]
    label: str
    feeds: NotRequired[list[str]]  # a page shard of a run asked for some feeds only


def _now() -> datetime:
    return datetime.now(UTC)


def _shards(items: Sequence[str], size: int, most: int | None = None) -> list[Shard]:
    """``items`` in shards of ``size``; larger shards when that would make more than ``most``.

    Airflow fails a task whose list maps more than ``[core] max_map_length`` (1024) task
    instances, and every mapped instance costs a task's start: a plan never makes more
    than ``most`` shards.
    """
    if most is not None and len(items) > size * most:
        size = -(-len(items) // most)  # the ceiling: ``most`` shards at the most
    out: list[Shard] = []
    for start in range(0, len(items), size):
        chunk = list(items[start : start + size])
        label = ", ".join(chunk) if len(chunk) <= 3 else f"{chunk[0]} .. {chunk[-1]} ({len(chunk)})"  # noqa: PLR2004 - label width
        out.append(Shard(items=chunk, label=label[:200]))
    return out


#: Which module of this package holds each step (and what the CLI and tests use).
_STEPS = {
    "prepare": "warehouse", "rekey_urls": "rekeying",
    "plan_feed_shards": "planning", "plan_page_shards": "planning",
    "poll_shard": "polling",
    "fetch_shard": "fetching", "PageProgress": "fetching",
    "reprocess_interval": "reprocessing",
    "load_run": "loading", "housekeeping": "loading",
    "cluster_stories": "stories", "recluster_stories": "stories",
    "check_run": "checks",
    "run_once": "oneshot", "RunSummary": "oneshot", "LOAD_ATTEMPTS": "oneshot",
    "_retrying": "oneshot",
}  # fmt: skip


def __getattr__(name: str) -> Any:  # noqa: ANN401 - a step, a record or a constant
    """A step, imported with its module's stages when first asked for (PEP 562)."""
    module = _STEPS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # asked once: later lookups find it here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_STEPS})


__all__ = [
    "LOAD_ATTEMPTS", "PageProgress", "RunSummary", "Shard", "check_run", "cluster_stories",
    "fetch_shard", "housekeeping", "load_run", "plan_feed_shards", "plan_page_shards",
    "poll_shard", "prepare", "recluster_stories", "rekey_urls", "reprocess_interval",
    "run_once",
]  # fmt: skip
