"""Normalisation: one fetched, extracted page becomes one clean, bounded Article record.

Rules (documented in docs/schema.md):

- canonical URL: the page's own ``rel=canonical``/``og:url`` when it is on the host the
  page was served from, or when the fetch itself went through it (the link or a redirect
  hop confirms it), and is not just the site's root; else the URL after redirects; both
  through :mod:`ingest.urls`;
- published time: the page's declared publication time when it states a time zone, else
  the feed entry's date, else the page's time without a zone or the extractor's date-only
  guess (both read as UTC); updated time: the page's, else the feed's when
  later than the published time; all UTC;
- text: NFC, no control characters, tidy whitespace, bounded lengths.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urljoin, urlsplit

from ingest import PIPELINE_VERSION
from ingest.errors import UrlRejected
from ingest.models import Article, Extracted, Fetched, PageJob
from ingest.textutil import clean_inline, clean_text, content_hash, word_count
from ingest.urls import RULES_VERSION, article_id_for, canonical_url, host_of


def _site(host: str) -> str:
    return host.removeprefix("www.")


def source_of(canonical: str) -> str:
    """The ``source`` of an article: its canonical URL's host without ``www.``."""
    return _site(host_of(canonical))


def choose_canonical(final_url: str, declared: str | None, visited: tuple[str, ...] = ()) -> str:
    """The canonical URL of a page, by the rules in this module's docstring.

    A declared canonical is trusted on the site that served the page, or on another site
    when the fetch itself went through that URL (``visited``: the link and the redirect
    hops, e.g. a publisher's link that redirected to its syndication partner). A declared
    canonical that is the site's root (a common CMS mistake that would fold every article
    into one) is ignored unless the page itself is the root.
    """
    served = canonical_url(final_url)
    if declared:
        try:
            candidate = canonical_url(urljoin(final_url, declared))
        except (UrlRejected, ValueError):
            return served
        is_root = urlsplit(candidate).path == "/" and not urlsplit(candidate).query
        same_site = _site(host_of(candidate)) == _site(host_of(served))
        if (same_site or candidate in _canonical_all(visited)) and (
            not is_root or candidate == served
        ):
            return candidate
    return served


def _canonical_all(urls: tuple[str, ...]) -> set[str]:
    out = set()
    for url in urls:
        try:
            out.add(canonical_url(url))
        except UrlRejected:
            continue
    return out


def normalise(
    job: PageJob,
    fetched: Fetched,
    extracted: Extracted,
    *,
    now: datetime,
    fetched_at: datetime | None = None,
    max_title_chars: int = 1000,
    max_body_chars: int = 1_000_000,
) -> Article:
    """Build the Article row for one page."""
    try:
        canonical = choose_canonical(
            fetched.final_url, extracted.page_url, (job.link, *fetched.redirects)
        )
    except UrlRejected:
        canonical = job.canonical_url
    body = clean_text(extracted.body)[:max_body_chars]
    published = extracted.published or job.published or extracted.date_guess
    updated = extracted.updated
    if updated is None and job.updated and (published is None or job.updated > published):
        updated = job.updated
    return Article(
        article_id=article_id_for(canonical),
        canonical_url=canonical,
        url=job.link,
        final_url=fetched.final_url,
        source=source_of(canonical),
        feed_key=job.feed_key,
        guid=job.guid,
        title=clean_inline(extracted.title or job.title, max_title_chars),
        body=body,
        description=clean_inline(extracted.description, 2000),
        authors=tuple(a for a in (clean_inline(x, 200) for x in extracted.authors) if a),
        language=clean_inline(extracted.language, 16),
        published_at=published,
        updated_at=updated,
        site_name=clean_inline(extracted.site_name, 200),
        tags=tuple(t for t in (clean_inline(x, 100) for x in extracted.tags) if t)[:50],
        image_url=clean_inline(extracted.image_url, 2048),
        word_count=word_count(body),
        content_hash=content_hash(body),
        raw_hash=fetched.body_hash,
        raw_content_type=(fetched.content_type or None) and fetched.content_type[:255],
        fetched_at=fetched_at or now,
        extracted_at=now,
        extractor_version=extracted.extractor,
        pipeline_version=PIPELINE_VERSION,
        url_rules_version=RULES_VERSION,
    )
