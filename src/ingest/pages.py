"""The page stage: a fetched page archived, extracted in the sandbox and normalised.

:class:`PageStage` turns one fetch into a page outcome; the crawler calls it from each
host's thread, so several pages are worked on at once (one per sandbox worker). The
worker spends the page's CPU (:mod:`ingest.pagework`: its archive records, extraction,
normalising); the stage writes the records and builds the outcome.
:meth:`PageStage.reextract` does the same for a page kept in the raw archive (what a
backfill re-processes). An extraction that meets a bug of ours ends as
``internal_error``: the page stays pending with no attempt spent (the run counts it as
failed, by that reason), and the composer fails its task.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ingest import pagework
from ingest.models import Article, Fetched, FetchFailure, Miss, PageJob, RawRef, Reason
from ingest.outcomes import FetchRecord, PageExtracted, PageFailed, PageOutcome

if TYPE_CHECKING:
    from ingest.archive import RawArchive
    from ingest.sandbox import Sandbox
    from ingest.settings import Settings


def _now() -> datetime:
    return datetime.now(UTC)


class PageStage:
    """Archive, extract and normalise pages with one sandbox and one archive."""

    def __init__(self, settings: Settings, box: Sandbox, raw: RawArchive) -> None:
        self.settings, self.box, self.raw = settings, box, raw
        self._bounds = pagework.Bounds(settings.max_title_chars, settings.max_body_chars)

    def __call__(
        self,
        job: PageJob,
        result: Fetched | FetchFailure,
        *,
        kind: str = "page",
        fetched_at: datetime | None = None,
    ) -> PageOutcome:
        """The outcome of fetching ``job``'s page with ``result``.

        A capture someone else fetched (CC-NEWS) is ``kind`` ``capture`` in the fetch log,
        and its article keeps the capture's time as ``fetched_at``.
        """
        now = _now()
        if isinstance(result, FetchFailure):
            return PageFailed(job, result.reason, result.detail, FetchRecord.of(kind, result, now))
        when = fetched_at or now
        done = self._work(job, result, now, fetched_at=fetched_at, archived_at=when)
        if isinstance(done, Miss):  # the worker overran, died or met a bug: archived here
            done = pagework.PageWork(None, done)
        pair = done.records
        raw = self.raw.append(result, pair, when) if pair else self.raw.put(result, when)
        outcome = done.outcome
        if isinstance(outcome, Miss):
            record = FetchRecord.of(kind, result, now, reason=outcome.reason, detail=outcome.detail)
            return PageFailed(job, outcome.reason, outcome.detail, record, raw=raw)
        fetch = FetchRecord.of(kind, result, now)
        return PageExtracted(job, fetch, outcome, raw=raw, signature=done.signature)

    def reextract(
        self,
        job: PageJob,
        *,
        final_url: str,
        raw_hash: str,
        content_type: str | None,
        fetched_at: datetime,
        ref: RawRef | None = None,
    ) -> Article | Miss:
        """The article a page kept in the archive gives today (its fetch time kept).

        ``ref``: where its record is (the index); without it, the archive of old is read.
        """
        body = self.raw.get(raw_hash, ref)
        if body is None:
            return Miss(Reason.ARCHIVE_MISSING, f"no archived page {raw_hash}")
        fetched = Fetched(
            url=job.link, final_url=final_url, status=200, content_type=content_type,
            body=body, body_hash=raw_hash, etag=None, last_modified=None, elapsed_s=0.0,
        )  # fmt: skip
        done = self._work(job, fetched, _now(), fetched_at=fetched_at)
        return done if isinstance(done, Miss) else done.outcome

    def _work(
        self,
        job: PageJob,
        fetched: Fetched,
        now: datetime,
        *,
        fetched_at: datetime | None = None,
        archived_at: datetime | None = None,
    ) -> pagework.PageWork | Miss:
        """The worker's work on a page; a Miss when the worker overran, died or met a bug."""
        # pagework.work_page is looked up at each call: the sandbox pickles it by name.
        result: pagework.PageWork | Miss = self.box.run(
            self.settings.extract_budget_s, pagework.work_page, job, fetched,
            now=now, bounds=self._bounds, fetched_at=fetched_at, archived_at=archived_at,
        )  # fmt: skip
        return result


__all__ = ["PageStage"]
