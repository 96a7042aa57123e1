"""The warehouse: tables, engine, and every read and write the pipeline makes.

Tables are the product's public interface (docs/schema.md) and change only through the
Alembic migrations in :mod:`ingest.migrations`. Writes are idempotent: loading the same
batch twice writes nothing the second time, and an article's ``first_seen_at`` is never
overwritten.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    bindparam,
    create_engine,
    delete,
    event,
    false,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql import column as sa_column
from sqlalchemy.sql import table as sa_table
from sqlalchemy.types import TypeDecorator

from ingest import PIPELINE_VERSION
from ingest.errors import ConfigError, WarehouseError, WarehouseUnavailable
from ingest.models import (
    Article,
    ClusterResult,
    DedupeResult,
    EntryState,
    FeedEntry,
    FeedSpec,
    Fetched,
    HostState,
    LoadResult,
    PageJob,
    PollTarget,
    Reason,
    ScheduledPoll,
    SignatureRecord,
)
from ingest.urls import RULES_VERSION, article_id_for, host_of

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 30_000


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores them naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (naive on SQLite)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the warehouse")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

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
    Index(None, "content_hash"),
    Index(None, "source", "published_at"),
    Index(None, "cluster_id"),
    Index(None, "url_rules_version", "article_id"),
)

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
)

signature_bands = Table(
    "signature_bands",
    metadata,
    Column("band", SmallInteger, primary_key=True),
    Column("band_key", BigInteger, primary_key=True),
    Column("article_id", Key, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Index(None, "article_id"),
)

article_staging = Table(
    "article_staging",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("queue_url", Text, primary_key=True),
    Column("article_id", Key, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("staged_at", UTCDateTime, nullable=False),
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
    Index(None, "fetched_at"),
    Index(None, "run_id"),
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
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("pipeline_version", String(40), nullable=False),
)

#: Columns whose change makes a stored article "changed" (and so rewritten).
CONTENT_COLUMNS = (
    "title", "body", "description", "authors", "language", "published_at", "updated_at",
    "site_name", "tags", "image_url", "content_hash", "extractor_version",
)  # fmt: skip


# --------------------------------------------------------------------------- engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any, busy_timeout_ms: int) -> None:  # noqa: ANN401 - DB-API objects
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # A write transaction takes the write lock when it starts, so two writers queue on the
    # busy timeout instead of failing to upgrade a read lock ("database is locked").
    mode = "IMMEDIATE" if conn.get_execution_options().get("ingest_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An Engine for a warehouse URL; SQLite gets WAL, a busy timeout and eager locking.

    ``postgresql://`` URLs use psycopg 3.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed,
            hide_parameters=True,
            connect_args={"timeout": busy_timeout_ms / 1000, "isolation_level": None},
        )
        event.listen(
            engine, "connect", lambda conn, rec: _sqlite_pragmas(conn, rec, busy_timeout_ms)
        )
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, hide_parameters=True, pool_pre_ping=True)


def url_from_connection(
    conn_type: str,
    host: str | None,
    schema: str | None = None,
    login: str | None = None,
    password: str | None = None,
    port: int | None = None,
) -> str:
    """A SQLAlchemy URL from the fields of an Airflow Connection (sqlite or postgres)."""
    kind = (conn_type or "").lower()
    if kind == "sqlite":
        path = host or schema or ""
        return f"sqlite:///{path}" if path else "sqlite://"
    if kind in ("postgres", "postgresql"):
        from sqlalchemy.engine import URL  # noqa: PLC0415 - only needed here

        return URL.create(
            "postgresql+psycopg",
            username=login or None,
            password=password or None,
            host=host or None,
            port=port or None,
            database=schema or None,
        ).render_as_string(hide_password=False)
    raise WarehouseError(f"unsupported warehouse connection type {conn_type!r}")


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration's revision id."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 - rarely needed

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package ships its migrations
        raise WarehouseError("no migrations found")
    return head


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision`` (idempotent)."""
    config = _alembic_config()
    with reading(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        if conn.in_transaction():
            conn.commit()


def sanitised(exc: DBAPIError) -> WarehouseError:
    """A database error without row data or credentials, safe to log.

    PostgreSQL's DETAIL ("Failing row contains (...)") and the statement's parameters are
    dropped; the primary message, SQLSTATE and error class stay.
    """
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) or (
        str(orig).splitlines()[0] if orig is not None else ""
    )
    sqlstate = getattr(orig, "sqlstate", None)
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    message = f"{kind}{f' [{sqlstate}]' if sqlstate else ''}: {primary}"[:500]
    transient = exc.connection_invalidated or (
        # connection exceptions, shutdowns, serialization failures, deadlocks
        (sqlstate or "").startswith(("08", "57P", "40"))
        # SQLite: a lock held past the busy timeout
        or (sqlstate is None and isinstance(exc, OperationalError)
            and ("locked" in primary or "busy" in primary))
        # psycopg before a connection exists (refused, unreachable)
        or (sqlstate is None and isinstance(exc, OperationalError) and "connect" in primary)
    )  # fmt: skip
    return WarehouseUnavailable(message) if transient else WarehouseError(message)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only connection; errors come out sanitised, like :func:`transaction`'s."""
    try:
        with engine.connect() as conn:
            yield conn
    except DBAPIError as exc:
        raise sanitised(exc) from None


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction; committed on success, rolled back on any error.

    Database errors come out as :class:`WarehouseError` (or ``WarehouseUnavailable`` when
    the connection failed), with a message that carries no row data.
    """
    try:
        with engine.connect() as conn:
            conn.execution_options(ingest_write=True)
            with conn.begin():
                yield conn
    except DBAPIError as exc:
        raise sanitised(exc) from None


def _insert(conn: Connection, table: Table) -> Any:  # noqa: ANN401 - dialect-specific Insert
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    if conn.dialect.name == "sqlite":
        return sqlite.insert(table)
    raise WarehouseError(f"unsupported warehouse dialect {conn.dialect.name!r}")


# --------------------------------------------------------------------------- feeds


def sync_feeds(engine: Engine, specs: Sequence[FeedSpec], now: datetime) -> int:
    """Make the ``feeds`` table match the registry; feeds no longer listed are disabled.

    A feed key is a permanent id (entries and articles refer to it): a URL already
    registered under another key is a configuration error, not a silent rename.
    """
    with transaction(engine) as conn:
        registered = dict(conn.execute(select(feeds.c.url, feeds.c.feed_key)).all())
        moved = [
            f"{s.url} is registered as {registered[s.url]!r}, not {s.key!r}"
            for s in specs
            if registered.get(s.url, s.key) != s.key
        ]
        if moved:
            raise ConfigError(
                "feed keys are permanent ids; keep the old key (or give the feed a new URL): "
                + "; ".join(moved)
            )
        for spec in sorted(specs, key=lambda s: s.key):
            values = {
                "url": spec.url,
                "title": spec.title,
                "site": spec.site,
                "enabled": spec.enabled,
                "tags": list(spec.tags),
                "language": spec.language,
                "interval_minutes": spec.interval_minutes,
                "min_interval_minutes": spec.min_interval_minutes,
                "max_interval_minutes": spec.max_interval_minutes,
            }
            stmt = _insert(conn, feeds).values(
                feed_key=spec.key, created_at=now, updated_at=now, **values
            )
            changed = or_(*(feeds.c[k].is_distinct_from(stmt.excluded[k]) for k in values))
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=[feeds.c.feed_key],
                    set_={**{k: stmt.excluded[k] for k in values}, "updated_at": now},
                    where=changed,
                )
            )
        listed = [s.key for s in specs]
        conn.execute(
            update(feeds)
            .where(feeds.c.feed_key.not_in(listed), feeds.c.enabled.is_(True))
            .values(enabled=False, last_error="removed from the registry", updated_at=now)
        )
    return len(specs)


def _poll_target(row: Any) -> PollTarget:  # noqa: ANN401 - a Row of feeds
    return PollTarget(
        key=row.feed_key,
        url=row.url,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        interval_minutes=row.interval_minutes,
        min_interval_minutes=row.min_interval_minutes,
        max_interval_minutes=row.max_interval_minutes,
        poll_interval_s=row.poll_interval_s,
        new_per_hour=row.new_per_hour,
        last_success_at=row.last_success_at,
        consecutive_failures=row.consecutive_failures,
        ttl_minutes=row.ttl_minutes,
    )


def due_feeds(engine: Engine, at: datetime) -> list[PollTarget]:
    """Enabled feeds whose next due time is at or before ``at``, oldest-due first."""
    query = (
        select(feeds)
        .where(feeds.c.enabled.is_(True))
        .where(or_(feeds.c.next_due_at.is_(None), feeds.c.next_due_at <= at))
        .order_by(feeds.c.next_due_at.nulls_first(), feeds.c.feed_key)
    )
    with reading(engine) as conn:
        return [_poll_target(row) for row in conn.execute(query)]


def feeds_by_key(engine: Engine, keys: Sequence[str]) -> list[PollTarget]:
    """Poll targets for the given feed keys (in key order)."""
    query = select(feeds).where(feeds.c.feed_key.in_(keys)).order_by(feeds.c.feed_key)
    with reading(engine) as conn:
        return [_poll_target(row) for row in conn.execute(query)]


def record_poll_success(
    engine: Engine,
    target: PollTarget,
    fetched: Fetched,
    *,
    now: datetime,
    plan: ScheduledPoll,
    seen: int,
    new: int,
    ttl_minutes: int | None = None,
) -> None:
    """Store a successful poll (a 304 included): validators, counters, the next poll.

    ``ttl_minutes`` is the feed's RSS ttl when its body was read (kept for 304s).
    """
    with transaction(engine) as conn:
        conn.execute(
            update(feeds)
            .where(feeds.c.feed_key == target.key)
            .values(
                etag=fetched.etag or target.etag,
                last_modified=fetched.last_modified or target.last_modified,
                body_hash=target.body_hash if fetched.not_modified else fetched.body_hash,
                last_status=fetched.status,
                last_polled_at=now,
                last_success_at=now,
                consecutive_failures=0,
                failure_kind=None,
                broken=False,
                broken_since=None,
                last_error=None,
                next_due_at=plan.due_at,
                ttl_minutes=ttl_minutes if not fetched.not_modified else target.ttl_minutes,
                poll_interval_s=round(plan.interval_s),
                new_per_hour=plan.new_per_hour,
                items_seen=feeds.c.items_seen + seen,
                items_new=feeds.c.items_new + new,
                updated_at=now,
            )
        )


def record_poll_failure(
    engine: Engine,
    target: PollTarget,
    *,
    now: datetime,
    plan: ScheduledPoll,
    reason: Reason,
    detail: str,
    status: int | None,
) -> None:
    """Store a failed poll: its reason, the back-off, and the broken flag when it is due."""
    with transaction(engine) as conn:
        conn.execute(
            update(feeds)
            .where(feeds.c.feed_key == target.key)
            .values(
                last_status=status,
                last_polled_at=now,
                consecutive_failures=plan.consecutive_failures,
                failure_kind=plan.failure_kind,
                broken=plan.broken,
                broken_since=(func.coalesce(feeds.c.broken_since, now) if plan.broken else None),
                last_error=f"{reason.value}: {detail}"[:500],
                next_due_at=plan.due_at,
                updated_at=now,
            )
        )


def feed_health(engine: Engine) -> list[dict[str, Any]]:
    """Every feed's schedule and health, broken and failing feeds first (``ingest feeds``)."""
    query = select(
        feeds.c.feed_key, feeds.c.enabled, feeds.c.broken, feeds.c.broken_since,
        feeds.c.consecutive_failures, feeds.c.failure_kind, feeds.c.last_error,
        feeds.c.last_status, feeds.c.last_polled_at, feeds.c.last_success_at,
        feeds.c.next_due_at, feeds.c.poll_interval_s, feeds.c.new_per_hour,
        feeds.c.items_seen, feeds.c.items_new,
    ).order_by(
        feeds.c.enabled.desc(), feeds.c.broken.desc(), feeds.c.consecutive_failures.desc(),
        feeds.c.feed_key,
    )  # fmt: skip
    with reading(engine) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]  # noqa: SLF001 - Row API


