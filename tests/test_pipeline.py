"""The composer's steps against a local HTTP server: polling, queueing, fetching, loading."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from werkzeug import Response

from ingest import pipeline
from ingest.extract import EXTRACTOR_VERSION
from ingest.models import FeedSpec
from ingest.store import engine as db
from ingest.store import feeds as store_feeds
from ingest.store import queue, staging
from ingest.store import schema as wh

PAGE = (Path(__file__).parent / "fixtures" / "article.html").read_bytes()


def rss(items: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{link}</link><guid>{t}</guid></item>" for t, link in items
    )
    return f'<rss version="2.0"><channel><title>T</title>{body}</channel></rss>'


@pytest.fixture
def feed(httpserver, engine, now):
    store_feeds.sync(engine, [FeedSpec(key="t", url=httpserver.url_for("/feed.xml"))], now)
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)  # no rules
    return httpserver


def poll(engine, settings, run_id="r"):
    return pipeline.poll_shard(engine, settings, ["t"], run_id)


def make_due(engine):
    with db.transaction(engine) as conn:
        conn.execute(wh.feeds.update().values(next_due_at=None))


def test_same_body_without_validators_is_not_parsed_again(feed, engine, settings):
    feed.expect_request("/feed.xml").respond_with_data(
        rss([("a", feed.url_for("/a"))]), content_type="application/rss+xml"
    )
    first = poll(engine, settings)
    assert (first["entries_seen"], first["entries_new"]) == (1, 1)
    make_due(engine)
    second = poll(engine, settings)
    assert second["feeds_unchanged"] == 1
    assert second["entries_seen"] == 0


def test_changed_feed_queues_only_new_entries(feed, engine, settings):
    feed.expect_ordered_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    feed.expect_ordered_request("/feed.xml").respond_with_data(
        rss([("a", feed.url_for("/a")), ("b", feed.url_for("/b?utm_source=x"))])
    )
    poll(engine, settings)
    make_due(engine)
    second = poll(engine, settings)
    assert (second["entries_seen"], second["entries_new"]) == (2, 1)
    jobs = queue.pending_jobs(engine, limit=10, max_attempts=3)
    assert sorted(j.canonical_url for j in jobs) == [feed.url_for("/a"), feed.url_for("/b")]


def test_failing_feed_is_counted_and_backed_off_not_dropped(feed, engine, settings):
    feed.expect_request("/feed.xml").respond_with_data("down", status=503)
    result = poll(engine, settings)
    assert result["feeds_failed"] == 1
    assert result["failures"] == {"http_5xx": 1}
    with engine.connect() as conn:
        row = conn.execute(select(wh.feeds)).one()
    assert row.enabled
    assert row.consecutive_failures == 1
    assert row.last_error == "http_5xx: HTTP 503"
    assert row.next_due_at > row.last_polled_at


def test_entry_with_unusable_link_is_recorded_failed(feed, engine, settings):
    feed.expect_request("/feed.xml").respond_with_data(
        rss([("ok", feed.url_for("/ok")), ("bad", "mailto:desk@example.org")])
    )
    result = poll(engine, settings)
    assert result["failures"] == {"bad_scheme": 1}
    with engine.connect() as conn:
        states = dict(conn.execute(select(wh.feed_entries.c.guid, wh.feed_entries.c.state)).all())
    assert states == {"ok": "pending", "bad": "failed"}


def test_fetch_and_load_one_page_then_nothing_twice(feed, engine, settings):
    feed.expect_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    feed.expect_request("/a").respond_with_data(PAGE, content_type="text/html")
    poll(engine, settings)
    shards = pipeline.plan_page_shards(engine, settings)
    assert [s["items"] for s in shards] == [["localhost"]]
    fetched = pipeline.fetch_shard(engine, settings, shards[0]["items"], "r")
    assert (fetched["pages_fetched"], fetched["articles_extracted"]) == (1, 1)
    loaded = pipeline.load_run(engine, "r")
    assert loaded.inserted == 1
    with engine.connect() as conn:
        stored = conn.execute(select(wh.articles.c.extractor_version)).scalar_one()
    assert stored == EXTRACTOR_VERSION  # a later re-extraction can tell old rows from new
    assert pipeline.plan_page_shards(engine, settings) == []  # queue drained
    (archived,) = settings.resolved_archive_dir.rglob("*.warc.gz")
    with engine.connect() as conn:  # the page's WARC record is indexed under its body's hash
        raw_hash = conn.execute(select(wh.articles.c.raw_hash)).scalar_one()
        record = conn.execute(select(wh.archive_records)).one()
    assert record.digest == raw_hash
    assert archived.relative_to(settings.resolved_archive_dir).as_posix() == record.file
    with archived.open("rb") as stream:
        stream.seek(record.record_offset)
        from warcio.archiveiterator import ArchiveIterator

        found = [(r.rec_type, r.content_stream().read())
                 for r in ArchiveIterator(io.BytesIO(stream.read(record.record_length)))]  # fmt: skip
    assert found == [("response", PAGE)]  # that one record, read alone


def _slow_page() -> bytes:
    """A page whose extraction takes seconds of CPU (2 s here): 40,000 paragraphs."""
    paragraphs = "".join(f"<p>Paragraph {i} of a very long story about the harbour.</p>"
                         for i in range(40_000))  # fmt: skip
    return f"<html><body><article>{paragraphs}</article></body></html>".encode()


def test_a_page_whose_worker_overran_or_died_is_still_archived_and_indexed(feed, engine, settings):
    from ingest.archive import RawArchive
    from ingest.models import RawRef

    page = _slow_page()
    feed.expect_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    feed.expect_request("/a").respond_with_data(page, content_type="text/html")
    poll(engine, settings)
    hurried = settings.model_copy(update={"extract_budget_s": 0.2})  # seconds of work to do
    fetched = pipeline.fetch_shard(engine, hurried, ["localhost"], "r")
    assert (fetched["pages_fetched"], fetched["articles_extracted"]) == (1, 0)
    assert dict(fetched["failures"]) == {"time_budget": 1}
    with engine.connect() as conn:  # the worker made no records: the stage wrote them
        record = conn.execute(select(wh.archive_records)).one()
    ref = RawRef(record.digest, record.file, record.record_offset, record.record_length,
                 record.url, record.captured_at)  # fmt: skip
    assert RawArchive(settings.archive_root).get(record.digest, ref) == page


def _fork_server_children() -> set[int]:
    """The processes the fork server forked (sandbox workers) that run now."""
    from multiprocessing import forkserver

    server = forkserver._forkserver._forkserver_pid  # the workers' parent
    if server is None:
        return set()
    try:
        return set(map(int, Path(f"/proc/{server}/task/{server}/children").read_text().split()))
    except OSError:
        return set()


class _WorkerKiller:
    """SIGKILLs the first sandbox worker started after it, once that worker has spent
    ``cpu_s`` of CPU (on a page): a signal we did not send, as the OOM killer's or that of
    Airflow stopping the task's process group. Workers already running are left alone."""

    def __init__(self, cpu_s: float) -> None:
        import threading

        self.cpu_s, self.killed = cpu_s, None
        self._before: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self):
        self._before = _fork_server_children()
        self._thread.start()
        return self

    def __exit__(self, *_exc):
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        import os
        import signal

        ticks = os.sysconf("SC_CLK_TCK")
        while self.killed is None and not self._stop.wait(0.01):
            for pid in _fork_server_children() - self._before:  # a new worker's CPU starts at 0
                try:
                    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if (int(stat[11]) + int(stat[12])) / ticks > self.cpu_s:
                    os.kill(pid, signal.SIGKILL)
                    self.killed = pid
                    break


