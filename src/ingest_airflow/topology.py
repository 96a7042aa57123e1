"""Where the DAGs' tasks run on a Celery cluster: their queues and pools, named once.

The DAG files read these at parse time (and the retry delay setting); ``deploy/pools.json``
creates the pools and ``docker-compose.yml`` starts a worker per queue
(tests/test_compose.py holds the three together). Under the
LocalExecutor and ``dag.test()`` queues mean nothing; the pools must exist wherever a
scheduler runs the DAGs (``airflow pools import deploy/pools.json`` after
``airflow db migrate``): a task in a missing pool is never scheduled.
"""

from __future__ import annotations

from datetime import timedelta

#: HTTP-bound tasks (poll, fetch, a backfill's shards): many at a time per worker.
QUEUE_FETCH = "fetch"
#: Everything else (plan, load, cluster, check, re-extraction): about one per core.
QUEUE_CPU = "cpu"
#: Shards fetching over HTTP at once, across every worker and both DAGs.
POOL_HTTP = "http_shards"
#: Tasks writing the warehouse in bulk (migrate and sync, load, cluster) at once.
POOL_WAREHOUSE = "warehouse_writers"


def retry_delay() -> timedelta:
    """A failed task's first retry delay: the setting ``INGEST_RETRY_DELAY_S`` (30 s).

    Read at parse time, so set it where the DAG processor and the workers run alike.
    """
    from ingest.settings import load_settings

    return timedelta(seconds=load_settings().retry_delay_s)