# --------------------------------------------------------------------------- entries


def entry_id_for(feed_key: str, guid: str, url: str) -> str:
    """Stable key of a feed entry: its feed, its guid and its canonical URL."""
    return article_id_for(f"{feed_key}\n{guid}\n{url}")


def record_entries(
    engine: Engine,
    feed_key: str,
    entries: Sequence[tuple[FeedEntry, str]],
    *,
    run_id: str,
    now: datetime,
) -> int:
    """Upsert a feed's entries (each with its canonical URL); return how many were new.

    A new entry whose canonical URL is already a stored article is linked to it at once
    (state ``known``) and never fetched again; otherwise it waits in state ``pending``.
    """
    if not entries:
        return 0
    rows = {entry_id_for(feed_key, e.guid, url): (e, url) for e, url in entries}
    with transaction(engine) as conn:
        existing = set(
            conn.execute(
                select(feed_entries.c.entry_id).where(feed_entries.c.entry_id.in_(list(rows)))
            ).scalars()
        )
        urls = sorted({url for entry_id, (_, url) in rows.items() if entry_id not in existing})
        known = dict(
            conn.execute(
                select(articles.c.canonical_url, articles.c.article_id).where(
                    articles.c.canonical_url.in_(urls)
                )
            ).all()
        )
        new = 0
        for entry_id in sorted(rows):
            entry, url = rows[entry_id]
            if entry_id in existing:
                conn.execute(
                    update(feed_entries)
                    .where(feed_entries.c.entry_id == entry_id)
                    .values(last_seen_at=now)
                )
                continue
            article_id = known.get(url)
            stmt = _insert(conn, feed_entries).values(
                entry_id=entry_id,
                feed_key=feed_key,
                guid=entry.guid,
                link=entry.link,
                canonical_url=url,
                host=host_of(url),
                title=entry.title,
                published_at=entry.published,
                entry_updated_at=entry.updated,
                first_seen_at=now,
                last_seen_at=now,
                state=(EntryState.KNOWN if article_id else EntryState.PENDING).value,
                attempts=0,
                article_id=article_id,
                last_run_id=run_id,
                url_rules_version=RULES_VERSION,
            )
            # RETURNING, not rowcount: psycopg reports -1 for an upsert's rowcount.
            inserted = conn.execute(
                stmt.on_conflict_do_nothing(index_elements=["entry_id"]).returning(
                    feed_entries.c.entry_id
                )
            ).first()
            new += inserted is not None
    return new


