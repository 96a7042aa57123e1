from datetime import UTC, datetime

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
