"""What each step did, counted from its outcomes; summed across shards for the ledger.

A step's :class:`StepStats` travels as a plain dict (:meth:`StepStats.as_dict`, small
enough for XCom); :meth:`StepStats.total` sums those dicts, whichever steps sent them.
Outcomes that met a bug of ours are counted, and :meth:`StepStats.raise_for_bugs` turns
them into the step's failure once its other outcomes are saved.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.errors import InternalError
from ingest.logs import get_logger
from ingest.models import Reason
from ingest.outcomes import (
    PageDeferred,
    PageExtracted,
    PageFailed,
    PageMoved,
    PageOutcome,
    Polled,
    PollOutcome,
)

log = get_logger(__name__)

MAX_BUGS_SHOWN = 5


@dataclass(slots=True)
class StepStats:
    """Counters one step reports."""

    feeds_polled: int = 0
    feeds_failed: int = 0
    feeds_unchanged: int = 0
    entries_seen: int = 0
    entries_new: int = 0
    # every page the step took up is one of: extracted, failed or deferred (or moved)
    pages_fetched: int = 0
    pages_failed: int = 0
    pages_deferred: int = 0
    articles_extracted: int = 0
    internal_errors: int = 0  # items that met a bug of ours (they wait for the fix)
    failures: Counter[str] = field(default_factory=Counter)
    bugs: list[str] = field(default_factory=list)  # the first few, for the step's error

    def add_poll(self, outcome: PollOutcome) -> None:
        """Count one feed poll."""
        self.feeds_polled += 1
        if isinstance(outcome, Polled):
            self.feeds_unchanged += outcome.unchanged
            self.entries_seen += outcome.seen
            self.entries_new += outcome.new
            self.failures.update(reason for _, reason in outcome.refused)
            return
        self.feeds_failed += 1
        self.failures[outcome.reason.value] += 1
        if outcome.reason is Reason.INTERNAL_ERROR:
            self.bug(f"feed {outcome.feed_key}: {outcome.detail}")

    def add_page(self, outcome: PageOutcome) -> None:
        """Count one page: taken up, then extracted, failed or deferred (moved counts so)."""
        self.pages_fetched += 1
        if isinstance(outcome, PageExtracted):
            self.articles_extracted += 1
        elif isinstance(outcome, PageFailed):
            self.pages_failed += 1
            self.failures[outcome.reason.value] += 1
            if outcome.reason is Reason.INTERNAL_ERROR:
                self.bug(f"page {outcome.job.link}: {outcome.detail}")
        elif isinstance(outcome, PageDeferred | PageMoved):
            self.pages_deferred += 1
            reason = outcome.fetch.reason
            self.failures[reason.value if reason else "deferred"] += 1

    def bug(self, what: str) -> None:
        """Count an item (or a host's crawl) that met a bug of ours."""
        self.internal_errors += 1
        if len(self.bugs) < MAX_BUGS_SHOWN:
            self.bugs.append(what)

    def raise_for_bugs(self, step: str) -> None:
        """Fail the step when anything met a bug of ours (call after saving the rest)."""
        if self.internal_errors:
            shown = "; ".join(self.bugs)
            more = self.internal_errors - len(self.bugs)
            raise InternalError(
                f"{step}: {self.internal_errors} item(s) met a bug of ours and were left to "
                f"retry after the fix (traces in the log): {shown}"
                + (f"; and {more} more" if more > 0 else ""),
                counts=self.as_dict(),
            )

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able form (for XCom)."""
        out: dict[str, Any] = {
            k: getattr(self, k) for k in self.__slots__ if k not in ("failures", "bugs")
        }
        out["failures"] = dict(self.failures)
        return out

    @classmethod
    def total(cls, parts: Sequence[Mapping[str, Any]]) -> StepStats:
        """Sum the dict forms of several stats."""
        total = cls()
        for part in parts:
            for key, value in part.items():
                if key == "failures":
                    total.failures.update(value)
                elif key in cls.__slots__ and key != "bugs":
                    setattr(total, key, getattr(total, key) + int(value))
        return total


__all__ = ["StepStats"]
