"""News sitemaps: discovery, and bytes to typed entries, safely.

A publisher's history beyond what its feeds still list: ``<urlset>`` files (each URL with
``<lastmod>`` and, in a Google News sitemap, ``<news:publication_date>``,
``<news:title>`` and ``<news:language>``) and ``<sitemapindex>`` files listing more
sitemaps. Sitemaps are found from robots.txt ``Sitemap:`` lines, then the usual paths.

Parsing is bounded and inert: a gzip body is inflated only up to a cap, the XML parser
neither loads nor fetches anything and refuses any document type declaration (so no
external entity, XXE, and no entity expansion, "billion laughs"), and a file yields at most
:data:`MAX_URLS` entries (the protocol's limit). What cannot be read is a
:class:`~ingest.models.Miss` with ``sitemap_malformed`` or ``too_large``; the bytes are
never trusted further than that. Fetching is the caller's, through our fetcher (SSRF guard,
caps, deadline, robots.txt, politeness).
"""

from __future__ import annotations

import gzip
import io
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

from lxml import etree

from ingest.models import Miss, Reason, SourceKind, SourceRef
from ingest.sources import Lead

#: The sitemap protocol's limit of URLs (or child sitemaps) per file.
MAX_URLS = 50_000
#: The largest sitemap we inflate (the protocol allows 50 MB uncompressed).
MAX_INFLATED_BYTES = 50 * 1024 * 1024
MAX_LOC_CHARS = 2048
MAX_TEXT_CHARS = 1000

#: Where publishers put sitemaps when robots.txt names none, news sitemaps first.
USUAL_PATHS = (
    "/news-sitemap.xml", "/sitemap_news.xml", "/sitemap-news.xml", "/sitemap_index.xml",
    "/sitemap.xml",
)  # fmt: skip

_GZIP_MAGIC = b"\x1f\x8b"
_W3C_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2}))?$")  # "2026" or "2026-11"


@dataclass(frozen=True, slots=True)
class SitemapUrl:
    """One ``<url>`` of a urlset: what the sitemap says about an article."""

    loc: str
    lastmod: datetime | None = None
    published: datetime | None = None  # news:publication_date
    title: str | None = None  # news:title
    language: str | None = None  # news:language
    sitemap: str = ""  # the sitemap file that listed it

    @property
    def when(self) -> datetime | None:
        """Its time for a date filter: publication, else last modification."""
        return self.published or self.lastmod


@dataclass(frozen=True, slots=True)
class ChildSitemap:
    """One ``<sitemap>`` of a sitemap index."""

    loc: str
    lastmod: datetime | None = None
    lastmod_until: datetime | None = None  # the last instant a coarse lastmod may mean


@dataclass(frozen=True, slots=True)
class Sitemap:
    """A parsed sitemap file: an index (``children``) or a urlset (``urls``)."""

    url: str
    children: tuple[ChildSitemap, ...] = ()
    urls: tuple[SitemapUrl, ...] = ()
    listed: int = 0  # entries in the file (more than kept when it went over MAX_URLS)
    skipped: int = 0  # entries without a usable http(s) <loc>

    @property
    def is_index(self) -> bool:
        """Whether it lists sitemaps rather than pages."""
        return bool(self.children)


def candidates(site: str, from_robots: list[str] | tuple[str, ...]) -> list[str]:
    """Sitemap URLs to try for ``site``: robots.txt's ``Sitemap:`` lines, then the usual paths."""
    out: list[str] = []
    for url in [*from_robots, *(urljoin(site, path) for path in USUAL_PATHS)]:
        if _http_url(url) and url not in out:
            out.append(url)
    return out


def parse_sitemap(
    body: bytes,
    url: str,
    *,
    max_urls: int = MAX_URLS,
    max_inflated: int = MAX_INFLATED_BYTES,
    max_elements: int | None = None,
) -> Sitemap | Miss:
    """A sitemap file's entries; relative locations resolve against ``url``.

    Parsed as a stream, each entry let go once read, so memory stays flat whatever the
    file holds; at most ``max_elements`` elements (20 per allowed entry) are read.
    """
    if body.startswith(_GZIP_MAGIC):
        inflated = _gunzip(body, max_inflated)
        if isinstance(inflated, Miss):
            return inflated
        body = inflated
    if b"<!DOCTYPE" in body:  # any ASCII-compatible encoding; other ones: checked below
        return Miss(Reason.SITEMAP_MALFORMED, "a document type declaration (refused)")
    budget = max_elements if max_elements is not None else 20 * max_urls
    try:
        return _stream(body, url, max_urls, budget)
    except etree.XMLSyntaxError as exc:
        return Miss(Reason.SITEMAP_MALFORMED, f"not well-formed XML: {exc}"[:300])


