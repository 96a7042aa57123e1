"""Assemble the demo site's routes and serve them over HTTP, one listener per publisher host."""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import logging
import socket
import socketserver
import struct
import sys
import threading
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, cast
from urllib.parse import unquote, urljoin, urlsplit

from ingest.demosite import feeds as feedwriter
from ingest.demosite.content import (
    BASE_TIME,
    DEFAULT_SEED,
    LAST_MODIFIED,
    PUBLISHERS,
    BadLink,
    DemoArticle,
    DemoFeed,
    DemoPublisher,
    DemoSite,
    PublisherSpec,
    Story,
    generate,
)
from ingest.demosite.live import TICK_S, FeedShape, LiveSite, PageParts
from ingest.demosite.templates import (
    PageContext,
    PageLink,
    render_article,
    render_home,
    render_not_found,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

    _Request = socket.socket | tuple[bytes, socket.socket]

logger = logging.getLogger(__name__)

DEFAULT_HOSTS: tuple[str, ...] = ("127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4")
UTM_TOP = "?utm_source=rss&utm_medium=feed&utm_campaign=top"
HTML = "text/html; charset=utf-8"
OPML = "text/x-opml; charset=utf-8"
XML = "application/xml; charset=utf-8"
GZIP = "application/gzip"
SITEMAP_INDEX = "/sitemap_index.xml"
_DRIP_INTERVAL = 0.1
_BIND_ATTEMPTS = 12


# --------------------------------------------------------------------------- routes


@dataclass(frozen=True, slots=True)
class Resource:
    """One servable response body; ``slow`` bodies are dripped out over ``slow_seconds``."""

    body: bytes
    content_type: str
    slow: bool = False
    compress: bool = True
    status: int = 200  # a live incident: 429 (with Retry-After) or 500
    headers: tuple[tuple[str, str], ...] = ()
    last_modified: datetime = LAST_MODIFIED
    etag: str = field(init=False)
    gzipped: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "etag", '"' + hashlib.sha256(self.body).hexdigest()[:32] + '"')
        packed = gzip.compress(self.body, compresslevel=6, mtime=0) if self.compress else b""
        object.__setattr__(self, "gzipped", packed)


class Router:
    """Maps (host:port, path) to resources; redirects paths missing a trailing slash."""

    def __init__(
        self,
        routes: Mapping[str, Mapping[str, Resource]],
        site_names: Mapping[str, str],
        slow_seconds: float,
        live: LiveSite | None = None,
    ) -> None:
        self.routes = {netloc: dict(paths) for netloc, paths in routes.items()}
        self.site_names = dict(site_names)
        self.slow_seconds = slow_seconds
        self.live = live

    def lookup(self, netloc: str, path: str) -> Resource | None:
        """Return the resource at ``path`` on ``netloc``, if any (the live site's, if live)."""
        static = self.routes.get(netloc, {}).get(path)
        return static if self.live is None else self.live.answer(netloc, path, static)

    def redirect(self, netloc: str, path: str) -> str | None:
        """Return the canonical path for ``path`` when only its trailing slash is missing."""
        if not path.endswith("/") and path + "/" in self.routes.get(netloc, {}):
            return path + "/"
        return None

    def not_found(self, netloc: str, path: str) -> bytes:
        """Return the 404 page body for ``path`` on ``netloc``."""
        return render_not_found(self.site_names.get(netloc, "Demo news"), path).encode("utf-8")

    def paths(self, netloc: str) -> tuple[str, ...]:
        """Return every routed path on ``netloc``, sorted."""
        return tuple(sorted(self.routes.get(netloc, {})))


# --------------------------------------------------------------------------- binary fixtures