def test_a_page_whose_worker_is_killed_from_outside_is_tried_again_and_stored_once(
    feed, engine, settings
):
    """A worker killed by a signal we did not send (the task stopped, the OOM killer)
    costs its page an attempt, not the page: it stays pending and the next run stores it."""
    feed.expect_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    feed.expect_request("/a").respond_with_data(_slow_page(), content_type="text/html")
    poll(engine, settings)
    with _WorkerKiller(cpu_s=0.3) as killer:
        first = pipeline.fetch_shard(engine, settings, ["localhost"], "r1")
    assert killer.killed is not None
    assert (first["pages_fetched"], first["articles_extracted"]) == (1, 0)
    assert dict(first["failures"]) == {"worker_crashed": 1}
    with engine.connect() as conn:
        entry = conn.execute(select(wh.feed_entries)).one()
    assert (entry.state, entry.attempts, entry.last_error) == ("pending", 1, "worker_crashed")
    second = pipeline.fetch_shard(engine, settings, ["localhost"], "r2")
    assert (second["pages_fetched"], second["articles_extracted"]) == (1, 1)
    assert pipeline.load_run(engine, "r1").inserted == 0
    assert pipeline.load_run(engine, "r2").inserted == 1
    with engine.connect() as conn:
        assert conn.execute(select(wh.feed_entries.c.state)).scalar_one() == "stored"
        assert len(conn.execute(select(wh.articles.c.article_id)).all()) == 1


