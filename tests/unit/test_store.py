import sqlite3
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import bindparam, func, inspect, select, text
from sqlalchemy.exc import StatementError

from helpers import article, load
from ingest import monitor
from ingest.errors import ConfigError, WarehouseError, WarehouseUnavailable
from ingest.models import EntryState, FeedEntry, FeedSpec, Reason, ScheduledPoll
from ingest.outcomes import FetchRecord, PageFailed, Polled, PollFailed, QueuedEntry
from ingest.store import engine as db
from ingest.store import feeds as store_feeds
from ingest.store import queue, reports, staging
from ingest.store import schema as wh
from ingest.urls import entry_id_for

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SPECS = [
    FeedSpec(key="a", url="https://a.example/feed", tags=("x",)),
    FeedSpec(key="b", url="https://b.example/feed", interval_minutes=60),
]


def rows(engine, table):
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table))]


def test_migrations_create_exactly_the_declared_schema(engine):
    with engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(conn, opts={"compare_type": True}), wh.metadata
        )
    assert diff == []
    assert {"articles", "feeds", "feed_entries", "fetch_log", "load_ledger"} <= set(
        inspect(engine).get_table_names()
    )


def test_upgrade_is_idempotent(engine):
    db.upgrade(engine)
    with engine.connect() as conn:
        version = conn.execute(text("select version_num from alembic_version")).scalar_one()
    assert version == db.head_revision()


