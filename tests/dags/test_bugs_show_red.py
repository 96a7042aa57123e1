"""A bug of ours shows in Airflow as it should: a red task, retried, and a red run.

The real news_ingest DAG runs (`dag.test()`) against the demo site with a bug injected in
the extractor or the feed parser. The task that met it fails after saving everything
else, Airflow retries it (each retry fails again: the bug is still there), the rest of the
run goes on (load and cluster run, `all_done`), and the watcher turns the run red. The
next run, with the bug gone, stores every story exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

import sandbox_tasks
from ingest import pagework, parse
from ingest.store import engine as db
from ingest.store import schema as wh
from ingest.urls import canonical_url
from sandbox_tasks import BUG_MARK, FEED_BUG_MARK

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

BUGS = {
    "extractor": (pagework, "work_page", sandbox_tasks.work_page_with_a_bug, "fetch"),
    "parser": (parse, "parse_feed", sandbox_tasks.parse_feed_with_a_bug, "poll"),
}


@pytest.fixture
def env(tmp_path, demo_site, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    feeds = home / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    url = f"sqlite:///{home / 'warehouse.db'}"
    for key, value in {
        "INGEST_HOME": str(home), "INGEST_FEEDS_FILE": str(feeds), "INGEST_PAGE_DEADLINE_S": "2",
        "INGEST_ALLOW_LOOPBACK": "true", "INGEST_POLITENESS_DELAY_S": "0.1",
        "AIRFLOW_CONN_NEWS_WAREHOUSE": url,
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def dag(dagbag):
    """The real DAG, its retries kept but without their delays (so the test does not wait)."""
    dag = dagbag.get_dag("news_ingest")
    saved = {t.task_id: (t.retry_delay, t.max_retry_delay) for t in dag.tasks}
    for t in dag.tasks:
        t.retry_delay, t.max_retry_delay = timedelta(0), timedelta(0)
    yield dag
    for t in dag.tasks:
        t.retry_delay, t.max_retry_delay = saved[t.task_id]


def task_states(run_id):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id)).all()
        return [(ti.task_id, ti.map_index, ti.state, ti.try_number) for ti in tis]


@pytest.mark.parametrize("bug", sorted(BUGS))
def test_a_bug_fails_its_task_and_the_run_and_the_fixed_rerun_stores_everything_once(
    bug, env, dag, demo_site, monkeypatch
):
    engine = env
    module, name, buggy, step = BUGS[bug]
    with monkeypatch.context() as patched:
        patched.setattr(module, name, buggy)
        run = dag.test(logical_date=datetime.now(UTC))
    assert run.state == "failed"
    states = task_states(run.run_id)
    red = [(task, tries) for task, _, state, tries in states if state == "failed"]
    assert sorted({task for task, _ in red}) == sorted([step, "watcher"]), states
    assert all(tries == 4 for task, tries in red if task == step)  # retried 3 times, still red
    assert {state for task, _, state, _ in states if task in ("load", "cluster")} == {"success"}
    with engine.connect() as conn:
        entries = conn.execute(select(wh.feed_entries)).all()
        feeds = {f.feed_key: f for f in conn.execute(select(wh.feeds)).all()}
        stored_first = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
    assert stored_first > 0  # everything else landed
    with engine.connect() as conn:
        ledger = conn.execute(
            select(wh.load_ledger).where(wh.load_ledger.c.run_id == run.run_id)
        ).one()
    # the red task's counts reached the run's ledger all the same
    assert (ledger.pages_fetched if bug == "extractor" else ledger.feeds_polled) > 0
    if bug == "extractor":
        hit = [e for e in entries if BUG_MARK in e.link]
        assert hit and all(
            (e.state, e.last_error, e.attempts) == ("pending", "internal_error", 0) for e in hit
        )
    else:
        [feed] = [f for f in feeds.values() if f.url.endswith(FEED_BUG_MARK)]
        assert (feed.consecutive_failures, feed.broken) == (0, False)
        assert feed.last_error.startswith("internal_error")
        assert not [e for e in entries if e.feed_key == feed.feed_key]  # nothing queued

    fixed = dag.test(logical_date=datetime.now(UTC) + timedelta(hours=1))
    assert fixed.state == "success", task_states(fixed.run_id)
    expected = {canonical_url(a.url) for a in demo_site.articles if not a.syndicated}
    with engine.connect() as conn:
        stored = conn.execute(select(wh.articles.c.canonical_url)).scalars().all()
    assert len(stored) == len(set(stored)) == len(expected) + 1  # + the syndicated story, once
    assert expected <= set(stored)
