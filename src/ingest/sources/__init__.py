"""Where articles come from besides the live feeds: one module per kind of source.

The seam. A source yields either

- **leads** (:class:`Lead`): URLs to fetch, with what the source says of them (a title,
  a date). They are queued as entries of the publisher's feed with their source
  (:func:`queue_leads`), then fetched like any page: leases, robots.txt, politeness,
  retries, the archive. :mod:`.sitemaps` reads news sitemaps into leads.
- **captures** (:class:`Capture`): HTTP responses someone already fetched, with URL,
  status, headers, body and capture time. They go straight to the page stage (extracted
  in the sandbox, like a page we fetched). :mod:`.ccnews` streams Common Crawl's CC-NEWS
  WARC files into captures; our own raw archive is read back the same way.

A new kind of source is one module here, bytes in and leads or captures out (bounded
and inert: fetching is the caller's), plus a :class:`~ingest.models.SourceKind`. The
backfill that drives them is :mod:`ingest.backfill`. This package also knows a
publisher's home and hosts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from ingest.models import FeedEntry, SourceRef
from ingest.outcomes import QueuedEntry
from ingest.urls import host_of, queued_entries


@dataclass(frozen=True, slots=True)
class Lead:
    """A page a source points at, to fetch: its URL and what the source says of it."""

    url: str
    source: SourceRef  # which source listed it (kept on its queue entry)
    title: str | None = None
    published: datetime | None = None
    updated: datetime | None = None


@dataclass(frozen=True, slots=True)
class Capture:
    """An HTTP response someone fetched before us: what we would have got ourselves."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    captured_at: datetime
    source: SourceRef  # which source held it (a WARC file)
    offset: int = 0  # of its record in that file


def queue_leads(
    leads: Iterable[Lead], feed_key: str, *, max_length: int
) -> tuple[tuple[QueuedEntry, ...], tuple[tuple[FeedEntry, str], ...]]:
    """Leads as entries of the publisher's feed ``feed_key``; refused URLs, with why.

    Each entry keeps its lead's source; its guid is its URL, so a feed listing the same
    page by its URL finds the same entry (and makes it its own).
    """
    by_source: dict[SourceRef, list[FeedEntry]] = {}
    for lead in leads:
        by_source.setdefault(lead.source, []).append(
            FeedEntry(guid=lead.url, link=lead.url, title=lead.title,
                      published=lead.published or lead.updated, updated=lead.updated)
        )  # fmt: skip
    queued: list[QueuedEntry] = []
    refused: list[tuple[FeedEntry, str]] = []
    for source, entries in by_source.items():
        ok, bad = queued_entries(feed_key, entries, max_length=max_length, source=source)
        queued.extend(ok)
        refused.extend(bad)
    return tuple(queued), tuple(refused)


def site_root(feed_url: str, site: str | None) -> str:
    """The publisher's home, where its robots.txt and sitemaps are.

    From ``site`` (a host or a URL), else the feed URL's host; a bare host takes the feed
    URL's scheme.
    """
    feed = urlsplit(feed_url)
    if not site:
        return f"{feed.scheme}://{feed.netloc}/"
    if "://" in site:
        parts = urlsplit(site)
        return f"{parts.scheme.lower()}://{parts.netloc}/"
    return f"{feed.scheme}://{site}/"


def publisher_hosts(feed_url: str, site: str | None, stored: Iterable[str] = ()) -> set[str]:
    """The hosts a publisher's pages live on.

    Its ``site``'s, else its feed's and those of the articles already stored from that feed
    (``stored``: their URLs or hosts).
    """
    if site:
        return {host_of(site_root(feed_url, site))}
    hosts = {host_of(feed_url)}
    hosts.update(host_of(u) if "://" in u else u.lower().rstrip(".") for u in stored)
    return {h for h in hosts if h}


__all__ = ["Capture", "Lead", "publisher_hosts", "queue_leads", "site_root"]
