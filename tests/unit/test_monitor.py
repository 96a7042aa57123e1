"""Monitoring answers (ingest.monitor) from a warehouse built through the store's own
write paths, at given times, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from helpers import article, entry, failed_poll, load, polled
from ingest import monitor
from ingest.models import FeedEntry, FeedSpec, FeedStatus, HostState, PageJob, Reason
from ingest.monitor import SilenceRule, feed_status
from ingest.neardup import MinHashClusterer
from ingest.outcomes import FetchRecord, PageFailed
from ingest.store import clusters, queue, staging
from ingest.store import engine as db
from ingest.store import feeds as store_feeds
from ingest.urls import entry_id_for

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
STORY = (
    "The harbour authority said on Tuesday that the northern breakwater would close for "
    "repairs through the spring, after winter storms moved several of its largest blocks "
    "out of place and left a gap that small boats can no longer pass safely at low tide."
)


# --------------------------------------------------------------------------- the rule


def row(**over):
    base = {
        "enabled": True, "broken": False, "broken_since": None, "consecutive_failures": 0,
        "last_error": None, "last_warning": None, "last_polled_at": T, "last_success_at": T,
        "last_new_at": T - H, "new_gap_s": 1800.0, "created_at": T - 10 * H,
    }  # fmt: skip
    return {**base, **over}


@pytest.mark.parametrize(
    ("over", "status"),
    [
        ({}, FeedStatus.OK),
        ({"enabled": False, "broken": True}, FeedStatus.DISABLED),
        (
            {"broken": True, "consecutive_failures": 5, "last_error": "http_404: x"},
            FeedStatus.BROKEN,
        ),
        ({"consecutive_failures": 1, "last_error": "timeout: x"}, FeedStatus.FAILING),
        ({"last_polled_at": None, "last_success_at": None}, FeedStatus.NEVER_POLLED),
        ({"last_warning": "feed_recovered: junk"}, FeedStatus.DEGRADED),
        # 6 x 30 min = 3 h is the limit: 3 h 1 min without news is silent, 2 h 59 min is not
        ({"last_new_at": T - 3 * H - M}, FeedStatus.SILENT),
        ({"last_new_at": T - 3 * H + M}, FeedStatus.OK),
        # silence outranks warnings: nothing lands either way
        ({"last_new_at": T - 4 * H, "last_warning": "bad_dates: x"}, FeedStatus.SILENT),
        # a fast feed is held to the floor (1 h), not to 6 x 1 min
        ({"new_gap_s": 60.0, "last_new_at": T - 50 * M}, FeedStatus.OK),
        ({"new_gap_s": 60.0, "last_new_at": T - 61 * M}, FeedStatus.SILENT),
        # no usual gap yet: a day
        ({"new_gap_s": None, "last_new_at": T - 23 * H}, FeedStatus.OK),
        ({"new_gap_s": None, "last_new_at": T - 25 * H}, FeedStatus.SILENT),
        # an empty feed that never listed anything: quiet since it was added
        ({"new_gap_s": None, "last_new_at": None, "created_at": T - 30 * H}, FeedStatus.SILENT),
    ],
)
def test_each_status_and_its_precedence(over, status):
    found, why = feed_status(row(**over), SilenceRule())
    assert found is status
    assert why  # every status says why


def test_silence_is_judged_at_the_last_successful_poll_not_by_the_clock():
    # not polled for a day (the schedule backed off): not silent for that alone
    assert feed_status(row(last_success_at=T - 50 * M), SilenceRule())[0] is FeedStatus.OK


def test_the_silence_rule_comes_from_the_settings(settings):
    rule = SilenceRule.of(settings.model_copy(update={"silent_factor": 2.0}))
    assert feed_status(row(last_new_at=T - 61 * M), rule)[0] is FeedStatus.SILENT


def test_percentile_is_nearest_rank():
    values = [float(n) for n in range(1, 101)]
    assert monitor.percentile(values, 0.5) == 50.0
    assert monitor.percentile(values, 0.95) == 95.0
    assert monitor.percentile([7.0], 0.95) == 7.0
    assert monitor.percentile([], 0.5) is None


@pytest.mark.parametrize("hours", [0, -1, 31 * 24 + 1, float("nan"), float("inf")])
def test_windows_are_bounded(hours):
    with pytest.raises(ValueError, match="window"):
        monitor.Window.last(hours, T)


# --------------------------------------------------------------------------- a warehouse


def job(feed, url):
    return PageJob(entry_id=entry_id_for(feed, url, url), feed_key=feed, guid=url, link=url,
                   canonical_url=url)  # fmt: skip


@pytest.fixture
def built(engine):
    """Four feeds, a day of history: what each number below must come to."""
    specs = [FeedSpec(key=k, url=f"https://{k}.example/feed") for k in ("a", "b", "c", "d")]
    store_feeds.sync(engine, specs, T - 30 * H)
    old = "https://a.example/old"
    a_urls = [f"https://a.example/{n}" for n in range(1, 5)]
    store_feeds.save_polls(
        engine, [polled(engine, "a", T - 26 * H, [entry("a", old, T - 26 * H)])], "r0"
    )
    load(engine, "r0", [article(old, "An old story about something else entirely.", feed="a",
                                published=T - 27 * H)], now=T - 26 * H)  # fmt: skip
    store_feeds.save_polls(
        engine,
        [
            polled(engine, "a", T - 2 * H, [entry("a", u, T - 2 * H) for u in a_urls]),
            polled(
                engine,
                "b",
                T - 2 * H,
                [entry("b", "https://b.example/1", T - 2 * H)],
                warning="feed_recovered: SAXParseException: junk",
            ),
            failed_poll("c", T - 2 * H),
        ],
        "r1",
    )
    # three stored 10, 20, 30 minutes after they were first seen; published 1 h before that
    stored = [
        article(a_urls[0], STORY, feed="a", published=T - 3 * H),
        article(a_urls[1], STORY.replace("Tuesday", "Wednesday"), feed="a", published=T - 3 * H),
        article("https://b.example/1", "A different story on another site.", feed="b",
                published=T - 3 * H),
    ]  # fmt: skip
    for n, item in enumerate(stored):
        load(engine, f"load{n}", [item], now=T - 2 * H + (n + 1) * 10 * M)
    # an exact copy (the same body as a_urls[0]) is skipped at load
    load(engine, "load3", [article(a_urls[2], STORY, feed="a", published=T - 3 * H)],
         now=T - 90 * M)  # fmt: skip
    clusters.cluster_pending(engine, MinHashClusterer(), now=T - 80 * M, batch=100)
    queue.save_pages(
        engine, "r2",
        [PageFailed(job("a", a_urls[3]), Reason.TIMEOUT, "read timeout",
                    FetchRecord(kind="page", url=a_urls[3], fetched_at=T - 70 * M, status=None,
                                reason=Reason.TIMEOUT, detail="read timeout"))],
        max_attempts=3, now=T - 70 * M,
        hosts_done=[HostState(host="slow.example", next_eligible_at=T + 2 * H,
                              last_throttle="http_429: Retry-After 7200", crawl_delay_s=5.0)],
    )  # fmt: skip
    return engine


def test_feed_health_from_the_warehouse(built):
    health = {h.feed_key: h for h in monitor.feeds_health(built)}
    assert {k: h.status for k, h in health.items()} == {
        "a": FeedStatus.OK, "b": FeedStatus.DEGRADED, "c": FeedStatus.FAILING,
        "d": FeedStatus.NEVER_POLLED,
    }  # fmt: skip
    assert "SAXParseException" in health["b"].why
    assert health["c"].last_error.startswith("http_5xx")
    assert health["a"].last_new_at == T - 2 * H
    assert health["a"].usual_gap_s == 24 * 3600.0  # its two polls that found news
    assert [h.feed_key for h in monitor.feeds_health(built)] == ["c", "b", "d", "a"]  # worst first
    assert monitor.status_counts(list(health.values())) == {
        "broken": 0, "failing": 1, "silent": 0, "degraded": 1, "never_polled": 1, "ok": 1,
        "disabled": 0,
    }  # fmt: skip


def test_an_unchanged_poll_keeps_its_warning_and_a_clean_read_clears_it(built):
    store_feeds.save_polls(built, [polled(built, "b", T - H, unchanged=True)], "r3")
    assert {h.feed_key: h.status for h in monitor.feeds_health(built)}["b"] is FeedStatus.DEGRADED
    store_feeds.save_polls(built, [polled(built, "b", T - 30 * M)], "r4")
    health = {h.feed_key: h for h in monitor.feeds_health(built)}["b"]
    assert health.status is FeedStatus.OK
    assert health.last_new_at == T - 2 * H  # nothing new in either poll


def test_summary_counts_what_the_window_holds(built):
    s = monitor.summary(built, 24, now=T)
    assert s.stored == 3  # the old article is outside the window
    assert s.stored_by_source == {"x.example": 3}
    assert s.stored_per_hour == [{"hour": "2026-11-20 10", "source": "x.example", "count": 3}]
    assert s.failed_by_reason == {"http_5xx": 1, "timeout": 1}
    assert s.failed == 2  # the feed warning is not a failure
    assert s.dedupe == {"exact": 1, "near": 1, "clusters": 1}
    assert s.queue["pending"] == 1 and s.queue["hosts"] == 1  # a_urls[3] failed once, retries
    assert s.queue["oldest_age_s"] == 2 * 3600
    assert s.queue["by_host"][0]["host"] == "a.example"
    assert s.lag_seen.count == 3
    assert (s.lag_seen.p50_s, s.lag_seen.p95_s) == pytest.approx((1200.0, 1800.0), abs=0.01)
    assert (s.lag_published.p50_s, s.lag_published.p95_s) == pytest.approx(
        (3600.0 + 1200.0, 3600.0 + 1800.0), abs=0.01
    )
    assert [h["host"] for h in s.hosts["throttled"]] == ["slow.example"]
    assert s.hosts["crawl_delayed"] == [{"host": "slow.example", "crawl_delay_s": 5.0}]
    assert s.feeds["failing"] == 1 and s.feeds["degraded"] == 1
    assert s.loads["duplicates"] == 1
    # the unhealthy feeds are named, worst first; an ok or never-polled feed is not
    assert [(f["feed_key"], f["status"]) for f in s.problem_feeds] == [
        ("c", "failing"),
        ("b", "degraded"),
    ]
    assert "http_5xx" in s.problem_feeds[0]["why"]
    # a shorter window sees less: the last hour holds no article and no failure
    short = monitor.summary(built, 1, now=T)
    assert (short.stored, short.failed, short.dedupe["exact"]) == (0, 0, 0)
    wide = monitor.summary(built, 48, now=T)
    assert wide.stored == 4


def test_the_hourly_series_keeps_the_top_sources_apart_and_sums_the_rest(engine, monkeypatch):
    monkeypatch.setattr(monitor, "TOP_SOURCES", 2)
    sources = {"big.example": 3, "mid.example": 2, "s1.example": 1, "s2.example": 1}
    n = 0
    for source, count in sources.items():
        for _ in range(count):
            n += 1
            item = article(f"https://{source}/{n}", f"Story number {n} about {source}.")
            load(engine, f"l{n}", [dataclasses.replace(item, source=source)], now=T - 30 * M)
    s = monitor.summary(engine, 24, now=T)
    assert s.stored == 7 and s.stored_by_source == sources  # the totals name every source
    rows = sorted((r["source"], r["count"]) for r in s.stored_per_hour)
    assert rows == [(monitor.OTHER_SOURCES, 2), ("big.example", 3), ("mid.example", 2)]
    assert {r["hour"] for r in s.stored_per_hour} == {"2026-11-20 11"}


def test_first_listed_is_set_at_insert_from_the_entries_and_kept_on_rewrites(built):
    from sqlalchemy import select

    from ingest.store.schema import articles

    url = "https://a.example/1"

    def listed():
        with built.connect() as conn:
            query = select(articles.c.first_listed_at).where(articles.c.canonical_url == url)
            return conn.execute(query).scalar_one()

    assert listed() == T - 2 * H  # the poll that first listed it, not the load
    load(built, "rewrite", [article(url, STORY + " Corrected.", feed="a", published=T - 3 * H)],
         now=T - 10 * M)  # fmt: skip
    assert listed() == T - 2 * H


def test_summary_as_json_names_times_in_iso(built):
    out = monitor.summary(built, 24, now=T).as_dict()
    assert out["window"]["since"] == (T - 24 * H).isoformat()
    assert out["lag_seen"]["p50_s"] == pytest.approx(1200.0, abs=0.01)


def test_failures_list_url_feed_and_time_newest_first_paginated(built):
    first = monitor.failures(built, 24, per_page=1, now=T)
    assert first.total == 2
    assert [(i["reason"], i["url"], i["feed_key"], i["fetched_at"]) for i in first.items] == [
        ("timeout", "https://a.example/4", "a", T - 70 * M)
    ]
    second = monitor.failures(built, 24, page=2, per_page=1, now=T)
    assert [(i["reason"], i["feed_key"], i["kind"]) for i in second.items] == [
        ("http_5xx", "c", "feed")
    ]
    assert monitor.failures(built, 24, page=3, per_page=1, now=T).items == []
    only = monitor.failures(built, 24, reason="timeout", now=T)
    assert only.total == 1 and len(only.items) == 1
    assert monitor.failures(built, 24, run_id="r1", now=T).total == 1
    for bad in ({"page": 0}, {"per_page": 0}, {"per_page": monitor.MAX_PAGE_SIZE + 1}):
        with pytest.raises(ValueError, match="page"):
            monitor.failures(built, 24, now=T, **bad)


def test_a_page_a_bug_met_before_any_request_is_in_the_failures(built):
    url = "https://a.example/1"
    queue.save_pages(built, "r9", [PageFailed(job("a", url), Reason.INTERNAL_ERROR, "crawl: bug")],
                     max_attempts=3, now=T - M)  # fmt: skip
    items = monitor.failures(built, 1, now=T).items
    assert [(i["reason"], i["url"], i["feed_key"]) for i in items] == [("internal_error", url, "a")]


def test_a_refused_link_is_one_failure_however_often_its_feed_lists_it(built):
    bad = FeedEntry(guid="j1", link="javascript:alert(1)", title="<script>", published=None)
    for n in range(2):
        poll = dataclasses.replace(polled(built, "d", T - 50 * M + n * M),
                                   refused=((bad, "bad_scheme"),))  # fmt: skip
        store_feeds.save_polls(built, [poll], f"rj{n}")
    s = monitor.summary(built, 24, now=T)
    assert s.failed_by_reason["bad_scheme"] == 1
    assert s.failed == 3
    (item,) = monitor.failures(built, 24, reason="bad_scheme", now=T).items
    assert (item["kind"], item["url"], item["feed_key"]) == ("entry", bad.link, "d")


# --------------------------------------------------------------------------- the check step


def test_a_run_that_breaks_no_rule_is_healthy(built):
    result = monitor.check_run(built, "r1", monitor.CheckRule(freshness_s=2 * 3600), now=T)
    assert result.healthy, result.problems
    assert result.feeds_polled == 3
    text = "\n".join(result.lines())
    assert "healthy" in text and "feeds polled 3" in text


def test_a_feed_that_turns_broken_in_the_run_breaks_it_once(built):
    store_feeds.save_polls(built, [failed_poll("c", T - 30 * M, broken=True)], "rb")
    result = monitor.check_run(built, "rb", now=T)
    assert [b["feed_key"] for b in result.newly_broken] == ["c"]
    assert "feed c turned broken in this run: http_5xx" in result.problems[0]
    store_feeds.save_polls(built, [failed_poll("c", T - 20 * M, broken=True)], "rb2")
    assert monitor.check_run(built, "rb2", now=T).newly_broken == []  # broken already


def test_too_many_failed_pages_break_the_run_from_min_pages_on(built):
    urls = [f"https://a.example/p{n}" for n in range(10)]
    queue.save_pages(
        built, "rp",
        [PageFailed(job("a", u), Reason.NOT_FOUND, "HTTP 404",
                    FetchRecord(kind="page", url=u, fetched_at=T - 5 * M, status=404,
                                reason=Reason.NOT_FOUND, detail="HTTP 404"))
         for u in urls[:6]],
        max_attempts=3, now=T - 5 * M,
    )  # fmt: skip
    ok = [(FetchRecord(kind="page", url=u, fetched_at=T - 5 * M, status=200, bytes=10), "a")
          for u in urls[6:]]  # fmt: skip
    with built.begin() as conn:
        staging.append_fetches(conn, "rp", ok)
    result = monitor.check_run(built, "rp", monitor.CheckRule(0.5, 10), now=T)
    assert (result.pages_ok, result.pages_failed) == (4, 6)
    assert result.problems == ["6 of 10 page requests failed (60%; the limit is 50%)"]
    assert monitor.check_run(built, "rp", monitor.CheckRule(0.5, 11), now=T).healthy
    assert monitor.check_run(built, "rp", monitor.CheckRule(0.6, 10), now=T).healthy


def test_freshness_counts_from_the_newest_article_and_only_when_feeds_were_polled(built):
    stale = monitor.check_run(built, "r1", monitor.CheckRule(freshness_s=3600), now=T)
    assert len(stale.problems) == 1
    assert stale.problems[0].startswith("nothing stored for 90 min since the newest article")
    assert stale.last_stored_at == T - 90 * M
    # a run that polled nothing (a load, a backfill) is not held to it
    assert monitor.check_run(built, "load0", monitor.CheckRule(freshness_s=3600), now=T).healthy
    # 0 turns the rule off
    assert monitor.check_run(built, "r1", monitor.CheckRule(freshness_s=0), now=T).healthy


def test_before_any_article_freshness_counts_from_the_first_feed(engine):
    store_feeds.sync(engine, [FeedSpec(key="e", url="https://e.example/feed")], T - 10 * H)
    store_feeds.save_polls(engine, [polled(engine, "e", T - M)], "re")
    result = monitor.check_run(engine, "re", monitor.CheckRule(freshness_s=6 * 3600), now=T)
    assert result.problems[0].startswith("nothing stored for 10 h since the first feed was added")


def test_a_silent_feed_found_from_its_own_history(engine):
    store_feeds.sync(engine, [FeedSpec(key="s", url="https://s.example/feed")], T - 30 * H)
    for n in range(3):  # a new item every hour: the usual gap becomes 1 h
        item = entry("s", f"https://s.example/{n}", T)
        store_feeds.save_polls(engine, [polled(engine, "s", T - 20 * H + n * H, [item])], f"p{n}")
    health = monitor.feeds_health(engine)[0]
    assert health.status is FeedStatus.OK
    assert health.usual_gap_s == pytest.approx(3600.0)
    store_feeds.save_polls(
        engine, [polled(engine, "s", T - 18 * H + 6 * H + M)], "quiet"
    )  # 6 h 1 min
    health = monitor.feeds_health(engine)[0]
    assert health.status is FeedStatus.SILENT, health.why
    assert health.usual_gap_s == pytest.approx(3600.0)  # silence does not move the usual gap
    assert "6 h" in health.why


def test_an_empty_warehouse_answers_with_zeros(engine):
    s = monitor.summary(engine, 24, now=T)
    assert (s.stored, s.failed, s.queue["pending"], s.lag_seen.p50_s) == (0, 0, 0, None)
    assert monitor.feeds_health(engine) == []
    assert db.current_revision(engine) is not None
