"""A backfill shard's counts, and a backfill's totals."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.logs import get_logger
from ingest.stats import StepStats

log = get_logger(__name__)


def now() -> datetime:
    """The time now, in UTC."""
    return datetime.now(UTC)


@dataclass(slots=True)
class ShardCounts:
    """A shard's own counters, beside the step's (pages, failures)."""

    stats: StepStats = field(default_factory=StepStats)
    extra: Counter[str] = field(default_factory=Counter)
    misses: list[str] = field(default_factory=list)

    def result(self, loaded: dict[str, Any] | None) -> dict[str, Any]:
        """The shard's counts as a plain dict, with what its load did (``load``)."""
        out = self.stats.as_dict()
        out.update(self.extra)
        out["misses"] = self.misses[:20]
        out["load"] = loaded
        if self.stats.internal_errors:
            out["_bugs"] = "; ".join(self.stats.bugs)
        return out


def totals_of(results: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The shards' counts added up (failures by reason too), and what the loads stored."""
    totals: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for result in results:
        for name, value in result.items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[name] += value
        failures.update(result.get("failures") or {})
        for name, value in (result.get("load") or {}).items():
            if isinstance(value, int):
                totals[name] += value
    out: dict[str, Any] = {name: totals[name] for name in sorted(totals)}
    for name in ("inserted", "updated", "unchanged", "duplicates", "rejected", "rows_in"):
        out.setdefault(name, 0)
    out["failures"] = dict(sorted(failures.items()))
    out["shards"] = len(results)
    return out
