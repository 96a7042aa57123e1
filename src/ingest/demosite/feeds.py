"""Writers for RSS 2.0, Atom 1.0, RSS 1.0 (RDF) and OPML 2.0 documents, and one broken feed."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.utils import format_datetime
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One entry as written into a feed; ``link`` may be relative in Atom feeds."""

    title: str
    link: str
    guid: str
    published: datetime
    author: str
    summary: str
    categories: tuple[str, ...] = ()
    image_url: str = ""
    guid_is_permalink: bool = False


@dataclass(frozen=True, slots=True)
class OpmlEntry:
    """One subscription in an OPML document."""

    title: str
    xml_url: str
    html_url: str


def _x(text: str) -> str:
    return escape(text)


def _rfc822(when: datetime) -> str:
    return format_datetime(when, usegmt=when.utcoffset() is not None and not when.utcoffset())


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def rss2(
    title: str,
    link: str,
    description: str,
    *,
    self_url: str,
    items: Sequence[FeedItem],
    built: datetime,
) -> str:
    """Return an RSS 2.0 document with dc:creator authors and media:content images."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        (
            '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:media="http://search.yahoo.com/mrss/">'
        ),
        "<channel>",
        f"<title>{_x(title)}</title>",
        f"<link>{_x(link)}</link>",
        f"<description>{_x(description)}</description>",
        "<language>en</language>",
        f"<lastBuildDate>{_rfc822(built)}</lastBuildDate>",
        "<generator>ingest.demosite</generator>",
        f'<atom:link href={quoteattr(self_url)} rel="self" type="application/rss+xml"/>',
    ]
    for item in items:
        permalink = "true" if item.guid_is_permalink else "false"
        parts += [
            "<item>",
            f"<title>{_x(item.title)}</title>",
            f"<link>{_x(item.link)}</link>",
            f'<guid isPermaLink="{permalink}">{_x(item.guid)}</guid>',
            f"<pubDate>{_rfc822(item.published)}</pubDate>",
            f"<dc:creator>{_x(item.author)}</dc:creator>",
            *(f"<category>{_x(c)}</category>" for c in item.categories),
            f"<description>{_x(item.summary)}</description>",
        ]
        if item.image_url:
            parts.append(
                f'<media:content url={quoteattr(item.image_url)} medium="image" type="image/png"/>'
            )
        parts.append("</item>")
    parts += ["</channel>", "</rss>", ""]
    return "\n".join(parts)


def atom(
    title: str,
    base_url: str,
    *,
    self_href: str,
    feed_id: str,
    items: Sequence[FeedItem],
    updated: datetime,
) -> str:
    """Return an Atom 1.0 document whose hrefs resolve against a feed-level ``xml:base``."""
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:base={quoteattr(base_url)} xml:lang="en">',
        f"<title>{_x(title)}</title>",
        f"<id>{_x(feed_id)}</id>",
        f"<updated>{_iso(updated)}</updated>",
        f'<link rel="self" type="application/atom+xml" href={quoteattr(self_href)}/>',
        '<link rel="alternate" type="text/html" href="./"/>',
        '<generator uri="https://example.invalid/demosite">ingest.demosite</generator>',
    ]
    for item in items:
        parts += [
            "<entry>",
            f"<title>{_x(item.title)}</title>",
            f'<link rel="alternate" type="text/html" href={quoteattr(item.link)}/>',
            f"<id>{_x(item.guid)}</id>",
            f"<published>{_iso(item.published)}</published>",
            f"<updated>{_iso(item.published)}</updated>",
            f"<author><name>{_x(item.author)}</name></author>",
            *(f"<category term={quoteattr(c)}/>" for c in item.categories),
            f'<summary type="text">{_x(item.summary)}</summary>',
            "</entry>",
        ]
    parts += ["</feed>", ""]
    return "\n".join(parts)


def rdf(title: str, link: str, description: str, self_url: str, items: Sequence[FeedItem]) -> str:
    """Return an RSS 1.0 (RDF) document with Dublin Core dates and creators."""
    seq = "\n".join(f"<rdf:li rdf:resource={quoteattr(item.link)}/>" for item in items)
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        (
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        ),
        f"<channel rdf:about={quoteattr(self_url)}>",
        f"<title>{_x(title)}</title>",
        f"<link>{_x(link)}</link>",
        f"<description>{_x(description)}</description>",
        "<dc:language>en</dc:language>",
        "<items>",
        "<rdf:Seq>",
        seq,
        "</rdf:Seq>",
        "</items>",
        "</channel>",
    ]
    for item in items:
        parts += [
            f"<item rdf:about={quoteattr(item.link)}>",
            f"<title>{_x(item.title)}</title>",
            f"<link>{_x(item.link)}</link>",
            f"<description>{_x(item.summary)}</description>",
            f"<dc:creator>{_x(item.author)}</dc:creator>",
            f"<dc:date>{_iso(item.published)}</dc:date>",
            *(f"<dc:subject>{_x(c)}</dc:subject>" for c in item.categories),
            "</item>",
        ]
    parts += ["</rdf:RDF>", ""]
    return "\n".join(parts)


def opml(title: str, entries: Sequence[OpmlEntry], created: datetime) -> str:
    """Return an OPML 2.0 subscription list with one ``type="rss"`` outline per feed."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<opml version="2.0">',
        "<head>",
        f"<title>{_x(title)}</title>",
        f"<dateCreated>{_rfc822(created)}</dateCreated>",
        "<ownerName>ingest.demosite</ownerName>",
        "</head>",
        "<body>",
    ]
    parts.extend(
        f'<outline type="rss" text={quoteattr(entry.title)} title={quoteattr(entry.title)} '
        f"xmlUrl={quoteattr(entry.xml_url)} htmlUrl={quoteattr(entry.html_url)}/>"
        for entry in entries
    )
    parts += ["</body>", "</opml>", ""]
    return "\n".join(parts)