@pytest.mark.sqlite_only
def test_sqlite_runs_in_wal_mode_with_busy_timeout(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30000


def test_errors_do_not_show_row_data(engine):
    secret = "row-data-that-must-not-leak"
    with pytest.raises(WarehouseError) as info, db.transaction(engine) as conn:
        conn.execute(
            wh.feeds.insert().values(feed_key=secret, url=None, created_at=T0, updated_at=T0)
        )
    assert secret not in str(info.value)
    assert "url" in str(info.value)  # still says what went wrong
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__  # the raw driver error is not chained into logs


def test_sync_feeds_upserts_and_disables_removed(engine):
    store_feeds.sync(engine, SPECS, T0)
    store_feeds.sync(engine, SPECS[:1], T0 + timedelta(hours=1))
    by_key = {r["feed_key"]: r for r in rows(engine, wh.feeds)}
    assert by_key["a"]["enabled"] is True
    assert by_key["a"]["tags"] == ["x"]
    assert by_key["b"]["enabled"] is False
    assert by_key["b"]["last_error"] == "removed from the registry"
    assert by_key["a"]["created_at"] == T0


def test_sync_writes_only_what_changed_and_keeps_each_feeds_polling_state(engine):
    store_feeds.sync(engine, SPECS, T0)
    with db.transaction(engine) as conn:  # a poll's state, which the registry does not own
        conn.execute(wh.feeds.update().values(etag='"kept"', items_seen=7))
    later = T0 + timedelta(hours=1)
    edited = [replace(SPECS[0], title="Renamed", tags=("x", "y"), interval_minutes=30), SPECS[1]]
    store_feeds.sync(engine, edited, later)
    by_key = {r["feed_key"]: r for r in rows(engine, wh.feeds)}
    assert (by_key["a"]["title"], by_key["a"]["tags"], by_key["a"]["interval_minutes"]) == (
        "Renamed", ["x", "y"], 30,
    )  # fmt: skip
    assert by_key["a"]["updated_at"] == later
    assert by_key["b"]["updated_at"] == T0  # unchanged: not written at all
    store_feeds.sync(engine, edited, later + timedelta(hours=1))  # the same again
    assert {r["feed_key"]: r["updated_at"] for r in rows(engine, wh.feeds)} == {
        "a": later, "b": T0,
    }  # fmt: skip
    assert {r["etag"] for r in by_key.values()} == {'"kept"'}
    assert {r["items_seen"] for r in by_key.values()} == {7}
    # removed, then listed again (disabled in the registry this time): it follows the file
    store_feeds.sync(engine, edited[:1], later)
    store_feeds.sync(engine, [edited[0], replace(SPECS[1], enabled=False)], later)
    assert {r["feed_key"]: r["enabled"] for r in rows(engine, wh.feeds)} == {"a": True, "b": False}
    store_feeds.sync(engine, edited, later)
    assert {r["feed_key"]: r["enabled"] for r in rows(engine, wh.feeds)} == {"a": True, "b": True}
    with pytest.raises(ConfigError, match="feed keys are permanent ids"):
        store_feeds.sync(engine, [replace(SPECS[0], key="renamed")], later)


def polled(target, at, plan, *, etag='"e"', seen=0, new=0):
    record = FetchRecord("feed", target.url, at, status=200, bytes=6)
    return Polled(
        feed_key=target.key, at=at, fetch=record, status=200, etag=etag, last_modified=None,
        body_hash="h", ttl_minutes=None, plan=plan, seen=seen, new=new,
    )  # fmt: skip


def test_due_feeds_respect_next_due_and_backoff(engine):
    store_feeds.sync(engine, SPECS, T0)
    targets = store_feeds.due(engine, T0)
    assert [t.key for t in targets] == ["a", "b"]
    success = ScheduledPoll(due_at=T0 + timedelta(minutes=15), interval_s=900, new_per_hour=2.0)
    store_feeds.save_polls(engine, [polled(targets[0], T0, success, seen=3, new=2)], "r")
    for n in (1, 2, 3):
        failure = ScheduledPoll(
            due_at=T0 + timedelta(minutes=40), interval_s=600, new_per_hour=None,
            consecutive_failures=n, broken=n == 3, failure_kind="soft",
        )  # fmt: skip
        failed = PollFailed(
            targets[1].key, T0 + timedelta(seconds=n), Reason.SERVER_ERROR, "HTTP 503",
            status=503, plan=failure,
        )  # fmt: skip
        store_feeds.save_polls(engine, [failed], "r")
    assert store_feeds.due(engine, T0 + timedelta(minutes=14)) == []
    assert [t.key for t in store_feeds.due(engine, T0 + timedelta(minutes=15))] == ["a"]
    by_key = {r["feed_key"]: r for r in rows(engine, wh.feeds)}
    assert by_key["b"]["next_due_at"] == T0 + timedelta(minutes=40)
    assert by_key["b"]["last_error"] == "http_5xx: HTTP 503"
    assert (by_key["b"]["broken"], by_key["b"]["broken_since"]) == (True, T0 + timedelta(seconds=3))
    assert by_key["a"]["etag"] == '"e"'
    assert (by_key["a"]["items_seen"], by_key["a"]["items_new"]) == (3, 2)
    assert (by_key["a"]["poll_interval_s"], by_key["a"]["new_per_hour"]) == (900, 2.0)
    [a, b] = store_feeds.due(engine, T0 + timedelta(days=1))  # the state comes back to the poller
    assert (a.poll_interval_s, a.new_per_hour, a.last_success_at) == (900, 2.0, T0)
    assert b.consecutive_failures == 3
    # a success clears the broken flag
    store_feeds.save_polls(engine, [polled(b, T0 + timedelta(hours=1), success)], "r")
    row = {r["feed_key"]: r for r in rows(engine, wh.feeds)}["b"]
    assert (row["broken"], row["broken_since"], row["consecutive_failures"]) == (False, None, 0)
    assert rows(engine, wh.fetch_log)  # each poll left its line in the fetch log


def test_a_feed_that_met_a_bug_stays_due_and_is_not_counted_as_failing(engine):
    store_feeds.sync(engine, SPECS, T0)
    [a, _] = store_feeds.due(engine, T0)
    store_feeds.save_polls(
        engine, [PollFailed(a.key, T0, Reason.INTERNAL_ERROR, "ZeroDivisionError: boom")], "r"
    )
    row = {r["feed_key"]: r for r in rows(engine, wh.feeds)}["a"]
    assert (row["consecutive_failures"], row["broken"], row["next_due_at"]) == (0, False, None)
    assert row["last_error"] == "internal_error: ZeroDivisionError: boom"
    assert [t.key for t in store_feeds.due(engine, T0)] == ["a", "b"]  # still due


def entry(guid, link):
    return FeedEntry(guid=guid, link=link, title=guid, published=T0)


def queued(feed_key, guid, link, url):
    return QueuedEntry(entry(guid, link), url, entry_id_for(feed_key, guid, url))


def insert(engine, feed_key, batch, run_id):
    with db.transaction(engine) as conn:
        return queue.insert_entries(conn, feed_key, batch, run_id=run_id, now=T0)


def test_record_entries_counts_new_once_and_links_known_urls(engine):
    store_feeds.sync(engine, SPECS, T0)
    stored = article("https://a.example/old", "old body")
    load(engine, "r0", [stored], now=T0)
    batch = [
        queued("a", "1", "https://a.example/new", "https://a.example/new"),
        queued("a", "2", "https://a.example/old?utm_source=x", "https://a.example/old"),
    ]
    assert insert(engine, "a", batch, "r1") == 2
    assert insert(engine, "a", batch, "r2") == 0
    assert queue.known_entry_ids(engine, [b.entry_id for b in batch]) == {b.entry_id for b in batch}
    states = {r["guid"]: (r["state"], r["article_id"]) for r in rows(engine, wh.feed_entries)}
    assert states["1"] == (EntryState.PENDING, None)
    assert states["2"] == (EntryState.KNOWN, stored.article_id)
    jobs = queue.pending_jobs(engine, limit=10, max_attempts=3)
    assert [j.canonical_url for j in jobs] == ["https://a.example/new"]


def test_thousands_of_entries_are_queued_in_one_call_and_only_the_new_counted(engine):
    store_feeds.sync(engine, SPECS, T0)
    batch = [queued("a", str(i), f"https://a.example/{i}", f"https://a.example/{i}")
             for i in range(2500)]  # fmt: skip
    assert insert(engine, "a", batch[:1000], "r1") == 1000
    assert insert(engine, "a", batch, "r2") == 1500  # past any one batch of rows
    stored = rows(engine, wh.feed_entries)
    assert len(stored) == 2500
    assert {r["last_run_id"] for r in stored if r["guid"] == "999"} == {"r1"}
    assert {r["last_run_id"] for r in stored if r["guid"] == "1000"} == {"r2"}
    assert all(r["state"] == EntryState.PENDING and r["host"] == "a.example" for r in stored)


def test_each_entry_records_the_source_that_listed_it(engine):
    from ingest.models import SourceKind, SourceRef

    store_feeds.sync(engine, SPECS, T0)
    sitemap = SourceRef(SourceKind.SITEMAP, "https://a.example/sitemaps/news.xml.gz")
    listed = queued("a", "1", "https://a.example/1", "https://a.example/1")
    found = replace(queued("a", "https://a.example/2", "https://a.example/2",
                           "https://a.example/2"), source=sitemap)  # fmt: skip
    insert(engine, "a", [listed, found], "r1")
    with db.transaction(engine) as conn:  # a link the sitemap listed that we refuse
        queue.insert_refused(conn, "a", [(entry("ftp", "ftp://a.example/3"), "bad_scheme")],
                             run_id="r1", now=T0, source=sitemap)  # fmt: skip
    got = {r["guid"]: (r["source_kind"], r["source_key"]) for r in rows(engine, wh.feed_entries)}
    assert got == {
        "1": ("feed", "a"),
        "https://a.example/2": ("sitemap", "https://a.example/sitemaps/news.xml.gz"),
        "ftp": ("sitemap", "https://a.example/sitemaps/news.xml.gz"),
    }


def test_soft_failures_retry_then_fail_hard_failures_fail_at_once(engine):
    store_feeds.sync(engine, SPECS, T0)
    batch = [
        queued("a", "1", "https://a.example/flaky", "https://a.example/flaky"),
        queued("a", "2", "https://a.example/gone", "https://a.example/gone"),
        queued("a", "3", "https://a.example/bug", "https://a.example/bug"),
    ]
    insert(engine, "a", batch, "r")
    jobs = {j.canonical_url: j for j in queue.pending_jobs(engine, limit=10, max_attempts=2)}
    flaky = PageFailed(jobs["https://a.example/flaky"], Reason.TIMEOUT, "slow")
    bug = PageFailed(jobs["https://a.example/bug"], Reason.INTERNAL_ERROR, "KeyError: x")
    queue.save_pages(
        engine, "r",
        [flaky, PageFailed(jobs["https://a.example/gone"], Reason.NOT_FOUND, "HTTP 404"), bug],
        max_attempts=2, now=T0,
    )  # fmt: skip
    assert sorted(j.canonical_url for j in queue.pending_jobs(engine, limit=10, max_attempts=2)) == [
        "https://a.example/bug", "https://a.example/flaky"
    ]  # fmt: skip
    for _ in range(3):  # a bug uses no attempt, however many runs it lasts
        queue.save_pages(engine, "r", [flaky, bug], max_attempts=2, now=T0)
    assert [j.canonical_url for j in queue.pending_jobs(engine, limit=10, max_attempts=2)] == [
        "https://a.example/bug"
    ]
    failed = {
        r["guid"]: (r["state"], r["last_error"], r["attempts"])
        for r in rows(engine, wh.feed_entries)
    }
    assert failed == {
        "1": ("failed", "timeout", 2), "2": ("failed", "http_404", 1),
        "3": ("pending", "internal_error", 0),
    }  # fmt: skip


def test_loading_twice_writes_nothing_the_second_time(engine):
    batch = [article("https://a.example/1", "one"), article("https://a.example/2", "two")]
    first = load(engine, "run-1", batch, now=T0)
    second = load(engine, "run-2", batch, now=T0 + timedelta(hours=1))
    assert (first.inserted, first.updated, first.skipped) == (2, 0, 0)
    assert (second.inserted, second.updated, second.skipped) == (0, 0, 2)
    assert {r["last_run_id"] for r in rows(engine, wh.articles)} == {"run-1"}


def test_changed_content_updates_in_place_and_keeps_first_seen(engine):
    a = article("https://a.example/1", "first version")
    load(engine, "run-1", [a], now=T0)
    edited = replace(a, body="second version", content_hash="changed")
    result = load(engine, "run-2", [edited], now=T0 + timedelta(days=1))
    assert result.updated == 1
    (row,) = rows(engine, wh.articles)
    assert row["body"] == "second version"
    assert row["first_seen_at"] == T0
    assert row["last_seen_at"] == T0 + timedelta(days=1)
    assert row["last_run_id"] == "run-2"


def test_a_run_loads_once_even_when_retried(engine):
    batch = [article("https://a.example/1", "one")]
    load(engine, "run-1", batch, now=T0, counters={"feeds_polled": 4})
    again = load(engine, "run-1", batch, now=T0)
    assert again.already_loaded
    assert again.inserted == 1  # what the run did, reported again; nothing new written
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(wh.load_ledger)).scalar_one() == 1
        assert conn.execute(select(wh.load_ledger.c.feeds_polled)).scalar_one() == 4


