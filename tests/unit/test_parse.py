from datetime import UTC, datetime

import pytest

from ingest.models import Miss, ParsedFeed, Reason
from ingest.parse import parse_feed

FEED_URL = "https://fixture.example/feeds/main.xml"


def parse(fixtures, name) -> ParsedFeed:
    result = parse_feed((fixtures / name).read_bytes(), FEED_URL)
    assert isinstance(result, ParsedFeed), result
    return result


def test_rss2_entries_have_utc_dates_and_absolute_links(fixtures):
    feed = parse(fixtures, "rss2.xml")
    first, second = feed.entries[0], feed.entries[1]
    assert first.guid == "tribune-1001"
    assert first.published == datetime(2026, 11, 20, 6, 30, tzinfo=UTC)  # +0200 in the feed
    assert second.published == datetime(2026, 11, 19, 22, 0, tzinfo=UTC)  # -0500
    assert second.link == "https://fixture.example/2026/school-board"  # relative, resolved
    assert feed.title == "Fixture Tribune & Friends"
    assert feed.ttl_minutes == 60


def test_rss2_plain_guid_is_kept_verbatim(fixtures):
    assert parse(fixtures, "rss2.xml").entries[1].guid == "tribune-1002"


def test_exact_repeats_are_skipped_but_a_reused_guid_with_another_link_is_kept(fixtures):
    pairs = [(e.guid, e.link) for e in parse(fixtures, "rss2.xml").entries]
    assert len(pairs) == len(set(pairs)) == 4
    assert [g for g, _ in pairs].count("tribune-1002") == 2
    assert [g for g, _ in pairs].count("tribune-1001") == 1


def test_bad_date_gives_none_not_an_error(fixtures):
    undated = parse(fixtures, "rss2.xml").entries[3]
    assert undated.published is None
    assert undated.guid == undated.link  # no guid: the link stands in


def test_summary_html_is_reduced_to_text(fixtures):
    assert parse(fixtures, "rss2.xml").entries[0].summary == "Crews will close one lane."


def test_atom_xml_base_and_protocol_relative_links(fixtures):
    feed = parse(fixtures, "atom.xml")
    assert feed.entries[0].link == "https://courier.example/news/harbour-dredging.html"
    assert feed.entries[0].published == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    assert feed.entries[0].updated == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert feed.entries[0].author == "Ben Okafor"
    assert feed.entries[1].link == "https://courier.example/news/proto.html"


ITEM_BASES = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Bases</title><link>/home/</link>
<item xml:base="https://a.example/news/"><title>A</title><link>one.html</link><guid>1</guid></item>
<item><title>B</title><link>two.html</link><guid>2</guid></item>
<item xml:base="https://c.example/world/"><title>C</title><link> three.html </link><guid>3</guid>
</item>
<item><title>D \xc3\xa9t\xc3\xa9</title><link>sub/four.html</link><guid>4</guid></item>
</channel></rss>"""

ENTRY_BASES = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://site.example/feed/">
<title>t</title><id>x</id><updated>2026-01-01T00:00:00Z</updated>
<entry xml:base="../news/"><title>a</title><id>1</id><link href="one.html"/>
<updated>2026-01-01T00:00:00Z</updated></entry>
<entry><title>b</title><id>2</id><link href="two.html"/><updated>2026-01-01T00:00:00Z</updated>
</entry></feed>"""


def test_resolving_bases_keeps_guids_bad_links_and_the_charset_precedence():
    """The rewrite only makes each item's base explicit: what feedparser did, it still does."""
    body = b"""<?xml version="1.0" encoding="koi8-r"?>
<rss version="2.0" xml:base="https://b.example/blog/"><channel><title>\xd0\x9f\xd1\x80</title>
<item xml:base="/sub/"><title>a</title><guid isPermaLink="true">p/1</guid></item>
<item><title>b</title><link>http://[oops/x</link><guid>2</guid></item>
<item><title>c</title><link>c.html</link><guid>3</guid></item>
</channel></rss>"""
    feed = parse_feed(body, FEED_URL, "application/rss+xml; charset=utf-8")
    assert isinstance(feed, ParsedFeed)
    assert feed.title == "\u041f\u0440"  # the header's UTF-8, not the declared KOI8-R
    feed = parse_feed(body.replace(b"\xd0\x9f\xd1\x80", b"T"), FEED_URL)
    assert isinstance(feed, ParsedFeed)
    links = {e.title: e.link for e in feed.entries}
    assert links["a"] == "https://b.example/sub/p/1"  # a permalink guid, by its item's base
    assert "b" not in links  # one bad link loses its entry, not the feed
    assert links["c"] == "https://b.example/blog/c.html"


