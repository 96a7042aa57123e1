"""Politeness and concurrency of page fetching, timed at the server.

The guarantee (ingest.crawl): a request to a host starts at least the delay after the
previous request to it ended. The fault server stamps a request when its header block
arrives, before it answers; the client waits from when it has read the whole answer. So
the gaps the server sees are at least the delay however late either side is scheduled,
and the assertions below need no slack.
"""

from __future__ import annotations

import itertools
import time
from urllib.parse import quote

import pytest
from faultserver import FaultServer
from sqlalchemy import select

from ingest import pipeline
from ingest.pipeline import fetching
from ingest.settings import load_settings
from ingest.store import engine as db
from ingest.store import schema as wh

pytestmark = pytest.mark.slow

DELAY = 0.4
PAGES = 5


@pytest.fixture
def hosts():
    with (
        FaultServer("127.0.0.5", pages=PAGES, robots="User-agent: *\nAllow: /\n") as a,
        FaultServer("127.0.0.6", pages=PAGES, robots="User-agent: *\nCrawl-delay: 1\n") as b,
    ):
        yield a, b


def setup(tmp_path, servers, **overrides):
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        "".join(
            f'[[feeds]]\nkey = "h{i}"\nurl = "{s.url("/pages/feed.xml")}"\n\n'
            for i, s in enumerate(servers)
        )
    )
    settings = load_settings(
        home=tmp_path / "home", allow_loopback=True, politeness_delay_s=DELAY, **overrides
    )
    engine = db.make_engine(settings.resolved_warehouse_url)
    pipeline.prepare(engine, feeds)
    for shard in pipeline.plan_feed_shards(engine, settings, pipeline._now()):
        pipeline.poll_shard(engine, settings, shard["items"], "r")
    return settings, engine


def starts(server, prefix):
    return [r.at for r in server.requests if r.path.startswith(prefix)]


def test_requests_to_one_host_keep_the_delay_and_hosts_overlap(hosts, tmp_path):
    a, b = hosts
    settings, engine = setup(tmp_path, hosts)
    [shard] = pipeline.plan_page_shards(engine, settings)
    started = time.monotonic()
    stats = pipeline.fetch_shard(engine, settings, shard["items"], "r")
    elapsed = time.monotonic() - started
    assert stats["articles_extracted"] == 2 * PAGES
    for server, delay in ((a, DELAY), (b, 1.0)):  # b's robots.txt asks for 1 s
        times = [r.at for r in server.requests if r.path == "/robots.txt" or (r.path.startswith("/pages/") and r.path.endswith(".html"))]  # fmt: skip
        assert len(times) == PAGES + 1  # robots.txt, then the pages
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert min(gaps) >= delay, gaps  # no slack: counted from the previous response's end
    # b alone needs 5 x 1 s; a runs alongside it, not after it
    assert elapsed < PAGES * 1.0 + PAGES * DELAY, elapsed
    with engine.connect() as conn:
        crawl_delays = dict(conn.execute(wh.hosts.select().with_only_columns(
            wh.hosts.c.host, wh.hosts.c.crawl_delay_s)).all())  # fmt: skip
    assert crawl_delays == {"127.0.0.5": None, "127.0.0.6": 1.0}


def test_the_delay_runs_on_across_runs_and_robots_is_fetched_once_per_ttl(hosts, tmp_path):
    a, _ = hosts
    settings, engine = setup(tmp_path, [a], max_pages_per_run=2)
    pipeline.fetch_shard(engine, settings, ["127.0.0.5"], "r1")
    pipeline.fetch_shard(engine, settings, ["127.0.0.5"], "r2")  # at once: must still wait
    pages = [r.at for r in a.requests if r.path.endswith(".html")]
    assert len(pages) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(pages)]
    assert min(gaps) >= DELAY, gaps
    assert len(a.hits("/robots.txt")) == 1