def test_a_json_feed_is_polled_fetched_and_loaded_like_any_feed(feed, engine, settings):
    import json

    items = [{"id": "j1", "url": "/a", "title": "A", "date_published": "2026-11-20T08:00:00Z"}]
    body = json.dumps({"version": "https://jsonfeed.org/version/1.1", "items": items})
    feed.expect_request("/feed.xml").respond_with_data(body, content_type="application/feed+json")
    feed.expect_request("/a").respond_with_data(PAGE, content_type="text/html")
    polled = poll(engine, settings)
    assert (polled["entries_seen"], polled["entries_new"], polled["feeds_failed"]) == (1, 1, 0)
    shards = pipeline.plan_page_shards(engine, settings)
    pipeline.fetch_shard(engine, settings, shards[0]["items"], "r")
    assert pipeline.load_run(engine, "r").inserted == 1
    with engine.connect() as conn:
        entry = conn.execute(select(wh.feed_entries.c.guid, wh.feed_entries.c.state)).one()
    assert tuple(entry) == ("j1", "stored")


def test_soft_page_failure_is_retried_then_given_up(feed, engine, settings):
    feed.expect_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    feed.expect_request("/a").respond_with_data("busy", status=503)
    poll(engine, settings)
    for attempt in range(settings.max_fetch_attempts):
        assert pipeline.plan_page_shards(engine, settings), attempt
        result = pipeline.fetch_shard(engine, settings, ["localhost"], f"r{attempt}")
        assert result["failures"] == {"http_5xx": 1}
    assert pipeline.plan_page_shards(engine, settings) == []
    with engine.connect() as conn:
        row = conn.execute(select(wh.feed_entries)).one()
    assert (row.state, row.last_error, row.attempts) == ("failed", "http_5xx", 3)


def test_shard_budget_leaves_the_rest_pending_and_keeps_what_was_done(feed, engine, tmp_path):
    from ingest.settings import load_settings

    settings = load_settings(
        home=tmp_path / "v", shard_budget_s=0.5, flush_every=1, allow_loopback=True,
        politeness_delay_s=0.0,
    )  # fmt: skip
    links = [(f"p{i}", feed.url_for(f"/p{i}")) for i in range(4)]
    feed.expect_request("/feed.xml").respond_with_data(rss(links))

    def slow_page(_request):
        time.sleep(0.4)
        return Response(PAGE, content_type="text/html")

    for i in range(4):
        feed.expect_request(f"/p{i}").respond_with_handler(slow_page)
    poll(engine, settings)
    result = pipeline.fetch_shard(engine, settings, ["localhost"], "r")
    assert 1 <= result["articles_extracted"] < 4
    assert len(staging.staged_articles(engine, "r")) == result["articles_extracted"]
    assert (
        pipeline.load_run(engine, "r").rows_in == result["articles_extracted"]
    )  # same page: 1 stored, rest copies
    left = queue.pending_jobs(engine, limit=10, max_attempts=3)
    assert len(left) == 4 - result["articles_extracted"]


def feed_row(engine):
    with engine.connect() as conn:
        return conn.execute(select(wh.feeds).where(wh.feeds.c.feed_key == "t")).one()


def seconds_until(moment):
    from datetime import UTC, datetime

    return (moment - datetime.now(UTC)).total_seconds()


def test_a_feeds_retry_after_and_max_age_set_its_next_poll(feed, engine, settings):
    feed.expect_oneshot_request("/feed.xml").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7200"}
    )
    poll(engine, settings)
    row = feed_row(engine)
    assert (row.failure_kind, row.consecutive_failures) == ("soft", 1)
    assert row.last_error.startswith("http_429: HTTP 429; Retry-After 7200s")
    assert 7310 < seconds_until(row.next_due_at) <= 7320  # 2 h, and the runs' slack
    make_due(engine)
    feed.expect_oneshot_request("/feed.xml").respond_with_data(
        rss([("a", feed.url_for("/a"))]), headers={"Cache-Control": "public, max-age=5400"}
    )
    poll(engine, settings)
    row = feed_row(engine)
    assert (row.consecutive_failures, row.failure_kind, row.broken) == (0, None, False)
    assert 5390 < seconds_until(row.next_due_at) <= 5400  # max-age beats the 15 min interval
    assert row.poll_interval_s == 15 * 60


