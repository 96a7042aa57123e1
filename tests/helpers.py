"""Record factories and fault seams for tests."""

import contextlib
from datetime import UTC, datetime
from unittest import mock

from sqlalchemy import event

from ingest.dedupe import dedupe_batch
from ingest.models import Article, LoadResult
from ingest.store import dialects, loads
from ingest.textutil import content_hash
from ingest.urls import RULES_VERSION, article_id_for

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


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