def test_a_throttled_host_is_left_out_until_its_retry_after(tmp_path):
    with FaultServer("127.0.0.7", robots="User-agent: *\nAllow: /\n") as server:
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(
            f'[[feeds]]\nkey = "t"\nurl = "{server.url("/feed-to?path=/x/retry-after%3Fvalue%3D2")}"\n'
        )
        settings = load_settings(home=tmp_path / "h", allow_loopback=True, politeness_delay_s=0)
        engine = db.make_engine(settings.resolved_warehouse_url)
        pipeline.prepare(engine, feeds)
        pipeline.poll_shard(engine, settings, ["t"], "r")
        assert pipeline.fetch_shard(engine, settings, ["127.0.0.7"], "r")["pages_deferred"] == 1
        with engine.connect() as conn:
            deferred = conn.execute(
                select(wh.fetch_log.c.kind, wh.fetch_log.c.status)
                .where(wh.fetch_log.c.kind != "feed", wh.fetch_log.c.url.like("%retry-after%"))
            ).all()  # fmt: skip
        assert deferred == [("page", 429)]  # the deferring request is a page request
        assert pipeline.plan_page_shards(engine, settings) == []  # waiting: no shard, no sleep
        time.sleep(2.1)
        assert [s["items"] for s in pipeline.plan_page_shards(engine, settings)] == [["127.0.0.7"]]


def test_a_redirect_to_another_host_is_requeued_there_and_obeys_its_robots(tmp_path):
    robots_b = "User-agent: *\nDisallow: /\n"
    with (
        FaultServer("127.0.0.8", robots="User-agent: *\nAllow: /\n") as a,
        FaultServer("127.0.0.9", robots=robots_b) as b,
    ):
        target = quote(b.url("/pages/1.html"), safe="")
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(
            f'[[feeds]]\nkey = "a"\nurl = "{a.url("/feed-to?path=" + quote("/x/redirect-to?to=" + target, safe=""))}"\n'
        )
        settings = load_settings(home=tmp_path / "h", allow_loopback=True, politeness_delay_s=0)
        engine = db.make_engine(settings.resolved_warehouse_url)
        pipeline.prepare(engine, feeds)
        pipeline.poll_shard(engine, settings, ["a"], "r")
        first = pipeline.fetch_shard(engine, settings, ["127.0.0.8"], "r1")
        assert first["failures"] == {"redirected_offsite": 1}
        assert b.hits("/pages/") == []  # not fetched through a: b's crawler decides
        with engine.connect() as conn:
            entry = conn.execute(select(wh.feed_entries)).one()
        assert (entry.state, entry.host, entry.link) == (
            "pending",
            "127.0.0.9",
            b.url("/pages/1.html"),
        )
        assert [s["items"] for s in pipeline.plan_page_shards(engine, settings)] == [["127.0.0.9"]]
        second = pipeline.fetch_shard(engine, settings, ["127.0.0.9"], "r2")
        assert second["failures"] == {"robots_disallowed": 1}
        assert b.hits("/pages/") == []
        with engine.connect() as conn:
            assert conn.execute(select(wh.feed_entries.c.state)).scalar_one() == "failed"
            refused = conn.execute(
                select(wh.fetch_log.c.kind, wh.fetch_log.c.url, wh.fetch_log.c.status,
                       wh.fetch_log.c.reason, wh.fetch_log.c.detail)
                .where(wh.fetch_log.c.run_id == "r2", wh.fetch_log.c.kind == "page")
            ).all()  # fmt: skip
        # the refusal is in the fetch log (the run's "failures by reason"), with no request
        assert refused == [
            ("page", b.url("/pages/1.html"), None, "robots_disallowed", "robots.txt")
        ]


def test_same_host_redirect_hops_keep_the_pace(tmp_path):
    with FaultServer("127.0.0.11", robots="User-agent: *\nAllow: /\n") as server:
        feeds = tmp_path / "feeds.toml"
        path = quote("/x/redirect-chain?n=3", safe="")
        feeds.write_text(f'[[feeds]]\nkey = "c"\nurl = "{server.url("/feed-to?path=" + path)}"\n')
        settings = load_settings(home=tmp_path / "h", allow_loopback=True, politeness_delay_s=DELAY)
        engine = db.make_engine(settings.resolved_warehouse_url)
        pipeline.prepare(engine, feeds)
        pipeline.poll_shard(engine, settings, ["c"], "r")
        stats = pipeline.fetch_shard(engine, settings, ["127.0.0.11"], "r")
        assert stats["articles_extracted"] == 1
        hops = [
            r.at for r in server.requests if r.path == "/robots.txt" or r.path.startswith("/x/")
        ]
        assert len(hops) == 5  # robots.txt, then n=3, 2, 1, 0
        gaps = [later - earlier for earlier, later in itertools.pairwise(hops)]
        assert min(gaps) >= DELAY, gaps