def test_a_feed_failing_again_and_again_is_flagged_broken_not_dropped(feed, engine, settings):
    feed.expect_request("/feed.xml").respond_with_data("gone", status=404)
    for _ in range(settings.feed_broken_after):
        make_due(engine)
        poll(engine, settings)
    row = feed_row(engine)
    assert (row.broken, row.consecutive_failures, row.failure_kind) == (True, 5, "hard")
    assert row.enabled and row.broken_since is not None
    assert 23.9 * 3600 < seconds_until(row.next_due_at) <= 24 * 3600  # polled daily from now on


def rss_with_ttl(ttl: str) -> str:
    return rss([("a", "http://localhost/a")]).replace("<channel>", f"<channel><ttl>{ttl}</ttl>", 1)


def test_a_feeds_ttl_holds_on_304s_too_and_a_huge_one_is_capped(feed, engine, settings):
    feed.expect_oneshot_request("/feed.xml").respond_with_data(
        rss_with_ttl("240"), headers={"ETag": '"v1"'}
    )
    poll(engine, settings)
    assert 239 * 60 < seconds_until(feed_row(engine).next_due_at) <= 240 * 60
    make_due(engine)
    feed.expect_oneshot_request("/feed.xml", headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304
    )  # a 304 only to a conditional request: without its validator there is no answer
    assert poll(engine, settings)["feeds_unchanged"] == 1
    row = feed_row(engine)
    assert row.ttl_minutes == 240
    assert 239 * 60 < seconds_until(row.next_due_at) <= 240 * 60  # not the 15 min default
    make_due(engine)
    feed.expect_oneshot_request("/feed.xml").respond_with_data(rss_with_ttl("9" * 400))
    poll(engine, settings)  # a 400-digit ttl: no overflow, capped (a week; the poll at 24 h)
    row = feed_row(engine)
    assert (row.consecutive_failures, row.ttl_minutes) == (0, 7 * 24 * 60)
    assert 23.9 * 3600 < seconds_until(row.next_due_at) <= 24 * 3600


def test_a_poll_sends_the_validators_of_the_last_answer(feed, engine, settings):
    stamp = "Fri, 20 Nov 2026 06:30:00 GMT"
    feed.expect_oneshot_request("/feed.xml").respond_with_data(
        rss([("a", feed.url_for("/a"))]), headers={"ETag": '"v7"', "Last-Modified": stamp}
    )
    poll(engine, settings)
    make_due(engine)
    feed.expect_oneshot_request(
        "/feed.xml", headers={"If-None-Match": '"v7"', "If-Modified-Since": stamp}
    ).respond_with_data("", status=304)
    second = poll(engine, settings)
    assert (second["feeds_unchanged"], second["feeds_failed"]) == (1, 0)
    request = feed.log[-1][0]
    assert (request.headers["If-None-Match"], request.headers["If-Modified-Since"]) == (
        '"v7"',
        stamp,
    )
    assert (feed_row(engine).etag, feed_row(engine).last_modified) == ('"v7"', stamp)


def test_a_feed_polled_again_with_no_validators_is_asked_unconditionally(feed, engine, settings):
    feed.expect_oneshot_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    poll(engine, settings)
    make_due(engine)
    feed.expect_oneshot_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    poll(engine, settings)
    request = feed.log[-1][0]
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers


def fetched_once(feed, engine, settings, run_id="r"):
    feed.expect_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    feed.expect_request("/a").respond_with_data(PAGE, content_type="text/html")
    poll(engine, settings)
    pipeline.fetch_shard(engine, settings, ["localhost"], run_id)
    assert pipeline.load_run(engine, run_id).inserted == 1
    with engine.connect() as conn:
        return conn.execute(select(wh.articles)).one()


