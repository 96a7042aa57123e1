"""News sitemaps: typed entries from urlsets and indexes, and nothing unsafe read."""

from __future__ import annotations

import gzip
import time
from datetime import UTC, datetime

import pytest

from ingest.models import Miss, Reason
from ingest.sources.sitemaps import USUAL_PATHS, Sitemap, candidates, parse_sitemap

URL = "https://news.example/sitemaps/news.xml"

URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc> https://news.example/2026/11/harbour.html </loc>
    <lastmod>2026-11-20T10:00:00+02:00</lastmod>
    <news:news>
      <news:publication><news:name>Courier</news:name><news:language>en</news:language>
      </news:publication>
      <news:publication_date>2026-11-20T08:15:00Z</news:publication_date>
      <news:title>Harbour   dredging starts</news:title>
    </news:news>
  </url>
  <url><loc>/2026/11/relative.html</loc><lastmod>2026-11-19</lastmod></url>
  <url><loc>https://news.example/month.html</loc><lastmod>2026-11</lastmod></url>
  <url><loc>https://news.example/bad-date.html</loc><lastmod>yesterday</lastmod></url>
  <url><loc>javascript:alert(1)</loc></url>
  <url><lastmod>2026-11-19</lastmod></url>
</urlset>"""

INDEX = b"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://news.example/sitemaps/2026-11.xml.gz</loc>
    <lastmod>2026-11-30</lastmod></sitemap>
  <sitemap><loc>2026-10.xml</loc></sitemap>
</sitemapindex>"""


def parsed(body: bytes, **kw) -> Sitemap:
    result = parse_sitemap(body, URL, **kw)
    assert isinstance(result, Sitemap), result
    return result


def test_a_news_urlset_gives_typed_entries():
    sitemap = parsed(URLSET)
    assert not sitemap.is_index
    assert (sitemap.listed, sitemap.skipped) == (6, 2)  # a javascript: URL, no <loc>
    first, relative, month, bad = sitemap.urls
    assert first.loc == "https://news.example/2026/11/harbour.html"
    assert first.published == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    assert first.lastmod == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    assert (first.title, first.language) == ("Harbour dredging starts", "en")
    assert first.when == first.published
    assert relative.loc == "https://news.example/2026/11/relative.html"
    assert relative.when == datetime(2026, 11, 19, tzinfo=UTC)  # a date: midnight UTC
    assert month.lastmod == datetime(2026, 11, 1, tzinfo=UTC)
    assert bad.lastmod is None


def test_an_index_lists_its_sitemaps():
    sitemap = parsed(INDEX)
    assert sitemap.is_index
    assert [(c.loc, c.lastmod) for c in sitemap.children] == [
        ("https://news.example/sitemaps/2026-11.xml.gz", datetime(2026, 11, 30, tzinfo=UTC)),
        ("https://news.example/sitemaps/2026-10.xml", None),
    ]


def test_a_gzip_sitemap_is_inflated_and_a_bomb_is_refused_at_the_cap():
    assert parsed(gzip.compress(URLSET)).urls[0].title == "Harbour dredging starts"
    bomb = gzip.compress(b"<urlset>" + b" " * 20_000_000 + b"</urlset>")
    assert len(bomb) < 50_000
    result = parse_sitemap(bomb, URL, max_inflated=1_000_000)
    assert isinstance(result, Miss)
    assert result.reason is Reason.TOO_LARGE
    broken = parse_sitemap(gzip.compress(URLSET)[:-20], URL)
    assert isinstance(broken, Miss)
    assert broken.reason is Reason.SITEMAP_MALFORMED


def test_a_sitemap_stops_at_its_url_limit_and_says_how_many_it_listed():
    urls = b"".join(b"<url><loc>https://news.example/%d</loc></url>" % n for n in range(30))
    sitemap = parsed(b"<urlset>" + urls + b"</urlset>", max_urls=10)
    assert len(sitemap.urls) == 10
    assert sitemap.listed == 30


XXE = b"""<?xml version="1.0"?>
<!DOCTYPE urlset [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<urlset><url><loc>https://news.example/&secret;</loc></url></urlset>"""

LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + b"".join(
        b'<!ENTITY lol%d "%s">' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b"]><urlset><url><loc>https://news.example/&lol9;</loc></url></urlset>"
)


@pytest.mark.parametrize("body", [XXE, LAUGHS], ids=["external-entity", "billion-laughs"])
def test_a_document_type_is_refused_before_any_entity_is_read(body):
    started = time.monotonic()
    result = parse_sitemap(body, URL)
    assert time.monotonic() - started < 1.0  # nothing expanded: a 10^9-fold entity is not
    assert isinstance(result, Miss)
    assert result.reason is Reason.SITEMAP_MALFORMED
    assert "document type" in result.detail
    assert "root:" not in result.detail


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html><body>Not found</body></html>", "not a sitemap"),
        (b"<urlset><url><loc>x</loc>", "not well-formed"),
        (b"", "not well-formed"),
    ],
)
def test_what_is_not_a_sitemap_is_a_miss_with_its_reason(body, detail):
    result = parse_sitemap(body, URL)
    assert isinstance(result, Miss)
    assert result.reason is Reason.SITEMAP_MALFORMED
    assert detail in result.detail


