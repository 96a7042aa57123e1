"""A bug of ours never becomes data: the item waits, the step fails, the fixed re-run lands it.

Each test injects a bug (in the extractor and the parser, which run in the sandbox's
worker processes, and in the crawl loop, which runs on a host's thread) and checks that:
the item it hit is left as it was (pending, no attempt used; a feed stays due and is not
counted towards broken), every other item is still processed and saved, the step raises
(so its Airflow task is red and retried), and a run with the bug gone stores everything,
once.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import sandbox_tasks
from ingest import pagework, parse, pipeline, robots
from ingest.errors import InternalError
from ingest.models import FeedSpec
from ingest.store import engine as db
from ingest.store import feeds as store_feeds
from ingest.store import queue, staging
from ingest.store import schema as wh
from sandbox_tasks import BUG_MARK, FEED_BUG_MARK

PATHS = {"a": "/news/a", "b": f"{BUG_MARK}b", "c": "/news/c", "d": "/news/d", "e": "/world/e"}
SUBJECTS = {"a": "bridge tolls", "b": "cup final", "c": "school meals", "d": "harbour lights",
            "e": "rail strike"}  # fmt: skip


def rss(links):
    items = "".join(
        f"<item><title>{t}</title><link>{u}</link><guid>{t}</guid></item>" for t, u in links
    )
    return f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'


def page(name):
    title, words = f"Story {name}", SUBJECTS[name]
    paragraphs = "".join(
        f"<p>{title} report, part {i}: {words} were discussed at length by the committee "
        f"on day {i}, and the minutes record {i * 11} questions from the floor.</p>"
        for i in range(8)
    )
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"{paragraphs}</article></body></html>"
    )


@pytest.fixture
def site(httpserver, engine, now):
    """Two feeds: "main" lists a, b (under BUG_MARK), c and e; "other" (FEED_BUG_MARK) d."""
    main = [(n, httpserver.url_for(PATHS[n])) for n in "abce"]
    httpserver.expect_request("/feed.xml").respond_with_data(rss(main))
    httpserver.expect_request(f"/feeds{FEED_BUG_MARK}").respond_with_data(
        rss([("d", httpserver.url_for(PATHS["d"]))])
    )
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    for name, path in PATHS.items():
        httpserver.expect_request(path).respond_with_data(page(name), content_type="text/html")
    store_feeds.sync(
        engine,
        [FeedSpec(key="main", url=httpserver.url_for("/feed.xml")),
         FeedSpec(key="other", url=httpserver.url_for(f"/feeds{FEED_BUG_MARK}"))],
        now,
    )  # fmt: skip
    return httpserver


def entries(engine):
    with engine.connect() as conn:
        rows = conn.execute(select(wh.feed_entries)).all()
    return {r.link.rsplit("/", 1)[-1]: (r.state, r.last_error, r.attempts) for r in rows}


def stored(engine):
    with engine.connect() as conn:
        urls = conn.execute(select(wh.articles.c.canonical_url)).scalars().all()
    assert len(urls) == len(set(urls))
    return sorted(u.rsplit("/", 1)[-1] for u in urls)


def articles_count(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()


def make_due(engine):
    with db.transaction(engine) as conn:
        conn.execute(wh.feeds.update().values(next_due_at=None, body_hash=None))


def test_a_bug_in_the_extractor_leaves_its_page_pending_and_fails_the_step(
    site, engine, settings, monkeypatch, caplog
):
    pipeline.poll_shard(engine, settings, ["main", "other"], "r1")
    monkeypatch.setattr(pagework, "work_page", sandbox_tasks.work_page_with_a_bug)
    with pytest.raises(InternalError, match=r"fetch: 1 item\(s\) met a bug") as info:
        pipeline.fetch_shard(engine, settings, ["localhost"], "r1")
    assert "KeyError" in str(info.value) and BUG_MARK in str(info.value)
    assert "Traceback" in caplog.text and "injected bug in the extractor" in caplog.text
    assert entries(engine)["b"] == ("pending", "internal_error", 0)  # waits, attempts intact
    assert sorted(q.rsplit("/", 1)[-1] for q, _ in staging.staged_articles(engine, "r1")) == [
        "a", "c", "d", "e"
    ]  # the other pages were processed and saved  # fmt: skip
    assert pipeline.load_run(engine, "r1").inserted == 4

    for run in ("r2", "r3", "r4"):  # the bug lasts longer than the page has attempts
        with pytest.raises(InternalError):
            pipeline.fetch_shard(engine, settings, ["localhost"], run)
    assert entries(engine)["b"] == ("pending", "internal_error", 0)

    monkeypatch.undo()  # the fix is deployed
    fixed = pipeline.fetch_shard(engine, settings, ["localhost"], "r5")
    assert fixed["articles_extracted"] == 1
    assert pipeline.load_run(engine, "r5").inserted == 1
    assert stored(engine) == ["a", "b", "c", "d", "e"]
    assert entries(engine)["b"][0] == "stored"


def test_a_bug_in_the_parser_leaves_its_feed_due_uncounted_and_fails_the_step(
    site, engine, settings, monkeypatch, now
):
    monkeypatch.setattr(parse, "parse_feed", sandbox_tasks.parse_feed_with_a_bug)
    for run in range(settings.feed_broken_after + 1):  # longer than a feed takes to break
        make_due(engine)
        with pytest.raises(InternalError, match=r"poll: 1 item\(s\) met a bug"):
            pipeline.poll_shard(engine, settings, ["main", "other"], f"r{run}")
    with engine.connect() as conn:
        other = conn.execute(select(wh.feeds).where(wh.feeds.c.feed_key == "other")).one()
    assert (other.consecutive_failures, other.broken, other.next_due_at) == (0, False, None)
    assert other.last_error.startswith("internal_error: ") and "IndexError" in other.last_error
    assert sorted(entries(engine)) == ["a", "b", "c", "e"]  # the other feed was read, queued

    monkeypatch.undo()
    assert pipeline.poll_shard(engine, settings, ["other"], "fixed")["entries_new"] == 1
    pipeline.fetch_shard(engine, settings, ["localhost"], "fixed")
    assert pipeline.load_run(engine, "fixed").inserted == 5
    make_due(engine)
    pipeline.poll_shard(engine, settings, ["main", "other"], "again")
    assert pipeline.fetch_shard(engine, settings, ["localhost"], "again")["pages_fetched"] == 0
    assert pipeline.load_run(engine, "again").inserted == 0
    assert stored(engine) == ["a", "b", "c", "d", "e"]


def test_a_bug_in_the_crawl_loop_leaves_the_page_in_hand_pending_and_fails_the_step(
    site, engine, settings, monkeypatch
):
    pipeline.poll_shard(engine, settings, ["main", "other"], "r1")
    real = robots.Rules.allows

    def allows(self, url):
        if BUG_MARK in url:
            raise RuntimeError("an injected bug in the crawl loop")
        return real(self, url)

    monkeypatch.setattr(robots.Rules, "allows", allows)
    order = [
        j.link.rsplit("/", 1)[-1] for j in queue.pending_jobs(engine, limit=10, max_attempts=3)
    ]
    before, after = order[: order.index("b")], order[order.index("b") + 1 :]
    with pytest.raises(InternalError, match="crawl of localhost: RuntimeError") as info:
        pipeline.fetch_shard(engine, settings, ["localhost"], "r1")
    assert f"page {site.url_for(PATHS['b'])}" in str(info.value)  # the page in hand, named
    state = entries(engine)
    assert state["b"] == ("pending", "internal_error", 0)
    assert all(state[n] == ("pending", None, 0) for n in after)  # the host's crawl stopped
    staged = [q.rsplit("/", 1)[-1] for q, _ in staging.staged_articles(engine, "r1")]
    assert sorted(staged) == sorted(before) and "a" in before  # what came first was kept
    assert pipeline.load_run(engine, "r1").inserted == len(before)

    monkeypatch.undo()
    fixed = pipeline.fetch_shard(engine, settings, ["localhost"], "r2")
    assert fixed["articles_extracted"] == 1 + len(after)
    assert pipeline.load_run(engine, "r2").inserted == 1 + len(after)
    assert stored(engine) == ["a", "b", "c", "d", "e"]
    assert articles_count(engine) == 5


def test_a_bug_in_the_page_stage_fails_that_page_alone_and_the_host_goes_on(
    site, engine, settings, monkeypatch, caplog
):
    """The stage's own part runs on the host's thread: a bug there must not stop the host."""
    from ingest import archive

    pipeline.poll_shard(engine, settings, ["main", "other"], "r1")
    real = archive.RawArchive.append

    def buggy(self, fetched, *args, **kwargs):
        if BUG_MARK in fetched.final_url:
            raise IndexError("an injected bug in the archive's write")
        return real(self, fetched, *args, **kwargs)

    monkeypatch.setattr(archive.RawArchive, "append", buggy)
    with pytest.raises(InternalError, match="IndexError"):
        pipeline.fetch_shard(engine, settings, ["localhost"], "r1")
    state = entries(engine)
    assert state["b"] == ("pending", "internal_error", 0)
    staged = sorted(q.rsplit("/", 1)[-1] for q, _ in staging.staged_articles(engine, "r1"))
    assert staged == ["a", "c", "d", "e"]  # every other page of the host, before and after b
    bug = next(r for r in caplog.records if r.exc_info and "page stage" in r.getMessage())
    assert bug.getMessage().startswith(f"page {site.url_for(PATHS['b'])}: a bug of ours")
    assert bug.exc_info[0] is IndexError  # logged with its trace
    with engine.connect() as conn:  # the request was made: the fetch log says so
        logged = conn.execute(
            select(wh.fetch_log.c.kind, wh.fetch_log.c.status, wh.fetch_log.c.reason).where(
                wh.fetch_log.c.run_id == "r1", wh.fetch_log.c.url == site.url_for(PATHS["b"])
            )
        ).all()
    assert logged == [("page", 200, None)]  # a page request, and the fetch itself succeeded
    monkeypatch.undo()
    pipeline.fetch_shard(engine, settings, ["localhost"], "r2")
    assert pipeline.load_run(engine, "r1").inserted + pipeline.load_run(engine, "r2").inserted == 5
    assert stored(engine) == ["a", "b", "c", "d", "e"]


def test_a_step_that_fails_on_a_bug_still_hands_its_counts_to_the_run(
    site, engine, settings, monkeypatch
):
    monkeypatch.setattr(parse, "parse_feed", sandbox_tasks.parse_feed_with_a_bug)
    with pytest.raises(InternalError) as info:
        pipeline.poll_shard(engine, settings, ["main", "other"], "r1")
    counts = info.value.counts
    assert (counts["feeds_polled"], counts["feeds_failed"], counts["entries_new"]) == (2, 1, 4)
    assert counts["failures"] == {"internal_error": 1}
    result = pipeline.load_run(engine, "r1", steps=[counts])
    assert result.summary()["failures"] == {"internal_error": 1}
    with engine.connect() as conn:
        ledger = conn.execute(select(wh.load_ledger)).one()
    assert (ledger.feeds_polled, ledger.feeds_failed, ledger.entries_new) == (2, 1, 4)
