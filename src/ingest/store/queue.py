"""The work queue: feed entries waiting for their page, the hosts that serve them, and jobs.

An entry is queued once per (feed, guid, canonical URL). A page job is one pending
canonical URL, however many entries list it. :func:`save_pages` records a batch of page
outcomes in one transaction: articles staged, failures counted against attempts,
redirected pages re-queued under their new host, host states and the fetch log.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, literal, null, or_, select, update

from ingest.models import (
    EntryState,
    FeedEntry,
    HostState,
    PageJob,
    RawRef,
    Reason,
    SourceKind,
    SourceRef,
)
from ingest.outcomes import (
    FetchRecord,
    PageExtracted,
    PageFailed,
    PageMoved,
    PageOutcome,
    QueuedEntry,
)
from ingest.store import archives, dialects, leases, staging
from ingest.store.engine import reading, transaction
from ingest.store.schema import archive_records, articles, feed_entries, hosts
from ingest.urls import RULES_VERSION, entry_id_for, host_of

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

_HOST_FIELDS = leases.HOST_FIELDS


# --------------------------------------------------------------------------- entries


def known_entry_ids(engine: Engine, entry_ids: Sequence[str]) -> set[str]:
    """Which of these entries are queued already."""
    query = select(feed_entries.c.entry_id)
    with reading(engine) as conn:
        rows = dialects.of(conn).rows_where_in(conn, query, feed_entries.c.entry_id, entry_ids)
    return {row.entry_id for row in rows}


def articles_by_url(conn: Connection, urls: Sequence[str]) -> dict[str, str]:
    """``canonical_url -> article_id`` of the stored articles among ``urls``."""
    query = select(articles.c.canonical_url, articles.c.article_id)
    rows = dialects.of(conn).rows_where_in(conn, query, articles.c.canonical_url, sorted(urls))
    return {row.canonical_url: row.article_id for row in rows}


def insert_entries(
    conn: Connection, feed_key: str, entries: Sequence[QueuedEntry], *, run_id: str, now: datetime
) -> int:
    """Queue a feed's entries; an entry seen before only gets ``last_seen_at``.

    (And a feed's own listing of an entry a backfill queued first makes it the feed's:
    live runs fetch it.)

    A new entry whose canonical URL is already a stored article is linked to it at once
    (state ``known``) and never fetched; otherwise it waits in state ``pending``. Returns
    how many entries were new.
    """
    if not entries:
        return 0
    by_id = {e.entry_id: e for e in entries}
    existing = {
        row.entry_id
        for row in dialects.of(conn).rows_where_in(
            conn, select(feed_entries.c.entry_id), feed_entries.c.entry_id, list(by_id)
        )
    }
    known = articles_by_url(conn, [e.canonical_url for i, e in by_id.items() if i not in existing])
    dialect = dialects.of(conn)
    rows: list[dict[str, Any]] = []
    for entry_id in sorted(by_id):
        queued = by_id[entry_id]
        if entry_id in existing:
            seen: dict[str, Any] = {"last_seen_at": now}
            if queued.source is None or queued.source.kind is SourceKind.FEED:
                seen.update(_taken_over(feed_key, now))
            conn.execute(
                update(feed_entries).where(feed_entries.c.entry_id == entry_id).values(**seen)
            )
            continue
        entry, url = queued.entry, queued.canonical_url
        article_id = known.get(url)
        source = queued.source or SourceRef(SourceKind.FEED, feed_key)
        rows.append({
            "source_kind": source.kind.value, "source_key": source.key,
            "entry_id": entry_id, "feed_key": feed_key, "guid": entry.guid, "link": entry.link,
            "canonical_url": url, "host": host_of(url), "title": entry.title,
            "published_at": entry.published, "entry_updated_at": entry.updated,
            "first_seen_at": now, "last_seen_at": now,
            "state": (EntryState.KNOWN if article_id else EntryState.PENDING).value,
            "attempts": 0, "article_id": article_id, "last_run_id": run_id,
            "url_rules_version": RULES_VERSION,
        })  # fmt: skip
    if not rows:
        return 0
    # One statement for all of them, its rows sent in batches (SQLAlchemy's "insert many
    # values"): built and run once per entry, the insert cost 0.7 ms an entry, most of a
    # poll's time. RETURNING, not rowcount: psycopg reports -1 for an upsert's rowcount;
    # an entry another run inserted meanwhile returns no row.
    stmt = (
        dialect.insert(feed_entries)
        .on_conflict_do_nothing(index_elements=["entry_id"])
        .returning(feed_entries.c.entry_id)
    )
    return len(conn.execute(stmt, rows).all())


def _taken_over(feed_key: str, now: datetime) -> dict[str, Any]:
    """A feed listing an entry a backfill queued first: it becomes the feed's, afresh.

    Listed by the feed now (``first_seen_at``: the lag counts from here), and a failure
    of the backfill's (a capture's consent page, a lead's fetch) is forgotten: a live run
    fetches it with all its attempts. An entry the feed already had is left as it is.
    """
    e = feed_entries.c
    backfilled = e.source_kind != SourceKind.FEED.value
    failed = and_(backfilled, e.state == EntryState.FAILED.value)
    return {
        "source_kind": SourceKind.FEED.value, "source_key": feed_key,
        "first_seen_at": case((backfilled, now), else_=e.first_seen_at),
        "state": case((failed, EntryState.PENDING.value), else_=e.state),
        "attempts": case((failed, 0), else_=e.attempts),
        "last_error": case((failed, null()), else_=e.last_error),
        "last_error_detail": case((failed, null()), else_=e.last_error_detail),
    }  # fmt: skip


def insert_refused(
    conn: Connection,
    feed_key: str,
    refused: Sequence[tuple[FeedEntry, str]],
    *,
    run_id: str,
    now: datetime,
    source: SourceRef | None = None,
) -> None:
    """Keep entries whose link we refuse (bad scheme, too long) as failed, with the reason.

    The first time a link is refused it is also a fetch-log line of ``kind`` ``entry`` (a
    request we would not make), so that the failures the dashboard and ``ingest stats``
    count include it; a feed that lists it again adds nothing. ``source``: what listed
    them, when not the feed itself.
    """
    dialect = dialects.of(conn)
    source = source or SourceRef(SourceKind.FEED, feed_key)
    lines = []
    for entry, reason in refused:
        stmt = dialect.insert(feed_entries).values(
            entry_id=entry_id_for(feed_key, entry.guid, entry.link), feed_key=feed_key,
            source_kind=source.kind.value, source_key=source.key, guid=entry.guid, link=entry.link[:4096], canonical_url=entry.link[:4096],
            host=host_of(entry.link)[:255], title=entry.title, published_at=entry.published,
            entry_updated_at=entry.updated, first_seen_at=now, last_seen_at=now,
            state=EntryState.FAILED.value, attempts=0, last_error=reason, last_run_id=run_id,
            url_rules_version=RULES_VERSION,
        )  # fmt: skip
        stmt = stmt.on_conflict_do_nothing(index_elements=["entry_id"])
        # RETURNING, not rowcount: psycopg reports -1 for this statement
        if conn.execute(stmt.returning(feed_entries.c.entry_id)).first() is not None:
            record = FetchRecord.refused(
                "entry", entry.link, Reason(reason), f"link refused: {reason}", now
            )
            lines.append((record, feed_key))
    staging.append_fetches(conn, run_id, lines)


# --------------------------------------------------------------------------- hosts


def pending_hosts(
    engine: Engine,
    *,
    max_attempts: int,
    at: datetime | None = None,
    feeds: Sequence[str] | None = None,
    sources: Sequence[SourceKind] = (SourceKind.FEED,),
) -> list[tuple[str, int]]:
    """Hosts with pages waiting to be fetched, and how many distinct pages each.

    With ``at``, hosts that asked us to wait (``hosts.next_eligible_at`` after ``at``:
    a Retry-After, an unreachable robots.txt) are left out; their pages stay pending.
    With ``feeds``, only the pages of these feeds' entries count; only the entries listed
    by ``sources`` (the feeds themselves, for a live run: a backfill's leads wait for
    the backfill, which sets its own limits). Entries whose attempts already reach ``max_attempts`` (the setting was lowered) are
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
    query = query.where(feed_entries.c.source_kind.in_([k.value for k in sources]))
    if feeds is not None:
        query = query.where(feed_entries.c.feed_key.in_(list(feeds)))
    if at is not None:
        waiting = select(hosts.c.host).where(hosts.c.next_eligible_at > at)
        query = query.where(feed_entries.c.host.not_in(waiting))
    with reading(engine) as conn:
        return [(host, n) for host, n in conn.execute(query).all()]


