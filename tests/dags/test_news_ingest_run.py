"""`dag.test()` runs of the real news_ingest DAG against the bundled demo site."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ingest.store import engine as db
from ingest.store import schema as wh
from ingest.urls import article_id_for, canonical_url

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ingest_env(request, tmp_path_factory, demo_site):
    """INGEST_* settings and the news_warehouse Connection, as a deployment sets them."""
    home = tmp_path_factory.mktemp("ingest-home")
    feeds = home / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{home / 'connection-warehouse.db'}"
            conn_uri = url
        else:
            url = stack.enter_context(request.getfixturevalue("pg_cluster").database())
            conn_uri = url.replace("postgresql+psycopg://", "postgresql://")
        env = {
            "INGEST_HOME": str(home),
            "INGEST_FEEDS_FILE": str(feeds),
            "INGEST_PAGE_DEADLINE_S": "2",
            "INGEST_ALLOW_LOOPBACK": "true",  # the demo site is on 127.0.0.x
            "INGEST_POLITENESS_DELAY_S": "0.2",
            "AIRFLOW_CONN_NEWS_WAREHOUSE": conn_uri,
        }
        mp = stack.enter_context(pytest.MonkeyPatch.context())
        for key, value in env.items():
            mp.setenv(key, value)
        engine = db.make_engine(url)
        stack.callback(engine.dispose)
        yield home, engine


@pytest.fixture(scope="module")
def first_run(dagbag, ingest_env):
    home, engine = ingest_env
    dag = dagbag.get_dag("news_ingest")
    run = dag.test(logical_date=datetime.now(UTC))
    return run, engine, home


def scalar(engine, query):
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def test_run_succeeds_and_writes_to_the_connections_warehouse(first_run):
    run, engine, home = first_run
    assert run.state == "success"
    assert scalar(engine, select(func.count()).select_from(wh.articles)) > 0
    assert not (home / "warehouse.db").exists(), "the Connection must win over the default"


def test_every_distinct_story_stored_once(first_run, demo_site):
    _, engine, _ = first_run
    expected = {a.url for a in demo_site.articles if not a.syndicated}
    syndicated = [a for a in demo_site.articles if a.syndicated]
    with engine.connect() as conn:
        stored = set(conn.execute(select(wh.articles.c.canonical_url)).scalars())
    assert expected <= stored
    assert len(stored) == len(expected) + 1  # the syndicated story once
    assert len(syndicated) == 2
    for column in (wh.articles.c.canonical_url, wh.articles.c.content_hash):
        dupes = select(column).group_by(column).having(func.count() > 1)
        with engine.connect() as conn:
            assert conn.execute(dupes).all() == []


def test_syndicated_copy_is_linked_to_the_earliest_original(first_run, demo_site):
    _, engine, _ = first_run
    copies = sorted(
        (a for a in demo_site.articles if a.syndicated),
        key=lambda a: (a.published, article_id_for(canonical_url(a.url))),
    )
    original, copy = (article_id_for(canonical_url(a.url)) for a in copies)
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                wh.feed_entries.c.canonical_url,
                wh.feed_entries.c.state,
                wh.feed_entries.c.article_id,
                wh.feed_entries.c.duplicate_kind,
            ).where(wh.feed_entries.c.canonical_url.in_([canonical_url(a.url) for a in copies]))
        ).all()
        stored_ids = set(conn.execute(select(wh.articles.c.article_id)).scalars())
    assert original in stored_ids
    assert copy not in stored_ids
    by_state = {r.state: r for r in rows}
    assert by_state["stored"].article_id == original
    assert by_state["duplicate"].article_id == original
    assert by_state["duplicate"].duplicate_kind == "content_hash"


def test_tracking_parameters_do_not_make_a_second_article(first_run, demo_site):
    _, engine, _ = first_run
    multi = [a for a in demo_site.articles if len(a.listed_urls) > 1]
    assert multi, "the demo site lists one story under two URLs"
    for story in multi:
        with engine.connect() as conn:
            linked = set(
                conn.execute(
                    select(wh.feed_entries.c.article_id).where(
                        wh.feed_entries.c.link.in_(story.listed_urls)
                    )
                ).scalars()
            )
        assert linked == {article_id_for(canonical_url(story.url))}


def test_bad_cases_are_recorded_with_reasons(first_run, demo_site):
    _, engine, _ = first_run
    expected = {
        "not_found": ("failed", "http_404"),
        "not_html": ("failed", "not_html"),
        "slow": ("pending", "timeout"),
    }  # a timeout is soft: retried by later runs
    for bad in demo_site.bad_links:
        with engine.connect() as conn:
            row = conn.execute(
                select(wh.feed_entries.c.state, wh.feed_entries.c.last_error).where(
                    wh.feed_entries.c.canonical_url == canonical_url(bad.url)
                )
            ).one()
        assert tuple(row) == expected[bad.kind], bad
    broken = [f for f in demo_site.feeds if f.malformed]
    with engine.connect() as conn:
        feed = conn.execute(select(wh.feeds).where(wh.feeds.c.feed_key == broken[0].key)).one()
    assert feed.consecutive_failures == 1
    assert feed.last_error.startswith("feed_malformed")


def test_ledger_and_asset_event(first_run):
    run, engine, _ = first_run
    with engine.connect() as conn:
        ledger = conn.execute(
            select(wh.load_ledger).where(wh.load_ledger.c.run_id == run.run_id)
        ).one()
        stored = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
    assert ledger.inserted == stored
    assert ledger.duplicates == 1
    assert ledger.feeds_failed == 1
    assert ledger.pages_failed == 3

    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)
        ).all()
    assert len(events) == 1
    assert events[0].extra["inserted"] == stored


def test_mapped_shards_are_labelled(first_run):
    run, _, _ = first_run
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        labels = session.scalars(
            select(TaskInstance.rendered_map_index).where(
                TaskInstance.run_id == run.run_id, TaskInstance.task_id == "poll"
            )
        ).all()
    assert labels and all(label and "-" in label for label in labels)


def test_second_run_stores_nothing_new(first_run, dagbag):
    first, engine, _ = first_run
    before = scalar(engine, select(func.count()).select_from(wh.articles))
    # An hour later every feed is due again; the demo site answers with the same feeds.
    run = dagbag.get_dag("news_ingest").test(logical_date=datetime.now(UTC) + timedelta(hours=1))
    assert run.state == "success"
    with engine.connect() as conn:
        ledger = conn.execute(
            select(wh.load_ledger).where(wh.load_ledger.c.run_id == run.run_id)
        ).one()
    assert ledger.feeds_polled > 0
    assert (ledger.inserted, ledger.updated) == (0, 0)
    assert ledger.entries_new == 0
    assert scalar(engine, select(func.count()).select_from(wh.articles)) == before
    with engine.connect() as conn:
        last_writers = set(conn.execute(select(wh.articles.c.last_run_id)).scalars())
    assert last_writers == {first.run_id}


def test_load_task_run_again_after_its_commit_writes_nothing(first_run):
    """The real `load` task, executed a second time by Airflow for the same run."""
    import subprocess
    import sys
    from pathlib import Path

    run, engine, _ = first_run
    before = scalar(engine, select(func.count()).select_from(wh.articles))
    airflow = Path(sys.executable).with_name("airflow")
    done = subprocess.run(
        [str(airflow), "tasks", "test", "news_ingest", "load", run.run_id],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "already loaded" in done.stdout + done.stderr
    assert scalar(engine, select(func.count()).select_from(wh.articles)) == before
    with engine.connect() as conn:
        ledgers = conn.execute(
            select(wh.load_ledger).where(wh.load_ledger.c.run_id == run.run_id)
        ).all()
    assert len(ledgers) == 1


def test_a_run_triggered_without_a_logical_date_succeeds(first_run, dagbag):
    """Airflow 3 lets a manual trigger omit the logical date (no data interval at all)."""
    _, engine, _ = first_run
    before = scalar(engine, select(func.count()).select_from(wh.articles))
    run = dagbag.get_dag("news_ingest").test(logical_date=None)
    assert run.logical_date is None
    assert run.state == "success"
    assert scalar(engine, select(func.count()).select_from(wh.articles)) == before


def test_every_stored_article_is_signed_and_in_a_story_cluster(first_run):
    run, engine, _ = first_run
    assert run.state == "success"  # a failed cluster task would fail the run (watcher)
    articles = scalar(engine, select(func.count()).select_from(wh.articles))
    signed = scalar(engine, select(func.count()).select_from(wh.article_signatures))
    representatives = scalar(
        engine, select(func.count()).where(wh.articles.c.is_representative.is_(True))
    )
    clusters = scalar(engine, select(func.count(wh.articles.c.cluster_id.distinct())))
    assert signed == articles
    assert representatives == clusters  # one representative per story