def test_the_delay_counts_from_the_end_of_the_previous_request():
    from ingest.crawl import _Pace

    pace = _Pace(1.0)
    before = time.monotonic()
    pace.ended()  # a response has just been read
    after = time.monotonic()
    assert before + 1.0 <= pace.next_at <= after + 1.0
    pace.slow_down(3.0)  # robots.txt asks for more: the request just ended counts too
    assert before + 3.0 <= pace.next_at <= after + 3.0
    pace.slow_down(0.5)  # a smaller crawl delay never shortens the wait
    assert pace.delay == 3.0
    assert before + 3.0 <= pace.next_at <= after + 3.0


@pytest.mark.parametrize("answer", [503, 429, 500, None], ids=["503", "429", "500", "refused"])
def test_an_unreachable_robots_txt_holds_the_host_back(tmp_path, answer):
    """5xx, 429 or no answer at all: no page of the host is fetched; it waits, unpenalised."""
    server = FaultServer("127.0.0.12", pages=3, robots="", robots_status=answer or 200).start()
    try:
        settings, engine = setup(tmp_path, [server], robots_retry_s=600)
        if answer is None:
            server.stop()  # the host is gone: robots.txt cannot be fetched at all
        stats = pipeline.fetch_shard(engine, settings, ["127.0.0.12"], "r")
        asked = [r.path for r in server.requests]
    finally:
        server.stop()
    assert not [p for p in asked if p.endswith(".html")]  # no page was asked for
    if answer is not None:
        assert "/robots.txt" in asked
    assert stats["articles_extracted"] == stats["pages_failed"] == 0
    with engine.connect() as conn:
        entries = conn.execute(select(wh.feed_entries.c.state, wh.feed_entries.c.attempts)).all()
        host = conn.execute(select(wh.hosts).where(wh.hosts.c.host == "127.0.0.12")).one()
    assert len(entries) == 3 and all(tuple(e) == ("pending", 0) for e in entries)
    wait = (host.next_eligible_at - pipeline._now()).total_seconds()
    assert 590 < wait <= 600, wait
    assert pipeline.plan_page_shards(engine, settings) == []  # left out until then


def test_a_huge_crawl_delay_is_capped(tmp_path):
    """A robots.txt asking for 30 s between requests gets max_crawl_delay_s (0.5 s) instead."""
    robots = "User-agent: *\nCrawl-delay: 30\n"
    with FaultServer("127.0.0.14", pages=3, robots=robots) as server:
        settings, engine = setup(tmp_path, [server], max_crawl_delay_s=0.5, shard_budget_s=20)
        stats = pipeline.fetch_shard(engine, settings, ["127.0.0.14"], "r")
        times = [
            r.at for r in server.requests if r.path == "/robots.txt" or r.path.endswith(".html")
        ]
    assert stats["articles_extracted"] == 3  # with 30 s between them, the budget would end it
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 3 and min(gaps) >= 0.5, gaps  # the cap, above the 0.4 s politeness
    with engine.connect() as conn:
        assert conn.execute(select(wh.hosts.c.crawl_delay_s)).scalar_one() == 30.0  # as asked