def host_states(engine: Engine, names: Sequence[str]) -> dict[str, HostState]:
    """The stored state of these hosts (a host never seen gets an empty state)."""
    states = {name: HostState(host=name) for name in names}
    with reading(engine) as conn:
        for row in dialects.of(conn).rows_where_in(
            conn, select(hosts), hosts.c.host, sorted(states)
        ):
            states[row.host] = HostState(**{f: getattr(row, f) for f in _HOST_FIELDS})
    return states


def _save_host_states(
    conn: Connection, states: Sequence[HostState], now: datetime, token: str | None
) -> None:
    """Upsert finished hosts' states and free their leases (in host order: no deadlock).

    With a crawl's ``token``, only hosts it still holds are written: one whose lease
    another crawl took since (ours expired) keeps that crawl's state, held or freed. The
    stored ``last_request_at`` is never moved back.
    """
    if not states:
        return
    rows = [
        {**{f: getattr(s, f) for f in _HOST_FIELDS}, "updated_at": now,
         "lease_owner": None, "lease_until": None}
        for s in sorted(states, key=lambda s: s.host)
    ]  # fmt: skip
    stmt = dialects.of(conn).insert(hosts)
    ours = hosts.c.lease_owner.is_(None) if token is None else hosts.c.lease_owner == token
    latest = case(
        (
            or_(
                hosts.c.last_request_at.is_(None),
                stmt.excluded.last_request_at > hosts.c.last_request_at,
            ),
            stmt.excluded.last_request_at,
        ),
        else_=hosts.c.last_request_at,
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[hosts.c.host],
            set_={
                **{c: stmt.excluded[c] for c in rows[0] if c not in ("host", "last_request_at")},
                "last_request_at": latest,
            },
            where=ours,
        ),
        rows,
    )


