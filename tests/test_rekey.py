"""Re-keying stored rows under new URL rules: nothing lost, nothing stored twice.

Runs on SQLite and PostgreSQL. Rows "written by rules v1" are real v1 output: v1 did not
strip the tracking parameters that v2 added (guccounter, smid, ncid, fb_ref...).
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

import sandbox_tasks
from helpers import T0, article, load
from ingest import pipeline, rekey
from ingest.errors import UrlRejected, WarehouseError
from ingest.models import EntryState, FeedEntry, FeedSpec
from ingest.outcomes import QueuedEntry
from ingest.settings import load_settings
from ingest.store import engine as db
from ingest.store import feeds as store_feeds
from ingest.store import queue, staging
from ingest.store import schema as wh
from ingest.urls import RULES_VERSION, article_id_for, canonical_url, entry_id_for

STORY = " ".join(
    f"Paragraph {i}: the river authority opened the new flood gates on Monday after "
    f"{i * 7} days of tests, and the mayor thanked the {i + 2} crews who built them."
    for i in range(12)
)
OTHER = " ".join(
    f"Item {i}: the county library extends its opening hours to {i + 18} o'clock "
    f"from next week, with {i * 5} new reading places in the east wing."
    for i in range(12)
)


def v1(url, body, *, fetched=T0, published=T0, title="t"):
    """An article as rules v1 stored it (its URL kept as v1 canonicalised it)."""
    return replace(
        article(url, body, published=published),
        title=title, fetched_at=fetched, extracted_at=fetched, url_rules_version=1,
    )  # fmt: skip


def settings(tmp_path):
    return load_settings(home=tmp_path)


def rows(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(table)).all()


def entries_for(engine, feed, items, *, now, version=1):
    """Queue feed entries (link, guid) as a poll under rules ``version`` would have."""
    store_feeds.sync(engine, [FeedSpec(key=feed, url=f"https://{feed}.example/feed")], now)
    pairs = [
        QueuedEntry(FeedEntry(guid=guid, link=link), link, entry_id_for(feed, guid, link))
        for link, guid in items
    ]
    with db.transaction(engine) as conn:
        queue.insert_entries(conn, feed, pairs, run_id="poll", now=now)
        conn.execute(
            update(wh.feed_entries)
            .where(wh.feed_entries.c.feed_key == feed)
            .values(url_rules_version=version)
        )


def assert_consistent(engine):
    """Every key is its canonical URL's hash; nothing points at a missing article."""
    stored = {r.article_id: r for r in rows(engine, wh.articles)}
    assert all(aid == article_id_for(r.canonical_url) for aid, r in stored.items())
    for entry in rows(engine, wh.feed_entries):
        assert entry.article_id is None or entry.article_id in stored
    assert {s.article_id for s in rows(engine, wh.article_signatures)} <= set(stored)
    assert {b.article_id for b in rows(engine, wh.signature_bands)} <= set(stored)
    # every article is signed or waits in the cluster queue, never both
    signed = {s.article_id for s in rows(engine, wh.article_signatures)}
    queued = {q.article_id for q in rows(engine, wh.cluster_queue)}
    assert (signed | queued, signed & queued) == (set(stored), set())
    for record in rows(engine, wh.article_rekeys):
        assert record.new_article_id in stored
        assert record.old_article_id not in stored
    by_cluster: dict[str, int] = {}
    for r in stored.values():
        by_cluster[r.cluster_id] = by_cluster.get(r.cluster_id, 0) + r.is_representative
    assert set(by_cluster.values()) == {1}
    return stored


