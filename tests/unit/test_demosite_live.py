"""The live demo site (`make airflow`): it keeps publishing, deterministically, and has its
incidents on a timetable; then the real pipeline, run twice against it, sees it move.

The site's clock is the test's: the moments below are chosen inside and outside the
failing feed's and the throttling host's windows of the hour.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from urllib.parse import urlsplit

import feedparser
import pytest
from sqlalchemy import func, select

from ingest.demosite import build_site, live, serve
from ingest.pipeline import run_once
from ingest.request import RunRequest
from ingest.store import engine as db
from ingest.store import schema as wh

BASES = [f"http://127.0.0.{i}:9999" for i in range(1, 5)]
QUIET = datetime(2026, 12, 4, 10, 3, tzinfo=UTC)  # no incident at minute 3
TICK = timedelta(seconds=live.TICK_S)
FEEDS = {"harbour-gazette-local": ("127.0.0.1:9999", "/feeds/local.xml"),
         "northfield-courier-latest": ("127.0.0.2:9999", "/feeds/atom.xml"),
         "coastline-daily-news": ("127.0.0.4:9999", "/feeds/rss.xml")}  # fmt: skip


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.moment = moment

    def __call__(self) -> datetime:
        return self.moment


def entries(router, feed_key):
    resource = router.lookup(*FEEDS[feed_key])
    assert resource.status == 200
    return feedparser.parse(resource.body).entries


def test_a_faster_tick_publishes_faster():
    """The freshness benchmark's site: a story every 10 s instead of every 90 s."""
    clock = Clock(QUIET)
    _, router = build_site(BASES, live=True, clock=clock, live_tick_s=10)
    before = {key: {e.link for e in entries(router, key)} for key in FEEDS}
    clock.moment = QUIET + timedelta(seconds=30)
    own = [
        e
        for key in FEEDS
        for e in entries(router, key)
        if e.link not in before[key] and not e.title.endswith(": what we know")
    ]
    assert len(own) == 3  # three ticks of 10 s: one story each, the feeds in turn
    times = sorted(datetime(*e.published_parsed[:6], tzinfo=UTC) for e in own)
    assert [(b - a).total_seconds() for a, b in pairwise(times)] == [10, 10]
    with pytest.raises(ValueError, match="must be positive"):
        build_site(BASES, live=True, clock=clock, live_tick_s=0)


def test_a_new_story_every_tick_in_turn_on_the_live_feeds():
    clock = Clock(QUIET)
    _, router = build_site(BASES, live=True, clock=clock)
    before = {key: {e.link for e in entries(router, key)} for key in FEEDS}
    assert all(len(links) == live.KEEP for links in before.values())  # the newest KEEP items
    clock.moment = QUIET + 3 * TICK
    new = {
        key: [e for e in entries(router, key) if e.link not in before[key]] for key in FEEDS
    }  # fmt: skip
    own = [[e for e in items if not e.title.endswith(": what we know")] for items in new.values()]
    assert [len(items) for items in own] == [1, 1, 1]  # one story per tick, the feeds in turn
    for items in new.values():
        for e in items:
            published = datetime(*e.published_parsed[:6], tzinfo=UTC)
            assert QUIET < published <= QUIET + 3 * TICK
    clock.moment = QUIET + 3 * TICK + timedelta(seconds=1)
    assert all(
        {e.link for e in entries(router, k)} - before[k] == {e.link for e in new[k]} for k in FEEDS
    )


def test_the_same_seed_and_moment_serve_the_same_bytes():
    one = build_site(BASES, seed=7, live=True, clock=Clock(QUIET))[1]
    two = build_site(BASES, seed=7, live=True, clock=Clock(QUIET))[1]
    other = build_site(BASES, seed=8, live=True, clock=Clock(QUIET))[1]
    for host, path in FEEDS.values():
        assert one.lookup(host, path).body == two.lookup(host, path).body
        assert one.lookup(host, path).body != other.lookup(host, path).body
    link = urlsplit(entries(one, "coastline-daily-news")[0].link)
    assert one.lookup(link.netloc, link.path).body == two.lookup(link.netloc, link.path).body


