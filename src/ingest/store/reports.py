"""Reads for people: warehouse totals, one run's report, recent articles.

The CLI prints these; they are plain dicts of plain values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from ingest.models import EntryState
from ingest.store.engine import reading
from ingest.store.schema import articles, feed_entries, feeds, fetch_log, load_ledger

if TYPE_CHECKING:
    from sqlalchemy import Engine


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
        failing_feeds = dict(
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
            "failing_feeds": failing_feeds,
            "runs": conn.execute(select(func.count()).select_from(load_ledger)).scalar_one(),
        }


def run_report(engine: Engine, run_id: str) -> dict[str, Any]:
    """What one run did: its latest ledger row and its fetch failures by reason."""
    with reading(engine) as conn:
        ledger = conn.execute(
            select(load_ledger)
            .where(load_ledger.c.run_id == run_id)
            .order_by(load_ledger.c.load_seq.desc())
            .limit(1)
        ).first()
        reasons: dict[str, int] = dict(
            conn.execute(
                select(fetch_log.c.reason, func.count())
                .where(fetch_log.c.run_id == run_id, fetch_log.c.reason.is_not(None))
                .group_by(fetch_log.c.reason)
                .order_by(fetch_log.c.reason)
            ).all()
        )
    return {"ledger": dict(ledger._mapping) if ledger else None, "failures": reasons}  # noqa: SLF001 - public Row API


def latest_run_id(engine: Engine) -> str | None:
    """The run that loaded last, if any has."""
    query = select(load_ledger.c.run_id).order_by(load_ledger.c.finished_at.desc()).limit(1)
    with reading(engine) as conn:
        return conn.execute(query).scalar_one_or_none()


def latest_articles(engine: Engine, limit: int = 5) -> list[dict[str, Any]]:
    """The most recently published stored articles (for summaries)."""
    a = articles.c
    query = (
        select(a.article_id, a.source, a.title, a.published_at, a.word_count, a.authors,
               a.canonical_url, a.body)
        .order_by(a.published_at.desc().nulls_last(), a.article_id)
        .limit(limit)
    )  # fmt: skip
    with reading(engine) as conn:
        return [dict(row._mapping) for row in conn.execute(query)]  # noqa: SLF001 - public Row API


__all__ = ["counts", "latest_articles", "latest_run_id", "run_report"]