# --------------------------------------------------------------------------- jobs


def _job(row: Any) -> PageJob:  # noqa: ANN401 - a Row with the PageJob's columns
    return PageJob(
        entry_id=row.entry_id, feed_key=row.feed_key, guid=row.guid, link=row.link,
        canonical_url=row.canonical_url, title=row.title, published=row.published_at,
        updated=row.entry_updated_at,
    )  # fmt: skip


def pending_jobs(
    engine: Engine,
    *,
    limit: int,
    max_attempts: int,
    hosts: Sequence[str] | None = None,
    run_id: str | None = None,
    now: datetime | None = None,
    feeds: Sequence[str] | None = None,
    sources: Sequence[SourceKind] = (SourceKind.FEED,),
) -> list[PageJob]:
    """One page job per pending canonical URL, oldest first, at most ``limit``.

    The job is the URL's earliest pending entry (a redirected entry's ``link`` is its
    new URL), wherever it is: with ``hosts``, URLs with an entry on one of them are
    looked at, and the caller keeps the jobs whose link is on its hosts, so a page with
    entries on two hosts is one shard's job. With ``run_id`` and ``now``, pages another
    run holds (:mod:`ingest.store.leases`, theirs until their load) and pages this run
    has staged already are left out. With ``feeds``, only URLs listed by these feeds;
    only URLs listed by ``sources`` (see :func:`pending_hosts`).
    """
    entries = feed_entries.c
    oldest = (
        select(entries.canonical_url, func.min(entries.first_seen_at).label("first_seen"))
        .where(entries.state == EntryState.PENDING.value, entries.attempts < max_attempts)
        .group_by(entries.canonical_url)
        .order_by("first_seen", entries.canonical_url)
        .limit(limit)
    )
    if run_id is not None and now is not None:
        oldest = oldest.where(
            entries.canonical_url.not_in(leases.held_by_others(run_id, now)),
            entries.canonical_url.not_in(staging.queue_urls(run_id)),  # fetched already
        )
    if hosts is not None:
        oldest = oldest.where(entries.host.in_(list(hosts)))
    if feeds is not None:
        oldest = oldest.where(entries.feed_key.in_(list(feeds)))
    kinds = [k.value for k in sources]
    oldest = oldest.where(entries.source_kind.in_(kinds))
    candidates = select(feed_entries).where(
        entries.state == EntryState.PENDING.value, entries.source_kind.in_(kinds)
    )
    with reading(engine) as conn:
        urls = [row.canonical_url for row in conn.execute(oldest)]
        rows = dialects.of(conn).rows_where_in(conn, candidates, entries.canonical_url, urls)
    jobs: dict[str, PageJob] = {}
    for row in sorted(rows, key=lambda r: (r.first_seen_at, r.entry_id)):
        jobs.setdefault(row.canonical_url, _job(row))
    return [jobs[url] for url in urls if url in jobs]