def test_a_live_story_is_a_page_from_its_publication_on_and_not_before():
    clock = Clock(QUIET)
    _, router = build_site(BASES, live=True, clock=clock)
    newest = entries(router, "harbour-gazette-local")[0]
    link = urlsplit(newest.link)
    page = router.lookup(link.netloc, link.path)
    assert page.status == 200 and newest.title.encode() in page.body
    clock.moment = QUIET - timedelta(hours=1)  # before it was published
    assert router.lookup(link.netloc, link.path) is None


def test_every_fifth_story_is_carried_trimmed_by_the_next_publisher():
    clock = Clock(QUIET + timedelta(minutes=35))  # minute 38: outside the incidents
    _, router = build_site(BASES, live=True, clock=clock)
    site = router.live
    number = next(n for n in range(live.latest_number(QUIET), 0, -1) if n % 5 == 0)
    original, copy = site.placed(number)
    assert copy.copy and copy.feed_key != original.feed_key
    assert copy.story.paragraphs == original.story.paragraphs[:-2]
    assert copy.story.published - original.story.published == live.COPY_LAG
    listed = {e.link: e.title for e in entries(router, copy.feed_key)}
    assert listed[copy.url] == f"{original.story.title}: what we know"


def test_the_flaky_feed_fails_in_its_window_and_recovers():
    clock = Clock(QUIET.replace(minute=20))
    _, router = build_site(BASES, live=True, clock=clock)
    flaky = FEEDS[live.FLAKY_FEED]
    assert router.lookup(*flaky).status == 500
    clock.moment = QUIET.replace(minute=35)
    assert router.lookup(*flaky).status == 200
    assert feedparser.parse(router.lookup(*flaky).body).entries


def test_the_schedule_finds_the_flaky_feed_failing_then_ok_every_hour(settings):
    """Runs every 15 minutes, each polling a few seconds late, with the real schedule: each
    hour the flaky feed is polled inside its window (failing) and after it (ok again)."""
    from dataclasses import replace

    from ingest.models import PollTarget, Reason
    from ingest.schedule import Policy, due_by

    clock = Clock(QUIET)
    _, router = build_site(BASES, live=True, clock=clock)
    policy = Policy.of(settings)
    target = PollTarget(key=live.FLAKY_FEED, url="x")
    seen: set[str] = set()
    polls = []
    start = QUIET.replace(minute=0)
    for run in range(4 * 4):  # four hours of runs
        due = start + timedelta(minutes=15 * run)
        if target.next_due_at is not None and target.next_due_at > due_by(due, settings):
            continue
        clock.moment = due + timedelta(seconds=5)
        answer = router.lookup(*FEEDS[live.FLAKY_FEED])
        if answer.status == 200:
            links = {e.link for e in feedparser.parse(answer.body).entries}
            new, seen = len(links - seen), seen | links
            plan = policy.after_success(target, now=clock.moment, new_items=new, entries=25)
            target = replace(target, last_success_at=clock.moment, new_per_hour=plan.new_per_hour)
        else:
            plan = policy.after_failure(target, now=clock.moment, reason=Reason.SERVER_ERROR,
                                        retry_after_s=None)  # fmt: skip
        target = replace(target, next_due_at=plan.due_at, poll_interval_s=plan.interval_s,
                         consecutive_failures=plan.consecutive_failures)  # fmt: skip
        polls.append((clock.moment, answer.status))
    for hour in range(1, 4):
        within = [status for moment, status in polls if moment.hour == start.hour + hour]
        assert 500 in within and within[-1] == 200, (hour, polls)


def test_a_restarted_site_serves_the_pages_the_stopped_one_would():
    """A page long scrolled off its feed is still served, by a server that never saw it."""
    clock = Clock(QUIET)
    _, first = build_site(BASES, live=True, clock=clock)
    old = urlsplit(entries(first, "harbour-gazette-local")[0].link)
    clock.moment = QUIET + timedelta(days=2)
    _, restarted = build_site(BASES, live=True, clock=clock)
    assert old.geturl() not in {e.link for e in entries(restarted, "harbour-gazette-local")}
    page = restarted.lookup(old.netloc, old.path)
    assert page is not None and page.body == first.lookup(old.netloc, old.path).body
    assert restarted.lookup(old.netloc, old.path.replace("-", "-9", 1)) is None