def test_no_more_hosts_are_fetched_at_once_than_max_parallel_hosts(tmp_path):
    with (
        FaultServer("127.0.0.15", pages=3, robots="User-agent: *\nAllow: /\n") as a,
        FaultServer("127.0.0.16", pages=3, robots="User-agent: *\nAllow: /\n") as b,
        FaultServer("127.0.0.17", pages=3, robots="User-agent: *\nAllow: /\n") as c,
    ):
        spans = {}
        for limit in (1, 3):
            (tmp_path / str(limit)).mkdir()
            settings, engine = setup(tmp_path / str(limit), [a, b, c], max_parallel_hosts=limit)
            for server in (a, b, c):
                server.clear_requests()  # the polls: now only the crawl's requests
            [shard] = pipeline.plan_page_shards(engine, settings)
            stats = pipeline.fetch_shard(engine, settings, shard["items"], "r")
            assert stats["articles_extracted"] == 9
            spans[limit] = sorted((s.requests[0].at, s.requests[-1].at) for s in (a, b, c))
    one_at_a_time = spans[1]
    assert all(end <= nxt for (_, end), (nxt, _) in itertools.pairwise(one_at_a_time))
    together = spans[3]
    assert together[0][1] > together[2][0]  # the first host still going when the last began


def test_a_redirected_robots_txt_is_followed_and_its_hop_paced(tmp_path):
    robots = "User-agent: *\nCrawl-delay: 1\n"
    with FaultServer("127.0.0.18", pages=2, robots=robots, robots_moved_to="/rules.txt") as server:
        settings, engine = setup(tmp_path, [server])
        stats = pipeline.fetch_shard(engine, settings, ["127.0.0.18"], "r")
        times = [r.at for r in server.requests if r.path in ("/robots.txt", "/rules.txt")
                 or r.path.endswith(".html")]  # fmt: skip
    assert stats["articles_extracted"] == 2
    assert [r for r in server.requests if r.path == "/rules.txt"]  # the redirect was followed
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert len(gaps) == 3
    assert gaps[0] >= DELAY, gaps  # the hop waited like any request to the host
    assert min(gaps[1:]) >= 1.0, gaps  # and the rules it led to apply (Crawl-delay: 1)


def test_a_crawl_delay_learnt_in_an_earlier_run_paces_the_next_runs_first_request(tmp_path):
    with FaultServer("127.0.0.19", pages=4, robots="User-agent: *\nCrawl-delay: 1\n") as server:
        settings, engine = setup(tmp_path, [server], max_pages_per_run=2, robots_ttl_s=0.001)
        pipeline.fetch_shard(engine, settings, ["127.0.0.19"], "r1")
        pipeline.fetch_shard(engine, settings, ["127.0.0.19"], "r2")  # robots.txt is stale again
        times = [
            r.at for r in server.requests if r.path == "/robots.txt" or r.path.endswith(".html")
        ]
    assert len(times) == 6  # robots.txt and two pages, twice
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1.0, gaps  # the second run's robots.txt request included


def test_a_crawl_delay_dropped_from_robots_txt_is_forgotten(tmp_path):
    with FaultServer("127.0.0.19", pages=4, robots="User-agent: *\nCrawl-delay: 1\n") as server:
        settings, engine = setup(tmp_path, [server], max_pages_per_run=2, robots_ttl_s=0.001)
        pipeline.fetch_shard(engine, settings, ["127.0.0.19"], "r1")
        with engine.connect() as conn:
            assert conn.execute(select(wh.hosts.c.crawl_delay_s)).scalar_one() == 1.0
        server.robots = "User-agent: *\nAllow: /\n"  # the site drops its Crawl-delay
        pipeline.fetch_shard(engine, settings, ["127.0.0.19"], "r2")  # reads it again (stale)
    with engine.connect() as conn:
        assert conn.execute(select(wh.hosts.c.crawl_delay_s)).scalar_one() is None


def test_a_bug_before_a_hosts_first_request_ends_its_crawl_and_never_hangs_the_shard(tmp_path):
    from datetime import datetime

    from ingest.crawl import Crawl, HostDone
    from ingest.models import HostState, PageJob
    from ingest.outcomes import PageFailed

    settings = load_settings(home=tmp_path, allow_loopback=True)
    job = PageJob("e", "f", "g", "http://127.0.0.20/a", "http://127.0.0.20/a")
    naive = HostState("127.0.0.20", last_request_at=datetime(2026, 1, 1))  # noqa: DTZ001 - the bug
    with Crawl(settings, {"127.0.0.20": [job]}, {"127.0.0.20": naive},
               process=lambda *_: None, budget_s=5) as crawl:  # fmt: skip
        events = list(crawl)
    [done] = [e for e in events if isinstance(e, HostDone)]
    assert done.crashed and "TypeError" in done.crashed
    assert [(e.job, e.reason.value) for e in events if isinstance(e, PageFailed)] == [
        (job, "internal_error")
    ]


