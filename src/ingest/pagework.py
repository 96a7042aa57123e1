"""What a sandbox worker does with one fetched page: its WARC records and its article.

The page stage (:mod:`ingest.pages`) hands each fetched page to a worker of the sandbox
(:mod:`ingest.sandbox`), which spends there all the CPU the page costs past its HTTP:
the raw archive's two records (encoded and compressed), the extraction, the
normalising, and the article's near-duplicate signature (the clustering pass, one task
holding the warehouse's lock, then only places it). The task's main process keeps the requests, the archive file's write and
the warehouse's: one interpreter, whose share per page bounds how far a fetch task
scales with workers (``bench/bench_cores.py`` measures it).

Everything here is a pure function of its arguments, run under the sandbox's time and
memory budget: a page that overruns it loses its worker, and the stage then writes the
page's records itself (:meth:`ingest.pages.PageStage.__call__`), so the archive keeps
every page fetched.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest import archive, extract, normalise
from ingest.models import Article, Extracted, Fetched, Miss, PageJob


@dataclass(frozen=True, slots=True)
class Bounds:
    """How long an article's title and body may be (the settings')."""

    max_title_chars: int
    max_body_chars: int


@dataclass(frozen=True, slots=True)
class PageWork:
    """A worker's work on a page: its records, its article (or why none), its signature.

    ``records``: when asked for; ``signature``: :func:`ingest.neardup.to_json`'s.
    """

    records: archive.Records | None
    outcome: Article | Miss
    signature: Mapping[str, Any] | None = None


def work_page(
    job: PageJob,
    fetched: Fetched,
    *,
    now: datetime,
    bounds: Bounds,
    fetched_at: datetime | None = None,
    archived_at: datetime | None = None,
) -> PageWork:
    """The records of ``fetched``, its normalised article and the article's signature.

    The records only when ``archived_at`` (their time) is given. ``now``: the extraction's time; ``fetched_at``: the article's fetch time when it is not
    ``now`` (a capture someone else made, a page re-extracted from the archive).
    """
    records = archive.records(fetched, archived_at) if archived_at is not None else None
    extracted = extract.extract_page(fetched.body, fetched.content_type, fetched.final_url)
    if not isinstance(extracted, Extracted):
        return PageWork(records, extracted)
    article = normalise.normalise(
        job, fetched, extracted, now=now, fetched_at=fetched_at,
        max_title_chars=bounds.max_title_chars, max_body_chars=bounds.max_body_chars,
    )  # fmt: skip
    # numpy only where signing happens: the fetch task's own process never loads it
    from ingest import neardup  # noqa: PLC0415

    return PageWork(records, article, neardup.to_json(neardup.sign(article.title, article.body)))


__all__ = ["Bounds", "PageWork", "work_page"]
