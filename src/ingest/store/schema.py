"""The warehouse tables: the product's public interface (docs/schema.md).

They change only through the Alembic migrations in :mod:`ingest.migrations`, and a test
compares them with what the migrations build. The ``articles`` table is the
:class:`~ingest.models.Article` record plus the columns the store keeps itself
(:data:`STORE_ONLY_ARTICLE_COLUMNS`); :mod:`ingest.store.rows` maps one to the other.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    false,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps the UTC wall time, as text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002 - SQLAlchemy's signature
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the warehouse")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002 - SQLAlchemy's signature
        """Return aware UTC datetimes."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONList = JSON().with_variant(postgresql.JSONB(), "postgresql")
Key = String(32)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

feeds = Table(
    "feeds",
    metadata,
    Column("feed_key", String(200), primary_key=True),
    Column("url", Text, nullable=False, unique=True),
    Column("title", Text),
    Column("site", String(200)),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("tags", JSONList, nullable=False, default=list),
    Column("language", String(16)),
    Column("interval_minutes", Integer),
    Column("min_interval_minutes", Integer),
    Column("max_interval_minutes", Integer),
    Column("poll_interval_s", Integer),
    Column("new_per_hour", Float),
    Column("failure_kind", String(8)),
    Column("broken", Boolean, nullable=False, default=False, server_default=false()),
    Column("broken_since", UTCDateTime),
    Column("ttl_minutes", Integer),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("body_hash", String(64)),
    Column("last_status", Integer),
    Column("last_polled_at", UTCDateTime),
    Column("last_success_at", UTCDateTime),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("next_due_at", UTCDateTime),
    Column("items_seen", Integer, nullable=False, default=0),
    Column("items_new", Integer, nullable=False, default=0),
    # monitoring (ingest.monitor): the last read's warnings, and how often new items come
    Column("last_warning", Text),
    Column("last_new_at", UTCDateTime),
    Column("new_gap_s", Float),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

hosts = Table(
    "hosts",
    metadata,
    Column("host", String(255), primary_key=True),
    Column("next_eligible_at", UTCDateTime),
    Column("last_request_at", UTCDateTime),
    Column("crawl_delay_s", Float),
    Column("robots_status", Integer),
    Column("robots_txt", Text),
    Column("robots_fetched_at", UTCDateTime),
    Column("robots_expires_at", UTCDateTime),
    Column("throttled_count", Integer, nullable=False, default=0, server_default="0"),
    Column("last_throttle", Text),
    Column("updated_at", UTCDateTime, nullable=False),
    # the crawl holding the host (ingest.store.leases): one at a time, across runs
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
)

feed_entries = Table(
    "feed_entries",
    metadata,
    Column("entry_id", Key, primary_key=True),
    Column("feed_key", String(200), ForeignKey("feeds.feed_key"), nullable=False),
    Column("guid", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("canonical_url", Text, nullable=False),
    Column("host", String(255), nullable=False),
    Column("title", Text),
    Column("published_at", UTCDateTime),
    Column("entry_updated_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(40)),
    Column("last_error_detail", Text),
    Column("article_id", Key),
    Column("duplicate_kind", String(16)),
    Column("last_run_id", String(250)),
    Column("url_rules_version", Integer, nullable=False, server_default="1"),
    # provenance (migration 0013): which source listed it; a feed's own: ('feed', feed_key)
    Column("source_kind", String(16), nullable=False, server_default="feed"),
    Column("source_key", Text, nullable=False, server_default=""),
    Index(None, "feed_key", "guid"),
    Index(None, "state", "host"),
    Index(None, "canonical_url"),
    Index(None, "article_id"),
    Index(None, "url_rules_version", "entry_id"),
)

articles = Table(
    "articles",
    metadata,
    Column("article_id", Key, primary_key=True),
    Column("canonical_url", Text, nullable=False, unique=True),
    Column("url", Text, nullable=False),
    Column("final_url", Text, nullable=False),
    Column("source", String(255), nullable=False),
    Column("feed_key", String(200)),
    Column("guid", Text),
    Column("title", Text),
    Column("body", Text, nullable=False),
    Column("description", Text),
    Column("authors", JSONList, nullable=False),
    Column("language", String(16)),
    Column("published_at", UTCDateTime),
    Column("updated_at", UTCDateTime),
    Column("site_name", String(200)),
    Column("tags", JSONList, nullable=False),
    Column("image_url", Text),
    Column("word_count", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("raw_hash", String(64)),
    Column("raw_content_type", String(255)),
    Column("cluster_id", Key, nullable=False),
    Column("is_representative", Boolean, nullable=False),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("extracted_at", UTCDateTime, nullable=False),
    Column("extractor_version", String(200), nullable=False),
    Column("pipeline_version", String(40), nullable=False),
    Column("url_rules_version", Integer, nullable=False),
    Column("last_run_id", String(250), nullable=False),
    Column("first_listed_at", UTCDateTime),
    Index(None, "content_hash"),
    Index(None, "source", "published_at"),
    Index(None, "cluster_id"),
    Index(None, "url_rules_version", "article_id"),
    # The monitoring windows (ingest.store.metrics) read this index alone, never the rows.
    Index(
        "ix_articles_window",
        "first_seen_at",
        "source",
        "is_representative",
        "cluster_id",
        "first_listed_at",
        "published_at",
    ),
)

#: Columns of ``articles`` that are not fields of the Article record, and why.
STORE_ONLY_ARTICLE_COLUMNS = {
    "cluster_id": "decided by the clustering pass after the load (a new row starts alone)",
    "is_representative": "decided by the clustering pass (a new row represents itself)",
    "first_seen_at": "when the warehouse first stored the article; kept on every rewrite",
    "last_seen_at": "when a load last saw the article",
    "last_run_id": "the run that last wrote the row",
    "first_listed_at": "when a feed first listed the article (its earliest entry), set at its insert",
}

#: Where the articles re-keyed by new URL rules went (``ingest rekey``): follow an old id.
article_rekeys = Table(
    "article_rekeys",
    metadata,
    Column("old_article_id", Key, primary_key=True),
    Column("new_article_id", Key, nullable=False),
    Column("old_canonical_url", Text, nullable=False),
    Column("new_canonical_url", Text, nullable=False),
    Column("kind", String(8), nullable=False),
    Column("url_rules_version", Integer, nullable=False),
    Column("rekeyed_at", UTCDateTime, nullable=False),
    Index(None, "new_article_id"),
)

article_signatures = Table(
    "article_signatures",
    metadata,
    Column("article_id", Key, primary_key=True),
    Column("signature_version", Integer, nullable=False),
    Column("signature", LargeBinary),
    Column("shingle_count", Integer, nullable=False),
    Column("title_key", BigInteger),
    Column("at", UTCDateTime, nullable=False),
    Column("clustered_at", UTCDateTime, nullable=False),
    # the signature version whose rules last decided the article's cluster (a re-signed
    # article keeps its cluster, and this, until `ingest recluster` decides it again)
    Column("decided_version", Integer, nullable=False, server_default="0"),
    Index(None, "decided_version", "at", "article_id"),
    Index(None, "signature_version", "at", "article_id"),
)

#: Articles loaded and not yet signed: the `cluster` step's work list, so finding it costs
#: the same at any warehouse size (a scan for articles without a signature grew with it).
cluster_queue = Table(
    "cluster_queue",
    metadata,
    Column("article_id", Key, primary_key=True),
    Column("at", UTCDateTime, nullable=False),  # the article's time when loaded
    # its signature made ahead by the fetch (ingest.neardup.to_json); NULL: signed then
    Column("signature", JSON(none_as_null=True), nullable=True),
    Index(None, "at", "article_id"),
)

archive_records = Table(
    "archive_records",
    metadata,
    # where the raw archive keeps each body: its WARC response record (ingest.archive)
    Column("digest", String(64), primary_key=True),  # the body's SHA-256 (articles.raw_hash)
    Column("file", String(512), nullable=False),  # the WARC file, under the archive root
    Column("record_offset", BigInteger, nullable=False),  # of the record's gzip member
    Column("record_length", Integer, nullable=False),  # of that member, in bytes
    Column("url", Text, nullable=False),
    Column("captured_at", UTCDateTime, nullable=False),
)

backfill_files = Table(
    "backfill_files",
    metadata,
    # the files a backfill has read and loaded, so a killed one resumes after them
    Column("source_kind", String(16), primary_key=True),  # "ccnews"
    Column("scope", String(64), primary_key=True),  # the hosts and range it was read for
    Column("path", String(512), primary_key=True),  # the file, under the source's base URL
    Column("run_id", String(250), nullable=False),  # the load that stored its captures
    Column("records", Integer, nullable=False),  # response records read
    Column("captures", Integer, nullable=False),  # of them, kept (publisher, range)
    Column("done_at", UTCDateTime, nullable=False),
)

signature_bands = Table(
    "signature_bands",
    metadata,
    Column("band", SmallInteger, nullable=False),
    Column("band_key", BigInteger, nullable=False),
    Column("article_id", Key, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # by time within a band: its latest rows in a window are a range (migration 0017); an
    # article's rows all have its one time, so (band, band_key, article_id) stays unique
    PrimaryKeyConstraint("band", "band_key", "at", "article_id"),
    Index(None, "article_id"),
    sqlite_with_rowid=False,  # the table is its key's B-tree, no rowid table beside it
)

cluster_merges = Table(
    "cluster_merges",
    metadata,
    Column("merge_id", Integer, primary_key=True, autoincrement=True),
    Column("old_cluster_id", Key, nullable=False),
    Column("new_cluster_id", Key, nullable=False),
    Column("kind", String(8), nullable=False),  # merge (old folded into new) or split
    Column("article_id", Key),  # the article whose evidence linked them
    Column("signature_version", Integer),  # the rules that decided it; null: by a re-key
    Column("merged_at", UTCDateTime, nullable=False),
    Index(None, "old_cluster_id"),
    Index(None, "new_cluster_id"),
)

article_staging = Table(
    "article_staging",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("queue_url", Text, primary_key=True),
    Column("article_id", Key, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("staged_at", UTCDateTime, nullable=False),
    Column("signature", JSON(none_as_null=True), nullable=True),  # made ahead (ingest.neardup)
)

#: The registry file last synced into ``feeds`` (one row): an unchanged file is not re-read.
registry_syncs = Table(
    "registry_syncs",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("feed_count", Integer, nullable=False),
    Column("synced_at", UTCDateTime, nullable=False),
)

#: The state each alert subject was last announced in (ingest.alerts), so that an
#: operator hears of a transition once; a row whose ``notified_at`` is NULL is waiting
#: for delivery (``delivered``: the channels that already took it).
alert_states = Table(
    "alert_states",
    metadata,
    Column("alert_key", String(250), primary_key=True),  # feed:<feed_key>, freshness
    Column("state", String(16), nullable=False),
    Column("level", String(8), nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),
    Column("notified_at", UTCDateTime),
    Column("delivered", String(200), nullable=False, server_default=""),
    Column("claimed_by", String(32)),
    Column("claimed_until", UTCDateTime),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Index(None, "notified_at"),
)

#: Pages a run has claimed (ingest.store.leases): from before their fetch to their load.
page_leases = Table(
    "page_leases",
    metadata,
    Column("canonical_url", Text, primary_key=True),
    Column("run_id", String(250), nullable=False),
    Column("leased_until", UTCDateTime, nullable=False),
    Index(None, "run_id"),
)

fetch_log = Table(
    "fetch_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(250)),
    Column("kind", String(8), nullable=False),
    Column("url", Text, nullable=False),
    Column("final_url", Text),
    Column("status", Integer),
    Column("bytes", Integer),
    Column("elapsed_ms", Integer),
    Column("reason", String(40)),
    Column("detail", Text),
    Column("fetched_at", UTCDateTime, nullable=False),
    Column("feed_key", String(200)),  # the feed polled, or the feed the page came from
    Index(None, "fetched_at"),
    Index(None, "run_id"),
    # the failures (and warnings) of a window, without reading its successful lines
    Index(
        "ix_fetch_log_failures",
        "fetched_at",
        sqlite_where=text("reason IS NOT NULL"),
        postgresql_where=text("reason IS NOT NULL"),
    ),
)

load_ledger = Table(
    "load_ledger",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("load_seq", Integer, primary_key=True, autoincrement=False),
    Column("interval_start", UTCDateTime),
    Column("interval_end", UTCDateTime),
    Column("feeds_polled", Integer, nullable=False, default=0),
    Column("feeds_failed", Integer, nullable=False, default=0),
    Column("entries_seen", Integer, nullable=False, default=0),
    Column("entries_new", Integer, nullable=False, default=0),
    Column("pages_fetched", Integer, nullable=False, default=0),
    Column("pages_failed", Integer, nullable=False, default=0),
    Column("rows_in", Integer, nullable=False),
    Column("inserted", Integer, nullable=False),
    Column("updated", Integer, nullable=False),
    Column("skipped", Integer, nullable=False),
    Column("duplicates", Integer, nullable=False),
    # since migration 0010 the pages fetched are the extracted, failed and deferred ones,
    # and the rows in are the inserted, updated, skipped, duplicate and rejected ones
    Column("pages_extracted", Integer, nullable=False, server_default="0"),
    Column("pages_deferred", Integer, nullable=False, server_default="0"),
    Column("rejected", Integer, nullable=False, server_default="0"),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("pipeline_version", String(40), nullable=False),
)

__all__ = [
    "STORE_ONLY_ARTICLE_COLUMNS", "UTCDateTime", "alert_states", "archive_records",
    "article_rekeys", "article_signatures", "article_staging", "articles", "backfill_files",
    "cluster_merges", "cluster_queue", "feed_entries", "feeds", "fetch_log", "hosts", "load_ledger", "metadata", "page_leases",
    "registry_syncs", "signature_bands",
]  # fmt: skip