def test_staging_round_trip_preserves_the_article(engine):
    a = article("https://a.example/ü?q=1", "Körper\nzwei", published=T0)
    staging.stage_articles(engine, "run-1", [("https://a.example/queue", a)], T0)
    staging.stage_articles(engine, "run-1", [("https://a.example/queue", a)], T0)
    assert staging.staged_articles(engine, "run-1") == [("https://a.example/queue", a)]
    load(engine, "run-1", [a], now=T0)
    assert staging.staged_articles(engine, "run-1") == []


def test_staging_keeps_each_articles_signature_and_one_row_per_queue_url(engine):
    from ingest import neardup

    a = article("https://a.example/1", "one two three four five six seven", published=T0)
    b = replace(a, body="eight nine ten eleven twelve thirteen", content_hash="b" * 64)
    sign = [neardup.to_json(neardup.sign(x.title, x.body)) for x in (a, b)]
    with db.transaction(engine) as conn:  # the same queue URL twice: the last one given
        staging.stage(conn, "run-1", [("q", a), ("q", b)], T0, signatures=sign)
        staging.stage(conn, "run-1", [("r", a)], T0)  # staged without one
    staged, signatures = staging.staged_with_signatures(engine, "run-1")
    assert staged == [("q", b), ("r", a)]
    assert signatures == {staging.signature_key(b.title, b.body): sign[1]}