def broken_feed(site_name: str) -> bytes:
    """Return bytes a misconfigured CMS might serve at a feed URL: a PHP fatal-error dump."""
    text = (
        "<br />\n"
        "<b>Fatal error</b>:  Uncaught PDOException: SQLSTATE[HY000] [2002] Connection refused in "
        "/var/www/feeds/render.php:41\n"
        "Stack trace:\n"
        "#0 /var/www/feeds/render.php(41): PDO-&gt;__construct()\n"
        "#1 {main}\n"
        "  thrown in <b>/var/www/feeds/render.php</b> on line <b>41</b><br />\n"
        f"<!-- {site_name}: feed cache rebuild failed -->\n"
    )
    return text.encode("utf-8")


@dataclass(frozen=True, slots=True)
class SitemapEntry:
    """One page in a sitemap; ``title`` and ``language`` make it a Google News entry."""

    loc: str
    lastmod: datetime
    published: datetime | None = None
    title: str = ""
    language: str = "en"
    publication: str = ""


def urlset(entries: Sequence[SitemapEntry]) -> str:
    """A sitemap ``<urlset>``, with the news extension for entries that have a title."""
    rows = []
    for entry in entries:
        news = ""
        if entry.published is not None:
            news = (
                "<news:news><news:publication>"
                f"<news:name>{_x(entry.publication)}</news:name>"
                f"<news:language>{_x(entry.language)}</news:language></news:publication>"
                f"<news:publication_date>{_iso(entry.published)}</news:publication_date>"
                f"<news:title>{_x(entry.title)}</news:title></news:news>"
            )
        rows.append(
            f"  <url><loc>{_x(entry.loc)}</loc><lastmod>{_iso(entry.lastmod)}</lastmod>{news}</url>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">\n'
        + "\n".join(rows) + "\n</urlset>\n"
    )  # fmt: skip


def sitemap_index(children: Sequence[tuple[str, datetime]]) -> str:
    """A ``<sitemapindex>`` of (location, last modified) pairs."""
    rows = "\n".join(
        f"  <sitemap><loc>{_x(loc)}</loc><lastmod>{_iso(mod)}</lastmod></sitemap>"
        for loc, mod in children
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n{rows}\n'
        "</sitemapindex>\n"
    )


def hostile_sitemap(site_url: str) -> bytes:
    """A sitemap that tries an external entity (XXE) and an entity expansion at once."""
    laughs = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10 if n else "lol"}">' for n in range(10))
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/passwd">{laughs}]>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{_x(site_url)}/leak?&secret;</loc></url>"
        f"<url><loc>{_x(site_url)}/laughs?&l9;</loc></url></urlset>\n"
    ).encode()
