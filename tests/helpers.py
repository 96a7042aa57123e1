"""Record factories for tests."""

from datetime import UTC, datetime

from ingest import warehouse
from ingest.dedupe import dedupe_batch
from ingest.models import Article, LoadResult
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
    return warehouse.load_batch(engine, run_id, staged, dedupe_batch, now=now, **kwargs)
