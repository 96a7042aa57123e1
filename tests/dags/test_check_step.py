"""The check step tells the truth about a run, in Airflow: red when a health rule breaks.

The real news_ingest DAG runs (`dag.test()`) against the demo site. A feed that turns
broken in the run fails the run at `check` (everything else green, the articles stored);
a later run that stores nothing for longer than the freshness limit while feeds are due
fails the same way; the `news_articles` event is announced only by a run that changed
articles. Alerts go to a real SMTP server: each transition once, each failed run once. The rules themselves are tested in tests/unit/test_monitor.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ingest.store import engine as db
from ingest.store import schema as wh

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def states(run_id):
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id)).all()
        return {(ti.task_id, ti.map_index): ti.state for ti in tis}


def events(run_id):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        found = session.scalars(select(AssetEvent).where(AssetEvent.source_run_id == run_id))
        return [dict(e.extra) for e in found]


def xcoms(run_id):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.execute(
            select(XComModel.task_id, XComModel.key).where(XComModel.run_id == run_id)
        ).all()
        return [tuple(r) for r in rows]


@pytest.fixture
def env(tmp_path, demo_site, monkeypatch, smtp_inbox):
    home = tmp_path / "home"
    home.mkdir()
    feeds = home / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    url = f"sqlite:///{home / 'warehouse.db'}"
    for key, value in {
        "INGEST_HOME": str(home), "INGEST_FEEDS_FILE": str(feeds), "INGEST_PAGE_DEADLINE_S": "2",
        "INGEST_ALLOW_LOOPBACK": "true", "INGEST_POLITENESS_DELAY_S": "0.1",
        "AIRFLOW_CONN_NEWS_WAREHOUSE": url,
        "INGEST_FEED_BROKEN_AFTER": "1",  # the demo's malformed feed turns broken at once
        "INGEST_ALERT_EMAIL_TO": "ops@news-ingest.test", "INGEST_ALERT_SMTP_CONN_ID": "news_smtp",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


def test_a_broken_feed_then_staleness_turn_the_run_red_at_check(
    env, dagbag, monkeypatch, caplog, smtp_inbox
):
    dag = dagbag.get_dag("news_ingest")
    first = dag.test(logical_date=datetime.now(UTC))
    assert first.state == "failed"
    st = states(first.run_id)
    red = {task for (task, _), state in st.items() if state == "failed"}
    assert red == {"check"}, st  # nothing else failed: the run's work was done
    assert st[("load", -1)] == st[("announce", -1)] == "success"
    assert st[("watcher", -1)] == "skipped"
    with env.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
    assert stored > 0
    (extra,) = events(first.run_id)  # this run changed articles: one event, with counts
    assert extra["inserted"] == stored and "duplicates" in extra
    assert "turned broken in this run" in caplog.text and "coastline-daily-breaking" in caplog.text
    # one XCom row per task that hands data on; none pushed key by key
    pushed = xcoms(first.run_id)
    assert {key for _, key in pushed} == {"return_value"}
    assert not {"cluster", "check", "watcher", "announce"} & {task for task, _ in pushed}
    # e-mail, through a real SMTP server: the feed's transition, and the failed run
    assert sorted(smtp_inbox.subjects()) == [
        "[news-ingest] feed coastline-daily-breaking is broken",
        f"[news-ingest] run {first.run_id} failed",
    ]
    run_mail = next(m for m in smtp_inbox.messages if "failed" in str(m["Subject"]))
    assert "feed coastline-daily-breaking turned broken in this run" in smtp_inbox.text(run_mail)
    smtp_inbox.messages.clear()

    caplog.clear()
    monkeypatch.setenv("INGEST_FRESHNESS_LIMIT_S", "1")
    time.sleep(1.5)  # longer than the limit since the newest article was stored
    second = dag.test(logical_date=datetime.now(UTC) + timedelta(hours=1))
    assert second.state == "failed"
    st = states(second.run_id)
    assert {task for (task, _), state in st.items() if state == "failed"} == {"check"}, st
    assert st[("announce", -1)] == "skipped"  # nothing inserted or updated: no event
    assert events(second.run_id) == []
    assert "nothing stored for" in caplog.text
    assert "turned broken" not in caplog.text  # broken already: not news in this run
    assert sorted(smtp_inbox.subjects()) == [  # the feed is not announced again
        "[news-ingest] nothing has landed for too long",
        f"[news-ingest] run {second.run_id} failed",
    ]
    smtp_inbox.messages.clear()

    monkeypatch.setenv("INGEST_FRESHNESS_LIMIT_S", "0")  # the rule off: a quiet run is fine
    third = dag.test(logical_date=datetime.now(UTC) + timedelta(hours=2))
    assert third.state == "success", states(third.run_id)
    assert events(third.run_id) == []
    assert smtp_inbox.messages == []  # a healthy run, no transition: no mail