def test_datetimes_come_back_aware_utc(engine):
    a = article("https://a.example/tz", "tz", published=datetime(2026, 1, 1, 9, tzinfo=UTC))
    load(engine, "r", [a], now=T0)
    (row,) = rows(engine, wh.articles)
    assert row["published_at"] == datetime(2026, 1, 1, 9, tzinfo=UTC)
    assert row["published_at"].tzinfo is not None
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive"), db.transaction(engine) as conn:
        conn.execute(wh.articles.update().values(published_at=naive))


def test_a_row_that_cannot_be_stored_is_rejected_alone(engine):
    good = article("https://a.example/good", "good body")
    naive = replace(
        article("https://a.example/naive", "naive body"),
        published_at=datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
    )
    empty = article("https://a.example/empty", "   ")
    nuls = article("https://a.example/nuls", "\x00\x00 \ud800")  # empty once made storable
    result = load(engine, "r", [good, naive, empty, nuls], now=T0)
    assert result.inserted == 1
    assert [r["article_id"] for r in rows(engine, wh.articles)] == [good.article_id]
    with engine.connect() as conn:
        ledger = conn.execute(select(wh.load_ledger)).one()
    assert (ledger.rejected, ledger.pages_failed) == (3, 0)  # refused rows, not failed pages
    assert result.rejected == 3


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (("sqlite", "/tmp/w.db"), "sqlite:////tmp/w.db"),
        (
            ("postgres", "db.internal", "news", "ingest", "p@ss:w/rd", 5433),
            "postgresql+psycopg://ingest:p%40ss%3Aw%2Frd@db.internal:5433/news",
        ),
    ],
)
def test_url_from_connection(fields, expected):
    assert db.url_from_connection(*fields) == expected