def test_a_backfill_re_extracts_what_an_older_extractor_stored(feed, engine, settings):
    from datetime import timedelta

    stored = fetched_once(feed, engine, settings)
    with db.transaction(engine) as conn:  # as an older extractor left it
        conn.execute(
            wh.articles.update().values(
                body="Old extraction: the menu and a cookie banner.", extractor_version="old"
            )
        )
    window = (stored.fetched_at - timedelta(minutes=1), stored.fetched_at + timedelta(minutes=1))
    stats = pipeline.reprocess_interval(engine, settings, *window, "backfill__1")
    assert stats["articles_extracted"] == 1
    result = pipeline.load_run(engine, "backfill__1", interval=window, steps=[stats])
    assert (result.inserted, result.updated) == (0, 1)
    with engine.connect() as conn:
        row = conn.execute(select(wh.articles)).one()
    assert (row.body, row.extractor_version) == (stored.body, EXTRACTOR_VERSION)
    assert (row.fetched_at, row.first_seen_at) == (stored.fetched_at, stored.first_seen_at)
    again = pipeline.reprocess_interval(engine, settings, *window, "backfill__2")
    assert pipeline.load_run(engine, "backfill__2", steps=[again]).skipped == 1  # unchanged


def test_a_page_kept_by_the_archive_of_old_is_re_extracted_from_there(feed, engine, settings):
    import gzip
    from datetime import timedelta

    stored = fetched_once(feed, engine, settings)
    for path in settings.resolved_archive_dir.rglob("*.warc.gz"):
        path.unlink()  # as an older version kept it: one gzip file per body, no index
    with db.transaction(engine) as conn:
        conn.execute(wh.archive_records.delete())
    old = settings.resolved_archive_dir / stored.raw_hash[:2] / f"{stored.raw_hash}.gz"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(gzip.compress(PAGE))
    window = (stored.fetched_at - timedelta(minutes=1), stored.fetched_at + timedelta(minutes=1))
    stats = pipeline.reprocess_interval(engine, settings, *window, "backfill__1")
    assert (stats["articles_extracted"], stats["failures"]) == (1, {})


def test_a_backfill_counts_a_page_missing_from_the_archive_and_changes_nothing(
    feed, engine, settings
):
    from datetime import timedelta

    stored = fetched_once(feed, engine, settings)
    for path in settings.resolved_archive_dir.rglob("*.gz"):
        path.unlink()  # the archive lost the page
    window = (stored.fetched_at - timedelta(minutes=1), stored.fetched_at + timedelta(minutes=1))
    stats = pipeline.reprocess_interval(engine, settings, *window, "backfill__1")
    assert (stats["articles_extracted"], stats["failures"]) == (0, {"archive_missing": 1})
    result = pipeline.load_run(engine, "backfill__1", steps=[stats])
    assert (result.rows_in, result.inserted, result.updated) == (0, 0, 0)
    assert result.summary()["failures"] == {"archive_missing": 1}
    with engine.connect() as conn:
        assert tuple(conn.execute(select(wh.articles)).one()) == tuple(stored)


def test_housekeeping_prunes_old_fetch_log_lines_and_abandoned_staging_only(feed, engine, settings):
    from datetime import timedelta

    from helpers import article

    fetched_once(feed, engine, settings)
    old = pipeline._now() - timedelta(days=settings.fetch_log_keep_days, hours=1)
    staging.stage_articles(
        engine, "abandoned", [("https://x.example/1", article("https://x.example/1"))], old
    )
    staging.stage_articles(
        engine, "recent", [("https://x.example/2", article("https://x.example/2"))], pipeline._now()
    )
    with db.transaction(engine) as conn:
        conn.execute(
            wh.fetch_log.update().where(wh.fetch_log.c.kind == "feed").values(fetched_at=old)
        )
    with engine.connect() as conn:
        kinds_before = sorted(conn.execute(select(wh.fetch_log.c.kind)).scalars())
    assert "feed" in kinds_before and "page" in kinds_before
    pipeline.housekeeping(engine, settings)
    with engine.connect() as conn:
        kinds = sorted(conn.execute(select(wh.fetch_log.c.kind)).scalars())
        runs = set(conn.execute(select(wh.article_staging.c.run_id)).scalars())
    assert kinds == [k for k in kinds_before if k != "feed"]  # only the old lines went
    assert runs == {"recent"}