def test_candidates_are_robots_lines_first_then_the_usual_paths_once_each():
    got = candidates(
        "https://news.example/",
        [
            "https://news.example/sitemap.xml",
            "ftp://news.example/x.xml",
            "https://cdn.example/n.xml",
        ],
    )
    assert got[:2] == ["https://news.example/sitemap.xml", "https://cdn.example/n.xml"]
    assert got[2:] == [f"https://news.example{p}" for p in USUAL_PATHS if p != "/sitemap.xml"]


def urlset(*entries: tuple[str, str | None]) -> bytes:
    rows = "".join(
        f"<url><loc>{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</url>"
        for loc, mod in entries
    )
    return f"<urlset>{rows}</urlset>".encode()


def index(*children: tuple[str, str | None]) -> bytes:
    rows = "".join(
        f"<sitemap><loc>{loc}</loc>" + (f"<lastmod>{mod}</lastmod>" if mod else "") + "</sitemap>"
        for loc, mod in children
    )
    return f"<sitemapindex>{rows}</sitemapindex>".encode()


SITE = {
    "https://n.example/sitemap_index.xml": index(
        ("https://n.example/2026-11.xml.gz", "2026-11-30"),
        ("https://n.example/2026-10.xml", "2026-10-20"),  # before the range: not read
        ("https://n.example/nested.xml", None),
        ("https://n.example/missing.xml", None),
    ),
    "https://n.example/2026-11.xml.gz": gzip.compress(urlset(
        ("https://n.example/a", "2026-11-20"), ("https://n.example/b", "2026-11-02"),
        ("https://n.example/old", "2026-09-01"), ("https://n.example/undated", None),
    )),
    "https://n.example/2026-10.xml": urlset(("https://n.example/oct", "2026-10-20")),
    "https://n.example/nested.xml": index(("https://n.example/deep.xml", None)),
    "https://n.example/deep.xml": urlset(
        ("https://n.example/a", "2026-11-20"), ("https://n.example/c", "2026-11-21")
    ),
}  # fmt: skip
SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)


def fetcher(site):
    asked = []

    def get(url):
        asked.append(url)
        return site.get(url) or Miss(Reason.NOT_FOUND, "HTTP 404")

    return get, asked


def test_a_walk_follows_indexes_and_keeps_what_is_dated_in_range():
    from ingest.sources.sitemaps import walk

    get, asked = fetcher(SITE)
    found = walk(["https://n.example/sitemap_index.xml"], get, since=SINCE, until=UNTIL)
    assert [u.loc for u in found.urls] == ["https://n.example/a", "https://n.example/b",
                                           "https://n.example/c"]  # fmt: skip
    assert (found.read, found.out_of_range, found.undated, found.repeated) == (4, 1, 1, 1)
    assert found.stale_children == 1
    assert "https://n.example/2026-10.xml" not in asked  # filtered before it was fetched
    assert [(u, m.reason) for u, m in found.misses] == [
        ("https://n.example/missing.xml", Reason.NOT_FOUND)
    ]
    assert len(asked) == len(set(asked))
    assert found.cut == []


def test_a_walk_stops_at_its_limits_and_says_which():
    from ingest.sources.sitemaps import walk

    loop = {  # an index that lists itself and a chain of nested indexes
        "https://n.example/i0.xml": index(("https://n.example/i0.xml", None),
                                          ("https://n.example/i1.xml", None)),
        **{f"https://n.example/i{n}.xml": index((f"https://n.example/i{n + 1}.xml", None))
           for n in range(1, 10)},
    }  # fmt: skip
    get, asked = fetcher(loop)
    found = walk(["https://n.example/i0.xml"], get, since=SINCE, until=UNTIL, max_depth=3)
    assert found.read == 4  # i0 and three levels below it
    assert asked.count("https://n.example/i0.xml") == 1  # it lists itself: read once
    assert found.cut == ["indexes deeper than 3"]
    get, _ = fetcher(loop)
    found = walk(["https://n.example/i0.xml"], get, since=SINCE, until=UNTIL, max_files=2)
    assert (found.read, found.cut) == (2, ["2 sitemap files"])
    get, _ = fetcher(SITE)
    found = walk(["https://n.example/sitemap_index.xml"], get, since=SINCE, until=UNTIL,
                 max_urls=2)  # fmt: skip
    assert ([u.loc for u in found.urls], found.cut) == (
        ["https://n.example/a", "https://n.example/b"],
        ["2 URLs"],
    )


