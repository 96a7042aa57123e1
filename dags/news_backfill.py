"""### news_backfill

A publisher's history, on demand: the articles its feeds no longer list. Trigger it with
the form (**Trigger** on this DAG): the source, the publishers (by their feeds), the days,
the limits, and *Dry run* to count what would be fetched or read first.

* **sitemaps**: each publisher's news sitemaps are read, politely, and the pages they date
  in the range are fetched like any page (robots.txt, the host's delay, shared with live
  runs: one host is one paced sequence of requests, whoever asks).
* **ccnews**: Common Crawl's CC-NEWS WARC files whose names fall in the range are
  streamed; the publishers' pages captured in the range are extracted. A file is marked
  done once its pages are loaded, so a stopped backfill goes on from there.
* **archive**: the pages we captured in the range, extracted again by today's extractor.

```text
prepare ─► plan ─► backfill [publisher or WARC file]* ─► finish ─► announce
any task failed ─► watcher (red)
```

Each mapped `backfill` task is one publisher (sitemaps) or one WARC file (CC-NEWS),
labelled; its counts are its XCom and its own ledger row (`<run id>/<map index>`).
History lands in the same tables as live runs, deduplicated against them; `finish` puts
new articles in their story clusters, and `announce` emits `news_articles` when articles
landed. Nothing is stored twice: run it again and it stores nothing.

See docs/operations.md, "Backfilling history".
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from ingest_airflow.alerts import RunFailedNotifier
from ingest_airflow.assets import NEWS_ARTICLES
from ingest_airflow.params import backfill_params
from ingest_airflow.topology import POOL_HTTP, POOL_WAREHOUSE, QUEUE_CPU, QUEUE_FETCH, retry_delay

NEW_ARTICLES = NEWS_ARTICLES


@dag(
    dag_id="news_backfill",
    schedule=None,  # manual: the form
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=24),
    tags=["news", "backfill"],
    doc_md=__doc__,
    params=backfill_params(),
    on_failure_callback=RunFailedNotifier(),
    default_args={
        "owner": "news-ingest",
        "retries": 2,
        "retry_delay": retry_delay(),  # INGEST_RETRY_DELAY_S (30 s)
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(hours=1),  # a shard's time budget is 45 minutes at most
        "queue": QUEUE_CPU,  # Celery: all but the HTTP shards (docs/operations.md)
    },
)
def news_backfill() -> None:
    """History from news sitemaps, CC-NEWS or our archive."""

    @task(pool=POOL_WAREHOUSE)
    def prepare() -> dict[str, Any]:
        """Check the form (a bad value fails here, named, not retried), migrate, sync."""
        from airflow.sdk.exceptions import AirflowFailException

        from ingest.backfill import publishers
        from ingest.errors import ConfigError
        from ingest.pipeline import prepare as prepare_warehouse
        from ingest_airflow import run_context, warehouse
        from ingest_airflow.params import backfill_request

        try:
            request = backfill_request(dict(run_context().params))
        except ConfigError as exc:  # the same form would fail the same way: no retry
            raise AirflowFailException(str(exc)) from exc
        settings, engine = warehouse()
        if settings.feeds_file is None:
            raise ConfigError("INGEST_FEEDS_FILE is not set: no feeds registry to read")
        prepare_warehouse(engine, settings.feeds_file)
        try:
            publishers(engine, request)  # every feed and site asked for is registered
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from exc
        return request.as_dict()

    @task
    def plan(request: dict[str, Any]) -> list[dict[str, Any]]:
        """The shards: one per publisher (sitemaps), per WARC file (CC-NEWS)."""
        from ingest.backfill import BackfillRequest
        from ingest.backfill import plan as plan_backfill
        from ingest_airflow import warehouse

        settings, engine = warehouse()
        planned = plan_backfill(engine, settings, BackfillRequest.of_dict(request))
        return list(planned["shards"])

    # two at a time: each is a sandbox of workers and, for CC-NEWS, a stream of about 1 GB
    @task(map_index_template="{{ shard['label'] }}", multiple_outputs=False,
          max_active_tis_per_dagrun=2, queue=QUEUE_FETCH, pool=POOL_HTTP)  # fmt: skip
    def backfill(request: dict[str, Any], shard: dict[str, Any]) -> dict[str, Any]:
        """One publisher's sitemaps, or one WARC file: read, fetched, extracted, loaded."""
        from airflow.sdk import get_current_context

        from ingest.backfill import BackfillRequest, run_shard, shard_run_id
        from ingest_airflow import counted_even_if_it_fails, run_context, warehouse

        settings, engine = warehouse()
        index = int(get_current_context()["ti"].map_index)
        with counted_even_if_it_fails():
            return run_shard(
                engine, settings, BackfillRequest.of_dict(request), shard,
                shard_run_id(run_context().run_id, max(index, 0)),
            )  # fmt: skip

    @task(trigger_rule="all_done", multiple_outputs=False, pool=POOL_WAREHOUSE)
    def finish(results: list[dict[str, Any]] | None) -> dict[str, Any]:
        """Cluster the new articles with the live ones; log and return the totals.

        It runs whatever happened upstream (a failed shard's counts are its XCom), and
        needs nothing from `prepare` (which may have refused the form).
        """
        from ingest.backfill import finish as finish_backfill
        from ingest.logs import get_logger
        from ingest_airflow import run_context, warehouse

        settings, engine = warehouse()
        totals = finish_backfill(engine, settings, [r for r in results or [] if r])
        params = run_context().params
        get_logger("news_backfill").info(
            "backfill from %s%s: %s", params.get("source"),
            " (dry run)" if params.get("dry_run") else "", totals,
        )  # fmt: skip
        return totals

    @task(outlets=[NEW_ARTICLES])
    def announce(totals: dict[str, Any]) -> None:
        """Emit the news_articles event, only when articles were inserted or updated."""
        from ingest_airflow import publish

        publish(NEW_ARTICLES, totals)

    @task(trigger_rule="one_failed", retries=0, do_xcom_push=False)
    def watcher() -> None:
        """Fail the run when any task failed, although `finish` ran anyway (all_done)."""
        from ingest.errors import IngestError

        raise IngestError("a task of this backfill failed; see the failed task's log")

    request = prepare()
    shards = plan(request)
    done = backfill.partial(request=request).expand(shard=shards)
    totals = finish(done)
    announce(totals)
    [request, shards, done, totals] >> watcher()


news_backfill()