def test_url_from_unknown_connection_type():
    with pytest.raises(WarehouseError):
        db.url_from_connection("mysql", "h")


def test_a_failed_connection_never_shows_the_password(caplog):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    secret = "s3cret-Passw0rd"
    for url in (f"postgresql://ingest:{secret}@127.0.0.1:{port}/news",
                f"postgresql+psycopg://ingest:{secret}@127.0.0.1:{port}/news"):  # fmt: skip
        engine = db.make_engine(url)
        assert secret not in repr(engine.url)
        assert secret not in str(engine)
        with pytest.raises(WarehouseUnavailable) as info, db.transaction(engine):
            pass
        assert secret not in str(info.value)
        assert "connection" in str(info.value).lower()
        with pytest.raises(WarehouseUnavailable) as info:
            reports.counts(engine)
        assert secret not in str(info.value)
    assert secret not in caplog.text


def test_upgrade_from_the_first_revision_keeps_data(warehouse_url):
    engine = db.make_engine(warehouse_url)
    db.upgrade(engine, "0001")
    with engine.begin() as conn:  # rows as revision 0001 knew them
        for key in ("a", "b"):
            conn.execute(
                text(
                    "INSERT INTO feeds (feed_key, url, enabled, tags, consecutive_failures,"
                    " items_seen, items_new, created_at, updated_at)"
                    " VALUES (:k, :u, :t, '[]', 2, 0, 0, :now, :now)"
                ),
                {"k": key, "u": f"http://example.org/{key}.xml", "t": True, "now": T0},
            )
    db.upgrade(engine)  # every later revision, on top of data
    targets = store_feeds.due(engine, T0)
    assert [t.key for t in targets] == ["a", "b"]
    assert [t.consecutive_failures for t in targets] == [2, 2]
    health = monitor.feeds_health(engine)
    assert [(h.feed_key, h.status.value) for h in health] == [("a", "failing"), ("b", "failing")]
    with engine.connect() as conn:
        head = conn.execute(text("select version_num from alembic_version")).scalar_one()
    assert head == db.head_revision()
    engine.dispose()


