"""Article loads: a run's staged articles deduplicated and upserted, with its ledger row.

One transaction per load, holding the writer lock, so dedupe decisions see every
committed article and two loaders never race. New articles are inserted; stored ones
are rewritten only when a content column changed (``first_seen_at`` is kept); unchanged
ones are not written. A row that cannot be stored is rejected alone, with its reason on
its feed entries. The run's staged rows are the idempotency token: they are deleted in
the same transaction.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, func, select, update

from ingest import PIPELINE_VERSION
from ingest.logs import get_logger
from ingest.models import Article, DedupeResult, EntryState, LoadResult, SourceKind
from ingest.store import dialects, leases, rows
from ingest.store.clusters import requeue_times
from ingest.store.dialects import Link
from ingest.store.engine import locked
from ingest.store.schema import (
    article_staging,
    articles,
    cluster_queue,
    feed_entries,
    load_ledger,
)
from ingest.store.staging import signature_key

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

log = get_logger(__name__)

#: The counters of a run the ledger keeps (other keys of ``counters`` are ignored), and
#: the column each goes to.
LEDGER_COLUMNS = {
    "feeds_polled": "feeds_polled", "feeds_failed": "feeds_failed",
    "entries_seen": "entries_seen", "entries_new": "entries_new",
    "pages_fetched": "pages_fetched", "articles_extracted": "pages_extracted",
    "pages_failed": "pages_failed", "pages_deferred": "pages_deferred",
}  # fmt: skip
LEDGER_COUNTERS = tuple(LEDGER_COLUMNS)


class Decide(Protocol):
    """The dedupe decision the composer hands to :func:`load_batch`."""

    def __call__(
        self, candidates: Sequence[Article], *, known_content: Mapping[str, str]
    ) -> DedupeResult:
        """Split candidates into unique articles and duplicates of known ones."""


def load_batch(
    engine: Engine,
    run_id: str,
    staged: Sequence[tuple[str, Article]],
    decide: Decide,
    *,
    now: datetime,
    interval: tuple[datetime | None, datetime | None] = (None, None),
    counters: Mapping[str, int] | None = None,
    failures: Mapping[str, int] | None = None,
    then: Callable[[Connection], None] | None = None,
    signatures: Mapping[str, Mapping[str, Any]] | None = None,
) -> LoadResult:
    """Dedupe and load one run's articles, link their feed entries, write the ledger row.

    ``staged`` pairs each article with the queue URL its page was fetched for. A load with
    nothing staged whose run already has a ledger row (a retry after the commit) writes
    nothing and returns that row; a run loaded again with new staged rows (Airflow's
    *Clear*, a reprocessing backfill) gets another ledger row. ``counters`` and
    ``failures`` are what the run's other steps counted, for the ledger and the result.
    ``then`` writes more in the load's transaction (a backfill's file marked done).
    ``signatures``: those made ahead (:func:`ingest.store.staging.staged_with_signatures`),
    queued with their new articles for the clustering pass.
    """
    counters, failures = counters or {}, dict(failures or {})
    with locked(engine) as conn:
        previous = _latest_ledger(conn, run_id)
        still_staged = conn.execute(
            select(article_staging.c.run_id).where(article_staging.c.run_id == run_id).limit(1)
        ).first()
        if previous is not None and still_staged is None:
            log.info("run %s already loaded; nothing to do", run_id)
            if then is not None:
                then(conn)
            return dataclasses.replace(previous, failures=failures)  # the steps' own counts
        accepted, rejected = _validated(staged)
        candidates = [article for _, article in accepted]
        verdict = decide(candidates, known_content=_known_content(conn, candidates))
        new_ids, updated, unchanged = _upsert(conn, verdict.unique, run_id, now, signatures or {})
        inserted = len(new_ids)
        links = sorted(_links(accepted, verdict) + rejected, key=lambda link: link[:2])
        if links:
            dialects.of(conn).link_entries(conn, links, run_id)
        _note_first_listed(conn, new_ids)
        if rejected:
            failures["rejected_row"] = failures.get("rejected_row", 0) + len(rejected)
        result = LoadResult(
            run_id=run_id, rows_in=len(staged), inserted=inserted, updated=updated,
            skipped=unchanged, duplicates=len(verdict.duplicates), failures=failures,
            rejected=len(rejected),
        )  # fmt: skip
        _write_ledger(conn, result, interval, counters, now=now)
        conn.execute(delete(article_staging).where(article_staging.c.run_id == run_id))
        leases.release_loaded(conn, run_id)  # its pages are stored (or free) now
        if then is not None:
            then(conn)
    log.info(
        "run %s loaded: %d in, %d inserted, %d updated, %d unchanged, %d duplicates, %d rejected",
        run_id, result.rows_in, inserted, updated, unchanged, len(verdict.duplicates),
        len(rejected),
    )  # fmt: skip
    return result


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
        run_id=run_id, rows_in=row.rows_in, inserted=row.inserted, updated=row.updated,
        skipped=row.skipped, already_loaded=True, duplicates=row.duplicates,
        rejected=row.rejected,
    )  # fmt: skip


def _write_ledger(
    conn: Connection,
    result: LoadResult,
    interval: tuple[datetime | None, datetime | None],
    counters: Mapping[str, int],
    *,
    now: datetime,
) -> None:
    seq = conn.execute(
        select(func.coalesce(func.max(load_ledger.c.load_seq), 0)).where(
            load_ledger.c.run_id == result.run_id
        )
    ).scalar_one()
    counts = {column: int(counters.get(name, 0)) for name, column in LEDGER_COLUMNS.items()}
    conn.execute(
        load_ledger.insert().values(
            run_id=result.run_id, load_seq=seq + 1, interval_start=interval[0],
            interval_end=interval[1], **counts, rows_in=result.rows_in,
            inserted=result.inserted, updated=result.updated, skipped=result.skipped,
            duplicates=result.duplicates, rejected=result.rejected, started_at=now,
            finished_at=datetime.now(UTC),
            pipeline_version=PIPELINE_VERSION,
        )
    )  # fmt: skip


def _links(accepted: Sequence[tuple[str, Article]], verdict: DedupeResult) -> list[Link]:
    """Which queue URL becomes which article (stored, or a duplicate of another)."""
    unique_ids = {id(a) for a in verdict.unique}
    duplicate_of = {id(d.article): d for d in verdict.duplicates}
    links: list[Link] = []
    for queue_url, article in accepted:
        if id(article) in unique_ids:
            links.append((queue_url, EntryState.STORED.value, article.article_id, None, None))
        else:
            dup = duplicate_of[id(article)]
            links.append(
                (queue_url, EntryState.DUPLICATE.value, dup.of_article_id, dup.kind.value, None)
            )
    return links


def _validated(
    staged: Sequence[tuple[str, Article]],
) -> tuple[list[tuple[str, Article]], list[Link]]:
    """Clean every text field; reject (with a reason) a row that still cannot be stored."""
    accepted: list[tuple[str, Article]] = []
    rejected: list[Link] = []
    for queue_url, staged_article in staged:
        article = rows.storable(staged_article)  # checked as it would be stored
        problem = rows.row_problem(article)
        if problem:
            log.warning("article %s rejected: %s", article.article_id, problem)
            rejected.append(
                (queue_url, EntryState.FAILED.value, None, None, f"rejected_row: {problem}")
            )
            continue
        accepted.append((queue_url, article))
    return accepted, rejected


def _known_content(conn: Connection, batch: Sequence[Article]) -> dict[str, str]:
    """Stored ``content_hash -> article_id`` (earliest stored first) for a batch."""
    # Every row of one hash comes back in one chunk of the lookup, so the order within
    # each chunk is enough for "earliest stored first".
    query = select(articles.c.content_hash, articles.c.article_id).order_by(
        articles.c.first_seen_at, articles.c.article_id
    )
    found = dialects.of(conn).rows_where_in(
        conn, query, articles.c.content_hash, sorted({a.content_hash for a in batch})
    )
    content: dict[str, str] = {}
    for row in found:
        content.setdefault(row.content_hash, row.article_id)
    return content


def _note_first_listed(conn: Connection, new_ids: Sequence[str]) -> None:
    """Stamp new rows with when a feed first listed them (their entries are linked now).

    Only a feed's own listing counts: an article only a backfill found (a sitemap, a
    CC-NEWS capture) keeps none, and stays out of the live lag and freshness.
    """
    first = (
        select(func.min(feed_entries.c.first_seen_at))
        .where(
            feed_entries.c.article_id == articles.c.article_id,
            feed_entries.c.source_kind == SourceKind.FEED.value,
        )
        .scalar_subquery()
    )
    for chunk in dialects.chunks(new_ids):
        conn.execute(
            update(articles)
            .where(articles.c.article_id.in_(list(chunk)))
            .values(first_listed_at=first)
        )


def _queued(row: Mapping[str, Any], signatures: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """An article row's place in ``cluster_queue``: its time and signature made ahead.

    The time: published, else first seen. The signature: one made of the very title and
    body the row holds (:func:`~ingest.store.staging.signature_key`).
    """
    return {
        "article_id": row["article_id"], "at": row["published_at"] or row["first_seen_at"],
        "signature": signatures.get(signature_key(row["title"], row["body"])) if signatures else None,
    }  # fmt: skip


def _upsert(
    conn: Connection,
    unique: Sequence[Article],
    run_id: str,
    now: datetime,
    signatures: Mapping[str, Mapping[str, Any]],
) -> tuple[list[str], int, int]:
    """Write new and changed articles in key order; return (new ids, updated, unchanged)."""
    batch = sorted(unique, key=lambda a: a.article_id)
    query = select(articles.c.article_id, *(articles.c[c] for c in rows.CONTENT_COLUMNS))
    stored = {
        row.article_id: row
        for row in dialects.of(conn).rows_where_in(
            conn, query, articles.c.article_id, [a.article_id for a in batch]
        )
    }
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    unchanged = 0
    for article in batch:
        values = rows.article_row(article, run_id, now)
        old = stored.get(article.article_id)
        if old is None:
            new.append(values)
        elif all(rows.same_value(getattr(old, c), values[c]) for c in rows.CONTENT_COLUMNS):
            unchanged += 1
        else:
            changed.append(values)
    dialects.of(conn).write_articles(conn, new, changed)
    if new:  # the `cluster` step's work list, in the articles' time order
        conn.execute(cluster_queue.insert(), [_queued(r, signatures) for r in new])
    if changed:  # one still waiting may have a new publication time, and is signed then
        requeue_times(conn, [row["article_id"] for row in changed])
    return [row["article_id"] for row in new], len(changed), unchanged


__all__ = ["LEDGER_COUNTERS", "Decide", "load_batch"]
