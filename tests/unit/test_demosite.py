"""The bundled demo site: deterministic, realistic, and with every case the tests rely on."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import feedparser
import pytest

from ingest.demosite import build_site
from ingest.registry import parse_registry

BASES = [f"http://127.0.0.{i}:9999" for i in range(1, 5)]


def test_same_seed_same_bytes_other_seed_other_text():
    one, _ = build_site(BASES, seed=7)
    two, _ = build_site(BASES, seed=7)
    other, _ = build_site(BASES, seed=8)
    assert one.pages() == two.pages()
    assert one.feeds_toml() == two.feeds_toml()
    assert one.pages() != other.pages()


def test_publishers_have_their_own_templates_and_boilerplate():
    site, _ = build_site(BASES)
    pages = site.pages()
    by_host: dict[str, list[str]] = {}
    for url, html in pages.items():
        by_host.setdefault(url.split("/")[2], []).append(html.decode())
    assert len(by_host) == 4
    skeletons = set()
    for htmls in by_host.values():
        text = " ".join(htmls).lower()
        markers = {
            "cookie banner": ("cookie",),
            "share bar": ("share",),
            "comments": ("comment",),
            "photo credit": ("photo",),
            "navigation": ("<nav", "menu", "navigation"),
            "newsletter box": ("newsletter", "subscribe"),
            "related links": ("related", "more from", "most read"),
        }
        for name, alternatives in markers.items():
            assert any(m in text for m in alternatives), name
        skeletons.add(htmls[0][:400])
    assert len(skeletons) == 4  # four different page layouts
    assert sum("read more" in " ".join(h).lower() for h in by_host.values()) >= 2


def test_feed_formats_and_one_malformed():
    site, _ = build_site(BASES)
    assert {f.format for f in site.feeds} >= {"rss2", "atom", "rdf"}
    assert sum(f.malformed for f in site.feeds) == 1
    assert len(parse_registry(site.feeds_toml())) == len(site.feeds)


def test_one_story_syndicated_on_two_publishers_with_identical_paragraphs():
    site, _ = build_site(BASES)
    wire = [a for a in site.articles if a.syndicated]
    assert len(wire) == 2
    assert wire[0].publisher != wire[1].publisher
    assert wire[0].paragraphs == wire[1].paragraphs
    assert wire[0].url != wire[1].url


def test_tracking_parameters_on_listed_links():
    site, _ = build_site(BASES)
    listed = [u for a in site.articles for u in a.listed_urls]
    assert any("utm_source=" in u for u in listed)
    assert any(len(a.listed_urls) > 1 for a in site.articles)


def fetch(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def test_served_feeds_parse_and_bad_links_misbehave(demo_site):
    for feed in demo_site.feeds:
        status, _, body = fetch(feed.url)
        assert status == 200
        parsed = feedparser.parse(body)
        assert bool(parsed.entries) is not feed.malformed, feed.key
    kinds = {b.kind: b.url for b in demo_site.bad_links}
    assert fetch(kinds["not_found"])[0] == 404
    status, headers, body = fetch(kinds["not_html"])
    assert (status, headers["Content-Type"], body[:5]) == (200, "application/pdf", b"%PDF-")


def test_served_news_sitemaps_list_every_page_and_one_is_hostile(demo_site):
    from datetime import UTC, datetime
    from urllib.parse import urlsplit

    from ingest.models import Miss, Reason
    from ingest.sources.sitemaps import walk

    def get(url):
        status, _, body = fetch(url)
        return body if status == 200 else Miss(Reason.NOT_FOUND, f"HTTP {status}")

    by_host: dict[str, set[str]] = {}
    for article in demo_site.articles:
        by_host.setdefault(urlsplit(article.url).netloc, set()).add(article.url)
    hostile = 0
    for host, urls in by_host.items():
        robots = fetch(f"http://{host}/robots.txt")[2].decode()
        (line,) = [x for x in robots.splitlines() if x.startswith("Sitemap:")]
        index = line.split(":", 1)[1].strip()
        assert get(index.replace("sitemap_index.xml", "sitemaps/news.xml.gz"))[:2] == b"\x1f\x8b"
        found = walk([index], get, since=datetime(2000, 1, 1, tzinfo=UTC),
                     until=datetime(2100, 1, 1, tzinfo=UTC))  # fmt: skip
        assert {u.loc for u in found.urls} == urls, host
        assert any(u.title and u.published and u.language == "en" for u in found.urls)
        for _, miss in found.misses:
            assert miss.reason is Reason.SITEMAP_MALFORMED
            assert "document type" in miss.detail
            hostile += 1
    assert hostile == 1


@pytest.mark.timeout(30)
def test_slow_page_drips_for_seconds_without_ever_going_quiet(demo_site):
    slow = next(b.url for b in demo_site.bad_links if b.kind == "slow")
    started = time.monotonic()
    # A 1 s socket timeout never fires (bytes keep coming) yet the body takes ~6 s.
    with urllib.request.urlopen(slow, timeout=1) as resp:
        first = time.monotonic() - started
        resp.read()
    assert first < 1.0
    assert time.monotonic() - started > 4.0


def test_conditional_get_and_gzip(demo_site):
    url = demo_site.articles[0].url
    status, headers, _ = fetch(url)
    assert status == 200 and headers["ETag"]
    assert fetch(url, {"If-None-Match": headers["ETag"]})[0] == 304
    status, headers, body = fetch(url, {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip" and body[:2] == b"\x1f\x8b"
