"""Reads for monitoring: the raw numbers :mod:`ingest.monitor` turns into answers.

Each function reads one thing over a time window and returns plain values; none decides
what is healthy. They are shaped to stay fast on a warehouse of millions of articles:
every window is a range on an indexed timestamp (``articles.first_seen_at``,
``fetch_log``'s failure index, ``load_ledger.started_at`` over a small table), every
count is grouped in the database, and every list is bounded by the caller.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, and_, case, distinct, false, func, literal_column, or_, select

from ingest.models import EntryState, Reason, SourceKind
from ingest.store import dialects
from ingest.store.schema import articles, feed_entries, feeds, fetch_log, hosts, load_ledger

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Connection

#: Reasons a feed that *was* read is noted with: warnings, not failures.
WARNINGS = (
    Reason.FEED_RECOVERED, Reason.FEED_TRUNCATED, Reason.DUPLICATE_GUIDS, Reason.BAD_DATES,
    Reason.ENCODING_MISMATCH,
)  # fmt: skip
_WARNING_VALUES = [r.value for r in WARNINGS]


def _failed_lines(since: datetime, run_id: str | None) -> Any:  # noqa: ANN401 - a SQL clause
    # ``reason IS NOT NULL`` first: it is the failure index's own condition.
    # A robots.txt answered 4xx is no failure: it allows every page (RFC 9309 2.3.1.3).
    clause = and_(
        fetch_log.c.reason.is_not(None),
        fetch_log.c.fetched_at >= since,
        fetch_log.c.reason.not_in(_WARNING_VALUES),
        or_(
            fetch_log.c.kind != "robots",
            fetch_log.c.status.is_(None),
            ~fetch_log.c.status.between(400, 499),
        ),
    )
    return clause if run_id is None else and_(clause, fetch_log.c.run_id == run_id)


def feed_rows(conn: Connection) -> list[dict[str, Any]]:
    """Every feed's identity, health columns and schedule."""
    f = feeds.c
    query = select(
        f.feed_key, f.url, f.title, f.enabled, f.broken, f.broken_since,
        f.consecutive_failures, f.failure_kind, f.last_error, f.last_status, f.last_warning,
        f.last_polled_at, f.last_success_at, f.next_due_at, f.poll_interval_s, f.new_per_hour,
        f.last_new_at, f.new_gap_s, f.items_seen, f.items_new, f.created_at,
    ).order_by(f.feed_key)  # fmt: skip
    return [dict(row) for row in conn.execute(query).mappings()]


def stored_by_source(conn: Connection, since: datetime) -> dict[str, int]:
    """Articles first stored since ``since``, per source, the most first."""
    count = func.count().label("n")
    # Grouped by ``source || ''``, not the bare column: SQLite would otherwise walk the
    # whole (source, published_at) index in order, every article ever stored (5.9 s at a
    # million), instead of the window's slice of ix_articles_window (bench_monitor).
    source = articles.c.source.op("||")(literal_column("''")).label("source")
    query = (
        select(source, count)
        .where(articles.c.first_seen_at >= since)
        .group_by(source)
        .order_by(count.desc(), source)
    )
    return {source: int(n) for source, n in conn.execute(query)}


def _per_hour(
    conn: Connection,
    moment: ColumnElement[Any],
    key: ColumnElement[Any],
    where: ColumnElement[bool],
) -> list[tuple[str, Any, int]]:
    """(UTC hour ``YYYY-MM-DD HH``, key, count) of the rows ``where`` selects, by hour."""
    dialect = dialects.of(conn)
    bucket = dialect.hour_bucket(moment)
    grouped = (
        select(bucket.label("bucket"), key.label("key"), func.count().label("n"))
        .where(where)
        .group_by(bucket, key)
        .subquery()
    )
    query = select(dialect.hour_label(grouped.c.bucket), grouped.c.key, grouped.c.n).order_by(
        grouped.c.bucket, grouped.c.key.nulls_last()
    )
    return [(h, k, int(n)) for h, k, n in conn.execute(query)]


def stored_per_hour(
    conn: Connection, since: datetime, sources: Sequence[str]
) -> list[tuple[str, str | None, int]]:
    """Articles first stored since ``since`` per UTC hour (``YYYY-MM-DD HH``) and source.

    Each of ``sources`` is counted apart, every other source together (as None).
    """
    source = case((articles.c.source.in_(list(sources)), articles.c.source), else_=None)
    return _per_hour(conn, articles.c.first_seen_at, source, articles.c.first_seen_at >= since)


def failures_per_hour(
    conn: Connection, since: datetime, run_id: str | None = None
) -> list[tuple[str, str, int]]:
    """Failed requests and items since ``since``: (UTC hour, reason, count)."""
    return _per_hour(conn, fetch_log.c.fetched_at, fetch_log.c.reason, _failed_lines(since, run_id))


