"""The demo site, live: it keeps publishing, and has a failing feed and a throttling host.

For ``make airflow``, so that the dashboard has moving numbers.

Everything is a function of the seed and the clock, so the site is deterministic: at a
given moment two servers with one seed serve the same bytes, and a restarted server
serves what the stopped one would have.

- **New stories.** Live story ``n`` is published at ``LIVE_EPOCH + n * tick`` (every
  :data:`TICK_S` = 90 s unless the site is told otherwise: the freshness benchmark
  publishes faster) on one of :data:`LIVE_FEEDS`, in turn. Every :data:`SYNDICATE_EVERY`-th story is
  also carried, retitled and trimmed, by the next publisher :data:`COPY_LAG` later: a
  near-duplicate the story clusters join. A live feed lists its newest :data:`KEEP`
  items (its static ones scroll off, as on a real site).
- **A feed that fails for a while.** :data:`FLAKY_FEED`, a live feed (so the schedule
  polls it often, and its failures and recovery show within the hour), answers HTTP 500
  during :data:`FLAKY_WINDOW` of every hour, then recovers.
- **A host that throttles.** The pages (not robots.txt, not feeds) of
  :data:`THROTTLED_SITE` answer 429 with ``Retry-After: 300`` during
  :data:`THROTTLE_WINDOW` of every hour.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ingest.demosite import feeds as feedwriter
from ingest.demosite.content import PublisherSpec, Story, live_story
from ingest.demosite.templates import PageContext, PageLink, render_article

if TYPE_CHECKING:
    from ingest.demosite.content import DemoFeed
    from ingest.demosite.server import Resource

LIVE_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
TICK_S = 90
KEEP = 25
LIVE_FEEDS = ("harbour-gazette-local", "northfield-courier-latest", "coastline-daily-news")
SYNDICATE_EVERY = 5
COPY_LAG = timedelta(minutes=4)
FLAKY_FEED = "coastline-daily-news"  # a live feed: polled often, so its failures show
FLAKY_WINDOW = (timedelta(minutes=15), timedelta(minutes=35))
THROTTLED_SITE = "northfield-courier"
THROTTLE_WINDOW = (timedelta(minutes=40), timedelta(minutes=50))
RETRY_AFTER_S = 300
#: Live stories and pages kept in memory (a cache: any of them can be made again).
PAGE_MEMORY = 4000
#: The numbers in a path: a live story's slug ends with its number.
_NUMBERS = re.compile(r"-(\d{1,9})(?=[-/]|$)")

HTML = "text/html; charset=utf-8"


@dataclass(frozen=True, slots=True)
class FeedShape:
    """One feed as the site builder made it: what it lists and how it is written."""

    feed: DemoFeed
    spec: PublisherSpec
    base: str
    items: tuple[feedwriter.FeedItem, ...]  # the static items, newest first
    render: Callable[[Sequence[feedwriter.FeedItem], datetime], str]
    content_type: str


@dataclass(frozen=True, slots=True)
class PageParts:
    """What an article page of one publisher needs besides its story."""

    spec: PublisherSpec
    base: str
    feed_url: str
    nav: tuple[PageLink, ...]
    links: tuple[PageLink, ...]


@dataclass(frozen=True, slots=True)
class Placed:
    """A live story on one publisher: its feed, its story, its canonical URL."""

    number: int
    feed_key: str
    story: Story
    url: str
    copy: bool


def _in_window(moment: datetime, window: tuple[timedelta, timedelta]) -> bool:
    into_hour = timedelta(minutes=moment.minute, seconds=moment.second)
    return window[0] <= into_hour < window[1]


def flaky_feed_down(moment: datetime) -> bool:
    """Whether :data:`FLAKY_FEED` fails at ``moment``."""
    return _in_window(moment.astimezone(UTC), FLAKY_WINDOW)


def throttling(moment: datetime) -> bool:
    """Whether :data:`THROTTLED_SITE` throttles its pages at ``moment``."""
    return _in_window(moment.astimezone(UTC), THROTTLE_WINDOW)


def latest_number(moment: datetime, tick_s: float = TICK_S) -> int:
    """The number of the newest live story published by ``moment`` (-1: none yet)."""
    return int((moment - LIVE_EPOCH).total_seconds() // tick_s)


class LiveSite:
    """Live feeds and pages over the static site (``Router`` asks it first)."""

    def __init__(
        self,
        shapes: Sequence[FeedShape],
        parts: Sequence[PageParts],
        seed: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        tick_s: float = TICK_S,
    ) -> None:
        if not tick_s > 0:
            raise ValueError(f"a live story every {tick_s} s: the interval must be positive")
        self.tick_s = tick_s
        self.shapes = {s.feed.key: s for s in shapes}
        self.parts = {p.spec.slug: p for p in parts}
        self.seed = seed
        self.clock = clock
        self._feeds = {  # netloc, path -> feed key
            (urlsplit(s.feed.url).netloc, urlsplit(s.feed.url).path): s.feed.key for s in shapes
        }
        self._netloc_site = {urlsplit(p.base).netloc: p.spec.slug for p in parts}
        self._lock = threading.Lock()
        self._placed: dict[int, list[Placed]] = {}
        self._pages: dict[tuple[str, bool], bytes] = {}  # rendered pages, a bounded cache

    # ----------------------------------------------------------------- stories

    def placed(self, number: int) -> list[Placed]:
        """Live story ``number`` where it is published: its own feed, and a copy's."""
        with self._lock:
            known = self._placed.get(number)
        if known is not None:
            return known
        own_key = LIVE_FEEDS[number % len(LIVE_FEEDS)]
        published = LIVE_EPOCH + timedelta(seconds=number * self.tick_s)
        shape = self.shapes[own_key]
        story = live_story(self.seed, number, shape.spec, published)
        out = [Placed(number, own_key, story, shape.base + story.path, copy=False)]
        if number % SYNDICATE_EVERY == 0:
            copy_key = LIVE_FEEDS[(number + 1) % len(LIVE_FEEDS)]
            copy_shape = self.shapes[copy_key]
            copied = live_story(self.seed, number, copy_shape.spec, published + COPY_LAG)
            trimmed = replace(
                copied,
                title=f"{story.title}: what we know",
                paragraphs=story.paragraphs[:-2],  # the same report, its end cut
                description=story.description,
                author=f"{story.author}, {shape.spec.short}",
                syndicated=True,
            )
            out.append(Placed(number, copy_key, trimmed, copy_shape.base + trimmed.path, copy=True))
        with self._lock:
            self._placed[number] = out
            if len(self._placed) > PAGE_MEMORY:
                for old in sorted(self._placed)[: len(self._placed) - PAGE_MEMORY]:
                    del self._placed[old]
        return out

    def listed(self, feed_key: str, moment: datetime) -> list[Placed]:
        """The live stories ``feed_key`` lists at ``moment``, newest first (at most KEEP)."""
        out: list[Placed] = []
        number = latest = latest_number(moment, self.tick_s)
        # a feed's own stories are one in len(LIVE_FEEDS); copies one in SYNDICATE_EVERY more
        while number >= 0 and len(out) < KEEP and number > latest - KEEP * 4:
            out += [
                p
                for p in self.placed(number)
                if p.feed_key == feed_key and p.story.published <= moment
            ]
            number -= 1
        return sorted(out, key=lambda p: p.story.published, reverse=True)[:KEEP]

    # ----------------------------------------------------------------- serving

    def answer(self, netloc: str, path: str, static: Resource | None) -> Resource | None:
        """What ``path`` on ``netloc`` serves now; ``static`` is the static site's answer."""
        moment = self.clock()
        key = self._feeds.get((netloc, path))
        if key is not None:
            if key == FLAKY_FEED and flaky_feed_down(moment):
                return _error(500, b"<h1>500 Internal Server Error</h1>")
            return self._feed(self.shapes[key], moment) if key in LIVE_FEEDS else static
        site = self._netloc_site.get(netloc)
        if site is None or path == "/robots.txt":
            return static
        page = static if static is not None else self._page(netloc, path, moment)
        if page is not None and site == THROTTLED_SITE and throttling(moment):
            return _error(
                429, b"<h1>429 Too Many Requests</h1>",
                (("Retry-After", str(RETRY_AFTER_S)),),
            )  # fmt: skip
        return page

    def _feed(self, shape: FeedShape, moment: datetime) -> Resource:
        from ingest.demosite.server import Resource  # noqa: PLC0415 - server imports this module

        live = [self._item(shape, p) for p in self.listed(shape.feed.key, moment)]
        items = sorted([*live, *shape.items], key=lambda i: i.published, reverse=True)[:KEEP]
        newest = max((i.published for i in items), default=LIVE_EPOCH)
        body = shape.render(items, newest).encode("utf-8")
        return Resource(body, shape.content_type, last_modified=newest.astimezone(UTC))

    def _item(self, shape: FeedShape, placed: Placed) -> feedwriter.FeedItem:
        story = placed.story
        return feedwriter.FeedItem(
            title=story.title,
            link=placed.url,
            guid=f"{shape.spec.slug}:live:{placed.number}",
            published=story.published,
            author=story.author,
            summary=story.description,
            categories=(story.section.title(), *story.tags),
        )

    def _page(self, netloc: str, path: str, moment: datetime) -> Resource | None:
        from ingest.demosite.server import Resource  # noqa: PLC0415 - server imports this module

        placed = self._story_at(netloc, path, moment)
        if placed is None:
            return None
        html = self._render(placed)
        return Resource(html, HTML, last_modified=placed.story.published.astimezone(UTC))

    def _story_at(self, netloc: str, path: str, moment: datetime) -> Placed | None:
        """The live story published by ``moment`` at ``path``, if any.

        Found from the number its slug ends with: any story ever published, whatever
        this server has seen or kept (a restarted server serves what the stopped one would).
        """
        latest = latest_number(moment, self.tick_s)
        for text in reversed(_NUMBERS.findall(path)[-2:]):  # the slug's, or before a uid
            number = int(text)
            if number > latest:
                continue
            for placed in self.placed(number):
                target = urlsplit(placed.url)
                if (target.netloc, target.path) == (netloc, path):
                    return placed if placed.story.published <= moment else None
        return None

    def _render(self, placed: Placed) -> bytes:
        key = (placed.url, placed.copy)
        with self._lock:
            html = self._pages.get(key)
        if html is not None:
            return html
        parts = self.parts[placed.story.publisher]
        others = parts.links or (PageLink(parts.spec.name, parts.base + "/"),)
        ctx = PageContext(
            site_name=parts.spec.name, site_slug=parts.spec.slug, base_url=parts.base,
            canonical_url=placed.url, image_url=parts.base + placed.story.image_path,
            feed_url=parts.feed_url, story=placed.story, promo=others[placed.number % len(others)],
            related=tuple(others[(placed.number + k) % len(others)] for k in range(1, 4)),
            nav=parts.nav,
        )  # fmt: skip
        html = render_article(parts.spec.template, ctx).encode("utf-8")
        with self._lock:
            self._pages[key] = html
            if len(self._pages) > PAGE_MEMORY:  # a cache: any page can be rendered again
                for old in list(self._pages)[: len(self._pages) - PAGE_MEMORY]:
                    del self._pages[old]
        return html


def _error(status: int, body: bytes, headers: tuple[tuple[str, str], ...] = ()) -> Resource:
    from ingest.demosite.server import Resource  # noqa: PLC0415 - server imports this module

    return Resource(body, HTML, compress=False, status=status, headers=headers)


__all__ = [
    "COPY_LAG", "FLAKY_FEED", "FLAKY_WINDOW", "KEEP", "LIVE_EPOCH", "LIVE_FEEDS",
    "SYNDICATE_EVERY", "THROTTLED_SITE", "THROTTLE_WINDOW", "TICK_S",
    "FeedShape", "LiveSite", "PageParts", "Placed", "flaky_feed_down",
    "latest_number", "throttling",
]  # fmt: skip
