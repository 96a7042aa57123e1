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


def test_a_short_interval(airflow_db, monkeypatch):
    dag, errors = _news_ingest(monkeypatch, "*/2  *  * * *")
    assert errors == {}
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    assert dag.timetable.expression == "*/2 * * * *"


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