def retry_failed(engine: Engine, feeds: Sequence[str] | None = None) -> int:
    """Put failed pages (of ``feeds``, or every feed's) back in the queue, attempts reset.

    An operator's "retry failed pages now": the next page plan fetches them again. Their
    hosts' waits (a Retry-After, an unreachable robots.txt) still hold. Returns how many
    entries went back.
    """
    query = (
        update(feed_entries)
        .where(feed_entries.c.state == EntryState.FAILED.value)
        .values(state=EntryState.PENDING.value, attempts=0)
    )
    if feeds is not None:
        query = query.where(feed_entries.c.feed_key.in_(list(feeds)))
    with transaction(engine) as conn:
        return conn.execute(query).rowcount


def captured_between(
    engine: Engine,
    start: datetime,
    end: datetime,
    *,
    batch: int = 500,
    feeds: Sequence[str] | None = None,
) -> Iterator[list[tuple[PageJob, str, str, str | None, datetime, RawRef | None]]]:
    """Stored articles fetched in ``[start, end)`` with an archived page, in batches.

    Each item is ``(job, final_url, raw_hash, raw_content_type, fetched_at, ref)``, ``ref``
    the page's indexed WARC record (None: archived before the index, or not found);
    batches follow ``(fetched_at, article_id)`` order, so the whole interval is covered.
    With ``feeds``, only the articles of these feeds.
    """
    a, r = articles.c, archive_records.c
    columns = (
        literal("").label("entry_id"), func.coalesce(a.feed_key, "").label("feed_key"),
        func.coalesce(a.guid, "").label("guid"), a.url.label("link"), a.canonical_url,
        null().label("title"), a.published_at, null().label("entry_updated_at"), a.final_url,
        a.raw_hash, a.raw_content_type, a.fetched_at, a.article_id,
        r.file.label("archive_file"), r.record_offset, r.record_length,
        r.url.label("archive_url"), r.captured_at.label("archive_captured_at"),
    )  # fmt: skip
    after: tuple[datetime, str] | None = None
    while True:
        query = (
            select(*columns)
            .select_from(articles.outerjoin(archive_records, r.digest == a.raw_hash))
            .where(a.fetched_at >= start, a.fetched_at < end, a.raw_hash.is_not(None))
            .order_by(a.fetched_at, a.article_id)
            .limit(batch)
        )
        if feeds is not None:
            query = query.where(a.feed_key.in_(list(feeds)))
        if after is not None:
            query = query.where(
                or_(a.fetched_at > after[0], (a.fetched_at == after[0]) & (a.article_id > after[1]))
            )
        with reading(engine) as conn:
            rows = conn.execute(query).all()
        if not rows:
            return
        yield [
            (
                _job(row),
                row.final_url,
                row.raw_hash,
                row.raw_content_type,
                row.fetched_at,
                archives.ref_of(row),
            )
            for row in rows
        ]
        after = (rows[-1].fetched_at, rows[-1].article_id)