def test_a_retried_poll_task_leaves_alone_the_feeds_its_first_try_polled(feed, engine, settings):
    feed.expect_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    due_at = pipeline._now()
    first = pipeline.poll_shard(engine, settings, ["t"], "r", due_at=due_at)
    before = feed_row(engine)
    again = pipeline.poll_shard(engine, settings, ["t"], "r", due_at=due_at)  # Airflow's retry
    assert (first["feeds_polled"], again["feeds_polled"]) == (1, 0)
    after = feed_row(engine)
    assert (after.last_polled_at, after.poll_interval_s) == (
        before.last_polled_at,
        before.poll_interval_s,
    )
    assert len([r for r, _ in feed.log if r.path == "/feed.xml"]) == 1


def test_what_a_poll_shard_did_is_saved_when_it_stops_half_way(
    feed, engine, settings, monkeypatch, now
):
    from ingest.poll import Poller

    wh_feeds = [FeedSpec(key="t", url=feed.url_for("/feed.xml")),
                FeedSpec(key="u", url=feed.url_for("/other.xml"))]  # fmt: skip
    store_feeds.sync(engine, wh_feeds, now)
    feed.expect_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    real = Poller.poll

    def poll_then_die(self, target):
        if target.key == "u":
            raise KeyboardInterrupt  # the task is killed while polling the second feed
        return real(self, target)

    monkeypatch.setattr(Poller, "poll", poll_then_die)
    with pytest.raises(KeyboardInterrupt):
        pipeline.poll_shard(engine, settings, ["t", "u"], "r")
    assert feed_row(engine).last_success_at is not None  # the first feed's poll was kept
    assert [j.canonical_url for j in queue.pending_jobs(engine, limit=5, max_attempts=3)] == [
        feed.url_for("/a")
    ]


def test_a_run_takes_the_feeds_due_a_moment_after_its_due_time(feed, engine, settings):
    """Runs poll a little after their due time: a feed polled at 20:30:05 every 15 minutes
    is the 20:45 run's, not the 21:00 one's; one due 3 minutes later is not."""
    from datetime import timedelta

    from ingest.schedule import DUE_SLACK_S

    feed.expect_request("/feed.xml").respond_with_data(rss([("a", feed.url_for("/a"))]))
    run_due = pipeline._now().replace(microsecond=0)
    pipeline.poll_shard(engine, settings, ["t"], "r1", due_at=run_due)
    for late, planned in ((5, True), (DUE_SLACK_S, True), (DUE_SLACK_S + 60, False)):
        with db.transaction(engine) as conn:
            conn.execute(wh.feeds.update().values(next_due_at=run_due + timedelta(seconds=late)))
        shards = pipeline.plan_feed_shards(engine, settings, run_due)
        assert [s["items"] for s in shards] == ([["t"]] if planned else []), late
    # the next run's poll step agrees with its plan, and a retry of it polls nothing again
    next_due = run_due + timedelta(minutes=15)
    with db.transaction(engine) as conn:
        conn.execute(wh.feeds.update().values(next_due_at=next_due + timedelta(seconds=5)))
    first = pipeline.poll_shard(engine, settings, ["t"], "r2", due_at=next_due)
    again = pipeline.poll_shard(engine, settings, ["t"], "r2", due_at=next_due)
    assert (first["feeds_polled"], again["feeds_polled"]) == (1, 0)


@pytest.mark.parametrize(
    ("feeds", "size", "most", "sizes"),
    [
        (10, 4, 8, [4, 4, 2]),  # few enough: the shard size holds
        (10, 2, 3, [4, 4, 2]),  # 5 shards of 2 would be too many: 3 larger ones
        (1000, 8, 256, [8] * 125),
        (10_000, 8, 256, [40] * 250),  # under Airflow's 1024 mapped instances
    ],
)
def test_a_plan_makes_at_most_max_shards_shards(engine, settings, feeds, size, most, sizes):
    specs = [FeedSpec(key=f"f{n:05d}", url=f"https://h{n % 50}.example/{n}") for n in range(feeds)]
    store_feeds.sync(engine, specs, pipeline._now())
    tuned = settings.model_copy(update={"feed_shard_size": size, "max_shards": most})
    shards = pipeline.plan_feed_shards(engine, tuned, pipeline._now())
    assert [len(s["items"]) for s in shards] == sizes
    assert sorted(k for s in shards for k in s["items"]) == sorted(s.key for s in specs)
