"""The page stage: a fetched page archived, extracted in the sandbox and normalised.

:class:`PageStage` turns one fetch into a page outcome; the crawler calls it from each
host's thread, so several pages are extracted at once (one per sandbox worker).
:meth:`PageStage.reextract` does the same for a page kept in the raw archive (what a
backfill re-processes). An extraction that meets a bug of ours ends as
``internal_error``: the page stays pending with no attempt spent (the run counts it as
failed, by that reason), and the composer fails its task.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ingest import extract, normalise
from ingest.models import (
    Article,
    Extracted,
    Fetched,
    FetchFailure,
    Miss,
    PageJob,
    RawRef,
    Reason,
)
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
        raw = self.raw.put(result, fetched_at or now)
        extracted = self._extract(result.body, result.content_type, result.final_url)
        if isinstance(extracted, Miss):
            record = FetchRecord.of(
                kind, result, now, reason=extracted.reason, detail=extracted.detail
            )
            return PageFailed(job, extracted.reason, extracted.detail, record, raw=raw)
        article = self._normalise(job, result, extracted, now, fetched_at=fetched_at)
        return PageExtracted(job, FetchRecord.of(kind, result, now), article, raw=raw)

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
        extracted = self._extract(body, content_type, final_url)
        if isinstance(extracted, Miss):
            return extracted
        fetched = Fetched(
            url=job.link, final_url=final_url, status=200, content_type=content_type,
            body=body, body_hash=raw_hash, etag=None, last_modified=None, elapsed_s=0.0,
        )  # fmt: skip
        return self._normalise(job, fetched, extracted, _now(), fetched_at=fetched_at)

    def _extract(self, body: bytes, content_type: str | None, url: str) -> Extracted | Miss:
        # extract.extract_page is looked up at each call: the sandbox pickles it by name.
        budget = self.settings.extract_budget_s
        result: Extracted | Miss = self.box.run(
            budget, extract.extract_page, body, content_type, url
        )
        return result

    def _normalise(
        self,
        job: PageJob,
        fetched: Fetched,
        extracted: Extracted,
        now: datetime,
        fetched_at: datetime | None = None,
    ) -> Article:
        return normalise.normalise(
            job, fetched, extracted, now=now, fetched_at=fetched_at,
            max_title_chars=self.settings.max_title_chars,
            max_body_chars=self.settings.max_body_chars,
        )  # fmt: skip


__all__ = ["PageStage"]
