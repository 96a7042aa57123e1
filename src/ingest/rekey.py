"""Re-keying policy: what new URL rules do to articles and entries stored under older ones.

An article's key is the hash of its canonical URL, so new URL rules (a new
:data:`ingest.urls.RULES_VERSION`) can change both. The store applies these rules to the
stale rows (:func:`ingest.store.rekeys.rekey`; ``ingest rekey``):

- an article whose canonical URL does not change only gets the new rules version;
- an article whose canonical URL changes **moves** to its new key: its feed entries,
  its signature and band rows follow it; its cluster id stays (a cluster id is a label);
- articles whose canonical URLs now coincide are **merged** into one row under the new
  key: the content (and url, feed, guid) of the most recently fetched of them, the
  earliest ``first_seen_at`` and the latest ``last_seen_at``; the feed entries of all of
  them point at it; it keeps the signature of the row whose content it took. Being one
  article, their story clusters become one: the cluster of the member seen first;
- every move and merge is recorded in ``article_rekeys`` (old id -> new id, earlier
  records re-pointed), so a consumer holding an old id can follow it in one step;
- a canonical URL the new rules refuse keeps its row, key and old version, and is
  logged and counted (``articles_rejected``).

Feed entries are re-keyed from their links the same way: two entries of one feed with
one guid whose links now canonicalise the same are merged (the one further along the
queue is kept); a pending entry whose new URL is already a stored article becomes
``known`` and is not fetched again. An entry whose link was refused stays as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ingest.errors import UrlRejected
from ingest.models import Article, EntryState
from ingest.normalise import source_of
from ingest.urls import RULES_VERSION, article_id_for, canonical_url

#: Entry failures that mean "this link is not a URL we take": kept, not re-keyed.
URL_FAILURES = frozenset({"bad_url", "bad_scheme", "url_too_long"})
#: Which of two merged entries is kept: the one further along the queue.
STATE_RANK = {
    EntryState.STORED.value: 0,
    EntryState.DUPLICATE.value: 1,
    EntryState.KNOWN.value: 2,
    EntryState.PENDING.value: 3,
    EntryState.FAILED.value: 4,
}


@dataclass(frozen=True, slots=True)
class Rules:
    """A version of the URL rules: its number and its canonicalisation function."""

    version: int
    canonicalise: Callable[[str], str]

    def canonical(self, url: str) -> str:
        """The canonical URL under these rules (raises UrlRejected for a refused one)."""
        return self.canonicalise(url)

    def source(self, canonical: str) -> str:
        """The ``source`` of an article with this canonical URL."""
        return source_of(canonical)

    def article_survivor(self, members: Sequence[Any]) -> tuple[Any, Any]:
        """(The most recently fetched member, the member seen first)."""
        content = max(members, key=lambda m: (m.fetched_at, m.extracted_at, m.article_id))
        seen_first = min(members, key=lambda m: (m.first_seen_at, m.article_id))
        return content, seen_first

    def entry_survivor(self, members: Sequence[Any]) -> Any:  # noqa: ANN401 - a Row
        """The member furthest along the queue (then the earliest, then by id)."""
        return min(members, key=lambda m: (STATE_RANK.get(m.state, 9), m.first_seen_at, m.entry_id))

    def keeps_link(self, entry: Any) -> bool:  # noqa: ANN401 - a Row
        """An entry failed because its link is not a URL we take has no new key."""
        return bool(entry.state == EntryState.FAILED.value and entry.last_error in URL_FAILURES)


CURRENT = Rules(RULES_VERSION, canonical_url)


def current_article(article: Article, rules: Rules | None = None) -> Article:
    """An article (e.g. staged by a worker on older code) keyed by the current rules."""
    rules = rules or CURRENT
    if article.url_rules_version >= rules.version:
        return article
    try:
        canonical = rules.canonical(article.canonical_url)
    except UrlRejected:
        return article
    return replace(
        article,
        canonical_url=canonical,
        article_id=article_id_for(canonical),
        source=source_of(canonical),
        url_rules_version=rules.version,
    )


__all__ = ["CURRENT", "Rules", "current_article"]
