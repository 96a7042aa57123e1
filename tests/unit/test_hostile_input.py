"""Hostile feeds and pages fail that item with a reason; nothing escapes a stage."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.extract import extract_page
from ingest.fetch import Fetcher, Limits
from ingest.models import Extracted, FetchFailure, Miss, ParsedFeed, Reason, Validators
from ingest.normalise import choose_canonical
from ingest.parse import parse_feed

FEED = "https://feeds.example/rss"
LIMITS = Limits(deadline_s=3.0, max_bytes=1 << 20)


def rss(items: str) -> bytes:
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>{items}</channel></rss>'.encode()


@pytest.mark.parametrize(
    "item",
    [
        "<item><title>Lone &#xD800; surrogate</title><link>https://a.example/1</link></item>",
        "<item><title>Broken link</title><link>http://[oops/x</link></item>",
        "<item><title>NUL guid</title><guid>g&#0;1</guid><link>https://a.example/2</link></item>",
    ],
)
def test_hostile_feed_items_never_raise(item):
    result = parse_feed(rss(item), FEED)
    assert isinstance(result, ParsedFeed | Miss)
    if isinstance(result, ParsedFeed):
        for entry in result.entries:
            assert "\x00" not in entry.guid
            assert entry.link.startswith("https://")


GOOD_TITLE = "Good one: Café in Zürich"
GOOD_ITEM = f"<item><title>{GOOD_TITLE}</title><link>https://a.example/good</link></item>".encode()
HOSTILE_ITEMS = {
    "lone-surrogate-reference": b"<title>Lone &#xD800; surrogate</title>",
    "reference-past-unicode": b"<title>Far &#x110000; &#99999999999999999999; out</title>",
    "nul-reference": b"<title>NUL &#0; ref</title>",
    "escape-reference": b"<title>ESC &#27;[2J ref</title>",
    "raw-nul": b"<title>raw \x00 nul</title>",
    "raw-control": b"<title>raw \x1b control</title>",
    "undecodable-bytes": b"<title>bad \xff\xfe\xc3 bytes</title>",
    "broken-entity": b"<title>broken &bogus; entity &amp</title>",
    "padded-surrogate-reference": b"<title>Padded &#x000000000000000000D800; one</title>",
    "huge-reference": b"<title>Huge &#" + b"9" * 5000 + b"; one</title>",
}


@pytest.mark.parametrize("name", HOSTILE_ITEMS)
@pytest.mark.parametrize("first", ["hostile", "good"])
def test_a_hostile_item_costs_that_item_at_most_and_never_its_neighbours(name, first):
    hostile = b"<item>" + HOSTILE_ITEMS[name] + b"<link>https://a.example/bad</link></item>"
    items = hostile + GOOD_ITEM if first == "hostile" else GOOD_ITEM + hostile
    head = b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>x</title>'
    result = parse_feed(head + items + b"</channel></rss>", FEED)
    assert isinstance(result, ParsedFeed), result
    links = [e.link for e in result.entries]
    assert "https://a.example/good" in links
    good = next(e for e in result.entries if e.link == "https://a.example/good")
    assert good.title == GOOD_TITLE  # its text intact, whatever its neighbour holds
    for entry in result.entries:  # what is kept holds nothing a database cannot store
        assert not any(c in (entry.title or "") for c in "\x00\ud800")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_parse_feed_never_raises_on_any_bytes(data):
    assert isinstance(parse_feed(data, FEED), ParsedFeed | Miss)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=2000))
def test_extract_page_never_raises_on_any_text(text):
    html = f"<html><head><title>t</title></head><body><p>{text}</p></body></html>"
    result = extract_page(html.encode("utf-8", "surrogatepass"), "text/html", "https://a.example/")
    assert isinstance(result, Extracted | Miss)


@pytest.mark.parametrize(
    ("content_type", "head"),
    [
        ("text/html; charset=undefined", ""),
        ("text/html", '<meta charset="undefined">'),
        ("text/html", '<meta charset="punycode">'),
        (
            "text/html",
            '<meta property="article:published_time" content="0001-01-01T00:00:00+05:00">',
        ),
    ],
)
def test_hostile_page_heads_do_not_crash(content_type, head, fixtures):
    page = (fixtures / "article.html").read_text().replace("<head>", f"<head>{head}", 1)
    result = extract_page(page.encode(), content_type, "https://courier.example/a")
    assert isinstance(result, Extracted | Miss)


def test_pathological_meta_soup_stays_fast():
    page = b"<html><head>" + b"<meta " * 40_000 + b"</head><body><p>x</p></body></html>"
    started = time.monotonic()
    assert isinstance(extract_page(page, "text/html", "https://a.example/"), Extracted | Miss)
    assert time.monotonic() - started < 10


def test_bom_and_xml_declaration_are_still_html(fixtures):
    page = (
        b"\xef\xbb\xbf"
        b'<?xml version="1.0" encoding="utf-8"?>\n' + (fixtures / "article.html").read_bytes()
    )
    assert isinstance(extract_page(page, None, "https://courier.example/a"), Extracted)


def test_zone_less_page_time_does_not_beat_the_feed(fixtures):
    page = (
        (fixtures / "article.html")
        .read_text()
        .replace('content="2026-11-20T09:15:00+01:00"', 'content="2026-11-20 09:15"')
    )
    result = extract_page(page.encode(), "text/html", "https://courier.example/a")
    assert isinstance(result, Extracted)
    assert result.published is None  # the zone is unknown: the feed's date wins
    assert result.date_guess is not None


def test_canonical_pointing_at_the_site_root_is_ignored():
    served = "https://news.example/2026/11/story"
    assert choose_canonical(served, "https://news.example/") == served
    assert (
        choose_canonical("https://news.example/", "https://news.example/")
        == "https://news.example/"
    )


def test_non_ascii_validator_is_not_sent(httpserver):
    httpserver.expect_request("/feed").respond_with_data("ok")
    with Fetcher("t", allow_loopback=True) as fetcher:
        result = fetcher.get(httpserver.url_for("/feed"), LIMITS, Validators(etag='"café"'))
    assert not isinstance(result, FetchFailure)


def test_redirect_to_an_idn_httpx_refuses_is_a_bad_url(httpserver):
    httpserver.expect_request("/r").respond_with_data(
        "", 302, headers={"Location": "http://xn--a.com/"}
    )
    with Fetcher("t", allow_loopback=True) as fetcher:
        result = fetcher.get(httpserver.url_for("/r"), LIMITS)
    assert isinstance(result, FetchFailure)
    assert result.reason is Reason.BAD_URL


def test_unparseable_redirect_location_is_a_bad_url():
    from ingest.fetch import _Failed, _redirect_target

    with pytest.raises(_Failed) as info:
        _redirect_target("https://a.example/", 302, "http://[oops/x")
    assert info.value.reason is Reason.BAD_URL


@pytest.mark.parametrize(
    "reference", ["&#27;", "&#x1;", "&#xFFFF;", "&#xD800;", "&#0;", "&#x110000;"]
)
def test_a_reference_no_text_can_hold_costs_the_page_one_character(reference, fixtures):
    page = (fixtures / "article.html").read_text().replace("<p>", f"<p>Odd {reference} mark. ", 1)
    result = extract_page(page.encode(), "text/html", "https://courier.example/a")
    assert isinstance(result, Extracted), result
    assert "Odd" in result.body and "mark." in result.body  # the paragraph itself stays
    assert not any(c in result.body for c in "\x00\x01\x1b\ud800\uffff")
