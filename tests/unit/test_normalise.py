from dataclasses import replace
from datetime import UTC, datetime, timedelta

from ingest.models import Extracted, Fetched, PageJob
from ingest.normalise import choose_canonical, normalise
from ingest.textutil import content_hash
from ingest.urls import article_id_for

NOW = datetime(2026, 11, 21, tzinfo=UTC)
FEED_DATE = datetime(2026, 11, 20, 6, 30, tzinfo=UTC)
JOB = PageJob(
    entry_id="e", feed_key="tribune-top", guid="g1",
    link="https://Tribune.example/2026/story?utm_source=rss",
    canonical_url="https://tribune.example/2026/story", title="Feed title", published=FEED_DATE,
)  # fmt: skip
FETCHED = Fetched(
    url=JOB.link, final_url="https://tribune.example/2026/story?utm_source=rss", status=200,
    content_type="text/html", body=b"<html>", body_hash="ab" * 32, etag=None,
    last_modified=None, elapsed_s=0.1,
)  # fmt: skip
EXTRACTED = Extracted(
    body="Para one\x00.\n\n  Para   two.",
    title=" Page title ",
    authors=("A. Writer",),
    extractor="trafilatura-x",
)


def test_builds_a_clean_article():
    article = normalise(JOB, FETCHED, EXTRACTED, now=NOW)
    assert article.canonical_url == "https://tribune.example/2026/story"
    assert article.article_id == article_id_for(article.canonical_url)
    assert article.source == "tribune.example"
    assert article.body == "Para one.\nPara two."
    assert article.title == "Page title"
    assert article.word_count == 4
    assert article.content_hash == content_hash("Para one.\nPara two.")
    assert article.raw_hash == "ab" * 32
    assert article.extractor_version == "trafilatura-x"
    assert article.url == JOB.link


def test_published_prefers_page_then_feed_then_guess():
    page_time = datetime(2026, 11, 20, 5, 0, tzinfo=UTC)
    guess = datetime(2026, 11, 20, tzinfo=UTC)
    assert (
        normalise(JOB, FETCHED, replace(EXTRACTED, published=page_time), now=NOW).published_at
        == page_time
    )
    assert (
        normalise(JOB, FETCHED, replace(EXTRACTED, date_guess=guess), now=NOW).published_at
        == FEED_DATE
    )
    no_feed_date = replace(JOB, published=None)
    assert (
        normalise(no_feed_date, FETCHED, replace(EXTRACTED, date_guess=guess), now=NOW).published_at
        == guess
    )


def test_feed_update_time_used_when_later_than_published():
    later = FEED_DATE + timedelta(hours=2)
    assert normalise(replace(JOB, updated=later), FETCHED, EXTRACTED, now=NOW).updated_at == later
    earlier = FEED_DATE - timedelta(hours=2)
    assert normalise(replace(JOB, updated=earlier), FETCHED, EXTRACTED, now=NOW).updated_at is None


def test_declared_canonical_trusted_only_on_the_same_site():
    final = "https://www.tribune.example/2026/story-amp-version"
    same_site = "https://tribune.example/2026/story"
    assert choose_canonical(final, same_site) == same_site
    assert choose_canonical(final, "/2026/story") == "https://www.tribune.example/2026/story"
    assert choose_canonical(final, "https://aggregator.example/x") == final
    assert choose_canonical(final, "javascript:void(0)") == final


def test_fields_are_bounded():
    long = replace(EXTRACTED, title="t" * 5000, body="word " * 10000)
    article = normalise(JOB, FETCHED, long, now=NOW, max_title_chars=100, max_body_chars=1000)
    assert len(article.title) == 100
    assert len(article.body) <= 1000


def test_a_cross_site_canonical_is_trusted_when_the_redirects_confirm_it():
    final = "https://partner.example/syndicated/123"
    original = "https://publisher.example/2026/story"
    assert choose_canonical(final, original) == final  # a claim alone is not trusted
    assert choose_canonical(final, original, (original + "?utm_source=rss", final)) == original
    assert choose_canonical(final, original, ("https://elsewhere.example/x",)) == final