def _stream(body: bytes, url: str, max_urls: int, budget: int) -> Sitemap | Miss:
    events = etree.iterparse(
        io.BytesIO(body), events=("start", "end"), resolve_entities=False, no_network=True,
        load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True,
    )  # fmt: skip
    kind = ""
    found = _Found(url, max_urls)
    elements = 0
    for event, element in events:
        if event == "start":
            elements += 1
            if not kind:
                kind = etree.QName(element).localname
                if element.getroottree().docinfo.doctype:
                    return Miss(Reason.SITEMAP_MALFORMED, "a document type declaration (refused)")
                if kind not in ("urlset", "sitemapindex"):
                    return Miss(Reason.SITEMAP_MALFORMED,
                                f"not a sitemap (root element {kind[:40]!r})")  # fmt: skip
            if elements > budget:
                return Miss(Reason.TOO_LARGE, f"sitemap holds over {budget} elements")
            continue
        parent = element.getparent()
        if parent is None or parent.getparent() is not None:
            continue  # the root, or inside an entry: read with its entry
        found.add(kind, element)
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
    if not kind:
        return Miss(Reason.SITEMAP_MALFORMED, "empty document")
    return found.sitemap(kind)


@dataclass(slots=True)
class _Found:
    url: str
    max_urls: int
    urls: list[SitemapUrl] = field(default_factory=list)
    children: list[ChildSitemap] = field(default_factory=list)
    listed: int = 0
    skipped: int = 0

    def add(self, kind: str, element: etree._Element) -> None:
        """One top-level element of the file: an entry if it is the kind's."""
        tag = element.tag
        if not isinstance(tag, str):
            return
        name = tag[tag.rfind("}") + 1 :]  # the local name (QName's, without the object)
        if (kind, name) not in (("urlset", "url"), ("sitemapindex", "sitemap")):
            return
        self.listed += 1
        loc = _loc(element, self.url)
        if loc is None:
            self.skipped += 1
        elif len(self.urls) + len(self.children) >= self.max_urls:
            return
        elif name == "sitemap":
            self.children.append(ChildSitemap(loc, *_bounds(_text(element, "lastmod"))))
        else:
            self.urls.append(_url(element, loc, self.url))

    def sitemap(self, kind: str) -> Sitemap:
        if kind == "sitemapindex":
            return Sitemap(self.url, children=tuple(self.children), listed=self.listed,
                           skipped=self.skipped)  # fmt: skip
        return Sitemap(self.url, urls=tuple(self.urls), listed=self.listed, skipped=self.skipped)


def _url(element: etree._Element, loc: str, sitemap: str) -> SitemapUrl:
    news = element.find("{*}news")
    publication = news.find("{*}publication") if news is not None else None
    return SitemapUrl(
        loc=loc,
        lastmod=_time(_text(element, "lastmod")),
        published=_time(_text(news, "publication_date")) if news is not None else None,
        title=_text(news, "title") if news is not None else None,
        language=_text(publication, "language") if publication is not None else None,
        sitemap=sitemap,
    )


def _gunzip(body: bytes, cap: int) -> bytes | Miss:
    """Every gzip member of ``body``, inflated up to ``cap`` bytes."""
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(body)) as packed:
            out = packed.read(cap + 1)
    except (OSError, EOFError, zlib.error) as exc:
        return Miss(Reason.SITEMAP_MALFORMED, f"bad gzip: {exc}"[:300])
    if len(out) > cap:
        return Miss(Reason.TOO_LARGE, f"sitemap inflates past {cap} bytes")
    return out


def _children(element: etree._Element, name: str) -> Iterator[etree._Element]:
    """The children named ``name`` in any namespace (lxml's ``{*}``: a search in C)."""
    found: Iterator[etree._Element] = element.iterchildren(f"{{*}}{name}")
    return found


