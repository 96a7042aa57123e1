"""A run asked for by an operator: only some feeds, poll now, retry failed pages now.

The steps run against a local HTTP server on both warehouse backends; the form that
asks for these (the DAG's params) is tested in tests/dags/test_trigger_params.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from ingest import pipeline
from ingest.errors import ConfigError
from ingest.models import FeedSpec
from ingest.request import RunRequest
from ingest.store import feeds as store_feeds
from ingest.store import schema as wh

PAGE = (Path(__file__).parent / "fixtures" / "article.html").read_bytes()


def rss(*links: str) -> str:
    items = "".join(
        f"<item><title>{u}</title><link>{u}</link><guid>{u}</guid></item>" for u in links
    )
    return f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'


@pytest.fixture
def two_feeds(httpserver, engine, now):
    """Feeds ``a`` and ``b`` on one host, one page each; ``c`` disabled."""
    specs = [
        FeedSpec(key="a", url=httpserver.url_for("/a.xml")),
        FeedSpec(key="b", url=httpserver.url_for("/b.xml")),
        FeedSpec(key="c", url=httpserver.url_for("/c.xml"), enabled=False),
    ]
    store_feeds.sync(engine, specs, now)
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for key in "abc":
        httpserver.expect_request(f"/{key}.xml").respond_with_data(
            rss(httpserver.url_for(f"/{key}1")), content_type="application/rss+xml"
        )
    return httpserver


def asked(server, path):
    return sum(1 for request, _ in server.log if request.path == path)


def entry_states(engine):
    with engine.connect() as conn:
        rows = conn.execute(select(wh.feed_entries.c.feed_key, wh.feed_entries.c.state)).all()
    return dict(rows)


def test_a_run_for_some_feeds_polls_and_fetches_theirs_alone(two_feeds, engine, settings, now):
    two_feeds.expect_request("/a1").respond_with_data(PAGE, content_type="text/html")
    only_a = RunRequest(feeds=("a",))
    shards = pipeline.plan_feed_shards(engine, settings, now, only_a)
    assert [s["items"] for s in shards] == [["a"]]
    pipeline.poll_shard(engine, settings, ["a", "b"], "r", due_at=now)  # both queued
    pages = pipeline.plan_page_shards(engine, settings, only_a)
    assert [(s["items"], s["feeds"]) for s in pages] == [(["localhost"], ["a"])]
    fetched = pipeline.fetch_shard(engine, settings, ["localhost"], "r", feeds=["a"])
    assert fetched["articles_extracted"] == 1
    assert (asked(two_feeds, "/a1"), asked(two_feeds, "/b1")) == (1, 0)  # b's page waits
    pipeline.load_run(engine, "r")
    assert entry_states(engine) == {"a": "stored", "b": "pending"}
    every = pipeline.plan_page_shards(engine, settings)  # a scheduled run: every feed's
    assert [s["items"] for s in every] == [["localhost"]] and "feeds" not in every[0]


def test_an_unknown_feed_is_refused_by_name(two_feeds, engine, settings, now):
    with pytest.raises(ConfigError, match=r"no such feed\(s\) in the registry: 'nope'"):
        pipeline.plan_feed_shards(engine, settings, now, RunRequest(feeds=("a", "nope")))


def test_poll_now_polls_feeds_not_due_once_per_run(two_feeds, engine, settings, now):
    pipeline.poll_shard(engine, settings, ["a", "b"], "r1", due_at=now)
    assert pipeline.plan_feed_shards(engine, settings, now) == []  # nothing due now
    forced = pipeline.plan_feed_shards(engine, settings, now, RunRequest(poll_now=True))
    assert [s["items"] for s in forced] == [["a", "b"]]  # c is disabled: never polled
    chosen = pipeline.plan_feed_shards(
        engine, settings, now, RunRequest(feeds=("b", "c"), poll_now=True)
    )
    assert [s["items"] for s in chosen] == [["b"]]
    asked_at = pipeline._now()
    polled = pipeline.poll_shard(engine, settings, ["a", "b"], "r2", unpolled_since=asked_at)
    assert polled["feeds_polled"] == 2
    assert (asked(two_feeds, "/a.xml"), asked(two_feeds, "/b.xml")) == (2, 2)
    again = pipeline.poll_shard(engine, settings, ["a", "b"], "r2", unpolled_since=asked_at)
    assert again["feeds_polled"] == 0  # a retried task does not poll them twice
    assert (asked(two_feeds, "/a.xml"), asked(two_feeds, "/b.xml")) == (2, 2)


def test_retry_failed_puts_the_chosen_feeds_failed_pages_back(two_feeds, engine, settings, now):
    two_feeds.expect_oneshot_request("/a1").respond_with_data("gone", status=404)
    two_feeds.expect_oneshot_request("/b1").respond_with_data("gone", status=404)
    pipeline.poll_shard(engine, settings, ["a", "b"], "r1", due_at=now)
    first = pipeline.fetch_shard(engine, settings, ["localhost"], "r1")
    assert first["failures"] == {"http_404": 2}
    assert entry_states(engine) == {"a": "failed", "b": "failed"}
    assert pipeline.plan_page_shards(engine, settings) == []  # failed pages stay failed

    two_feeds.expect_request("/a1").respond_with_data(PAGE, content_type="text/html")
    request = RunRequest(feeds=("a",), retry_failed=True)
    shards = pipeline.plan_page_shards(engine, settings, request)
    assert [s["items"] for s in shards] == [["localhost"]]
    assert entry_states(engine) == {"a": "pending", "b": "failed"}  # b was not chosen
    with engine.connect() as conn:
        attempts = conn.execute(
            select(wh.feed_entries.c.attempts).where(wh.feed_entries.c.feed_key == "a")
        ).scalar_one()
    assert attempts == 0
    second = pipeline.fetch_shard(engine, settings, ["localhost"], "r2", feeds=["a"])
    assert second["articles_extracted"] == 1
    assert (asked(two_feeds, "/a1"), asked(two_feeds, "/b1")) == (2, 1)