def save_pages(
    engine: Engine,
    run_id: str,
    pages: Sequence[PageOutcome],
    *,
    max_attempts: int,
    robots: Sequence[FetchRecord] = (),
    hosts_done: Sequence[HostState] = (),
    now: datetime,
    lease: str | None = None,
    page_lease_s: float = 0.0,
    fail_sources: Sequence[SourceKind] | None = None,
) -> None:
    """Record page outcomes (and the robots.txt requests, and finished hosts) at once.

    ``fail_sources``: a failure counts against these sources' entries of the page only
    (a CC-NEWS capture that failed says nothing of the page a live feed listed).

    With the crawl's ``lease`` token (:mod:`ingest.store.leases`): each finished host's
    lease is freed with its final state, every page the run has staged stays its own for
    ``page_lease_s`` more (until its load), and any other page of the batch is let go.
    Rows are written hosts first, then entries, then leases, the order every writer of
    them keeps (so concurrent runs do not deadlock).
    """
    with transaction(engine) as conn:
        _save_host_states(conn, hosts_done, now, lease)
        changes = [p for p in pages if isinstance(p, PageFailed | PageMoved)]
        for change in sorted(changes, key=lambda p: p.job.canonical_url):  # one key order
            if isinstance(change, PageFailed):
                _fail(conn, change, run_id, max_attempts, fail_sources)
            else:
                _move(conn, change, run_id, max_attempts)
        extracted = [p for p in pages if isinstance(p, PageExtracted)]
        staging.stage(
            conn, run_id, [(p.job.canonical_url, p.article) for p in extracted], now,
            signatures=[p.signature for p in extracted],
        )  # fmt: skip
        archives.index(conn, [p.raw for p in pages
                              if isinstance(p, PageExtracted | PageFailed) and p.raw])  # fmt: skip
        records: list[tuple[FetchRecord, str | None]] = [(r, None) for r in robots]
        for page in pages:
            fetch = page.fetch
            if fetch is None and isinstance(page, PageFailed):  # a bug met it before a request
                fetch = FetchRecord.refused("page", page.job.link, page.reason, page.detail, now)
            if fetch is not None:
                records.append((fetch, page.job.feed_key))
        staging.append_fetches(conn, run_id, records)
        if lease is not None:
            leases.keep_staged(conn, run_id, now=now, lease_s=page_lease_s)
            leases.release_pages(
                conn, run_id,
                [p.job.canonical_url for p in pages if not isinstance(p, PageExtracted)],
            )  # fmt: skip
    # A PageDeferred changes nothing in the queue: its host waits (its state says until
    # when), and the page keeps its attempts.


def _fail(
    conn: Connection,
    failure: PageFailed,
    run_id: str,
    max_attempts: int,
    sources: Sequence[SourceKind] | None = None,
) -> None:
    """Count a page failure against its attempts, by what its reason says.

    A soft reason is retried until ``max_attempts``; a hard one is failed now; a bug of
    ours (which uses no attempt) leaves the page pending. With ``sources``, only those
    sources' entries of the page are touched.
    """
    where: tuple[Any, ...] = (
        feed_entries.c.canonical_url == failure.job.canonical_url,
        feed_entries.c.state == EntryState.PENDING.value,
    )
    if sources is not None:
        where = (*where, feed_entries.c.source_kind.in_([k.value for k in sources]))
    reason = failure.reason
    conn.execute(
        update(feed_entries)
        .where(*where)
        .values(
            attempts=feed_entries.c.attempts + int(reason.spends_attempt),
            last_error=reason.value,
            last_error_detail=failure.detail[:500],
            last_run_id=run_id,
        )
    )
    if not reason.retryable:
        conn.execute(update(feed_entries).where(*where).values(state=EntryState.FAILED.value))
    else:
        conn.execute(
            update(feed_entries)
            .where(*where, feed_entries.c.attempts >= max_attempts)
            .values(state=EntryState.FAILED.value)
        )


def _move(conn: Connection, move: PageMoved, run_id: str, max_attempts: int) -> None:
    """Point pending entries at the URL their page redirects to, on another host.

    The page is then fetched by that host's own crawler (its politeness, its robots.txt)
    in a later run. Each move uses an attempt, so redirects that bounce between hosts end
    as ``failed`` after ``max_attempts``.
    """
    where = (
        feed_entries.c.canonical_url == move.job.canonical_url,
        feed_entries.c.state == EntryState.PENDING.value,
    )
    conn.execute(
        update(feed_entries)
        .where(*where)
        .values(
            link=move.target, host=host_of(move.target)[:255],
            attempts=feed_entries.c.attempts + 1,
            last_error=Reason.REDIRECTED_OFFSITE.value,
            last_error_detail=move.target[:500], last_run_id=run_id,
        )
    )  # fmt: skip
    conn.execute(
        update(feed_entries)
        .where(*where, feed_entries.c.attempts >= max_attempts)
        .values(state=EntryState.FAILED.value)
    )


__all__ = [
    "articles_by_url", "captured_between", "host_states", "insert_entries", "insert_refused",
    "known_entry_ids", "pending_hosts", "pending_jobs", "retry_failed", "save_pages",
]  # fmt: skip
