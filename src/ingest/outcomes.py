"""What a stage returns: one value per item, which the store saves in batches.

A poll of a feed ends in a :data:`PollOutcome`, a page in a :data:`PageOutcome`. Each
carries everything the store needs to record it (the fetch-log line included), so the
composer reads like the DAG: run the stage, then save its outcomes in one transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.models import (
    Article,
    FeedEntry,
    Fetched,
    FetchFailure,
    PageJob,
    RawRef,
    Reason,
    ScheduledPoll,
    SourceRef,
)

MAX_DETAIL_CHARS = 500
MAX_URL_CHARS = 4096


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """One HTTP request as the fetch log keeps it (``fetch_log``)."""

    kind: str  # "feed", "page", "robots", or "entry" (a link refused before any request)
    url: str
    fetched_at: datetime
    final_url: str | None = None
    status: int | None = None
    bytes: int | None = None
    elapsed_ms: int = 0
    reason: Reason | None = None
    detail: str | None = None

    @classmethod
    def of(
        cls,
        kind: str,
        result: Fetched | FetchFailure,
        at: datetime,
        *,
        reason: Reason | None = None,
        detail: str = "",
    ) -> FetchRecord:
        """The record of a fetch; ``reason``/``detail`` note what was wrong with a body."""
        if isinstance(result, FetchFailure):
            reason, detail = result.reason, result.detail
        return cls(
            kind=kind,
            url=result.url[:MAX_URL_CHARS],
            fetched_at=at,
            final_url=result.final_url,
            status=result.status,
            bytes=len(result.body) if isinstance(result, Fetched) else None,
            elapsed_ms=int(result.elapsed_s * 1000),
            reason=reason,
            detail=detail[:MAX_DETAIL_CHARS] or None,
        )

    @classmethod
    def refused(cls, kind: str, url: str, reason: Reason, detail: str, at: datetime) -> FetchRecord:
        """A request we did not make (robots.txt forbids it), logged with its reason."""
        return cls(kind, url[:MAX_URL_CHARS], at, reason=reason, detail=detail[:MAX_DETAIL_CHARS])


# --------------------------------------------------------------------------- polls


@dataclass(frozen=True, slots=True)
class QueuedEntry:
    """A feed entry with the identity it is queued under."""

    entry: FeedEntry
    canonical_url: str
    entry_id: str
    source: SourceRef | None = None  # None: the feed itself listed it


@dataclass(frozen=True, slots=True)
class Polled:
    """A feed that answered (a 304 included): what to remember and when to poll next.

    ``etag``, ``last_modified``, ``body_hash`` and ``ttl_minutes`` are the values to keep
    (already merged with what was stored); ``seen`` counts the entries the feed listed,
    ``new`` those of ``entries`` not queued before.
    """

    feed_key: str
    at: datetime
    fetch: FetchRecord
    status: int
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    ttl_minutes: int | None
    plan: ScheduledPoll
    unchanged: bool = False  # a 304, or the same body as last time: not parsed again
    entries: tuple[QueuedEntry, ...] = ()
    refused: tuple[tuple[FeedEntry, str], ...] = ()  # links we will not queue, with reasons
    seen: int = 0
    new: int = 0
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class PollFailed:
    """A feed poll that failed, with its reason.

    ``plan`` is the back-off; None for a bug of ours (``internal_error``): the feed's
    schedule and failure count are left alone, so it stays due and never turns broken.
    """

    feed_key: str
    at: datetime
    reason: Reason
    detail: str
    fetch: FetchRecord | None = None
    status: int | None = None
    plan: ScheduledPoll | None = None


PollOutcome = Polled | PollFailed


# --------------------------------------------------------------------------- pages


@dataclass(frozen=True, slots=True)
class PageExtracted:
    """A page that became an article (to be staged, then deduplicated and loaded)."""

    job: PageJob
    fetch: FetchRecord
    article: Article
    raw: RawRef | None = None  # where the archive keeps the page
    signature: Mapping[str, Any] | None = None  # made ahead (ingest.neardup.to_json)


@dataclass(frozen=True, slots=True)
class PageFailed:
    """A page that did not become an article.

    The reason decides what happens to the page (:class:`~ingest.models.Reason`): a soft
    one is retried until its attempts run out, a hard one is failed at once, and a bug of
    ours leaves the page pending without using an attempt.
    """

    job: PageJob
    reason: Reason
    detail: str
    fetch: FetchRecord | None = None
    raw: RawRef | None = None  # where the archive keeps the page (one that was fetched)


@dataclass(frozen=True, slots=True)
class PageDeferred:
    """A page its host asked us not to fetch yet (429, 503 with Retry-After): it waits."""

    job: PageJob
    fetch: FetchRecord


@dataclass(frozen=True, slots=True)
class PageMoved:
    """A page that redirects to another host: re-queued there, for that host's crawler."""

    job: PageJob
    target: str
    fetch: FetchRecord


PageOutcome = PageExtracted | PageFailed | PageDeferred | PageMoved


__all__ = [
    "FetchRecord", "PageDeferred", "PageExtracted", "PageFailed", "PageMoved",
    "PageOutcome", "PollFailed", "PollOutcome", "Polled", "QueuedEntry",
]  # fmt: skip
