"""`dag.test()` runs of the real news_backfill DAG: the demo site's sitemaps, a CC-NEWS mirror.

The form's values are a run's conf, as the trigger form sends them; the runs fetch from the
demo site and stream from a local CC-NEWS mirror, on both warehouse backends.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from ingest.demosite.ccnews import write_mirror
from ingest.store import engine as db
from ingest.store import schema as wh
from mirror import base_of, mirror_server

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# every field of the form, as the form sends them (dag.test keeps a previous run's conf)
NOVEMBER = {"date_from": "2026-11-01", "date_to": "2026-11-30", "dry_run": False, "feeds": []}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backfill_env(request, tmp_path_factory, demo_site):
    home = tmp_path_factory.mktemp("backfill-home")
    feeds = home / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{home / 'warehouse.db'}"
            conn_uri = url
        else:
            url = stack.enter_context(request.getfixturevalue("pg_cluster").database())
            conn_uri = url.replace("postgresql+psycopg://", "postgresql://")
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        for key, value in {
            "INGEST_HOME": str(home), "INGEST_FEEDS_FILE": str(feeds),
            "INGEST_PAGE_DEADLINE_S": "2", "INGEST_ALLOW_LOOPBACK": "true",
            "INGEST_POLITENESS_DELAY_S": "0.1", "AIRFLOW_CONN_NEWS_WAREHOUSE": conn_uri,
        }.items():  # fmt: skip
            mp.setenv(key, value)
        written = write_mirror(
            home / "mirror", demo_site.pages(), datetime(2026, 11, 1, tzinfo=UTC)
        )
        server = stack.enter_context(mirror_server(home / "mirror"))
        engine = db.make_engine(url)
        stack.callback(engine.dispose)
        yield engine, base_of(server), written


def ran(dagbag, conf):
    run = dagbag.get_dag("news_backfill").test(run_conf=conf)
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run.run_id)).all()
        states = {(ti.task_id, ti.rendered_map_index): ti.state for ti in tis}
    return run, states


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def events_of(run):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        return session.scalars(
            select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)
        ).all()


def test_the_form_runs_a_dry_run_then_a_sitemap_backfill_then_ccnews_then_nothing_new(
    dagbag, backfill_env, demo_site
):
    engine, base, _ = backfill_env
    # a dry run: every publisher counted, nothing stored
    run, states = ran(dagbag, {**NOVEMBER, "source": "sitemaps", "dry_run": True})
    assert run.state == "success", states
    assert count(engine, wh.articles) == 0
    labels = {label for (task, label), _ in states.items() if task == "backfill"}
    assert labels == {p.base_url.split("//")[1].split(":")[0] for p in demo_site.publishers}
    assert events_of(run) == []

    # sitemaps: every page of every publisher in November, once; one event
    run, states = ran(dagbag, {**NOVEMBER, "source": "sitemaps"})
    assert run.state == "success", states
    stored = count(engine, wh.articles)
    distinct = {a.url for a in demo_site.articles}
    assert stored == len(distinct) - 1  # the wire story carried twice is stored once
    (event,) = events_of(run)
    assert event.extra["inserted"] == stored
    with engine.connect() as conn:
        loads = conn.execute(
            select(wh.load_ledger.c.run_id).where(wh.load_ledger.c.run_id.like(run.run_id + "/%"))
        ).scalars().all()  # fmt: skip
    assert len(loads) == len(demo_site.publishers)  # one ledger row per mapped shard

    # CC-NEWS: one mapped task per WARC file, labelled by its name; nothing new to store
    run, states = ran(dagbag, {**NOVEMBER, "source": "ccnews", "base_url": base})
    assert run.state == "success", states
    files = {label for (task, label), _ in states.items() if task == "backfill"}
    assert files and all(label.startswith("CC-NEWS-") for label in files)
    assert count(engine, wh.articles) == stored
    assert events_of(run) == []  # nothing landed: no event
    assert count(engine, wh.backfill_files) == len(files)

    # the same again: no file left to read, nothing stored
    run, states = ran(dagbag, {**NOVEMBER, "source": "ccnews", "base_url": base})
    assert run.state == "success", states
    assert not [s for (task, _), s in states.items() if task == "backfill" and s == "success"]
    assert count(engine, wh.articles) == stored


def test_a_form_without_dates_fails_at_prepare_with_the_reason(dagbag, backfill_env):
    run, states = ran(dagbag, {**NOVEMBER, "source": "sitemaps", "date_from": None})
    assert run.state == "failed"
    assert states[("prepare", None)] == "failed"
    assert states[("watcher", None)] == "failed"
    # finish still runs (it needs nothing from prepare); nothing landed: no event
    assert (states[("finish", None)], states[("announce", None)]) == ("success", "skipped")