def test_a_failed_save_still_records_every_hosts_final_state(tmp_path, monkeypatch):
    """The warehouse drops out mid-shard: the hosts finish what they had in hand, and their
    state (when they were last asked, what they throttled) is saved with the rest."""
    from ingest.errors import WarehouseUnavailable
    from ingest.store import queue

    with FaultServer("127.0.0.21", pages=3, robots="User-agent: *\nAllow: /\n") as server:
        settings, engine = setup(tmp_path, [server], flush_every=1)
        real, calls = queue.save_pages, []

        def flaky(*args, **kwargs):
            calls.append(kwargs.get("hosts_done"))
            if len(calls) == 1:
                raise WarehouseUnavailable("connection lost")
            return real(*args, **kwargs)

        monkeypatch.setattr(queue, "save_pages", flaky)
        with pytest.raises(WarehouseUnavailable):
            pipeline.fetch_shard(engine, settings, ["127.0.0.21"], "r")
    assert len(calls) == 2  # the failed save, then the final one (not the same batch again)
    with engine.connect() as conn:
        host = conn.execute(select(wh.hosts).where(wh.hosts.c.host == "127.0.0.21")).one()
    assert host.last_request_at is not None and host.robots_status == 200


def test_a_same_host_redirect_into_a_disallowed_path_is_not_followed(tmp_path):
    robots = "User-agent: *\nDisallow: /private/\n"
    with FaultServer("127.0.0.22", robots=robots) as server:
        hop = quote(
            "/x/redirect-to?to=" + quote(server.url("/private/page.html"), safe=""), safe=""
        )
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(f'[[feeds]]\nkey = "p"\nurl = "{server.url("/feed-to?path=" + hop)}"\n')
        settings = load_settings(home=tmp_path / "h", allow_loopback=True, politeness_delay_s=0)
        engine = db.make_engine(settings.resolved_warehouse_url)
        pipeline.prepare(engine, feeds)
        pipeline.poll_shard(engine, settings, ["p"], "r")
        stats = pipeline.fetch_shard(engine, settings, ["127.0.0.22"], "r")
        assert server.hits("/private/") == []  # the hop was refused before it was made
    assert stats["failures"] == {"robots_disallowed": 1}
    with engine.connect() as conn:
        entry = conn.execute(select(wh.feed_entries)).one()
    assert (entry.state, entry.last_error) == ("failed", "robots_disallowed")


def test_a_throttle_is_recorded_on_the_host(tmp_path):
    with FaultServer("127.0.0.23", robots="User-agent: *\nAllow: /\n") as server:
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(
            f'[[feeds]]\nkey = "t"\nurl = "{server.url("/feed-to?path=/x/retry-after%3Fvalue%3D90")}"\n'
        )
        settings = load_settings(home=tmp_path / "h", allow_loopback=True, politeness_delay_s=0)
        engine = db.make_engine(settings.resolved_warehouse_url)
        pipeline.prepare(engine, feeds)
        pipeline.poll_shard(engine, settings, ["t"], "r")
        pipeline.fetch_shard(engine, settings, ["127.0.0.23"], "r")
    with engine.connect() as conn:
        host = conn.execute(select(wh.hosts)).one()
    assert host.throttled_count == 1
    assert host.last_throttle == "http_429: HTTP 429; Retry-After 90s"


def test_a_page_robots_txt_refuses_costs_that_page_and_the_host_goes_on(tmp_path):
    robots = "User-agent: *\nDisallow: /pages/2.html\n"
    with FaultServer("127.0.0.24", pages=4, robots=robots) as server:
        settings, engine = setup(tmp_path, [server])
        stats = pipeline.fetch_shard(engine, settings, ["127.0.0.24"], "r")
        fetched = sorted(r.path for r in server.requests if r.path.endswith(".html"))
    assert fetched == ["/pages/1.html", "/pages/3.html", "/pages/4.html"]  # after 2 too
    assert stats["failures"] == {"robots_disallowed": 1}
    assert stats["articles_extracted"] == 3