def test_new_rules_move_merge_and_lose_nothing(engine, tmp_path):
    s = settings(tmp_path)
    moved = "https://a.example/1?guccounter=1"
    b_old, b_new = "https://b.example/2?smid=tw-share", "https://b.example/2"
    d1, d2 = "https://d.example/4?ncid=rss", "https://d.example/4?fb_ref=top"
    copy_of_b = "https://e.example/wire/2"
    entries_for(engine, "f", [(moved, "g1"), (b_old, "g2"), (b_new, "g3"), (d1, "g4"),
                              (d2, "g5"), ("https://c.example/3", "g6")], now=T0)  # fmt: skip
    # b_old is seen first; b_new is a later, re-fetched version of the same page.
    load(engine, "r1", [v1(moved, "A " + STORY), v1(b_old, OTHER),
                        v1("https://c.example/3", "C body"), v1(d1, "D first")],
         now=T0)  # fmt: skip
    load(engine, "r2", [v1(copy_of_b, "Wire copy. " + OTHER)], now=T0 + timedelta(hours=1))
    pipeline.cluster_stories(engine, s)  # b_old and its wire copy share a story
    later = T0 + timedelta(days=1)
    load(engine, "r3", [v1(b_new, "B updated " + STORY[::-1], fetched=later),
                        v1(d2, "D second", fetched=later)], now=later)  # fmt: skip
    pipeline.cluster_stories(engine, s)
    before = {r.article_id: r for r in rows(engine, wh.articles)}
    assert len(before) == 7
    entry_targets = {e.link: e.article_id for e in rows(engine, wh.feed_entries)}

    result = pipeline.rekey_urls(engine, now=later)

    assert (result.articles_checked, result.articles_moved, result.articles_merged) == (7, 1, 2)
    # b_new's own cluster joins b_old's story; d1's and d2's singletons become one.
    assert result.clusters_merged == 2
    stored = assert_consistent(engine)
    assert {r.canonical_url for r in stored.values()} == {
        "https://a.example/1",
        b_new,
        "https://c.example/3",
        "https://d.example/4",
        copy_of_b,
    }
    assert {r.url_rules_version for r in stored.values()} == {RULES_VERSION}
    b = stored[article_id_for(b_new)]
    assert b.body.startswith("B updated")  # the most recently fetched content
    assert b.first_seen_at == before[article_id_for(b_old)].first_seen_at  # seen first
    assert b.last_seen_at == later
    wire = stored[article_id_for(copy_of_b)]
    assert wire.cluster_id == b.cluster_id  # one story, one cluster
    d = stored[article_id_for("https://d.example/4")]
    assert d.body == "D second"
    assert d.source == "d.example"
    # Every entry still reaches the article its page became.
    for entry in rows(engine, wh.feed_entries):
        old_target = entry_targets[entry.link]
        assert entry.article_id == article_id_for(canonical_url(entry.link))
        assert old_target is not None
    # Where each old id went is on record, in one step.
    records = {r.old_article_id: r for r in rows(engine, wh.article_rekeys)}
    assert records[article_id_for(moved)].kind == "moved"
    assert records[article_id_for(moved)].new_article_id == article_id_for("https://a.example/1")
    assert {records[article_id_for(u)].kind for u in (b_old, d1, d2)} == {"merged"}
    assert len(records) == 4
    # so is where each merged cluster id went (docs/schema.md's query follows it)
    merges = rows(engine, wh.cluster_merges)
    assert len(merges) == result.clusters_merged
    assert {(m.new_cluster_id, m.kind, m.signature_version) for m in merges} == {
        (b.cluster_id, "merge", None),
        (d.cluster_id, "merge", None),
    }
    assert not {m.old_cluster_id for m in merges} & {r.cluster_id for r in stored.values()}
    # Moved rows took their signatures along and merged rows kept the one of the content
    # they took: the clusterer has nothing to sign again.
    assert len(rows(engine, wh.article_signatures)) == 5
    assert pipeline.cluster_stories(engine, s).signed == 0
    assert_consistent(engine)

    # Idempotent: nothing is stale any more.
    again = pipeline.rekey_urls(engine, now=later)
    assert again == type(again)(articles_checked=0, entries_checked=0)
    # The same pages loaded again under the new rules store nothing twice.
    result = load(engine, "r4", [article("https://c.example/3", "C body")], now=later)
    assert (result.inserted, result.updated) == (0, 0)
    assert len(rows(engine, wh.articles)) == 5


