"""Exact dedupe: one stored article per canonical URL and per body.

Decides, for a batch of normalised candidates, which are new articles and which are
copies of an article already stored (the ``known_*`` maps, read from the warehouse by the
composer) or of an earlier candidate in the same batch. The earliest-published copy of a
body is kept; a later copy is reported with the id of the article it duplicates.
An article whose id is already stored is *not* a duplicate: it is an update, and the
warehouse decides whether its content changed. Feed guids deduplicate earlier, at the
queue: an entry (feed, guid, canonical URL) is queued once. A guid re-used for another
URL is a new entry, because feeds that repeat one guid for every item are common; if its
page is the same story, the content hash says so here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from ingest.models import Article, DedupeResult, Duplicate, DuplicateKind

_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


def _order(article: Article) -> tuple[datetime, str]:
    return (article.published_at or _FAR_FUTURE, article.article_id)


def dedupe_batch(
    candidates: Sequence[Article], *, known_content: Mapping[str, str] | None = None
) -> DedupeResult:
    """Split ``candidates`` into unique articles and duplicates.

    Args:
        candidates: normalised articles of one batch, in any order.
        known_content: ``content_hash -> article_id`` of stored articles.
    """
    known_content = known_content or {}
    seen_ids: set[str] = set()
    by_hash: dict[str, str] = {}
    unique: list[Article] = []
    duplicates: list[Duplicate] = []
    for article in sorted(candidates, key=_order):
        verdict: tuple[DuplicateKind, str] | None = None
        if article.article_id in seen_ids:
            verdict = (DuplicateKind.CANONICAL_URL, article.article_id)
        else:
            other = by_hash.get(article.content_hash) or known_content.get(article.content_hash)
            if other and other != article.article_id:
                verdict = (DuplicateKind.CONTENT_HASH, other)
        if verdict is not None:
            duplicates.append(Duplicate(article, verdict[0], verdict[1]))
            continue
        seen_ids.add(article.article_id)
        by_hash.setdefault(article.content_hash, article.article_id)
        unique.append(article)
    return DedupeResult(unique=tuple(unique), duplicates=tuple(duplicates))