def record_bad_entries(
    engine: Engine,
    feed_key: str,
    bad: Sequence[tuple[FeedEntry, str]],
    *,
    run_id: str,
    now: datetime,
) -> None:
    """Keep entries whose link we refuse (bad scheme, too long) as failed, with the reason."""
    if not bad:
        return
    with transaction(engine) as conn:
        for entry, reason in bad:
            stmt = _insert(conn, feed_entries).values(
                entry_id=entry_id_for(feed_key, entry.guid, entry.link),
                feed_key=feed_key,
                guid=entry.guid,
                link=entry.link[:4096],
                canonical_url=entry.link[:4096],
                host=host_of(entry.link)[:255],
                title=entry.title,
                published_at=entry.published,
                entry_updated_at=entry.updated,
                first_seen_at=now,
                last_seen_at=now,
                state=EntryState.FAILED.value,
                attempts=0,
                last_error=reason,
                last_run_id=run_id,
                url_rules_version=RULES_VERSION,
            )
            conn.execute(stmt.on_conflict_do_nothing(index_elements=["entry_id"]))


def pending_hosts(
    engine: Engine, *, max_attempts: int, at: datetime | None = None
) -> list[tuple[str, int]]:
    """Hosts with pages waiting to be fetched, and how many distinct pages each.

    With ``at``, hosts that asked us to wait (``hosts.next_eligible_at`` after ``at``:
    a Retry-After, an unreachable robots.txt) are left out; their pages stay pending.
    Entries whose attempts already reach ``max_attempts`` (the setting was lowered) are
    marked failed here rather than left pending for ever.
    """
    with transaction(engine) as conn:
        conn.execute(
            update(feed_entries)
            .where(
                feed_entries.c.state == EntryState.PENDING.value,
                feed_entries.c.attempts >= max_attempts,
            )
            .values(state=EntryState.FAILED.value)
        )
    query = (
        select(feed_entries.c.host, func.count(feed_entries.c.canonical_url.distinct()))
        .where(feed_entries.c.state == EntryState.PENDING.value)
        .group_by(feed_entries.c.host)
        .order_by(feed_entries.c.host)
    )
    if at is not None:
        waiting = select(hosts.c.host).where(hosts.c.next_eligible_at > at)
        query = query.where(feed_entries.c.host.not_in(waiting))
    with reading(engine) as conn:
        return [(host, n) for host, n in conn.execute(query).all()]


_HOST_FIELDS = tuple(f.name for f in dataclasses.fields(HostState))


def host_states(engine: Engine, names: Sequence[str]) -> dict[str, HostState]:
    """The stored state of these hosts (a host never seen gets an empty state)."""
    states = {name: HostState(host=name) for name in names}
    with reading(engine) as conn:
        for chunk in _chunks(sorted(states), WRITE_CHUNK):
            for row in conn.execute(select(hosts).where(hosts.c.host.in_(chunk))):
                states[row.host] = HostState(**{f: getattr(row, f) for f in _HOST_FIELDS})
    return states


def save_host_states(engine: Engine, states: Sequence[HostState], now: datetime) -> None:
    """Upsert host states (in host order, so concurrent savers cannot deadlock)."""
    if not states:
        return
    rows = [
        {**{f: getattr(s, f) for f in _HOST_FIELDS}, "updated_at": now}
        for s in sorted(states, key=lambda s: s.host)
    ]
    with transaction(engine) as conn:
        stmt = _insert(conn, hosts)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[hosts.c.host],
                set_={c: stmt.excluded[c] for c in rows[0] if c != "host"},
            ),
            rows,
        )


def pending_jobs(
    engine: Engine, *, limit: int, max_attempts: int, hosts: Sequence[str] | None = None
) -> list[PageJob]:
    """One page job per pending canonical URL, oldest first, at most ``limit``."""
    oldest = (
        select(
            feed_entries.c.canonical_url,
            func.min(feed_entries.c.first_seen_at).label("first_seen"),
        )
        .where(feed_entries.c.state == EntryState.PENDING.value)
        .where(feed_entries.c.attempts < max_attempts)
        .group_by(feed_entries.c.canonical_url)
        .order_by("first_seen", feed_entries.c.canonical_url)
        .limit(limit)
    )
    if hosts is not None:
        oldest = oldest.where(feed_entries.c.host.in_(list(hosts)))
    jobs: dict[str, PageJob] = {}
    with reading(engine) as conn:
        urls = [row.canonical_url for row in conn.execute(oldest)]
        for chunk in _chunks(urls, WRITE_CHUNK):
            rows = conn.execute(
                select(feed_entries)
                .where(feed_entries.c.state == EntryState.PENDING.value)
                .where(feed_entries.c.canonical_url.in_(chunk))
                .order_by(feed_entries.c.first_seen_at, feed_entries.c.entry_id)
            )
            for row in rows:
                jobs.setdefault(
                    row.canonical_url,
                    PageJob(
                        entry_id=row.entry_id,
                        feed_key=row.feed_key,
                        guid=row.guid,
                        link=row.link,
                        canonical_url=row.canonical_url,
                        title=row.title,
                        published=row.published_at,
                        updated=row.entry_updated_at,
                    ),
                )
    return [jobs[url] for url in urls if url in jobs]