def test_migration_0009_finds_each_feeds_last_new_entry(warehouse_url):
    engine = db.make_engine(warehouse_url)
    db.upgrade(engine, "0008")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO feeds (feed_key, url, enabled, tags, consecutive_failures,"
                " items_seen, items_new, created_at, updated_at, broken)"
                " VALUES ('a', 'http://example.org/a.xml', :t, '[]', 0, 2, 2, :now, :now, :f),"
                " ('b', 'http://example.org/b.xml', :t, '[]', 0, 0, 0, :now, :now, :f)"
            ),
            {"t": True, "f": False, "now": T0},
        )
        for n, seen in enumerate((T0, T0 + timedelta(hours=3))):
            conn.execute(
                text(
                    "INSERT INTO feed_entries (entry_id, feed_key, guid, link, canonical_url,"
                    " host, first_seen_at, last_seen_at, state, attempts)"
                    " VALUES (:id, 'a', :u, :u, :u, 'example.org', :seen, :seen, 'stored', 0)"
                ),
                {"id": f"e{n}", "u": f"http://example.org/{n}", "seen": seen},
            )
    db.upgrade(engine)
    last = {h.feed_key: h.last_new_at for h in monitor.feeds_health(engine)}
    assert last == {"a": T0 + timedelta(hours=3), "b": None}
    engine.dispose()


def test_migration_0013_marks_every_earlier_entry_as_its_feeds_own(warehouse_url):
    engine = db.make_engine(warehouse_url)
    db.upgrade(engine, "0012")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO feeds (feed_key, url, enabled, tags, consecutive_failures,"
                " items_seen, items_new, created_at, updated_at)"
                " VALUES ('a', 'http://example.org/a.xml', :t, '[]', 0, 0, 0, :now, :now)"
            ),
            {"t": True, "now": T0},
        )
        conn.execute(
            text(
                "INSERT INTO feed_entries (entry_id, feed_key, guid, link, canonical_url,"
                " host, first_seen_at, last_seen_at, state, attempts)"
                " VALUES ('e', 'a', 'g', :u, :u, 'example.org', :t, :t, 'pending', 0)"
            ),
            {"u": "http://example.org/1", "t": T0},
        )
    db.upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(select(wh.feed_entries)).one()
    engine.dispose()
    assert (row.source_kind, row.source_key) == ("feed", "a")


def test_migration_0010_makes_older_ledger_rows_add_up(warehouse_url):
    """A row written before 0010: 8 articles in, 5 stored, 1 copy and 2 rejected (then
    counted in pages_failed, 5 with 3 real page failures), 10 pages with a response."""
    engine = db.make_engine(warehouse_url)
    db.upgrade(engine, "0009")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO load_ledger (run_id, load_seq, feeds_polled, feeds_failed,"
                " entries_seen, entries_new, pages_fetched, pages_failed, rows_in, inserted,"
                " updated, skipped, duplicates, started_at, finished_at, pipeline_version)"
                " VALUES ('old', 1, 2, 0, 11, 11, 10, 5, 8, 5, 0, 0, 1, :t, :t, '0.1.0')"
            ),
            {"t": T0},
        )
    db.upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(select(wh.load_ledger)).one()
    engine.dispose()
    assert (row.rejected, row.pages_failed, row.pages_extracted) == (2, 3, 8)
    assert row.pages_fetched == row.pages_extracted + row.pages_failed + row.pages_deferred
    assert row.rows_in == row.inserted + row.updated + row.skipped + row.duplicates + row.rejected


def test_migration_0012_queues_the_articles_not_yet_signed(warehouse_url, tmp_path):
    """Down to 0011 and up again: the queue holds exactly the articles without a signature."""
    from ingest import pipeline
    from ingest.settings import load_settings

    engine = db.make_engine(warehouse_url)
    db.upgrade(engine)
    signed = [article(f"https://a.example/{n}", f"Story {n} " * 30) for n in range(2)]
    load(engine, "a", signed, now=T0)
    pipeline.cluster_stories(engine, load_settings(home=tmp_path))
    unsigned = article("https://a.example/late", "Another story " * 30)
    load(engine, "b", [unsigned], now=T0)
    with engine.begin() as conn:
        config = db._alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0011")
    assert "cluster_queue" not in inspect(engine).get_table_names()
    db.upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(wh.cluster_queue)).all()
    engine.dispose()
    assert [(r.article_id, r.at) for r in rows] == [(unsigned.article_id, unsigned.published_at)]