@pytest.mark.parametrize(
    ("retry_after", "cap", "wait"),
    [("1200", None, 1200), ("1200", 900, 900), ("30", None, 600)],
    ids=["longer-than-the-retry", "capped", "shorter-than-the-retry"],
)
def test_a_robots_txt_retry_after_sets_how_long_the_host_waits(tmp_path, retry_after, cap, wait):
    """A 503 robots.txt with Retry-After: the host waits that long (at least robots_retry_s,
    at most max_retry_after_s), and the request is in the fetch log as a robots.txt line."""
    caps = {"max_retry_after_s": cap} if cap else {}
    with FaultServer(
        "127.0.0.25", pages=2, robots="", robots_status=503,
        robots_headers=(("Retry-After", retry_after),),
    ) as server:  # fmt: skip
        settings, engine = setup(tmp_path, [server], robots_retry_s=600, **caps)
        pipeline.fetch_shard(engine, settings, ["127.0.0.25"], "r")
        assert [r.path for r in server.requests if r.path.endswith(".html")] == []
    with engine.connect() as conn:
        host = conn.execute(select(wh.hosts)).one()
        logged = conn.execute(
            select(wh.fetch_log.c.kind, wh.fetch_log.c.url, wh.fetch_log.c.status)
            .where(wh.fetch_log.c.run_id == "r", wh.fetch_log.c.kind != "feed")
        ).all()  # fmt: skip
    left = (host.next_eligible_at - pipeline._now()).total_seconds()
    assert wait - 10 < left <= wait, left
    assert logged == [("robots", server.url("/robots.txt"), 503)]


