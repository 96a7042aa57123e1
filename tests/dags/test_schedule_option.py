"""INGEST_SCHEDULE: news_ingest on a cron interval (the default) or continuously."""

from __future__ import annotations

from pathlib import Path

import pytest

DAGS = Path(__file__).parents[2] / "dags"


def _news_ingest(monkeypatch, value: str | None):
    from airflow.dag_processing.dagbag import DagBag

    if value is None:
        monkeypatch.delenv("INGEST_SCHEDULE", raising=False)
    else:
        monkeypatch.setenv("INGEST_SCHEDULE", value)
    bag = DagBag(dag_folder=str(DAGS / "news_ingest.py"))
    return bag.get_dag("news_ingest"), bag.import_errors


def test_the_default_is_a_quarter_hour_data_interval(airflow_db, monkeypatch):
    dag, errors = _news_ingest(monkeypatch, None)
    assert errors == {}
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "*/15 * * * *"


@pytest.mark.parametrize("value", ["@continuous", "continuous", " @Continuous "])
def test_continuous_runs_one_at_a_time(airflow_db, monkeypatch, value):
    dag, errors = _news_ingest(monkeypatch, value)
    assert errors == {}
    assert type(dag.timetable).__name__ == "ContinuousTimetable"
    assert dag.max_active_runs == 1  # Airflow refuses a continuous DAG with more
    assert dag.catchup is False


@pytest.mark.parametrize(
    ("value", "expression"),
    [("*/2  *  * * *", "*/2 * * * *"), ("0 9 * * mon#1", "0 9 * * mon#1")],  # the first Monday
)
def test_another_cron_expression(airflow_db, monkeypatch, value, expression):
    dag, errors = _news_ingest(monkeypatch, value)
    assert errors == {}
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == expression


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("every minute", "neither @continuous nor a cron expression of 5 fields"),
        ("* * * *", "5 fields"),
        ("61 * * * *", "out of range"),  # the right shape; Airflow's cron parser refuses it
    ],
)
def test_a_bad_schedule_is_an_import_error_naming_the_setting(airflow_db, monkeypatch, value, said):
    dag, errors = _news_ingest(monkeypatch, value)
    assert dag is None
    (message,) = errors.values()
    assert "INGEST_SCHEDULE" in message
    assert said in message


@pytest.mark.airflow
@pytest.mark.slow
def test_a_continuous_run_polls_what_is_due_now_and_stores_it(
    airflow_db, monkeypatch, tmp_path, demo_site
):
    """A continuous run's interval ends when it was created: the feeds due then are polled."""
    from datetime import UTC, datetime

    from sqlalchemy import func, select

    from ingest.store import engine as db
    from ingest.store import schema as wh

    feeds = tmp_path / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    for key, value in {
        "INGEST_HOME": str(tmp_path), "INGEST_FEEDS_FILE": str(feeds),
        "INGEST_PAGE_DEADLINE_S": "2", "INGEST_ALLOW_LOOPBACK": "true",
        "INGEST_POLITENESS_DELAY_S": "0.2", "AIRFLOW_CONN_NEWS_WAREHOUSE": url,
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    dag, errors = _news_ingest(monkeypatch, "@continuous")
    assert errors == {}
    run = dag.test(logical_date=datetime.now(UTC))
    assert run.state == "success"
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            polled = conn.execute(select(func.count()).select_from(wh.feeds).where(
                wh.feeds.c.last_polled_at.is_not(None))).scalar_one()  # fmt: skip
            stored = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
    finally:
        engine.dispose()
    assert polled == len(demo_site.feeds)  # every feed was due: none polled before
    assert stored > 0