def test_each_item_resolves_by_its_own_xml_base_not_the_previous_items():
    """feedparser carried one item's xml:base over to the items after it."""
    feed = parse_feed(ITEM_BASES, FEED_URL, "application/rss+xml; charset=utf-8")
    assert isinstance(feed, ParsedFeed)
    assert [e.link for e in feed.entries] == [
        "https://a.example/news/one.html",
        "https://fixture.example/feeds/two.html",  # no base of its own: the feed's URL
        "https://c.example/world/three.html",
        "https://fixture.example/feeds/sub/four.html",
    ]
    assert feed.entries[3].title == "D \u00e9t\u00e9"  # the rewrite kept the characters
    assert feed.link == "https://fixture.example/home/"
    atom = parse_feed(ENTRY_BASES, FEED_URL)
    assert isinstance(atom, ParsedFeed)
    assert [e.link for e in atom.entries] == [
        "https://site.example/news/one.html",  # relative to the feed's own base
        "https://site.example/feed/two.html",
    ]


def test_rdf_feed_dc_date_and_creator(fixtures):
    entry = parse(fixtures, "rdf.xml").entries[0]
    assert entry.link == "https://ledger.example/a/3001"
    assert entry.published == datetime(2026, 11, 18, 22, 45, tzinfo=UTC)
    assert entry.author == "Chen Wei"


def test_truncated_feed_is_a_miss_with_reason(fixtures):
    result = parse_feed((fixtures / "broken-truncated.xml").read_bytes(), FEED_URL)
    assert isinstance(result, Miss)
    assert result.reason is Reason.FEED_MALFORMED
    assert result.detail


def test_html_page_is_not_a_feed(fixtures):
    result = parse_feed((fixtures / "not-a-feed.html").read_bytes(), FEED_URL, "text/html")
    assert isinstance(result, Miss)
    assert result.reason is Reason.FEED_MALFORMED


def test_entry_cap_is_honoured():
    items = "".join(
        f"<item><title>t{i}</title><link>https://x.example/{i}</link></item>" for i in range(30)
    )
    body = f'<rss version="2.0"><channel><title>big</title>{items}</channel></rss>'.encode()
    result = parse_feed(body, FEED_URL, max_entries=10)
    assert isinstance(result, ParsedFeed)
    assert len(result.entries) == 10


def rss_of(n: int, *, extra: str = "") -> bytes:
    items = "".join(
        f"<item><title>Story {i}</title><link>https://fixture.example/{i}</link>"
        f"<guid>g{i}</guid><pubDate>Fri, 20 Nov 2026 06:30:00 +0000</pubDate></item>"
        for i in range(n)
    )
    return f'<?xml version="1.0" encoding="utf-8"?>{extra}<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'.encode()


def atom_of(n: int) -> bytes:
    entries = "".join(
        f'<entry><id>urn:e{i}</id><title>Story {i}</title><link href="https://fixture.example/{i}"/>'
        "<updated>2026-11-20T06:30:00Z</updated></entry>"
        for i in range(n)
    )
    return f'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>{entries}</feed>'.encode()


def rdf_of(n: int) -> bytes:
    items = "".join(
        f'<item rdf:about="https://fixture.example/{i}"><title>Story {i}</title>'
        f"<link>https://fixture.example/{i}</link></item>"
        for i in range(n)
    )
    return (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://fixture.example/">'
        f"<title>T</title></channel>{items}</rdf:RDF>"
    ).encode()


@pytest.mark.parametrize("make", [rss_of, atom_of, rdf_of], ids=["rss", "atom", "rdf"])
def test_a_long_feed_is_cut_to_its_first_entries_before_feedparser_reads_it(make):
    from ingest.parse import _first_entries

    body, listed = _first_entries(make(300), 7)
    assert listed == 300
    assert body.count(b"Story ") == 7  # the rest never reaches feedparser
    result = parse_feed(make(300), FEED_URL, max_entries=7)
    assert [e.link for e in result.entries] == [f"https://fixture.example/{i}" for i in range(7)]
    assert result.warnings == (Reason.FEED_TRUNCATED,)
    assert result.warning == "feed_truncated: 300 entries; the first 7 read"


def test_a_feed_within_the_limit_is_not_rewritten():
    from ingest.parse import _first_entries

    assert _first_entries(rss_of(7), 7) is None
    assert len(parse_feed(rss_of(7), FEED_URL, max_entries=7).entries) == 7


def test_a_long_feed_that_is_not_well_formed_is_still_read_by_feedparser():
    from ingest.parse import _first_entries

    broken = rss_of(40).replace(b"</channel></rss>", b"")  # cut off mid-download
    assert _first_entries(broken, 5) is None  # lxml refuses it: nothing is cut here
    result = parse_feed(broken, FEED_URL, max_entries=5)
    assert len(result.entries) == 5
    assert Reason.FEED_TRUNCATED in result.warnings and Reason.FEED_RECOVERED in result.warnings