def mark_failed_jobs(
    engine: Engine,
    failures: Sequence[tuple[PageJob, Reason, str]],
    *,
    run_id: str,
    max_attempts: int,
) -> None:
    """Record page failures: a soft reason is retried until ``max_attempts``, a hard one not."""
    with transaction(engine) as conn:
        for job, reason, detail in sorted(failures, key=lambda f: f[0].canonical_url):
            where = (
                feed_entries.c.canonical_url == job.canonical_url,
                feed_entries.c.state == EntryState.PENDING.value,
            )
            conn.execute(
                update(feed_entries)
                .where(*where)
                .values(
                    attempts=feed_entries.c.attempts + 1,
                    last_error=reason.value,
                    last_error_detail=detail[:500],
                    last_run_id=run_id,
                )
            )
            if not reason.retryable:
                conn.execute(
                    update(feed_entries).where(*where).values(state=EntryState.FAILED.value)
                )
            else:
                conn.execute(
                    update(feed_entries)
                    .where(*where, feed_entries.c.attempts >= max_attempts)
                    .values(state=EntryState.FAILED.value)
                )


def requeue_jobs(
    engine: Engine,
    moves: Sequence[tuple[PageJob, str]],
    *,
    run_id: str,
    max_attempts: int,
) -> None:
    """Point pending entries at the URL their page redirects to, on another host.

    The page is then fetched by that host's own crawler (its politeness, its robots.txt)
    in a later run. Each move uses an attempt, so redirects that bounce between hosts end
    as ``failed`` after ``max_attempts``.
    """
    with transaction(engine) as conn:
        for job, target in sorted(moves, key=lambda m: m[0].canonical_url):
            where = (
                feed_entries.c.canonical_url == job.canonical_url,
                feed_entries.c.state == EntryState.PENDING.value,
            )
            conn.execute(
                update(feed_entries)
                .where(*where)
                .values(
                    link=target,
                    host=host_of(target)[:255],
                    attempts=feed_entries.c.attempts + 1,
                    last_error=Reason.REDIRECTED_OFFSITE.value,
                    last_error_detail=target[:500],
                    last_run_id=run_id,
                )
            )
            conn.execute(
                update(feed_entries)
                .where(*where, feed_entries.c.attempts >= max_attempts)
                .values(state=EntryState.FAILED.value)
            )


# --------------------------------------------------------------------------- fetch log


def log_fetches(engine: Engine, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append rows to the fetch log (kind, url, status, bytes, elapsed_ms, reason...)."""
    batch = list(rows)
    if batch:
        with transaction(engine) as conn:
            conn.execute(fetch_log.insert(), batch)


def prune(engine: Engine, older_than: datetime) -> None:
    """Delete fetch-log rows, and staged rows of runs that never loaded, older than this."""
    with transaction(engine) as conn:
        conn.execute(delete(fetch_log).where(fetch_log.c.fetched_at < older_than))
        conn.execute(delete(article_staging).where(article_staging.c.staged_at < older_than))


# --------------------------------------------------------------------------- staging


def _to_payload(article: Article) -> dict[str, Any]:
    payload = dataclasses.asdict(article)
    for key, value in payload.items():
        if isinstance(value, datetime):
            payload[key] = value.isoformat()
        elif isinstance(value, tuple):
            payload[key] = list(value)
    return payload


def _from_payload(payload: Mapping[str, Any]) -> Article:
    values = dict(payload)
    for field in dataclasses.fields(Article):
        value = values.get(field.name)
        if field.name.endswith("_at") and isinstance(value, str):
            values[field.name] = datetime.fromisoformat(value)
        elif isinstance(value, list):
            values[field.name] = tuple(value)
    return Article(**values)


def stage(
    engine: Engine, run_id: str, staged: Sequence[tuple[str, Article]], now: datetime
) -> None:
    """Keep a shard's articles (keyed by the queue URL they were fetched for) until load."""
    if not staged:
        return
    with transaction(engine) as conn:
        for queue_url, article in sorted(staged, key=lambda s: s[0]):
            stmt = _insert(conn, article_staging).values(
                run_id=run_id,
                queue_url=queue_url,
                article_id=article.article_id,
                payload=_to_payload(article),
                staged_at=now,
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["run_id", "queue_url"],
                    set_={"article_id": stmt.excluded.article_id, "payload": stmt.excluded.payload},
                )
            )


def staged_articles(engine: Engine, run_id: str) -> list[tuple[str, Article]]:
    """The articles staged by a run, with their queue URLs."""
    query = (
        select(article_staging.c.queue_url, article_staging.c.payload)
        .where(article_staging.c.run_id == run_id)
        .order_by(article_staging.c.queue_url)
    )
    with reading(engine) as conn:
        return [(row.queue_url, _from_payload(row.payload)) for row in conn.execute(query)]


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --------------------------------------------------------------------------- load