def failures(
    conn: Connection,
    since: datetime,
    *,
    limit: int,
    offset: int = 0,
    reason: str | None = None,
    run_id: str | None = None,
) -> list[dict[str, Any]]:
    """Failed lines since ``since``, newest first: time, kind, reason, URL, feed, detail."""
    c = fetch_log.c
    query = select(
        c.id, c.fetched_at, c.kind, c.reason, c.url, c.final_url, c.status, c.feed_key,
        c.detail, c.run_id,
    ).where(_failed_lines(since, run_id))  # fmt: skip
    if reason is not None:
        query = query.where(c.reason == reason)
    query = query.order_by(c.fetched_at.desc(), c.id.desc()).limit(limit).offset(offset)
    return [dict(row._mapping) for row in conn.execute(query)]  # noqa: SLF001 - public Row API


def refused_by_robots(conn: Connection, since: datetime, limit: int) -> list[str]:
    """URLs robots.txt kept us from since ``since`` (newest first, at most ``limit``)."""
    query = (
        select(fetch_log.c.url)
        .where(
            fetch_log.c.reason.is_not(None),
            fetch_log.c.fetched_at >= since,
            fetch_log.c.reason == Reason.ROBOTS_DISALLOWED.value,
        )
        .order_by(fetch_log.c.fetched_at.desc())
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def pending_by_host(conn: Connection, limit: int) -> list[tuple[str, int, datetime]]:
    """The hosts with the most pages waiting: (host, pages, first seen of the oldest)."""
    e = feed_entries.c
    query = (
        select(e.host, func.count(distinct(e.canonical_url)).label("n"), func.min(e.first_seen_at))
        .where(e.state == EntryState.PENDING.value, e.source_kind == SourceKind.FEED.value)
        .group_by(e.host)
        .order_by(func.count(distinct(e.canonical_url)).desc(), e.host)
        .limit(limit)
    )
    return [(host, n, oldest) for host, n, oldest in conn.execute(query)]


def pending_totals(conn: Connection) -> tuple[int, int, datetime | None]:
    """Pages waiting in the live queue, on how many hosts, and when the oldest was first seen.

    The live queue: what feeds listed (a backfill's leads wait for the backfill).
    """
    e = feed_entries.c
    query = select(
        func.count(distinct(e.canonical_url)), func.count(distinct(e.host)),
        func.min(e.first_seen_at),
    ).where(e.state == EntryState.PENDING.value, e.source_kind == SourceKind.FEED.value)  # fmt: skip
    pages, on_hosts, oldest = conn.execute(query).one()
    return pages, on_hosts, oldest


def lag_seconds(conn: Connection, since: datetime) -> tuple[list[float], list[float]]:
    """Seconds to storing, for the articles first stored since ``since`` (each sorted).

    The first list is from the first time a feed listed the article
    (``first_listed_at``), the second from its publication time (where it has one).
    """
    dialect = dialects.of(conn)
    a = articles.c
    seen, published = [], []
    query = select(
        dialect.seconds_between(a.first_seen_at, a.first_listed_at),
        dialect.seconds_between(a.first_seen_at, a.published_at),
    ).where(a.first_seen_at >= since, a.first_listed_at.is_not(None))  # a feed listed it
    for from_listed, from_published in conn.execute(query):
        if from_listed is not None:
            seen.append(float(from_listed))
        if from_published is not None:
            published.append(float(from_published))
    seen.sort()
    published.sort()
    return seen, published


def dedupe_counts(conn: Connection, since: datetime) -> dict[str, int]:
    """Deduplication since ``since``.

    ``exact``: copies skipped at load (same canonical URL or same content), from the
    ledger of loads that started in the window; ``near``: articles stored in the window
    that joined another article's story cluster; ``clusters``: the clusters they joined.
    """
    exact = conn.execute(
        select(func.coalesce(func.sum(load_ledger.c.duplicates), 0)).where(
            load_ledger.c.started_at >= since
        )
    ).scalar_one()
    near, clusters = conn.execute(
        select(func.count(), func.count(distinct(articles.c.cluster_id))).where(
            articles.c.first_seen_at >= since, articles.c.is_representative == false()
        )
    ).one()
    stored = conn.execute(
        select(func.count()).where(articles.c.first_seen_at >= since)
    ).scalar_one()
    return {"exact": int(exact), "near": near, "clusters": clusters, "stored": stored}


def held_hosts(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Hosts held back now: throttled, with a crawl delay, or an unreadable robots.txt."""
    h = hosts.c
    query = (
        select(
            h.host, h.next_eligible_at, h.last_throttle, h.throttled_count, h.crawl_delay_s,
            h.robots_status, h.robots_expires_at,
        )
        .where(
            or_(
                h.next_eligible_at > now,
                h.crawl_delay_s > 0,
                # an unreachable robots.txt holds its host back: 5xx, 429, none at all (0)
                h.robots_status >= 500,  # noqa: PLR2004 - HTTP codes
                h.robots_status.in_([0, 429]),
            )
        )
        .order_by(h.next_eligible_at.desc().nulls_last(), h.host)
        .limit(limit)
    )  # fmt: skip
    return [dict(row._mapping) for row in conn.execute(query)]  # noqa: SLF001 - public Row API


def loads_since(conn: Connection, since: datetime) -> dict[str, int]:
    """What the loads that started since ``since`` counted, summed."""
    c = load_ledger.c
    names: Sequence[str] = (
        "feeds_polled", "feeds_failed", "entries_new", "pages_fetched", "pages_failed",
        "inserted", "updated", "duplicates",
    )  # fmt: skip
    row = conn.execute(
        select(func.count(), *(func.coalesce(func.sum(c[n]), 0) for n in names)).where(
            c.started_at >= since
        )
    ).one()
    return {"loads": row[0], **{n: int(v) for n, v in zip(names, row[1:], strict=True)}}


def latest_articles(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The articles stored last, newest first (what a reader checks first)."""
    a = articles.c
    query = (
        select(a.article_id, a.title, a.canonical_url, a.source, a.feed_key, a.first_seen_at,
               a.published_at, a.word_count, a.cluster_id, a.is_representative)
        .order_by(a.first_seen_at.desc(), a.article_id)
        .limit(limit)
    )  # fmt: skip
    return [dict(row) for row in conn.execute(query).mappings()]


def newly_broken_feeds(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """Feeds that turned broken in this run: broken since one of its failed polls."""
    failed = (
        select(fetch_log.c.feed_key, func.min(fetch_log.c.fetched_at).label("first"))
        .where(fetch_log.c.run_id == run_id, fetch_log.c.kind == "feed",
               fetch_log.c.reason.is_not(None), fetch_log.c.feed_key.is_not(None))
        .group_by(fetch_log.c.feed_key)
        .subquery()
    )  # fmt: skip
    query = (
        select(feeds.c.feed_key, feeds.c.last_error, feeds.c.broken_since)
        .join(failed, failed.c.feed_key == feeds.c.feed_key)
        .where(feeds.c.broken.is_(True), feeds.c.broken_since >= failed.c.first)
        .order_by(feeds.c.feed_key)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def last_stored_at(conn: Connection) -> datetime | None:
    """When the newest article a feed listed was first stored (None: none yet).

    History a backfill stored says nothing of whether live runs land articles.
    """
    query = select(func.max(articles.c.first_seen_at)).where(
        articles.c.first_listed_at.is_not(None)
    )
    return conn.execute(query).scalar()


def first_feed_added_at(conn: Connection) -> datetime | None:
    """When the first feed was added (the reference for freshness before any article)."""
    return conn.execute(select(func.min(feeds.c.created_at))).scalar()


def recent_loads(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The latest ledger rows (one per load), newest first."""
    query = select(load_ledger).order_by(load_ledger.c.started_at.desc()).limit(limit)
    return [dict(row) for row in conn.execute(query).mappings()]


def run_loads(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """Every ledger row of one run (a cleared and re-run DAG run loads again), in order."""
    query = (
        select(load_ledger).where(load_ledger.c.run_id == run_id).order_by(load_ledger.c.load_seq)
    )
    return [dict(row) for row in conn.execute(query).mappings()]


def run_requests(conn: Connection, run_id: str) -> dict[str, dict[str, int]]:
    """One run's fetch-log lines by kind: ``{kind: {"ok": n, "failed": n, "warned": n}}``."""
    c = fetch_log.c
    allows = and_(c.kind == "robots", c.status.between(400, 499))  # a 4xx robots.txt: all allowed
    reason = case((allows, None), else_=c.reason)
    query = select(c.kind, reason, func.count()).where(c.run_id == run_id).group_by(c.kind, reason)
    out: dict[str, dict[str, int]] = {}
    for kind, why, n in conn.execute(query):
        counts = out.setdefault(kind, {"ok": 0, "failed": 0, "warned": 0})
        key = "ok" if why is None else "warned" if why in _WARNING_VALUES else "failed"
        counts[key] += n
    return out


__all__ = [
    "WARNINGS", "dedupe_counts", "failures", "failures_per_hour", "feed_rows", "held_hosts",
    "lag_seconds", "loads_since", "pending_by_host", "pending_totals", "recent_loads",
    "refused_by_robots", "run_loads", "run_requests", "stored_by_source", "stored_per_hour",
]  # fmt: skip