def test_entries_merge_and_a_pending_one_becomes_known(engine):
    load(engine, "r1", [v1("https://a.example/1", "Stored body")], now=T0)
    pipeline.rekey_urls(engine, now=T0)
    # One feed listed the same item twice, once with a tracking parameter (same guid);
    # another entry waits for a page the warehouse already holds under its new URL.
    entries_for(
        engine, "f",
        [("https://x.example/n?guccounter=2", "g1"), ("https://x.example/n", "g1"),
         ("https://a.example/1?smid=nl", "g2")],
        now=T0,
    )  # fmt: skip
    with db.transaction(engine) as conn:
        queue.insert_refused(conn, "f", [(FeedEntry("g3", "mailto:someone@x.example"),
                                          "bad_scheme")], run_id="poll", now=T0)  # fmt: skip
        conn.execute(update(wh.feed_entries).values(url_rules_version=1))
    before = len(rows(engine, wh.feed_entries))

    result = pipeline.rekey_urls(engine, now=T0)

    assert (result.entries_merged, result.entries_moved, result.entries_known) == (1, 1, 1)
    entries = {(e.guid, e.canonical_url): e for e in rows(engine, wh.feed_entries)}
    assert len(entries) == before - 1
    assert entries[("g1", "https://x.example/n")].state == EntryState.PENDING.value
    known = entries[("g2", "https://a.example/1")]
    assert known.state == EntryState.KNOWN.value
    assert known.article_id == article_id_for("https://a.example/1")
    assert {e.url_rules_version for e in entries.values()} == {RULES_VERSION}
    assert all(
        e.entry_id == entry_id_for(e.feed_key, e.guid, e.canonical_url)
        for e in entries.values() if e.state != EntryState.FAILED.value
    )  # fmt: skip
    assert pipeline.rekey_urls(engine, now=T0).entries_checked == 0


def test_dry_run_counts_exactly_and_writes_nothing(engine):
    load(engine, "r1", [v1("https://a.example/1?smid=x", "one"),
                        v1("https://a.example/1?ncid=y", "two"),
                        v1("https://b.example/2?fb_ref=z", "three")], now=T0)  # fmt: skip
    before = sorted(tuple(r) for r in rows(engine, wh.articles))
    dry = pipeline.rekey_urls(engine, now=T0, batch=1, dry_run=True)
    assert sorted(tuple(r) for r in rows(engine, wh.articles)) == before
    assert rows(engine, wh.article_rekeys) == []
    real = pipeline.rekey_urls(engine, now=T0, batch=1)  # one row per batch: merges span batches
    assert dry == real
    assert real.articles_merged == 1
    assert len(rows(engine, wh.articles)) == 2


def test_a_url_the_new_rules_refuse_is_left_and_reported(engine):
    load(engine, "r1", [v1("https://ok.example/1?smid=x", "one"),
                        v1("https://gone.example/2", "two")], now=T0)  # fmt: skip

    def strict(url):
        if "gone.example" in url:
            raise UrlRejected("bad_url", url)
        return canonical_url(url)

    result = pipeline.rekey_urls(engine, now=T0, rules=rekey.Rules(RULES_VERSION, strict))
    assert (result.articles_rejected, result.articles_moved) == (1, 1)
    stored = {r.canonical_url: r for r in rows(engine, wh.articles)}
    assert stored["https://gone.example/2"].url_rules_version == 1  # as it was
    assert stored["https://ok.example/1"].url_rules_version == RULES_VERSION
    again = pipeline.rekey_urls(engine, now=T0, rules=rekey.Rules(RULES_VERSION, strict))
    assert again.articles_rejected == 1  # still stale, still reported, still there


def test_rules_that_are_not_idempotent_are_refused_before_anything_changes(engine):
    load(engine, "r1", [v1("https://a.example/x", "one"), v1("https://a.example/y", "two")],
         now=T0)  # fmt: skip

    def swap(url):  # x -> y and y -> x: applying it twice is not applying it once
        return url[:-1] + {"x": "y", "y": "x"}[url[-1]]

    before = sorted(tuple(r) for r in rows(engine, wh.articles))
    with pytest.raises(WarehouseError, match="not idempotent"):
        pipeline.rekey_urls(engine, now=T0, rules=rekey.Rules(RULES_VERSION, swap))
    assert sorted(tuple(r) for r in rows(engine, wh.articles)) == before


def test_a_load_keys_stale_staged_articles_and_stale_rows_by_the_current_rules(engine):
    load(engine, "r1", [v1("https://a.example/1?guccounter=1", "stored under v1")], now=T0)
    # A worker on older code staged the same page (v1 key) and a new one.
    staged = [v1("https://a.example/1?guccounter=1", "stored under v1"),
              v1("https://n.example/2?smid=x", "new page")]  # fmt: skip
    staging.stage_articles(engine, "r2", [(a.canonical_url, a) for a in staged], now=T0)
    result = pipeline.load_run(engine, "r2")
    assert (result.inserted, result.updated, result.skipped) == (1, 0, 1)
    stored = assert_consistent(engine)
    assert {r.canonical_url for r in stored.values()} == {
        "https://a.example/1",
        "https://n.example/2",
    }


