"""Staged articles (fetched, not loaded yet) and the fetch log, both kept bounded.

A run's fetch shards stage what they extracted under the run id; its load reads them
back and deletes them in its own transaction. Staging rows of runs that never loaded,
and fetch-log lines, are pruned after ``fetch_log_keep_days``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from ingest.models import Article
from ingest.outcomes import FetchRecord
from ingest.store import dialects
from ingest.store.engine import reading, transaction
from ingest.store.rows import from_payload, to_payload
from ingest.store.schema import article_staging, fetch_log, page_leases

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, Select


def signature_key(title: str | None, body: str) -> str:
    """What an article's signature is made of, as a key: its exact title and body, digested.

    A signature made ahead is used only for the very text stored.
    """
    digest = hashlib.sha256()
    for part in (title, body):
        data = b"" if part is None else part.encode("utf-8", "surrogatepass")
        digest.update(b"-" if part is None else b"%d:" % len(data))
        digest.update(data)
    return digest.hexdigest()


def stage(
    conn: Connection,
    run_id: str,
    staged: Sequence[tuple[str, Article]],
    now: datetime,
    *,
    signatures: Sequence[Mapping[str, Any] | None] = (),
) -> None:
    """Keep articles (keyed by the queue URL they were fetched for) until their run loads.

    ``signatures``: each article's signature made ahead (:func:`ingest.neardup.to_json`),
    in the same order, or none.
    """
    if not staged:
        return
    signed = list(signatures) or [None] * len(staged)
    by_url = {  # one row per queue URL, the last one given (one statement: none twice)
        queue_url: {"run_id": run_id, "queue_url": queue_url, "article_id": article.article_id,
                    "payload": to_payload(article), "staged_at": now, "signature": signature}
        for (queue_url, article), signature in zip(staged, signed, strict=True)
    }  # fmt: skip
    rows = [by_url[url] for url in sorted(by_url)]
    stmt = dialects.of(conn).insert(article_staging)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["run_id", "queue_url"],
            set_={
                "article_id": stmt.excluded.article_id,
                "payload": stmt.excluded.payload,
                "signature": stmt.excluded.signature,
            },
        ),
        rows,
    )


def stage_articles(
    engine: Engine, run_id: str, staged: Sequence[tuple[str, Article]], now: datetime
) -> None:
    """:func:`stage` in a transaction of its own."""
    if staged:
        with transaction(engine) as conn:
            stage(conn, run_id, staged, now)


def queue_urls(run_id: str) -> Select[tuple[str]]:
    """A SQL subquery: the queue URLs a run has staged."""
    return select(article_staging.c.queue_url).where(article_staging.c.run_id == run_id)


def staged_articles(engine: Engine, run_id: str) -> list[tuple[str, Article]]:
    """The articles staged by a run, with their queue URLs."""
    return staged_with_signatures(engine, run_id)[0]


def staged_with_signatures(
    engine: Engine, run_id: str
) -> tuple[list[tuple[str, Article]], dict[str, Mapping[str, Any]]]:
    """The articles staged by a run, with their queue URLs; the signatures made ahead."""
    query = (
        select(article_staging.c.queue_url, article_staging.c.payload, article_staging.c.signature)
        .where(article_staging.c.run_id == run_id)
        .order_by(article_staging.c.queue_url)
    )
    staged: list[tuple[str, Article]] = []
    signatures: dict[str, Mapping[str, Any]] = {}
    with reading(engine) as conn:
        for row in conn.execute(query):
            article = from_payload(row.payload)
            staged.append((row.queue_url, article))
            if row.signature is not None:
                signatures[signature_key(article.title, article.body)] = row.signature
    return staged, signatures


def append_fetches(
    conn: Connection, run_id: str, records: Sequence[tuple[FetchRecord, str | None]]
) -> None:
    """Append lines to the fetch log: each record with the feed it was for (if any)."""
    if records:
        conn.execute(
            fetch_log.insert(),
            [
                {
                    "run_id": run_id, "kind": r.kind, "url": r.url, "final_url": r.final_url,
                    "status": r.status, "bytes": r.bytes, "elapsed_ms": r.elapsed_ms,
                    "reason": r.reason.value if r.reason else None, "detail": r.detail,
                    "fetched_at": r.fetched_at, "feed_key": feed_key,
                }
                for r, feed_key in records
            ],
        )  # fmt: skip


def prune(engine: Engine, older_than: datetime) -> tuple[int, int]:
    """Delete fetch-log lines, and staged rows of runs that never loaded, older than this.

    Returns how many of each were deleted.
    """
    with transaction(engine) as conn:
        lines = conn.execute(delete(fetch_log).where(fetch_log.c.fetched_at < older_than))
        staged = conn.execute(
            delete(article_staging).where(article_staging.c.staged_at < older_than)
        )
        conn.execute(delete(page_leases).where(page_leases.c.leased_until < older_than))
    return lines.rowcount, staged.rowcount


__all__ = [
    "append_fetches", "prune", "queue_urls", "stage", "stage_articles", "staged_articles",
]  # fmt: skip