def test_cutting_a_feed_expands_and_fetches_no_entity():
    from ingest.parse import _first_entries

    doctype = '<!DOCTYPE rss [<!ENTITY lol "lol"><!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    body = rss_of(20, extra=doctype).replace(b"Story 1<", b"Story 1 &lol;&xxe;<")
    cut, listed = _first_entries(body, 3)
    assert listed == 20
    assert b"root:" not in cut
    assert b"&lol;" in cut and b"&xxe;" in cut  # references left as they were


@pytest.mark.parametrize("charset", ["windows-1251", "iso-8859-2", "koi8-r", "utf-8"])
def test_a_cut_feed_keeps_its_characters_whatever_charset_the_headers_claim(charset):
    """An ASCII feed with character references, served with a single-byte charset."""
    body = rss_of(30).replace(
        b"Story 0<", b"Story 0 &#1055;&#1088;&#1080;&#1074;&#1077;&#1090; &#233;<"
    )
    result = parse_feed(body, FEED_URL, f"application/rss+xml; charset={charset}", max_entries=5)
    assert result.entries[0].title == "Story 0 Привет é"
    assert Reason.FEED_TRUNCATED in result.warnings


def test_a_cut_feed_in_a_declared_single_byte_encoding_keeps_its_characters():
    body = rss_of(30).replace(b'encoding="utf-8"', b'encoding="windows-1251"')
    body = body.replace(b"Story 0<", "Story 0 Привет<".encode("windows-1251"))
    result = parse_feed(body, FEED_URL, "application/rss+xml", max_entries=5)
    assert result.entries[0].title == "Story 0 Привет"


JSON_FEED_11 = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Coastline Daily",
    "home_page_url": "/",
    "authors": [{"name": "Desk"}],
    "items": [
        {
            "id": "a-1", "url": "/2026/harbour.html", "title": "Harbour <b>dredging</b>",
            "content_html": "<p>Crews start</p><p>on Monday.</p>",
            "date_published": "2026-11-20T08:15:00+02:00", "authors": [{"name": "Ben Okafor"}],
        },
        {"id": "a-2", "external_url": "https://wire.example/x", "summary": "Wire story",
         "date_modified": "2026-11-20T09:00:00Z"},
        {"id": "a-3", "title": "no url: skipped"},
        {"id": "a-1", "url": "/2026/harbour.html"},  # an exact repeat
        {"id": "a-4", "url": "/2026/undated", "date_published": "next Tuesday"},
        "not an item",
    ],
}  # fmt: skip


def test_a_json_feed_gives_the_same_typed_entries():
    import json

    feed = parse_feed(json.dumps(JSON_FEED_11).encode(), FEED_URL, "application/feed+json")
    assert isinstance(feed, ParsedFeed)
    assert (feed.title, feed.link) == ("Coastline Daily", "https://fixture.example/")
    first, second, undated = feed.entries
    assert first.guid == "a-1"
    assert first.link == "https://fixture.example/2026/harbour.html"
    assert first.title == "Harbour dredging"
    assert first.summary == "Crews start on Monday."
    assert first.published == datetime(2026, 11, 20, 6, 15, tzinfo=UTC)
    assert first.author == "Ben Okafor"
    assert (second.link, second.summary, second.author) == ("https://wire.example/x",
                                                            "Wire story", "Desk")  # fmt: skip
    assert second.published == second.updated == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    assert undated.published is None
    assert feed.warnings == (Reason.BAD_DATES,)
    assert "next Tuesday" in (feed.warning or "")


def test_a_json_feed_1_0_with_number_ids_and_no_content_type_is_read():
    body = (
        b'\xef\xbb\xbf {"version": "https://jsonfeed.org/version/1", "author": {"name": "A"},'
        b' "items": [{"id": 7, "url": "https://x.example/7", "date_published":'
        b' "2026-11-20T08:15:00"}]}'
    )
    feed = parse_feed(body, FEED_URL, None)
    assert isinstance(feed, ParsedFeed)
    (entry,) = feed.entries
    assert (entry.guid, entry.author) == ("7", "A")
    assert entry.published == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)  # no offset: UTC


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b'{"version": "1", "items": []}', "JSON Feed version"),
        (b'{"items": [}', "JSONDecodeError"),
        (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "items list"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "x": ' + b"9" * 5000 + b"}", "JSON"),
    ],
)
def test_json_that_is_not_a_json_feed_is_a_miss_with_its_reason(body, detail):
    result = parse_feed(body, FEED_URL, "application/json")
    assert isinstance(result, Miss)
    assert result.reason is Reason.FEED_MALFORMED
    assert detail in result.detail


def test_a_json_feed_is_cut_to_its_first_entries():
    import json

    items = [{"id": str(n), "url": f"https://x.example/{n}"} for n in range(30)]
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items})
    feed = parse_feed(body.encode(), FEED_URL, "application/feed+json", max_entries=10)
    assert isinstance(feed, ParsedFeed)
    assert [e.guid for e in feed.entries] == [str(n) for n in range(10)]
    assert feed.warnings == (Reason.FEED_TRUNCATED,)