def _latest_ledger(conn: Connection, run_id: str) -> LoadResult | None:
    row = conn.execute(
        select(load_ledger)
        .where(load_ledger.c.run_id == run_id)
        .order_by(load_ledger.c.load_seq.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return LoadResult(
        run_id=run_id,
        rows_in=row.rows_in,
        inserted=row.inserted,
        updated=row.updated,
        skipped=row.skipped,
        already_loaded=True,
    )


class Decide(Protocol):
    """The dedupe decision the composer hands to :func:`load_batch`."""

    def __call__(
        self, candidates: Sequence[Article], *, known_content: Mapping[str, str]
    ) -> DedupeResult:
        """Split candidates into unique articles and duplicates of known ones."""


#: Called between write chunks with the connection and the rows written so far (tests
#: use it to crash or cut the connection mid-batch).
FaultHook = Callable[[Connection, int], None]

LOAD_LOCK_KEY = 0x6E657773  # "news": one advisory lock serialises loads on PostgreSQL
WRITE_CHUNK = 500


def load_batch(
    engine: Engine,
    run_id: str,
    staged: Sequence[tuple[str, Article]],
    decide: Decide,
    *,
    now: datetime,
    interval: tuple[datetime | None, datetime | None] = (None, None),
    counters: Mapping[str, int] | None = None,
    fault: FaultHook | None = None,
) -> LoadResult:
    """Dedupe and load one run's articles, link their feed entries, write the ledger row.

    All in one transaction, under a lock that serialises loads (``BEGIN IMMEDIATE`` on
    SQLite, an advisory lock on PostgreSQL), so dedupe decisions see every committed
    article and two loaders never race. ``staged`` pairs each article with the queue URL
    its page was fetched for. New articles are inserted; stored ones are rewritten only
    when a content column changed (``first_seen_at`` is kept); unchanged ones are not
    written. A row that cannot be stored is rejected alone, with its reason on the feed
    entries.

    The run's staged rows are the idempotency token: they are deleted in the same
    transaction. A load with nothing staged whose run already has a ledger row (a retry
    after the commit) writes nothing and returns that row; a run loaded again with new
    staged rows (Airflow's *Clear*, a reprocessing backfill) gets another ledger row.
    """
    with transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(select(func.pg_advisory_xact_lock(LOAD_LOCK_KEY)))
            # Every lookup here is by key; after a big load autovacuum's statistics lag and
            # the planner would scan the whole table instead (seen: 10x slower loads).
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        previous = _latest_ledger(conn, run_id)
        still_staged = conn.execute(
            select(article_staging.c.run_id).where(article_staging.c.run_id == run_id).limit(1)
        ).first()
        if previous is not None and still_staged is None:
            log.info("run %s already loaded; nothing to do", run_id)
            return previous
        accepted, rejected = _validated(staged)
        candidates = [article for _, article in accepted]
        verdict = decide(candidates, known_content=_known_content(conn, candidates))
        links = _links(accepted, verdict)
        inserted, updated, unchanged = _upsert(conn, verdict.unique, run_id, now, fault)
        _link_entries(conn, sorted(links + rejected, key=_link_key), run_id)
        result = LoadResult(
            run_id=run_id,
            rows_in=len(staged),
            inserted=inserted,
            updated=updated,
            skipped=unchanged,
        )
        counters = counters or {}
        seq = conn.execute(
            select(func.coalesce(func.max(load_ledger.c.load_seq), 0)).where(
                load_ledger.c.run_id == run_id
            )
        ).scalar_one()
        conn.execute(
            load_ledger.insert().values(
                run_id=run_id,
                load_seq=seq + 1,
                interval_start=interval[0],
                interval_end=interval[1],
                feeds_polled=counters.get("feeds_polled", 0),
                feeds_failed=counters.get("feeds_failed", 0),
                entries_seen=counters.get("entries_seen", 0),
                entries_new=counters.get("entries_new", 0),
                pages_fetched=counters.get("pages_fetched", 0),
                pages_failed=counters.get("pages_failed", 0) + len(rejected),
                rows_in=result.rows_in,
                inserted=inserted,
                updated=updated,
                skipped=unchanged,
                duplicates=len(verdict.duplicates),
                started_at=now,
                finished_at=datetime.now(UTC),
                pipeline_version=PIPELINE_VERSION,
            )
        )
        conn.execute(delete(article_staging).where(article_staging.c.run_id == run_id))
    log.info(
        "run %s loaded: %d in, %d inserted, %d updated, %d unchanged, %d duplicates, %d rejected",
        run_id, result.rows_in, inserted, updated, unchanged, len(verdict.duplicates),
        len(rejected),
    )  # fmt: skip
    return result


# --------------------------------------------------------------------------- clusters


class Clusterer(Protocol):
    """The near-duplicate logic the composer hands to :func:`cluster_pending`."""

    version: int

    def sign(self, title: str | None, body: str) -> SignatureRecord:
        """The signature of an article."""

    def best_match(
        self, signature: SignatureRecord, candidates: Sequence[SignatureRecord]
    ) -> int | None:
        """Index of the candidate that is the best near-duplicate, if any is."""


def lock_loads(conn: Connection) -> None:
    """Take the lock every writer of articles holds (PostgreSQL; SQLite's BEGIN IMMEDIATE)."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(LOAD_LOCK_KEY)))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # lookups by key only


def cluster_pending(
    engine: Engine,
    clusterer: Clusterer,
    *,
    now: datetime,
    window: timedelta,
    batch: int = 500,
) -> ClusterResult:
    """Give every article without a (current) signature one, and put it in its story.

    Articles are taken oldest first (publication time, else first seen), in batches of
    ``batch``, each batch in one transaction under the load lock, so two workers never
    decide at once and each decision sees every committed signature. An article joins the
    cluster of its best near-duplicate published within ``window`` of it (among stored
    signatures and the batch's own), else its own cluster stays. Each touched cluster's
    representative is its earliest article (publication time, else first seen; then id).
    An article whose signature is of an older version is re-signed and keeps its cluster.
    """
    signed = joined = 0
    while True:
        with transaction(engine) as conn:
            lock_loads(conn)
            done, moved = _cluster_batch(conn, clusterer, now=now, window=window, batch=batch)
        signed, joined = signed + done, joined + moved
        if done < batch:
            return ClusterResult(signed=signed, joined=joined)


_AT = func.coalesce(articles.c.published_at, articles.c.first_seen_at)


def _cluster_batch(
    conn: Connection, clusterer: Clusterer, *, now: datetime, window: timedelta, batch: int
) -> tuple[int, int]:
    sig = article_signatures.c
    rows = conn.execute(
        select(
            articles.c.article_id,
            articles.c.title,
            articles.c.body,
            articles.c.cluster_id,
            _AT.label("at"),
            sig.article_id.label("signed_id"),
        )
        .outerjoin(article_signatures, sig.article_id == articles.c.article_id)
        .where(or_(sig.article_id.is_(None), sig.signature_version != clusterer.version))
        .order_by(_AT, articles.c.article_id)
        .limit(batch)
    ).all()
    if not rows:
        return 0, 0
    resigned = [r.article_id for r in rows if r.signed_id is not None]
    for chunk in _chunks(resigned, WRITE_CHUNK):
        conn.execute(delete(signature_bands).where(signature_bands.c.article_id.in_(chunk)))
        conn.execute(delete(article_signatures).where(sig.article_id.in_(chunk)))
    local: dict[tuple[int, int], list[tuple[str, SignatureRecord, str, datetime]]] = {}
    new_sigs: list[dict[str, Any]] = []
    new_bands: list[dict[str, Any]] = []
    moves: dict[str, str] = {}
    for row in rows:
        record = clusterer.sign(row.title, row.body)
        cluster = row.cluster_id
        if row.signed_id is None:  # a re-signed article keeps its cluster
            found = _stored_candidates(conn, record, row.article_id, row.at, window)
            for key in record.bands:
                found += [
                    (aid, rec, cl) for aid, rec, cl, at in local.get(key, ())
                    if abs(at - row.at) <= window
                ]  # fmt: skip
            unique = list({aid: (aid, rec, cl) for aid, rec, cl in found}.values())
            best = clusterer.best_match(record, [rec for _, rec, _ in unique])
            if best is not None:
                cluster = unique[best][2]
                if cluster != row.cluster_id:
                    moves[row.article_id] = cluster
        for key in record.bands:
            local.setdefault(key, []).append((row.article_id, record, cluster, row.at))
            new_bands.append(
                {"band": key[0], "band_key": key[1], "article_id": row.article_id, "at": row.at}
            )
        new_sigs.append({
            "article_id": row.article_id, "signature_version": clusterer.version,
            "signature": record.data, "shingle_count": record.shingle_count,
            "title_key": record.title_key, "at": row.at, "clustered_at": now,
        })  # fmt: skip
    conn.execute(article_signatures.insert(), new_sigs)
    for chunk in _chunks(new_bands, WRITE_CHUNK * 8):
        conn.execute(signature_bands.insert(), list(chunk))
    _move_to_clusters(conn, moves)
    return len(rows), len(moves)


def _stored_candidates(
    conn: Connection, record: SignatureRecord, article_id: str, at: datetime, window: timedelta
) -> list[tuple[str, SignatureRecord, str]]:
    """Stored articles sharing a band with ``record``, within ``window`` of ``at``."""
    if not record.bands:
        return []
    bands, sig = signature_bands.c, article_signatures.c
    # Two steps, and the bands as ORed equalities rather than a row-value IN: that way
    # both backends probe the band index once per band (with a join or IN (VALUES ...)
    # SQLite's planner scanned instead: cost grew linearly, 300 ms per article at 50k).
    ids = conn.execute(
        select(bands.article_id)
        .where(or_(*(and_(bands.band == b, bands.band_key == k) for b, k in record.bands)))
        .where(bands.at.between(at - window, at + window), bands.article_id != article_id)
        .distinct()
    ).scalars().all()  # fmt: skip
    if not ids:
        return []
    query = (
        select(
            sig.article_id, sig.signature, sig.shingle_count, sig.title_key, articles.c.cluster_id
        )
        .join(articles, articles.c.article_id == sig.article_id)
        .where(sig.article_id.in_(sorted(ids)))
    )
    return [
        (r.article_id, SignatureRecord(r.signature, r.shingle_count, r.title_key, ()), r.cluster_id)
        for r in conn.execute(query)
    ]


def _move_to_clusters(conn: Connection, moves: Mapping[str, str]) -> None:
    """Set the clusters of moved articles; re-elect the touched clusters' representatives."""
    if not moves:
        return
    conn.execute(
        update(articles)
        .where(articles.c.article_id == bindparam("b_id"))
        .values(cluster_id=bindparam("b_cluster")),
        [{"b_id": aid, "b_cluster": cl} for aid, cl in sorted(moves.items())],
    )
    elect_representatives(conn, set(moves.values()))


def elect_representatives(conn: Connection, clusters: Iterable[str]) -> None:
    """Make each cluster's earliest article its one representative.

    Earliest: publication time, else first seen; ties by ``article_id``.
    """
    for cluster in sorted(set(clusters)):
        first = conn.execute(
            select(articles.c.article_id)
            .where(articles.c.cluster_id == cluster)
            .order_by(_AT, articles.c.article_id)
            .limit(1)
        ).scalar_one()
        conn.execute(
            update(articles)
            .where(articles.c.cluster_id == cluster)
            .values(is_representative=articles.c.article_id == first)
        )


_Link = tuple[str, EntryState, str | None, str | None, str | None]


def _link_key(link: _Link) -> tuple[str, str]:
    return (link[0], link[1].value)


def _links(accepted: Sequence[tuple[str, Article]], verdict: DedupeResult) -> list[_Link]:
    """Which queue URL becomes which article (stored, or a duplicate of another)."""
    unique_ids = {id(a) for a in verdict.unique}
    duplicate_of = {id(d.article): d for d in verdict.duplicates}
    links: list[_Link] = []
    for queue_url, article in accepted:
        if id(article) in unique_ids:
            links.append((queue_url, EntryState.STORED, article.article_id, None, None))
        else:
            dup = duplicate_of[id(article)]
            links.append((queue_url, EntryState.DUPLICATE, dup.of_article_id, dup.kind.value, None))
    return links


def _validated(
    staged: Sequence[tuple[str, Article]],
) -> tuple[list[tuple[str, Article]], list[_Link]]:
    """Clean every text field; reject (with a reason) a row that still cannot be stored."""
    accepted: list[tuple[str, Article]] = []
    rejected: list[_Link] = []
    for queue_url, article in staged:
        problem = _row_problem(article)
        if problem:
            log.warning("article %s rejected: %s", article.article_id, problem)
            rejected.append((queue_url, EntryState.FAILED, None, None, f"rejected_row: {problem}"))
            continue
        accepted.append((queue_url, _storable(article)))
    return accepted, rejected


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(Article) if "str" in str(f.type))


def _unstorable(value: str) -> bool:
    # Fast path: ASCII without NUL is always storable; only then run the regex.
    return "\x00" in value or (not value.isascii() and _UNSTORABLE.search(value) is not None)


def _storable(article: Article) -> Article:
    """NUL bytes and lone surrogates out of every text field (PostgreSQL rejects them)."""
    texts = [getattr(article, name) for name in _TEXT_FIELDS]
    flat = "\n".join(t if isinstance(t, str) else "\n".join(t) for t in texts if t)
    if not _unstorable(flat):  # the common case: one check for the whole row
        return article
    changes: dict[str, Any] = {}
    for name in _TEXT_FIELDS:
        value = getattr(article, name)
        if isinstance(value, str) and _unstorable(value):
            changes[name] = _UNSTORABLE.sub("", value)
        elif isinstance(value, tuple) and any(_unstorable(v) for v in value):
            changes[name] = tuple(_UNSTORABLE.sub("", v) for v in value)
    return dataclasses.replace(article, **changes) if changes else article


MAX_STORED_BODY_CHARS = 5_000_000
MAX_STORED_FIELD_CHARS = 100_000


def _row_problem(article: Article) -> str | None:  # noqa: PLR0911 - a checklist
    if not article.canonical_url.startswith(("http://", "https://")):
        return "canonical URL is not http(s)"
    if len(article.canonical_url) > MAX_STORED_FIELD_CHARS:
        return "canonical URL too long"
    if not article.body.strip():
        return "empty body"
    if len(article.body) > MAX_STORED_BODY_CHARS:
        return f"body of {len(article.body)} characters exceeds {MAX_STORED_BODY_CHARS}"
    if article.title and len(article.title) > MAX_STORED_FIELD_CHARS:
        return f"title of {len(article.title)} characters exceeds {MAX_STORED_FIELD_CHARS}"
    for name in ("published_at", "updated_at", "fetched_at", "extracted_at"):
        value = getattr(article, name)
        if value is not None and value.tzinfo is None:
            return f"{name} has no time zone"
    return None


def _known_content(conn: Connection, batch: Sequence[Article]) -> dict[str, str]:
    """Stored ``content_hash -> article_id`` (earliest stored first) for a batch."""
    content: dict[str, str] = {}
    hashes = sorted({a.content_hash for a in batch})
    if conn.dialect.name == "postgresql":  # one array parameter instead of IN lists
        for content_hash_, article_id in conn.execute(
            text(
                "SELECT content_hash, article_id FROM articles WHERE content_hash = ANY(:hashes)"
                " ORDER BY first_seen_at, article_id"
            ),
            {"hashes": hashes},
        ).all():
            content.setdefault(content_hash_, article_id)
        return content
    for chunk in _chunks(hashes, WRITE_CHUNK):
        for content_hash_, article_id in conn.execute(
            select(articles.c.content_hash, articles.c.article_id)
            .where(articles.c.content_hash.in_(chunk))
            .order_by(articles.c.first_seen_at, articles.c.article_id)
        ).all():
            content.setdefault(content_hash_, article_id)
    return content


_KEEP_ON_UPDATE = ("article_id", "first_seen_at", "cluster_id", "is_representative")
_JSON_COLUMNS = frozenset(c.name for c in articles.c if c.name in ("authors", "tags"))


def _copy_rows(
    conn: Connection, table: str, rows: Sequence[dict[str, Any]], progress: Callable[[int], None]
) -> None:
    """COPY rows into a table, a chunk per statement (so a fault hook can run in between)."""
    columns = list(rows[0])
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    for chunk in _chunks(rows, WRITE_CHUNK):
        with cursor.copy(copy_sql) as copy:
            for row in chunk:
                copy.write_row(
                    [json.dumps(row[c]) if c in _JSON_COLUMNS else row[c] for c in columns]
                )
        progress(len(chunk))


def _pg_write(
    conn: Connection,
    new: Sequence[dict[str, Any]],
    changed: Sequence[dict[str, Any]],
    progress: Callable[[int], None],
) -> None:
    """PostgreSQL: COPY new rows straight in; changed rows via a temporary table + upsert.

    New rows can be COPYed into ``articles`` directly because the load holds the advisory
    lock every writer of ``articles`` takes, and their keys were just checked absent.
    """
    if new:
        _copy_rows(conn, "articles", new, progress)
    if not changed:
        return
    columns = list(changed[0])
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE articles_load (LIKE articles INCLUDING DEFAULTS) ON COMMIT DROP"
    )
    _copy_rows(conn, "articles_load", changed, progress)
    staged = sa_table("articles_load", *(sa_column(c) for c in columns))
    stmt = postgresql.insert(articles).from_select(
        columns, select(*(staged.c[c] for c in columns)).order_by(staged.c.article_id)
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["article_id"],
            set_={c: stmt.excluded[c] for c in columns if c not in _KEEP_ON_UPDATE},
            where=or_(*(articles.c[c].is_distinct_from(stmt.excluded[c]) for c in CONTENT_COLUMNS)),
        )
    )


