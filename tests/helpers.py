"""Record factories and fault seams for tests."""

import contextlib
from datetime import UTC, datetime, timedelta
from unittest import mock

from sqlalchemy import event

from ingest.dedupe import dedupe_batch
from ingest.models import Article, FeedEntry, LoadResult, Reason, ScheduledPoll
from ingest.outcomes import FetchRecord, Polled, PollFailed, QueuedEntry
from ingest.schedule import Policy
from ingest.store import dialects, loads
from ingest.store import feeds as store_feeds
from ingest.textutil import content_hash
from ingest.urls import RULES_VERSION, article_id_for, entry_id_for

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
H = timedelta(hours=1)


def article(url: str, body: str = "Body text.", *, feed="f", guid=None, published=T0) -> Article:
    return Article(
        article_id=article_id_for(url), canonical_url=url, url=url, final_url=url,
        source="x.example", feed_key=feed, guid=guid or url, title="t", body=body,
        description=None, authors=(), language="en", published_at=published, updated_at=None,
        site_name=None, tags=(), image_url=None, word_count=2, content_hash=content_hash(body),
        raw_hash=None,
        raw_content_type=None, fetched_at=T0, extracted_at=T0, extractor_version="x",
        pipeline_version="0", url_rules_version=RULES_VERSION,
    )  # fmt: skip


def load(engine, run_id: str, batch, *, now: datetime, **kwargs) -> LoadResult:
    """Load articles as a run would (each queued under its own canonical URL)."""
    staged = [(a.canonical_url, a) for a in batch]
    return loads.load_batch(engine, run_id, staged, dedupe_batch, now=now, **kwargs)


@contextlib.contextmanager
def faults_in_loads(engine, fault):
    """Call ``fault(conn, rows_written)`` after each slice of a load's article writes.

    Every dialect writes a load's articles slice by slice through
    ``ingest.store.dialects.write_chunks``; this wraps it, so a test can crash the process
    or cut the connection with part of the batch written. ``conn`` is the load's own
    connection (the latest transaction begun on ``engine``).
    """
    begun = []
    real = dialects.write_chunks

    def slices(rows):
        written = 0
        for chunk in real(rows):
            yield chunk
            written += len(chunk)
            fault(begun[-1], written)

    def on_begin(conn):
        begun.append(conn)

    event.listen(engine, "begin", on_begin)
    try:
        with mock.patch.object(dialects, "write_chunks", slices):
            yield
    finally:
        event.remove(engine, "begin", on_begin)


# --------------------------------------------------------------------------- polls


def entry(feed, url, seen_at):
    item = FeedEntry(guid=url, link=url, title="t", published=seen_at - H)
    return QueuedEntry(item, url, entry_id_for(feed, url, url))


POLICY = Policy(default_s=900.0, min_minutes=5, max_minutes=1440, broken_after=5)


def polled(engine, feed, at, entries=(), *, warning=None, unchanged=False):
    """A successful poll, its plan made by the real schedule from the stored feed."""
    record = FetchRecord(kind="feed", url=f"https://{feed}.example/feed", fetched_at=at,
                         status=200)  # fmt: skip
    (target,) = store_feeds.targets(engine, [feed])
    plan = POLICY.after_success(target, now=at, new_items=len(entries), entries=len(entries))
    return Polled(feed_key=feed, at=at, fetch=record, status=200, etag=None, last_modified=None,
                  body_hash=None, ttl_minutes=None, plan=plan, unchanged=unchanged,
                  entries=tuple(entries), seen=len(entries), new=len(entries), warning=warning)  # fmt: skip


def failed_poll(feed, at, *, broken=False):
    plan = ScheduledPoll(due_at=at + H, interval_s=3600, new_per_hour=None,
                         consecutive_failures=1, failure_kind="soft", broken=broken)  # fmt: skip
    record = FetchRecord(kind="feed", url=f"https://{feed}.example/feed", fetched_at=at,
                         status=503, reason=Reason.SERVER_ERROR, detail="HTTP 503")  # fmt: skip
    return PollFailed(feed, at, Reason.SERVER_ERROR, "HTTP 503", fetch=record, status=503,
                      plan=plan)  # fmt: skip
