"""Where articles come from besides the live feeds: one module per kind of source.

A source yields *leads* (URLs to fetch, with what it says about them) or *captures*
(responses fetched before, with their capture time). :mod:`.sitemaps` reads news
sitemaps (leads); :mod:`.ccnews` lists and streams Common Crawl's CC-NEWS WARC files
(captures). The backfill that drives them comes with issue 16.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from ingest.urls import host_of


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