def _png(rgb: tuple[int, int, int], width: int = 32, height: int = 18) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    raw = zlib.compress(row * height, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def _pdf(title: str) -> bytes:
    text = title.replace("\\", "").replace("(", "").replace(")", "")
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


def _live_blog(site_name: str) -> bytes:
    updates = [
        (
            "07:05",
            "Gusts of more than 60mph have been recorded on the exposed coast road this morning.",
        ),
        (
            "07:40",
            "Several trees are down on the lanes above Northfield; drivers are asked to take care.",
        ),
        (
            "08:15",
            "The ferry operator has cancelled all morning sailings because of the sea state.",
        ),
        (
            "08:50",
            "Engineers are working to restore power to around 400 homes on the east side of town.",
        ),
        ("09:30", "Schools say they are open as normal but some buses are running late."),
        ("10:10", "Coastguard teams have asked people to stay well back from the harbour walls."),
    ]
    items = "\n".join(
        f'<div class="live-update"><span class="time">{t}</span><p>{text}</p></div>'
        for t, text in updates
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>LIVE: Storm updates | {site_name}</title></head>
<body>
<div id="wrapper"><h1 class="headline">LIVE: Storm updates from across the district</h1>
<div class="live-feed">
{items}
</div></div>
</body>
</html>
"""
    return page.encode("utf-8")


# --------------------------------------------------------------------------- site assembly

_FEED_TYPES = {
    "rss2": "application/rss+xml; charset=utf-8",
    "atom": "application/atom+xml; charset=utf-8",
    "rdf": "application/rdf+xml; charset=utf-8",
}
_PALETTE = ((22, 64, 110), (120, 30, 40), (40, 100, 60), (10, 120, 140))
_SLOW_PATH = "/live/2026/11/22/storm-updates-from-across-the-district"
_PDF_PATH = "/files/annual-report.pdf"
_GONE_PATH = "/article/harbour-festival-cancelled-after-storm-damage-9f1e2"


def _netloc(base_url: str) -> str:
    return urlsplit(base_url).netloc


def hash_text(text: str) -> int:
    """Return a deterministic 32-bit value for ``text`` (the builtin ``hash`` is salted)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big")


def _item(spec: PublisherSpec, story: Story, link: str, image_url: str = "") -> feedwriter.FeedItem:
    return feedwriter.FeedItem(
        title=story.title,
        link=link,
        guid=f"{spec.slug}:{hash_text(story.path):08x}",
        published=story.published,
        author=story.author,
        summary=story.description,
        categories=(story.section.title(), *story.tags),
        image_url=image_url,
    )


def _bad_item(title: str, link: str, published: datetime, summary: str) -> feedwriter.FeedItem:
    return feedwriter.FeedItem(
        title=title,
        link=link,
        guid=f"demo-bad:{hash_text(link):08x}",
        published=published,
        author="Newsdesk",
        summary=summary,
    )


def _newest_first(items: Iterable[feedwriter.FeedItem]) -> list[feedwriter.FeedItem]:
    return sorted(items, key=lambda item: item.published, reverse=True)


def _rss2(title: str, link: str, description: str, self_url: str) -> Callable[..., str]:
    def render(items: Sequence[feedwriter.FeedItem], built: datetime) -> str:
        return feedwriter.rss2(title, link, description, self_url=self_url, items=items,
                               built=built)  # fmt: skip

    return render


def _atom(title: str, base_url: str, self_href: str, feed_id: str) -> Callable[..., str]:
    def render(items: Sequence[feedwriter.FeedItem], built: datetime) -> str:
        return feedwriter.atom(title, base_url, self_href=self_href, feed_id=feed_id, items=items,
                               updated=built)  # fmt: skip

    return render


def _rdf(title: str, link: str, description: str, self_url: str) -> Callable[..., str]:
    def render(items: Sequence[feedwriter.FeedItem], built: datetime) -> str:
        del built  # RSS 1.0 carries no build date
        return feedwriter.rdf(title, link, description, self_url, items)

    return render


def _local(hours: float, utc_offset: int) -> datetime:
    return (BASE_TIME + timedelta(hours=hours)).astimezone(timezone(timedelta(hours=utc_offset)))


class _SiteBuilder:
    """Accumulates routes, feeds and feed listings while the site is assembled."""

    def __init__(self, bases: Sequence[str], seed: int) -> None:
        self.bases = list(bases)
        self.seed = seed
        self.content = generate(seed)
        self.publishers = tuple(
            DemoPublisher(
                slug=spec.slug, name=spec.name, base_url=base, language="en", template=spec.template
            )
            for spec, base in zip(PUBLISHERS, self.bases, strict=True)
        )
        self.built = LAST_MODIFIED - timedelta(hours=6)
        self.routes: dict[str, dict[str, Resource]] = {_netloc(base): {} for base in self.bases}
        self.feeds: list[DemoFeed] = []
        self.listed: dict[str, list[str]] = {}
        self.home_feed: dict[str, str] = {}
        self.shapes: list[FeedShape] = []  # what the live site re-writes
        self.parts: list[PageParts] = []

    def route(self, base: str, path: str, resource: Resource) -> None:
        self.routes[_netloc(base)][path] = resource

    def add_feed(self, feed: DemoFeed, body: bytes) -> None:
        path = urlsplit(feed.url).path
        self.route(feed.url[: -len(path)], path, Resource(body, _FEED_TYPES[feed.format]))
        self.feeds.append(feed)
        self.home_feed.setdefault(feed.site, feed.url)

    def add_written_feed(
        self,
        feed: DemoFeed,
        index: int,
        items: Sequence[feedwriter.FeedItem],
        render: Callable[[Sequence[feedwriter.FeedItem], datetime], str],
    ) -> None:
        """A feed written from its items by ``render`` (so the live site can write it again)."""
        self.add_feed(feed, render(items, self.built).encode("utf-8"))
        shape = FeedShape(
            feed, PUBLISHERS[index], self.bases[index], tuple(items), render,
            _FEED_TYPES[feed.format],
        )  # fmt: skip
        self.shapes.append(shape)

    def note(self, link: str) -> None:
        canonical = link.split("#", 1)[0].split("?", 1)[0]
        self.listed.setdefault(canonical, []).append(link)

    def stories(self, index: int) -> list[Story]:
        return list(self.content.stories[PUBLISHERS[index].slug])

    # Publisher 1: two RSS 2.0 feeds sharing one story; every top-feed link carries tracking.
    def harbour_gazette(self) -> None:
        spec, base = PUBLISHERS[0], self.bases[0]
        own = self.stories(0)
        shared = own[3]
        top = [
            _item(spec, s, base + s.path + UTM_TOP, base + s.image_path)
            for s in [self.content.wire[0], *own[:4]]
        ]
        local = [_item(spec, shared, base + shared.path + "#comments", base + shared.image_path)]
        local += [_item(spec, s, base + s.path, base + s.image_path) for s in own[4:]]
        for name, items in (("top", top), ("local", local)):
            path = f"/feeds/{name}.xml"
            title = f"{spec.name}: {name} {'stories' if name == 'top' else 'news'}"
            ordered = _newest_first(items)
            render = _rss2(title, base + "/", f"The latest {name} news from {spec.name}.",
                           base + path)  # fmt: skip
            links = tuple(item.link for item in ordered)
            feed = DemoFeed(
                f"{spec.slug}-{name}",
                base + path,
                title,
                site=spec.slug,
                format="rss2",
                entry_urls=links,
            )
            self.add_written_feed(feed, 0, ordered, render)
            for link in links:
                self.note(link)

    # Publisher 2: Atom with xml:base and relative, root-relative and absolute links; a slow link.
    def northfield_courier(self) -> None:
        spec, base = PUBLISHERS[1], self.bases[1]
        items = []
        for index, story in enumerate(self.stories(1)):
            href = (story.path.lstrip("/"), story.path, base + story.path)[index % 3]
            items.append(_item(spec, story, href))
        items.append(
            _bad_item(
                "LIVE: Storm updates from across the district",
                _SLOW_PATH.lstrip("/"),
                _local(50.1, spec.utc_offset_hours),
                "Follow the latest on the storm as it crosses the district.",
            )
        )
        ordered = _newest_first(items)
        path = "/feeds/atom.xml"
        title = f"{spec.name}: latest news"
        render = _atom(title, base + "/", path.lstrip("/"), f"tag:{spec.slug}.demo,2026:feed")
        links = tuple(urljoin(base + "/", item.link) for item in ordered)
        feed = DemoFeed(
            f"{spec.slug}-latest",
            base + path,
            title,
            site=spec.slug,
            format="atom",
            entry_urls=links,
        )
        self.add_written_feed(feed, 1, ordered, render)
        for link in links:
            self.note(link)
        self.route(
            base, _SLOW_PATH, Resource(_live_blog(spec.name), HTML, slow=True, compress=False)
        )

    # Publisher 3: RSS 1.0 / RDF carrying the wire story and a link to a PDF.
    def valley_ledger(self) -> None:
        spec, base = PUBLISHERS[2], self.bases[2]
        items = [_item(spec, s, base + s.path) for s in [*self.stories(2), self.content.wire[1]]]
        items.append(
            _bad_item(
                f"{spec.name} annual report 2026 (PDF)",
                base + _PDF_PATH,
                _local(40, spec.utc_offset_hours),
                "Our annual report to readers, with circulation and finances.",
            )
        )
        ordered = _newest_first(items)
        path = "/feeds/index.rdf"
        render = _rdf(spec.name, base + "/", f"News from {spec.name}.", base + path)
        links = tuple(item.link for item in ordered)
        feed = DemoFeed(
            f"{spec.slug}-news",
            base + path,
            spec.name,
            site=spec.slug,
            format="rdf",
            entry_urls=links,
        )
        self.add_written_feed(feed, 2, ordered, render)
        for link in links:
            self.note(link)
        pdf = _pdf(f"{spec.name} Annual Report 2026")
        self.route(base, _PDF_PATH, Resource(pdf, "application/pdf", compress=False))

    # Publisher 4: RSS 2.0 with a dead link, plus a feed URL that serves garbage.
    def coastline_daily(self) -> None:
        spec, base = PUBLISHERS[3], self.bases[3]
        items = [_item(spec, s, base + s.path, base + s.image_path) for s in self.stories(3)]
        items.append(
            _bad_item(
                "Harbour festival cancelled after storm damage",
                base + _GONE_PATH,
                _local(45.33, spec.utc_offset_hours),
                "Organisers have called off the weekend festival.",
            )
        )
        ordered = _newest_first(items)
        path = "/feeds/rss.xml"
        title = f"{spec.name}: news"
        render = _rss2(title, base + "/", f"News from {spec.name}.", base + path)
        links = tuple(item.link for item in ordered)
        feed = DemoFeed(
            f"{spec.slug}-news", base + path, title, site=spec.slug, format="rss2", entry_urls=links
        )
        self.add_written_feed(feed, 3, ordered, render)
        for link in links:
            self.note(link)
        broken = DemoFeed(
            f"{spec.slug}-breaking",
            base + "/feeds/broken.xml",
            f"{spec.name}: breaking news",
            site=spec.slug,
            format="rss2",
            malformed=True,
        )
        self.add_feed(broken, feedwriter.broken_feed(spec.name))

    def bad_links(self) -> tuple[BadLink, ...]:
        return (
            BadLink(url=self.bases[1] + _SLOW_PATH, kind="slow"),
            BadLink(url=self.bases[2] + _PDF_PATH, kind="not_html"),
            BadLink(url=self.bases[3] + _GONE_PATH, kind="not_found"),
        )

    def pages(self) -> tuple[list[DemoArticle], list[tuple[str, bytes]]]:
        """Render every article page plus each publisher's home page, images and robots.txt."""
        wire1, wire3 = self.content.wire
        extra = {PUBLISHERS[0].slug: [wire1], PUBLISHERS[2].slug: [wire3]}
        articles: list[DemoArticle] = []
        pages: list[tuple[str, bytes]] = []
        for index, (spec, colour) in enumerate(zip(PUBLISHERS, _PALETTE, strict=True)):
            base = self.bases[index]
            stories = sorted(
                [*self.stories(index), *extra.get(spec.slug, [])], key=lambda s: s.published
            )
            links = tuple(PageLink(s.title, base + s.path) for s in stories)
            sections = [PageLink(section.title(), f"/{section}/") for section in spec.sections]
            nav = (PageLink("Home", "/"), *sections)
            image = _png(colour)
            for position, story in enumerate(stories):
                canonical = base + story.path
                others = [link for link in links if link.url != canonical]
                ctx = PageContext(
                    site_name=spec.name,
                    site_slug=spec.slug,
                    base_url=base,
                    canonical_url=canonical,
                    image_url=base + story.image_path,
                    feed_url=self.home_feed[spec.slug],
                    story=story,
                    promo=others[position % len(others)],
                    related=tuple(others[(position + k) % len(others)] for k in range(1, 4)),
                    nav=nav,
                )
                html = render_article(spec.template, ctx).encode("utf-8")
                self.route(base, story.path, Resource(html, HTML))
                self.route(base, story.image_path, Resource(image, "image/png", compress=False))
                pages.append((canonical, html))
                articles.append(
                    DemoArticle(
                        url=canonical,
                        publisher=spec.slug,
                        title=story.title,
                        author=story.author,
                        published=story.published,
                        paragraphs=story.paragraphs,
                        syndicated=story.syndicated,
                        listed_urls=tuple(self.listed.get(canonical, ())),
                    )
                )
            self.parts.append(PageParts(spec, base, self.home_feed[spec.slug], nav, links))
            home = render_home(spec.name, tuple(reversed(links)), self.home_feed[spec.slug])
            self.route(base, "/", Resource(home.encode("utf-8"), HTML))
            robots = f"User-agent: *\nAllow: /\n\n# {spec.name}\nSitemap: {base}{SITEMAP_INDEX}\n"
            self.route(base, "/robots.txt", Resource(robots.encode(), "text/plain; charset=utf-8"))
            self.sitemaps(spec, base, stories, hostile=index == len(PUBLISHERS) - 1)
        return articles, pages

    def sitemaps(
        self, spec: PublisherSpec, base: str, stories: Sequence[Story], *, hostile: bool
    ) -> None:
        """A news sitemap (gzip) of the newer half, a plain one of the older, and their index.

        ``hostile``: the index also lists a sitemap that tries XXE and entity expansion.
        """
        half = len(stories) // 2
        older, newer = stories[:half], stories[half:]
        news = [
            feedwriter.SitemapEntry(base + s.path, s.published, s.published, s.title,
                                    "en", spec.name)
            for s in newer
        ]  # fmt: skip
        archive = [feedwriter.SitemapEntry(base + s.path, s.published) for s in older]
        packed = gzip.compress(feedwriter.urlset(news).encode(), mtime=0)
        self.route(base, "/sitemaps/news.xml.gz", Resource(packed, GZIP, compress=False))
        self.route(
            base, "/sitemaps/archive.xml", Resource(feedwriter.urlset(archive).encode(), XML)
        )
        children = [
            (base + "/sitemaps/news.xml.gz", max(s.published for s in newer)),
            (base + "/sitemaps/archive.xml", max(s.published for s in older)),
        ]
        if hostile:
            children.append((base + "/sitemaps/hostile.xml", children[0][1]))
            self.route(base, "/sitemaps/hostile.xml",
                       Resource(feedwriter.hostile_sitemap(base), XML))  # fmt: skip
        index = feedwriter.sitemap_index(children).encode()
        self.route(base, SITEMAP_INDEX, Resource(index, XML))

    def opml(self) -> tuple[str, str]:
        html_urls = {p.slug: p.base_url + "/" for p in self.publishers}
        entries = [feedwriter.OpmlEntry(f.title, f.url, html_urls[f.site]) for f in self.feeds]
        document = feedwriter.opml("ingest.demosite feeds", entries, self.built)
        url = self.bases[0] + "/opml.xml"
        self.route(self.bases[0], "/opml.xml", Resource(document.encode("utf-8"), OPML))
        return url, document


def build_site(
    base_urls: Sequence[str],
    seed: int = DEFAULT_SEED,
    slow_seconds: float = 8.0,
    *,
    live: bool = False,
    clock: Callable[[], datetime] | None = None,
    live_tick_s: float = TICK_S,
) -> tuple[DemoSite, Router]:
    """Generate the whole site for the four publisher ``base_urls``; pure and deterministic.

    ``live`` adds what :mod:`ingest.demosite.live` publishes as ``clock`` runs (the wall
    clock by default): new stories, a feed failing for a while, a host throttling.
    """
    if len(base_urls) != len(PUBLISHERS):
        raise ValueError(f"need {len(PUBLISHERS)} base URLs, got {len(base_urls)}")
    builder = _SiteBuilder([url.rstrip("/") for url in base_urls], seed)
    builder.harbour_gazette()
    builder.northfield_courier()
    builder.valley_ledger()
    builder.coastline_daily()
    articles, pages = builder.pages()
    opml_url, opml_document = builder.opml()
    site = DemoSite(
        feeds=tuple(builder.feeds),
        articles=tuple(articles),
        bad_links=builder.bad_links(),
        opml_url=opml_url,
        publishers=builder.publishers,
        seed=seed,
        opml_document=opml_document,
        page_items=tuple(pages),
    )
    names = {_netloc(p.base_url): p.name for p in builder.publishers}
    logger.debug("built demo site: %d feeds, %d articles", len(site.feeds), len(site.articles))
    now = clock or (lambda: datetime.now(UTC))
    live_site = LiveSite(builder.shapes, builder.parts, seed, now, live_tick_s) if live else None
    return site, Router(builder.routes, names, slow_seconds, live_site)


# --------------------------------------------------------------------------- HTTP


def _accepts_gzip(header: str | None) -> bool:
    if not header:
        return False
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip", "*"):
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            return True
    return False


def _etag_matches(header: str, etag: str) -> bool:
    bare = etag.strip('"')
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        tag = tag.removeprefix("W/").strip('"').removesuffix("-gzip")
        if tag == bare:
            return True
    return False


def _not_modified_since(header: str, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return since >= last_modified.replace(microsecond=0)


class _Handler(BaseHTTPRequestHandler):
    """Serves one publisher host from the shared router."""

    protocol_version = "HTTP/1.1"
    server_version = "DemoNews/1.0"
    timeout = 30

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        """Serve a GET request."""
        self._respond(head=False)

    def do_HEAD(self) -> None:
        """Serve a HEAD request."""
        self._respond(head=True)

    def _respond(self, *, head: bool) -> None:
        server = cast("_HostServer", self.server)
        router = server.router
        if router is None:
            self.send_error(503)
            return
        path = unquote(urlsplit(self.path).path) or "/"
        resource = router.lookup(server.netloc, path)
        if resource is None:
            target = router.redirect(server.netloc, path)
            if target is not None:
                self._send_simple(301, b"", HTML, head=head, extra={"Location": target})
            else:
                body = router.not_found(server.netloc, path)
                self._send_simple(404, body, HTML, head=head)
            return
        if resource.slow:
            self._drip(resource, router.slow_seconds, server.stop_event, head=head)
            return
        if resource.status != 200:  # noqa: PLR2004 - a live incident (429, 500)
            extra = dict(resource.headers) | {"Cache-Control": "no-store"}
            self._send_simple(
                resource.status, resource.body, resource.content_type, head=head, extra=extra
            )
            return
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        fresh = (
            _etag_matches(inm, resource.etag)
            if inm
            else bool(ims and _not_modified_since(ims, resource.last_modified))
        )
        use_gzip = resource.compress and _accepts_gzip(self.headers.get("Accept-Encoding"))
        etag = resource.etag[:-1] + '-gzip"' if use_gzip else resource.etag
        headers = {
            "ETag": etag,
            "Last-Modified": format_datetime(resource.last_modified.astimezone(UTC), usegmt=True),
            "Cache-Control": "public, max-age=60",
        }
        if resource.compress:
            headers["Vary"] = "Accept-Encoding"
        if fresh:
            self.send_response(304)
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            return
        body = resource.gzipped if use_gzip else resource.body
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        self._send_simple(200, body, resource.content_type, head=head, extra=headers)

    def _send_simple(
        self,
        status: int,
        body: bytes,
        content_type: str,
        *,
        head: bool,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if not head and body:
            self.wfile.write(body)

    def _drip(
        self, resource: Resource, seconds: float, stop: threading.Event, *, head: bool
    ) -> None:
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", resource.content_type)
        self.send_header("Content-Length", str(len(resource.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        steps = max(1, round(seconds / _DRIP_INTERVAL))
        size = max(1, -(-len(resource.body) // steps))
        interval = seconds / max(1, -(-len(resource.body) // size))
        try:
            for start in range(0, len(resource.body), size):
                if stop.wait(interval):
                    return
                self.wfile.write(resource.body[start : start + size])
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client gave up on slow page %s", self.path)


class _HostServer(ThreadingHTTPServer):
    """A threaded HTTP server for one loopback host that can close its open connections on exit."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, host: str, port: int) -> None:
        self.router: Router | None = None
        self.netloc = ""
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        super().__init__((host, port), _Handler)
        self.netloc = f"{host}:{self.server_address[1]}"

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a reverse lookup we do not need.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def process_request(self, request: _Request, client_address: tuple[str, int]) -> None:
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            daemon=True,
            name=f"demosite-{self.netloc}",
        )
        with self._lock:
            self._workers = {t for t in self._workers if t.is_alive()}
            self._workers.add(worker)
            if isinstance(request, socket.socket):
                self._connections.add(request)
        worker.start()

    def shutdown_request(self, request: _Request) -> None:
        with self._lock:
            if isinstance(request, socket.socket):
                self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: _Request, client_address: tuple[str, int]) -> None:
        # Called by socketserver from inside its except block; clients hanging up are routine here.
        del request
        logger.debug(
            "error while serving %s on %s", client_address, self.netloc, exc_info=sys.exc_info()
        )

    def close_all(self, timeout: float = 5.0) -> None:
        """Close the listener, cut open connections and wait for worker threads."""
        self.stop_event.set()
        self.server_close()
        with self._lock:
            connections = list(self._connections)
            workers = list(self._workers)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for worker in workers:
            worker.join(timeout)


def _bind_all(hosts: Sequence[str], port: int) -> list[_HostServer]:
    attempts = _BIND_ATTEMPTS if port == 0 else 1
    last_error: OSError | None = None
    for _attempt in range(attempts):
        servers: list[_HostServer] = []
        try:
            servers.append(_HostServer(hosts[0], port))
            chosen = servers[0].server_port
            servers.extend(_HostServer(host, chosen) for host in hosts[1:])
        except OSError as exc:
            for server in servers:
                server.server_close()
            if exc.errno != errno.EADDRINUSE:
                raise
            last_error = exc
            logger.debug("port clash while binding demo hosts (%s); retrying", exc)
        else:
            return servers
    raise OSError(errno.EADDRINUSE, f"no port free on all of {', '.join(hosts)}") from last_error


@contextmanager
def serve(
    port: int = 0,
    seed: int = DEFAULT_SEED,
    slow_seconds: float = 8.0,
    hosts: Sequence[str] = DEFAULT_HOSTS,
    *,
    live: bool = False,
    clock: Callable[[], datetime] | None = None,
    live_tick_s: float = TICK_S,
) -> Iterator[DemoSite]:
    """Serve the demo site on ``hosts`` (one listener each, same port) until the block exits.

    ``live``: the site keeps publishing (:mod:`ingest.demosite.live`), a story every
    ``live_tick_s`` seconds.
    """
    if len(hosts) != len(PUBLISHERS):
        raise ValueError(f"need {len(PUBLISHERS)} hosts, got {len(hosts)}")
    servers = _bind_all(hosts, port)
    threads: list[threading.Thread] = []
    try:
        chosen = servers[0].server_port
        site, router = build_site(
            [f"http://{host}:{chosen}" for host in hosts], seed, slow_seconds, live=live,
            clock=clock, live_tick_s=live_tick_s,
        )  # fmt: skip
        for server in servers:
            server.router = router
        for server in servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                daemon=True,
                name=f"demosite-listener-{server.netloc}",
            )
            thread.start()
            threads.append(thread)
        logger.info("demo site serving on %s", ", ".join(p.base_url for p in site.publishers))
        yield site
    finally:
        for server, thread in zip(servers, threads, strict=False):
            server.shutdown()
            thread.join(5.0)
        for server in servers:
            server.close_all()
        logger.info("demo site stopped")