def test_two_rekeys_at_once_end_in_one_consistent_state(engine, warehouse_url):
    batch = [v1(f"https://s{i % 7}.example/{i}?smid=x", f"body {i}") for i in range(40)]
    batch += [v1(f"https://s{i % 7}.example/{i}?ncid=y", f"copy {i}") for i in range(0, 40, 3)]
    load(engine, "r1", batch, now=T0)
    errors = []

    def work():
        other = db.make_engine(warehouse_url)
        try:
            pipeline.rekey_urls(other, now=T0, batch=5)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = assert_consistent(engine)
    assert len(stored) == 40
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(wh.article_rekeys)).scalar() == 54


def page(title, words):
    paragraphs = "".join(
        f"<p>{title} report, part {i}: {words} were discussed at length by the committee "
        f"on day {i}, and the minutes record {i * 11} questions from the floor.</p>"
        for i in range(8)
    )
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"{paragraphs}</article></body></html>"
    )


def test_a_deploy_with_new_rules_refetches_and_stores_nothing_twice(
    httpserver, engine, settings, tmp_path, monkeypatch
):
    links = [("a", "/a?smid=rss"), ("b", "/b?ncid=feed")]
    items = "".join(
        f"<item><title>{g}</title><link>{httpserver.url_for(p)}</link><guid>{g}</guid></item>"
        for g, p in links
    )
    httpserver.expect_request("/feed.xml").respond_with_data(
        f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>',
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/a").respond_with_data(
        page("Bridge", "tolls"), content_type="text/html"
    )
    httpserver.expect_request("/b").respond_with_data(
        page("Market", "stalls"), content_type="text/html"
    )
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text(f'[[feeds]]\nkey = "t"\nurl = "{httpserver.url_for("/feed.xml")}"\n')

    # Yesterday's deploy: rules v1, which kept smid and ncid (here and in the workers).
    from ingest import normalise, pagework, urls

    with monkeypatch.context() as old:
        v2_only = sandbox_tasks.V2_ONLY_TRACKING_PARAMS
        old.setattr(urls, "TRACKING_PARAMS", urls.TRACKING_PARAMS - v2_only)
        old.setattr(normalise, "RULES_VERSION", 1)
        old.setattr(pagework, "work_page", sandbox_tasks.work_page_with_v1_url_rules)
        old.setattr(queue, "RULES_VERSION", 1)
        old.setattr(rekey, "CURRENT", rekey.Rules(1, canonical_url))
        first = pipeline.run_once(engine, settings, feeds_file)
    assert first.load.inserted == 2
    stored = {r.canonical_url for r in rows(engine, wh.articles)}
    assert stored == {httpserver.url_for("/a?smid=rss"), httpserver.url_for("/b?ncid=feed")}

    # Today's deploy: rules v2. The feed lists the same items again.
    with db.transaction(engine) as conn:
        conn.execute(wh.feeds.update().values(next_due_at=None))
    second = pipeline.run_once(engine, settings, feeds_file)
    assert second.stats.feeds_polled == 1
    assert second.stats.entries_new == 0  # the re-keyed entries are recognised
    assert second.stats.pages_fetched == 0  # so no page is fetched again
    assert (second.load.inserted, second.load.updated) == (0, 0)
    stored = assert_consistent(engine)
    assert {r.canonical_url for r in stored.values()} == {
        httpserver.url_for("/a"),
        httpserver.url_for("/b"),
    }
    assert len(rows(engine, wh.article_rekeys)) == 2
    assert {e.url_rules_version for e in rows(engine, wh.feed_entries)} == {RULES_VERSION}


def table(out):
    """The rows of a rich key/value table as a dict."""
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    return {c[0]: c[1] for c in cells if len(c) == 2}


def test_the_rekey_command_reports_then_applies(engine, warehouse_url, capsys):
    from ingest.cli import main

    load(engine, "r1", [v1("https://a.example/1?smid=x", "one"),
                        v1("https://a.example/1?ncid=y", "two")], now=T0)  # fmt: skip
    assert main(["rekey", "--dry-run", "--warehouse", warehouse_url]) == 0
    out = capsys.readouterr().out
    assert "dry run" in out
    assert table(out)["articles merged"] == "1"
    assert len(rows(engine, wh.articles)) == 2  # nothing written
    assert main(["rekey", "--warehouse", warehouse_url]) == 0
    assert table(capsys.readouterr().out)["articles checked"] == "2"
    assert len(rows(engine, wh.articles)) == 1
    assert main(["rekey", "--warehouse", warehouse_url]) == 0
    assert table(capsys.readouterr().out)["articles checked"] == "0"