def _upsert(
    conn: Connection,
    unique: Sequence[Article],
    run_id: str,
    now: datetime,
    fault: FaultHook | None,
) -> tuple[int, int, int]:
    """Write new and changed articles in key order; return (inserted, updated, unchanged)."""
    batch = sorted(unique, key=lambda a: a.article_id)
    stored = _stored_versions(conn, [a.article_id for a in batch])
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged = 0
    for article in batch:
        values = _article_row(article, run_id, now)
        old = stored.get(article.article_id)
        if old is None:
            new.append(values)
        elif all(_same(getattr(old, c), values[c]) for c in CONTENT_COLUMNS):
            unchanged += 1
        else:
            changed.append(values)
    written = 0

    def progress(rows: int) -> None:
        nonlocal written
        written += rows
        if fault is not None:
            fault(conn, written)

    if conn.dialect.name == "postgresql":
        _pg_write(conn, new, changed, progress)
    elif new or changed:
        _executemany_upsert(conn, sorted([*new, *changed], key=lambda r: r["article_id"]), progress)
    return len(new), len(changed), unchanged


def _stored_versions(conn: Connection, ids: Sequence[str]) -> dict[str, Any]:
    """The content columns of the stored articles among ``ids``."""
    columns = select(articles.c.article_id, *(articles.c[c] for c in CONTENT_COLUMNS))
    if conn.dialect.name == "postgresql":  # one array parameter instead of IN lists
        query = columns.where(
            articles.c.article_id == func.any(bindparam("ids", type_=ARRAY(String)))
        )
        return {row.article_id: row for row in conn.execute(query, {"ids": list(ids)})}
    stored: dict[str, Any] = {}
    for chunk in _chunks(ids, WRITE_CHUNK):
        for row in conn.execute(columns.where(articles.c.article_id.in_(chunk))):
            stored[row.article_id] = row
    return stored