def test_the_pages_found_are_queued_as_the_publishers_entries_with_their_sitemap():
    from ingest.models import SourceKind
    from ingest.sources import queue_leads
    from ingest.sources.sitemaps import leads, walk
    from ingest.urls import entry_id_for

    long = "https://n.example/" + "x" * 300
    site = {**SITE, "https://n.example/deep.xml": urlset(
        ("https://n.example/c?utm_source=sitemap", "2026-11-21"), (long, "2026-11-22"))}  # fmt: skip
    get, _ = fetcher(site)
    found = walk(["https://n.example/sitemap_index.xml"], get, since=SINCE, until=UNTIL)
    queued, refused = queue_leads(leads(found), "news-a", max_length=200)
    by_url = {q.canonical_url: q for q in queued}
    assert set(by_url) == {"https://n.example/a", "https://n.example/b", "https://n.example/c"}
    c = by_url["https://n.example/c"]  # canonical: the tracking parameter is gone
    assert c.entry.link == "https://n.example/c?utm_source=sitemap"
    assert c.entry_id == entry_id_for("news-a", c.entry.guid, c.canonical_url)
    assert (c.source.kind, c.source.key) == (SourceKind.SITEMAP, "https://n.example/deep.xml")
    assert by_url["https://n.example/a"].source.key == "https://n.example/2026-11.xml.gz"
    assert by_url["https://n.example/a"].entry.published == datetime(2026, 11, 20, tzinfo=UTC)
    assert [(e.link, why) for e, why in refused] == [(long, "url_too_long")]


@pytest.mark.parametrize(
    ("site", "root"),
    [
        (None, "https://feeds.example.com/"),
        ("www.example.com", "https://www.example.com/"),
        ("127.0.0.2:8080", "https://127.0.0.2:8080/"),
        ("http://www.example.com/news/", "http://www.example.com/"),
    ],
)
def test_a_publishers_home_is_its_site_else_its_feeds_host(site, root):
    from ingest.sources import site_root

    assert site_root("https://feeds.example.com/rss/all.xml", site) == root


def test_a_publishers_hosts_are_its_sites_else_its_feeds_and_its_stored_articles():
    from ingest.sources import publisher_hosts

    feed = "https://feeds.example.com/rss.xml"
    stored = ["https://www.example.com/2026/a.html", "WWW.example.com."]
    assert publisher_hosts(feed, None, stored) == {"feeds.example.com", "www.example.com"}
    assert publisher_hosts(feed, "www.example.com", stored) == {"www.example.com"}
    assert publisher_hosts(feed, "https://news.example.com/x", ()) == {"news.example.com"}


@pytest.mark.parametrize(
    ("lastmod", "read"),
    [
        ("2026-11-14T23:00:00Z", False),  # an instant before the range
        ("2026-11-14", True),  # a date: in a zone west of UTC it ends on the 15th
        ("2026-11-13", False),
        ("2026-11", True),  # a month: all of it, the range included
        ("2026-10", False),
        ("2026-11-15t08:00:00z", True),  # RFC 3339 allows lower case
    ],
)
def test_a_child_sitemap_is_passed_over_only_when_all_its_lastmod_may_mean_is_before(lastmod, read):
    from ingest.sources.sitemaps import walk

    site = {"https://n.example/i.xml": index(("https://n.example/c.xml", lastmod)),
            "https://n.example/c.xml": urlset(("https://n.example/p", "2026-11-20"))}  # fmt: skip
    get, asked = fetcher(site)
    since = datetime(2026, 11, 15, tzinfo=UTC)
    walk(["https://n.example/i.xml"], get, since=since, until=UNTIL)
    assert ("https://n.example/c.xml" in asked) is read


FLOOD = """
import gzip, resource, sys
from ingest.sources.sitemaps import parse_sitemap
body = gzip.compress(b"<urlset>" + b"<url/>" * 2_000_000 + b"</urlset>")
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = parse_sitemap(body, "https://n.example/s.xml", max_elements=int(sys.argv[1]))
grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
print(type(result).__name__, getattr(result, "listed", getattr(result, "reason", "")), grown)
"""


@pytest.mark.timeout(60)
def test_a_flood_of_elements_is_read_in_flat_memory_and_stops_at_the_budget():
    """2 million entries (a 12 MB file, 30 KB gzipped): as a tree, some 250 MB of nodes."""
    import subprocess
    import sys

    def run(budget):
        out = subprocess.run([sys.executable, "-c", FLOOD, str(budget)], capture_output=True,
                             text=True, check=True, timeout=60).stdout.split()  # fmt: skip
        return out[0], out[1], int(out[2]) * 1024  # ru_maxrss is in KiB

    kind, listed, grown = run(10_000_000)
    assert (kind, listed) == ("Sitemap", "2000000")  # all read (each without a <loc>)
    assert grown < 60_000_000  # the inflated body and buffers, no tree
    kind, reason, _ = run(100_000)
    assert (kind, reason) == ("Miss", "too_large")


def test_utf16_and_multi_member_gzip_sitemaps():
    xxe16 = XXE.decode().replace('<?xml version="1.0"?>', "").encode("utf-16")
    assert b"<!DOCTYPE" not in xxe16  # the byte check cannot see it: the parser refuses it
    result = parse_sitemap(xxe16, URL)
    assert isinstance(result, Miss)
    assert result.reason is Reason.SITEMAP_MALFORMED
    assert "secret" not in result.detail
    half = len(URLSET) // 2
    two_members = gzip.compress(URLSET[:half]) + gzip.compress(URLSET[half:])
    assert len(parsed(two_members).urls) == 4