def _text(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    raw = element.findtext(f"{{*}}{name}")
    if not raw:
        return None
    text = " ".join(raw.split())
    return text[:MAX_TEXT_CHARS] or None


_ABSOLUTE = re.compile(r"https?://[^\s/?#@:]+(?::\d{1,5})?(?:[/?#]\S*)?", re.IGNORECASE)


def _loc(element: etree._Element, base: str) -> str | None:
    text = _text(element, "loc")
    if text is None or len(text) > MAX_LOC_CHARS:
        return None
    if _ABSOLUTE.fullmatch(text):  # the usual case, without urljoin's cost (checked later)
        return text
    try:
        loc = urljoin(base, text)
    except ValueError:
        return None
    return loc if _http_url(loc) else None


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _time(text: str | None) -> datetime | None:
    """A W3C datetime (``2026``, ``2026-11``, a date, or a time with or without an offset)."""
    return _bounds(text)[0]


def _bounds(text: str | None) -> tuple[datetime | None, datetime | None]:
    """The first and the last instant a W3C datetime may mean, in UTC.

    A time is one instant; a date starts at UTC midnight and may last until noon UTC of
    the next day (its end in the zone furthest west); a month or a year is all of it.
    """
    if not text or len(text) > 64:  # noqa: PLR2004 - longer than any W3C datetime
        return None, None
    partial = _W3C_PARTIAL.match(text)
    try:
        if partial:
            year, month = int(partial[1]), int(partial[2] or 1)
            first = datetime(year, month, 1, tzinfo=UTC)
            if partial[2] is None:
                return first, first.replace(year=year + 1)
            return first, (first + timedelta(days=32)).replace(day=1)
        when = datetime.fromisoformat(text.upper())
    except ValueError:
        return None, None
    if len(text) == 10:  # noqa: PLR2004 - YYYY-MM-DD
        start = when.replace(tzinfo=UTC)
        return start, start + timedelta(days=1, hours=12)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when, when


@dataclass(slots=True)
class Walk:
    """What a walk of a publisher's sitemaps found, and what it passed over."""

    urls: list[SitemapUrl] = field(default_factory=list)  # in range, first seen first
    read: int = 0  # sitemap files read
    misses: list[tuple[str, Miss]] = field(default_factory=list)  # files not read, and why
    out_of_range: int = 0  # entries dated outside the range
    undated: int = 0  # entries with neither a publication date nor a lastmod
    repeated: int = 0  # entries listed again (by another file or the same one)
    stale_children: int = 0  # child sitemaps last modified before the range: not read
    cut: list[str] = field(default_factory=list)  # what a limit stopped, in words


def walk(
    roots: Sequence[str],
    get: Callable[[str], bytes | Miss],
    *,
    since: datetime,
    until: datetime,
    max_depth: int = 3,
    max_files: int = 200,
    max_urls: int = 100_000,
) -> Walk:
    """Read sitemaps from ``roots`` down through indexes; keep the entries dated in range.

    ``get`` fetches one sitemap (through the caller's fetcher, robots.txt and politeness).
    Indexes are followed ``max_depth`` levels down, at most ``max_files`` files in all; a
    child sitemap last modified before ``since`` is not read (nothing in it is newer). An
    entry is kept when its publication date, else its lastmod, is within
    [``since``, ``until``]; an undated entry is counted, not kept. Nothing is fetched twice.
    """
    found = Walk()
    seen_files: set[str] = set()
    seen_urls: set[str] = set()
    level = list(dict.fromkeys(roots))
    for depth in range(max_depth + 1):
        following: list[str] = []
        for url in level:
            if url in seen_files:
                continue
            if found.read + len(found.misses) >= max_files:
                _stopped(found, f"{max_files} sitemap files")
                return found
            seen_files.add(url)
            sitemap = _read(url, get)
            if isinstance(sitemap, Miss):
                found.misses.append((url, sitemap))
                continue
            found.read += 1
            for child in sitemap.children:
                if child.lastmod_until is not None and child.lastmod_until < since:
                    found.stale_children += 1
                elif depth < max_depth:
                    following.append(child.loc)
                else:
                    _stopped(found, f"indexes deeper than {max_depth}")
            if _keep(sitemap, found, seen_urls, since, until, max_urls):
                return found
        level = following
    return found


def _stopped(found: Walk, limit: str) -> None:
    if limit not in found.cut:
        found.cut.append(limit)


def _read(url: str, get: Callable[[str], bytes | Miss]) -> Sitemap | Miss:
    body = get(url)
    return body if isinstance(body, Miss) else parse_sitemap(body, url)


def _keep(
    sitemap: Sitemap,
    found: Walk,
    seen: set[str],
    since: datetime,
    until: datetime,
    max_urls: int,
) -> bool:
    """Add the sitemap's entries in range to ``found``; True when ``max_urls`` is reached."""
    for entry in sitemap.urls:
        when = entry.when
        if entry.loc in seen:
            found.repeated += 1
        elif when is None:
            found.undated += 1
        elif not since <= when <= until:
            found.out_of_range += 1
        elif len(found.urls) >= max_urls:
            _stopped(found, f"{max_urls} URLs")
            return True
        else:
            seen.add(entry.loc)
            found.urls.append(entry)
    return False


def leads(found: Walk) -> list[Lead]:
    """The walk's pages as leads, each naming the sitemap file that listed it."""
    return [
        Lead(url=page.loc, source=SourceRef(SourceKind.SITEMAP, page.sitemap), title=page.title,
             published=page.published or page.lastmod, updated=page.lastmod)
        for page in found.urls
    ]  # fmt: skip