def _executemany_upsert(
    conn: Connection, rows: Sequence[dict[str, Any]], progress: Callable[[int], None]
) -> None:
    stmt = _insert(conn, articles)
    upsert = stmt.on_conflict_do_update(
        index_elements=["article_id"],
        set_={c: stmt.excluded[c] for c in rows[0] if c not in _KEEP_ON_UPDATE},
        where=or_(*(articles.c[c].is_distinct_from(stmt.excluded[c]) for c in CONTENT_COLUMNS)),
    )
    for chunk in _chunks(rows, WRITE_CHUNK):
        conn.execute(upsert, list(chunk))  # executemany: compiled once
        progress(len(chunk))


def _same(old: Any, new: Any) -> bool:  # noqa: ANN401 - column values
    if isinstance(new, tuple):
        new = list(new)
    return bool(old == new)


def _article_row(article: Article, run_id: str, now: datetime) -> dict[str, Any]:
    return {
        "article_id": article.article_id,
        "canonical_url": article.canonical_url,
        "url": article.url,
        "final_url": article.final_url,
        "source": article.source,
        "feed_key": article.feed_key,
        "guid": article.guid,
        "title": article.title,
        "body": article.body,
        "description": article.description,
        "authors": list(article.authors),
        "language": article.language,
        "published_at": article.published_at,
        "updated_at": article.updated_at,
        "site_name": article.site_name,
        "tags": list(article.tags),
        "image_url": article.image_url,
        "word_count": article.word_count,
        "content_hash": article.content_hash,
        "raw_hash": article.raw_hash,
        "raw_content_type": article.raw_content_type,
        "cluster_id": article.article_id,
        "is_representative": True,
        "first_seen_at": now,
        "last_seen_at": now,
        "fetched_at": article.fetched_at,
        "extracted_at": article.extracted_at,
        "extractor_version": article.extractor_version,
        "pipeline_version": article.pipeline_version,
        "url_rules_version": article.url_rules_version,
        "last_run_id": run_id,
    }


