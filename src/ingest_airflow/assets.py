"""The assets our DAGs publish (light: imported by DAG files at parse time)."""

from __future__ import annotations

from airflow.sdk import Asset

#: Articles landed in the warehouse: emitted by live runs and by backfills, only when a
#: load inserted or updated articles (its extra: the counts).
NEWS_ARTICLES = Asset(name="news_articles", uri="news-ingest://warehouse/articles")

__all__ = ["NEWS_ARTICLES"]