def test_only_the_first_512_kib_of_a_robots_txt_count(tmp_path):
    """RFC 9309: a crawler may stop parsing past its limit (ours 512 KiB) and obey the rules
    read so far; a bigger file is neither refused whole nor read to its end."""
    head = "User-agent: *\nDisallow: /pages/1.html\n"
    padding = "# " + "x" * 97 + "\n"
    tail = "Disallow: /pages/2.html\n"
    big = head + padding * (600 * 1024 // len(padding)) + tail
    with FaultServer("127.0.0.26", pages=3, robots=big) as server:
        settings, engine = setup(tmp_path, [server])
        stats = pipeline.fetch_shard(engine, settings, ["127.0.0.26"], "r")
        fetched = sorted(r.path for r in server.requests if r.path.endswith(".html"))
        [asked] = [r for r in server.requests if r.path == "/robots.txt"]
    assert fetched == ["/pages/2.html", "/pages/3.html"]  # the late rule is past the limit
    assert stats["failures"] == {"robots_disallowed": 1}
    assert asked.headers["accept"].startswith("text/plain")  # robots.txt asks for text


def test_a_page_moved_to_another_host_costs_that_page_only_and_is_logged_as_a_page(tmp_path):
    """The moved page is re-queued under its new host; the host's next pages are fetched."""
    with (
        FaultServer("127.0.0.27", robots="User-agent: *\nAllow: /\n") as a,
        FaultServer("127.0.0.28", robots="User-agent: *\nAllow: /\n") as b,
    ):
        moved = quote("/x/redirect-to?to=" + quote(b.url("/pages/1.html"), safe=""), safe="")
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(
            f'[[feeds]]\nkey = "m"\nurl = "{a.url("/feed-to?path=" + moved)}"\n\n'
            f'[[feeds]]\nkey = "p"\nurl = "{a.url("/feed-to?path=/pages/3.html")}"\n'
        )
        settings = load_settings(home=tmp_path / "h", allow_loopback=True, politeness_delay_s=0)
        engine = db.make_engine(settings.resolved_warehouse_url)
        pipeline.prepare(engine, feeds)
        pipeline.poll_shard(engine, settings, ["m"], "r")
        time.sleep(0.01)
        pipeline.poll_shard(engine, settings, ["p"], "r")  # listed later: fetched after
        stats = pipeline.fetch_shard(engine, settings, ["127.0.0.27"], "r")
        asked = [r.path for r in a.requests if not r.path.startswith(("/feed", "/robots"))]
    assert asked[0].startswith("/x/redirect-to") and asked[1:] == ["/pages/3.html"]
    assert stats["articles_extracted"] == 1
    with engine.connect() as conn:
        logged = conn.execute(
            select(wh.fetch_log.c.kind, wh.fetch_log.c.status, wh.fetch_log.c.reason)
            .where(
                wh.fetch_log.c.run_id == "r",
                wh.fetch_log.c.kind != "feed",
                wh.fetch_log.c.url.like("%redirect-to%"),
            )
        ).all()  # fmt: skip
    assert logged == [("page", None, "redirected_offsite")]  # refused at the hop: no status


class _Killed(BaseException):
    """The task's process dying mid-crawl: nothing after it runs (no release)."""


def test_a_retry_after_a_kill_takes_its_own_hosts_back_at_once_and_no_one_else_does(
    hosts, tmp_path, monkeypatch
):
    a, _ = hosts
    settings, engine = setup(tmp_path, [a])
    taken = []

    def die_after_two(done, total):
        del total
        taken.append(done)
        if done == 2:  # two pages in, the worker is SIGKILLed
            raise _Killed

    with monkeypatch.context() as m:  # a killed process releases nothing
        m.setattr(fetching.leases, "release_crawl", lambda *_a, **_k: None)
        with pytest.raises(_Killed):
            pipeline.fetch_shard(engine, settings, ["127.0.0.5"], "r", on_page=die_after_two)
    fetched_before = len([r for r in a.requests if r.path.endswith(".html")])
    assert 1 <= fetched_before <= 2
    # another run finds the host held for the lease's hour: it leaves it alone
    other = pipeline.fetch_shard(engine, settings, ["127.0.0.5"], "r2")
    assert other["pages_fetched"] == 0
    # the retry of the same shard (its run, its hosts) takes it back and finishes
    retry = pipeline.fetch_shard(engine, settings, ["127.0.0.5"], "r")
    assert retry["pages_fetched"] == PAGES - fetched_before
    pages = [r.at for r in a.requests if r.path.endswith(".html")]
    assert len(pages) == PAGES
    gaps = [later - earlier for earlier, later in itertools.pairwise(pages)]
    assert min(gaps) >= DELAY, gaps  # the killed try's last request counts as ended then


def test_a_host_that_asked_to_wait_is_saved_at_once_not_at_the_next_flush(tmp_path):
    """A retry that takes the shard's hosts over after a kill must still find the wait."""
    with (
        FaultServer("127.0.0.25", robots="User-agent: *\nAllow: /\n") as slow,
        FaultServer("127.0.0.26", pages=PAGES, robots="User-agent: *\nAllow: /\n") as busy,
    ):
        feeds = tmp_path / "feeds.toml"
        feeds.write_text(
            f'[[feeds]]\nkey = "t"\nurl = "{slow.url("/feed-to?path=/x/retry-after%3Fvalue%3D90")}"\n\n'
            f'[[feeds]]\nkey = "b"\nurl = "{busy.url("/pages/feed.xml")}"\n'
        )
        settings = load_settings(home=tmp_path / "h", allow_loopback=True, politeness_delay_s=DELAY)
        engine = db.make_engine(settings.resolved_warehouse_url)
        pipeline.prepare(engine, feeds)
        pipeline.poll_shard(engine, settings, ["t", "b"], "r")
        seen = []

        def look(done, total):  # while the busy host's pages are still coming
            del total
            if 0 < done < PAGES:
                with engine.connect() as conn:
                    row = conn.execute(
                        select(wh.hosts).where(wh.hosts.c.host == "127.0.0.25")
                    ).one_or_none()
                seen.append(row is not None and row.next_eligible_at is not None)

        pipeline.fetch_shard(engine, settings, ["127.0.0.25", "127.0.0.26"], "r", on_page=look)
    assert seen and seen[-1]  # saved before the shard's end (flush_every is 25 pages)
