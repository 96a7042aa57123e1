"""A DAG run of news_ingest beside an ``ingest run`` process: one budget between them.

The DAG's poll and the CLI's poll meet at the fault server's barrier feed, so the DAG's
fetch tasks and the CLI's fetch run at the same time, on the same warehouse (the DAG's
through its Connection). Each page is fetched once, no host sees a gap shorter than its
delay, and both runs succeed.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from concurrency import (
    assert_each_page_once_and_paced,
    assert_stored_once_and_nothing_held,
    finish,
    ingest_env,
    ingest_run,
    registry,
    serve_sites,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

#: Enough pages that the CLI's crawl (PAGES x the delay) outlasts the DAG's task starts.
PAGES = 20


@pytest.fixture
def sites():
    with serve_sites() as servers:
        yield servers


def fetch_task_starts(run_id):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalars(
            select(TaskInstance.start_date).where(
                TaskInstance.run_id == run_id, TaskInstance.task_id == "fetch"
            )
        ).all()


def cli_load_finished(url):
    from ingest.store import engine as db
    from ingest.store import schema as wh

    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            ledger = wh.load_ledger.c
            return conn.execute(
                select(ledger.finished_at).where(ledger.run_id.like("cli__%"))
            ).scalar_one()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_dag_run_beside_a_cli_run_shares_the_pages_and_the_pace(
    dagbag, sites, tmp_path, backend, request
):
    a, b, feeds = sites
    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path / 'warehouse.db'}"
            conn_uri = url
        else:
            url = stack.enter_context(request.getfixturevalue("pg_cluster").database())
            conn_uri = url.replace("postgresql+psycopg://", "postgresql://")
        feeds_file = registry(tmp_path, feeds, (a, b), together=2, pages=PAGES)
        env = ingest_env(tmp_path, url)
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        for key in ("INGEST_HOME", "INGEST_ALLOW_LOOPBACK", "INGEST_POLITENESS_DELAY_S",
                    "INGEST_FEED_DEADLINE_S", "INGEST_WORKERS"):  # fmt: skip
            mp.setenv(key, env[key])
        mp.setenv("INGEST_FEEDS_FILE", str(feeds_file))
        mp.setenv("AIRFLOW_CONN_NEWS_WAREHOUSE", conn_uri)
        cli = ingest_run(feeds_file, env)
        run = dagbag.get_dag("news_ingest").test(logical_date=datetime.now(UTC))
        cli_log = finish(cli)
        assert run.state == "success"
        assert_each_page_once_and_paced(a, b, pages=PAGES)
        assert_stored_once_and_nothing_held(url, 2 * PAGES)
        # they did overlap: the DAG's fetch started while the CLI held its pages
        starts, cli_done = fetch_task_starts(run.run_id), cli_load_finished(url)
        assert starts, "the DAG planned no fetch"
        assert min(starts) < cli_done, (starts, cli_done, cli_log)
