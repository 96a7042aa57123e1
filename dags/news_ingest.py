"""### news_ingest

Polls the feeds that are due, fetches the pages of their new entries, extracts and
normalises each article, removes duplicates, and upserts the result into the warehouse.
Every run is a micro-batch. A load that inserted or updated articles publishes the
`news_articles` asset (its extra: the counts); the `check` step then judges the run and
fails it (red) when a feed turned broken, too many pages failed, or nothing has landed
for too long while feeds were due. Alerts (a log line; e-mail and Slack when configured)
tell of a failed run, and of a feed turning broken or silent or freshness lost, once per
transition.

```text
prepare ─► plan_feeds ─► poll [feed shard]*
poll ─► plan_pages ─► fetch [host shard]*
fetch, reprocess (backfills) ─► load
load ─► cluster ─► check
load ─► announce (the news_articles event)
any task failed ─► watcher (red)
```

* **Warehouse:** the Connection `news_warehouse` (sqlite or postgres); without it, the
  `INGEST_WAREHOUSE_URL` setting or the SQLite file under `INGEST_HOME`.
* **Feeds:** the registry file named by `INGEST_FEEDS_FILE`, synced into `feeds` by `prepare`.
* **Schedule:** `INGEST_SCHEDULE`, a cron expression (default `*/15 * * * *`) or
  `@continuous` (a new run as soon as the last one ends; see docs/operations.md).
* **Re-runs are safe:** feed entries, pages and articles are keyed; a run loads once
  (`load_ledger`); re-running or backfilling an interval stores nothing twice.
* **Backfills** (`airflow backfill create --dag-id news_ingest ...`) do not poll; they
  re-extract the pages captured in each interval from the raw archive with the current
  extractor (`--reprocess-behavior completed` for intervals that already ran).

See docs/operations.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from ingest_airflow.alerts import RunFailedNotifier
from ingest_airflow.assets import NEWS_ARTICLES
from ingest_airflow.params import trigger_params
from ingest_airflow.schedule import ingest_schedule
from ingest_airflow.topology import POOL_HTTP, POOL_WAREHOUSE, QUEUE_CPU, QUEUE_FETCH, retry_delay

NEW_ARTICLES = NEWS_ARTICLES


@dag(
    dag_id="news_ingest",
    # INGEST_SCHEDULE: a cron data-interval timetable (default every 15 minutes; its runs
    # cover [start, end) intervals that backfills can name), or @continuous (a new run as
    # soon as the last one ends: freshness within a run; no Airflow backfills).
    schedule=ingest_schedule(),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    tags=["news", "ingest"],
    doc_md=__doc__,
    params=trigger_params(),  # the trigger form: which feeds, poll now, retry failed pages
    on_failure_callback=RunFailedNotifier(),  # a log line, and e-mail/Slack when configured
    default_args={
        "owner": "news-ingest",
        "retries": 3,
        "retry_delay": retry_delay(),  # INGEST_RETRY_DELAY_S (30 s)
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(minutes=30),
        "queue": QUEUE_CPU,  # Celery: all but the HTTP tasks (docs/operations.md)
    },
)
def news_ingest() -> None:
    """Feeds to warehouse, one micro-batch per run."""

    @task(pool=POOL_WAREHOUSE)
    def prepare() -> int:
        """Migrate the warehouse and sync the feeds registry into it."""
        from ingest.errors import ConfigError
        from ingest.pipeline import prepare as prepare_warehouse
        from ingest_airflow import warehouse

        settings, engine = warehouse()
        if settings.feeds_file is None:
            raise ConfigError("INGEST_FEEDS_FILE is not set: no feeds registry to read")
        return prepare_warehouse(engine, settings.feeds_file)

    @task
    def plan_feeds(feed_count: int) -> list[dict[str, Any]]:
        """Shards of the feeds due at the end of this run's data interval."""
        from ingest.pipeline import plan_feed_shards
        from ingest_airflow import run_context, warehouse

        run = run_context()
        if run.is_backfill or not feed_count:
            return []  # backfills re-extract from the archive; live polling is for live runs
        settings, engine = warehouse()
        return [dict(s) for s in plan_feed_shards(engine, settings, run.due_at, run.request)]

    @task(map_index_template="{{ shard['label'] }}", multiple_outputs=False,
          queue=QUEUE_FETCH, pool=POOL_HTTP)  # fmt: skip
    def poll(shard: dict[str, Any]) -> dict[str, Any]:
        """Poll one shard of feeds and queue their new entries."""
        from ingest.pipeline import poll_shard
        from ingest_airflow import counted_even_if_it_fails, run_context, warehouse

        run = run_context()
        settings, engine = warehouse()
        with counted_even_if_it_fails():
            return poll_shard(engine, settings, shard["items"], run.run_id, **run.poll_window())

    @task(trigger_rule="all_done")
    def plan_pages(polled: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Shards of hosts with pages waiting (the queue, not this run's polls only)."""
        from ingest.pipeline import plan_page_shards
        from ingest_airflow import run_context, warehouse

        del polled  # ordering only: pages are planned after the polls
        run = run_context()
        if run.is_backfill:
            return []
        settings, engine = warehouse()
        return [dict(s) for s in plan_page_shards(engine, settings, run.request)]

    @task(map_index_template="{{ shard['label'] }}", multiple_outputs=False,
          queue=QUEUE_FETCH, pool=POOL_HTTP)  # fmt: skip
    def fetch(shard: dict[str, Any]) -> dict[str, Any]:
        """Fetch, archive, extract and normalise the pending pages of some hosts."""
        from ingest.pipeline import fetch_shard
        from ingest_airflow import counted_even_if_it_fails, run_context, warehouse

        settings, engine = warehouse()
        with counted_even_if_it_fails():
            return fetch_shard(
                engine, settings, shard["items"], run_context().run_id, feeds=shard.get("feeds")
            )

    @task(multiple_outputs=False)
    def reprocess() -> dict[str, Any]:
        """In a backfill run, re-extract what was captured in its interval from the archive."""
        from ingest.pipeline import reprocess_interval
        from ingest_airflow import counted_even_if_it_fails, run_context, warehouse

        run = run_context()
        start, end = run.interval
        if not run.is_backfill or start is None or end is None:
            return {}
        settings, engine = warehouse()
        with counted_even_if_it_fails():
            return reprocess_interval(engine, settings, start, end, run.run_id)

    @task(trigger_rule="all_done", multiple_outputs=False, pool=POOL_WAREHOUSE)
    def load(
        polled: list[dict[str, Any]], fetched: list[dict[str, Any]], reprocessed: dict[str, Any]
    ) -> dict[str, Any]:
        """Dedupe and load what this run staged; one transaction with its ledger row."""
        from ingest.pipeline import housekeeping, load_run
        from ingest_airflow import run_context, warehouse

        run = run_context()
        settings, engine = warehouse()
        # A failed upstream resolves to None: count what did arrive, load it anyway.
        result = load_run(
            engine, run.run_id, interval=run.interval, steps=[*polled, *fetched, reprocessed]
        )
        housekeeping(engine, settings)
        return result.summary()

    @task(outlets=[NEW_ARTICLES])
    def announce(loaded: dict[str, Any]) -> None:
        """Emit the news_articles event, only when articles were inserted or updated."""
        from ingest_airflow import publish

        publish(NEW_ARTICLES, loaded)

    @task(do_xcom_push=False, pool=POOL_WAREHOUSE)
    def cluster(loaded: dict[str, Any]) -> None:
        """Put the articles not yet clustered in their story clusters (near-duplicates)."""
        from ingest.pipeline import cluster_stories
        from ingest_airflow import warehouse

        del loaded  # ordering only: clusters are decided after the load
        settings, engine = warehouse()
        cluster_stories(engine, settings)

    @task(trigger_rule="all_done", retries=0, do_xcom_push=False)
    def check() -> None:
        """Judge the run (docs/operations.md "The check step"); red when a rule is broken.

        It also sends the alerts of feeds turning broken or silent and of freshness lost
        (or regained), once per transition, through the configured channels.
        """
        from ingest_airflow import run_context, warehouse
        from ingest_airflow.alerts import judge_run

        settings, engine = warehouse()
        judge_run(engine, settings, run_context().run_id)

    @task(trigger_rule="one_failed", retries=0, do_xcom_push=False)
    def watcher() -> None:
        """Fail the run when any task failed, although `load` ran anyway (all_done)."""
        from ingest.errors import IngestError

        raise IngestError("a task of this run failed; see the failed task's log")

    prepared = prepare()
    feed_shards = plan_feeds(prepared)
    polled = poll.expand(shard=feed_shards)
    page_shards = plan_pages(polled)
    fetched = fetch.expand(shard=page_shards)
    reprocessed = reprocess()
    loaded = load(polled, fetched, reprocessed)
    announce(loaded)
    clustered = cluster(loaded)
    clustered >> check()
    # every task: a failure anywhere fails the run, though load ran anyway (all_done)
    [
        prepared,
        feed_shards,
        polled,
        page_shards,
        fetched,
        reprocessed,
        loaded,
        clustered,
    ] >> watcher()


news_ingest()