def test_the_throttling_host_answers_429_with_retry_after_for_pages_only():
    clock = Clock(QUIET.replace(minute=45))
    _, router = build_site(BASES, live=True, clock=clock)
    host = "127.0.0.2:9999"
    link = urlsplit(entries(router, "northfield-courier-latest")[0].link)
    page = router.lookup(host, link.path)
    assert page.status == 429 and dict(page.headers)["Retry-After"] == str(live.RETRY_AFTER_S)
    assert router.lookup(host, "/robots.txt").status == 200
    assert router.lookup(host, "/no/such/page") is None  # a 404 stays a 404
    other = urlsplit(entries(router, "harbour-gazette-local")[0].link)
    assert router.lookup(other.netloc, other.path).status == 200  # other hosts serve
    clock.moment = QUIET.replace(minute=50)
    assert router.lookup(host, link.path).status == 200


def test_a_live_feed_answers_conditional_gets_until_it_has_news():
    clock = Clock(QUIET)
    with serve(port=0, live=True, clock=clock) as site:
        url = next(f.url for f in site.feeds if f.key == "coastline-daily-news")
        with urllib.request.urlopen(url, timeout=10) as first:
            etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
        request = urllib.request.Request(url, headers={"If-None-Match": etag})
        with pytest.raises(urllib.error.HTTPError) as unchanged:
            urllib.request.urlopen(request, timeout=10)
        assert unchanged.value.code == 304
        clock.moment = QUIET + 3 * TICK  # one new story on this feed
        with urllib.request.urlopen(request, timeout=10) as changed:
            assert changed.status == 200 and changed.headers["ETag"] != etag
            assert changed.headers["Last-Modified"] != modified


def test_the_pipeline_sees_the_live_site_move(tmp_path, settings):
    """Three runs on the site's clock: new stories stored and a copy clustered; then the
    flaky feed failing (minute 22); then the throttling host holding its pages (minute 42)."""
    clock = Clock(QUIET.replace(minute=11))
    engine = db.make_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    now = RunRequest(poll_now=True)
    with serve(port=0, slow_seconds=3.0, live=True, clock=clock) as site:
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(site.feeds_toml())
        run_once(engine, settings, feeds, run_id="first")
        first = count(engine, wh.articles)
        clock.moment = QUIET.replace(minute=22)
        second = run_once(engine, settings, feeds, run_id="second", request=now)
        clock.moment = QUIET.replace(minute=42)
        run_once(engine, settings, feeds, run_id="third", request=now)
    with engine.connect() as conn:
        flaky = conn.execute(
            select(wh.fetch_log.c.run_id, wh.fetch_log.c.reason, wh.fetch_log.c.status)
            .where(wh.fetch_log.c.feed_key == live.FLAKY_FEED, wh.fetch_log.c.kind == "feed")
            .order_by(wh.fetch_log.c.fetched_at)
        ).all()  # fmt: skip
        throttled = conn.execute(
            select(wh.hosts.c.host, wh.hosts.c.last_throttle).where(wh.hosts.c.throttled_count > 0)
        ).all()
        joined = conn.execute(
            select(func.count()).select_from(wh.articles).where(~wh.articles.c.is_representative)
        ).scalar_one()
        ledgers = conn.execute(select(wh.load_ledger)).all()
        waiting_on_the_throttled_host = conn.execute(
            select(func.count()).select_from(wh.feed_entries)
            .where(wh.feed_entries.c.state == "pending", wh.feed_entries.c.host == "127.0.0.2")
        ).scalar_one()  # fmt: skip
    stored = count(engine, wh.articles)
    engine.dispose()
    assert first > 0
    assert second.load.inserted > 0 and stored > first  # new live stories landed
    # the flaky feed: read, then a 500 in its window, then read again (a 304: unchanged)
    assert [(r.run_id, r.reason) for r in flaky] == [
        ("first", None), ("second", "http_5xx"), ("third", None),
    ]  # fmt: skip
    assert flaky[1].status == 500
    assert [t.host for t in throttled] == ["127.0.0.2"]
    assert "429" in throttled[0].last_throttle
    assert joined >= 1  # a trimmed copy joined its story's cluster
    # every run's ledger adds up; the throttled host's pages are deferred, not lost
    for row in ledgers:
        assert row.pages_fetched == row.pages_extracted + row.pages_failed + row.pages_deferred
        assert row.rows_in == (
            row.inserted + row.updated + row.skipped + row.duplicates + row.rejected
        )
    third = next(row for row in ledgers if row.run_id == "third")
    assert third.pages_deferred == waiting_on_the_throttled_host > 1


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()