def _link_entries(conn: Connection, links: Sequence[_Link], run_id: str) -> None:
    """Point the pending feed entries of each queue URL at their article (or failure)."""
    if not links:
        return
    stmt = (
        update(feed_entries)
        .where(
            feed_entries.c.canonical_url == bindparam("b_queue_url"),
            feed_entries.c.state == EntryState.PENDING.value,
        )
        .values(
            state=bindparam("b_state"),
            article_id=bindparam("b_article_id"),
            duplicate_kind=bindparam("b_kind"),
            last_error=bindparam("b_error"),
            last_error_detail=bindparam("b_detail"),
            last_run_id=run_id,
        )
    )
    params = [
        {
            "b_queue_url": queue_url,
            "b_state": state.value,
            "b_article_id": article_id,
            "b_kind": kind,
            "b_error": error.split(":", 1)[0] if error else None,
            "b_detail": error,
        }
        for queue_url, state, article_id, kind, error in links
    ]
    if conn.dialect.name == "postgresql":  # one set-based UPDATE from arrays
        keys = ("b_queue_url", "b_state", "b_article_id", "b_kind", "b_error", "b_detail")
        conn.execute(
            text(
                "UPDATE feed_entries f SET state = v.state, article_id = v.article_id,"
                " duplicate_kind = v.kind, last_error = v.error, last_error_detail = v.detail,"
                " last_run_id = :run_id"
                " FROM unnest(CAST(:q AS text[]), CAST(:s AS text[]), CAST(:a AS text[]),"
                " CAST(:k AS text[]), CAST(:e AS text[]), CAST(:d AS text[]))"
                " AS v(queue_url, state, article_id, kind, error, detail)"
                " WHERE f.canonical_url = v.queue_url AND f.state = :pending"
            ),
            {
                "run_id": run_id,
                "pending": EntryState.PENDING.value,
                **{
                    name: [p[key] for p in params] for name, key in zip("qsaked", keys, strict=True)
                },
            },
        )
        return
    for chunk in _chunks(params, WRITE_CHUNK):
        conn.execute(stmt, list(chunk))


# --------------------------------------------------------------------------- reads


def counts(engine: Engine) -> dict[str, Any]:
    """Table-level numbers for ``ingest stats`` and the demo summary."""
    with reading(engine) as conn:
        states: dict[str, int] = dict(
            conn.execute(
                select(feed_entries.c.state, func.count()).group_by(feed_entries.c.state)
            ).all()
        )
        failures: dict[str, int] = dict(
            conn.execute(
                select(feed_entries.c.last_error, func.count())
                .where(feed_entries.c.state == EntryState.FAILED.value)
                .group_by(feed_entries.c.last_error)
            ).all()
        )
        broken_feeds = dict(
            conn.execute(
                select(feeds.c.feed_key, feeds.c.last_error).where(feeds.c.consecutive_failures > 0)
            ).all()
        )
        return {
            "feeds": conn.execute(select(func.count()).select_from(feeds)).scalar_one(),
            "articles": conn.execute(select(func.count()).select_from(articles)).scalar_one(),
            "sources": conn.execute(select(func.count(articles.c.source.distinct()))).scalar_one(),
            "entries": states,
            "entry_failures": failures,
            "failing_feeds": broken_feeds,
            "runs": conn.execute(select(func.count()).select_from(load_ledger)).scalar_one(),
        }


def run_report(engine: Engine, run_id: str) -> dict[str, Any]:
    """What one run did: its ledger row and its failures by reason."""
    with reading(engine) as conn:
        ledger = conn.execute(select(load_ledger).where(load_ledger.c.run_id == run_id)).first()
        reasons: dict[str, int] = dict(
            conn.execute(
                select(fetch_log.c.reason, func.count())
                .where(fetch_log.c.run_id == run_id, fetch_log.c.reason.is_not(None))
                .group_by(fetch_log.c.reason)
                .order_by(fetch_log.c.reason)
            ).all()
        )
    return {"ledger": dict(ledger._mapping) if ledger else None, "failures": reasons}  # noqa: SLF001 - public Row API


def latest_articles(engine: Engine, limit: int = 5) -> list[dict[str, Any]]:
    """The most recently published stored articles (for summaries)."""
    query = (
        select(
            articles.c.article_id,
            articles.c.source,
            articles.c.title,
            articles.c.published_at,
            articles.c.word_count,
            articles.c.authors,
            articles.c.canonical_url,
            articles.c.body,
        )
        .order_by(articles.c.published_at.desc().nulls_last(), articles.c.article_id)
        .limit(limit)
    )
    with reading(engine) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]  # noqa: SLF001 - public Row API


def captured_between(
    engine: Engine, start: datetime, end: datetime, *, batch: int = 500
) -> Iterator[list[tuple[PageJob, str, str, str | None, datetime]]]:
    """Stored articles fetched in ``[start, end)`` with an archived page, in batches.

    Each item is ``(job, final_url, raw_hash, raw_content_type, fetched_at)``; batches
    follow ``(fetched_at, article_id)`` order, so the whole interval is covered.
    """
    after: tuple[datetime, str] | None = None
    while True:
        query = (
            select(articles)
            .where(articles.c.fetched_at >= start, articles.c.fetched_at < end)
            .where(articles.c.raw_hash.is_not(None))
            .order_by(articles.c.fetched_at, articles.c.article_id)
            .limit(batch)
        )
        if after is not None:
            query = query.where(
                or_(
                    articles.c.fetched_at > after[0],
                    (articles.c.fetched_at == after[0]) & (articles.c.article_id > after[1]),
                )
            )
        with reading(engine) as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        yield [
            (
                PageJob(
                    entry_id="",
                    feed_key=row.feed_key or "",
                    guid=row.guid or "",
                    link=row.url,
                    canonical_url=row.canonical_url,
                    title=None,
                    published=row.published_at,
                ),
                row.final_url,
                row.raw_hash,
                row.raw_content_type,
                row.fetched_at,
            )
            for row in rows
        ]
        after = (rows[-1].fetched_at, rows[-1].article_id)