def test_large_text_columns_compress_with_lz4_on_postgresql(engine):
    """Migration 0002: bodies are lz4-compressed on PostgreSQL (pglz was a load's top cost)."""
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:  # a no-op revision on SQLite, but it is applied
            head = conn.execute(text("select version_num from alembic_version")).scalar_one()
        assert head == db.head_revision() >= "0002"
        return
    with engine.connect() as conn:
        methods = dict(
            conn.execute(
                text(
                    "SELECT attrelid::regclass::text || '.' || attname, attcompression"
                    " FROM pg_attribute WHERE (attrelid, attname) IN"
                    " (('articles'::regclass, 'body'), ('article_staging'::regclass, 'payload'))"
                )
            ).all()
        )
    assert methods == {"articles.body": "l", "article_staging.payload": "l"}
    with engine.begin() as conn:  # and the downgrade puts pglz back
        config = db._alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "0001")
        back = conn.execute(
            text(
                "SELECT attcompression FROM pg_attribute"
                " WHERE attrelid = 'articles'::regclass AND attname = 'body'"
            )
        ).scalar_one()
    assert back == "p"


def test_a_retried_load_reports_the_runs_failures_again(engine):
    batch = [article("https://a.example/1", "one")]
    load(engine, "run-1", batch, now=T0, failures={"http_404": 2})
    again = load(engine, "run-1", batch, now=T0, failures={"http_404": 2})
    assert again.already_loaded
    assert again.summary()["failures"] == {"http_404": 2}


def test_migration_0017_keys_the_band_index_by_time_and_keeps_every_row(warehouse_url):
    engine = db.make_engine(warehouse_url)
    db.upgrade(engine, "0016")
    rows = [
        {"band": band, "band_key": 7, "article_id": f"a{n}", "at": T0 + timedelta(minutes=n)}
        for band in (0, 1) for n in range(5)
    ]  # fmt: skip
    insert = text(
        "INSERT INTO signature_bands (band, band_key, article_id, at)"
        " VALUES (:band, :band_key, :article_id, :at)"
    ).bindparams(bindparam("at", type_=wh.UTCDateTime))
    with engine.begin() as conn:
        conn.execute(insert, rows)
    db.upgrade(engine)
    inspector = inspect(engine)
    key = inspector.get_pk_constraint("signature_bands")
    assert key["constrained_columns"] == ["band", "band_key", "at", "article_id"]
    assert key["name"] == "pk_signature_bands"
    assert _without_rowid(engine) == (engine.dialect.name == "sqlite")
    with engine.connect() as conn:
        kept = conn.execute(
            select(wh.signature_bands).order_by(wh.signature_bands.c.band,
                                                wh.signature_bands.c.article_id)
        ).all()  # fmt: skip
    assert [(r.band, r.band_key, r.article_id, r.at) for r in kept] == [
        (r["band"], r["band_key"], r["article_id"], r["at"]) for r in rows
    ]
    config = db._alembic_config()
    with db.locked(engine) as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0016")
    key = inspect(engine).get_pk_constraint("signature_bands")
    assert key["constrained_columns"] == ["band", "band_key", "article_id"]
    assert not _without_rowid(engine)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(wh.signature_bands)).scalar() == 10
    engine.dispose()


def _without_rowid(engine) -> bool:
    """Whether SQLite keeps signature_bands as its key's B-tree (never on PostgreSQL)."""
    if engine.dialect.name != "sqlite":
        return False
    with engine.connect() as conn:
        sql = conn.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE name = 'signature_bands'"
        ).scalar_one()
    return "WITHOUT ROWID" in sql.upper()


def test_a_new_sqlite_warehouse_waits_for_another_process_lock_to_switch_to_wal(tmp_path):
    """SQLite answers the switch to WAL with "database is locked" at once, busy timeout or
    not, while another connection holds a write lock: two first runs on one new file met
    it (CI, and one in 25 tries here)."""
    path = tmp_path / "new.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")  # the file made, not in WAL mode yet
    other.execute("BEGIN IMMEDIATE")  # another process writing to it, a moment long
    other.execute("INSERT INTO t VALUES (1)")
    release = threading.Timer(0.3, other.execute, ["COMMIT"])
    release.start()
    try:
        engine = db.make_engine(f"sqlite:///{path}")
        with engine.connect() as conn:  # waits for the lock: no error
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        engine.dispose()
    finally:
        release.join()
        other.close()
    assert mode == "wal"
