"""The trigger form of news_ingest: its Params, what Airflow refuses, what a run does.

The form's schemas are read from a DagBag parsed with a registry in the environment;
Airflow validates a trigger's conf against them with the same code for the form and
for the REST API (the API server refusing bad conf is tested in tests/ui). The manual
runs are real ``dag.test()`` runs against the demo site.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ingest.store import engine as db
from ingest.store import schema as wh

pytestmark = [pytest.mark.airflow]

DAG_FILE = Path(__file__).parents[2] / "dags" / "news_ingest.py"
REGISTRY = """
[[feeds]]
key = "harbour-top"
url = "https://harbour.example/top.xml"
title = "Harbour: top stories"

[[feeds]]
key = "valley-news"
url = "https://valley.example/news.xml"

[[feeds]]
key = "old-feed"
url = "https://old.example/feed.xml"
enabled = false
"""


def parsed(monkeypatch, tmp_path, registry: str | None):
    from airflow.dag_processing.dagbag import DagBag

    if registry is not None:
        path = tmp_path / "feeds.toml"
        path.write_text(registry)
        monkeypatch.setenv("INGEST_FEEDS_FILE", str(path))
    else:
        monkeypatch.delenv("INGEST_FEEDS_FILE", raising=False)
    bag = DagBag(dag_folder=str(DAG_FILE))
    assert bag.import_errors == {}
    return bag.get_dag("news_ingest")


def served(dag):
    """The DAG as the API server holds it (serialized): its create_dagrun validates conf."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.from_dict(DagSerialization.to_dict(dag))


def test_the_form_offers_the_registrys_enabled_feeds(airflow_db, monkeypatch, tmp_path):
    dag = parsed(monkeypatch, tmp_path, REGISTRY)
    feeds = dag.params.get_param("feeds").schema
    assert feeds["type"] == "array" and feeds["uniqueItems"] is True
    assert feeds["examples"] == feeds["items"]["enum"] == ["harbour-top", "valley-news"]
    assert feeds["values_display"]["harbour-top"] == "harbour-top: Harbour: top stories"
    assert feeds["values_display"]["valley-news"] == "valley-news: https://valley.example/news.xml"
    for flag in ("poll_now", "retry_failed"):
        assert dag.params.get_param(flag).schema["type"] == "boolean"
    assert dag.params.dump() == {"feeds": [], "poll_now": False, "retry_failed": False}


@pytest.mark.parametrize(
    ("conf", "refused"),
    [
        ({"feeds": ["nope"]}, "nope"),
        ({"feeds": ["old-feed"]}, "old-feed"),  # disabled: not offered, not accepted
        ({"feeds": "harbour-top"}, "harbour-top"),
        ({"poll_now": "yes"}, "yes"),
        ({"feeds": ["harbour-top", "harbour-top"]}, "harbour-top"),
    ],
)
def test_bad_conf_is_refused_before_any_run(airflow_db, monkeypatch, tmp_path, conf, refused):
    from airflow.exceptions import ParamValidationError

    params = served(parsed(monkeypatch, tmp_path, REGISTRY)).params.deep_merge(conf)
    with pytest.raises(ParamValidationError) as caught:
        params.validate()
    assert refused in str(caught.value)


def test_a_good_conf_validates(airflow_db, monkeypatch, tmp_path):
    dag = served(parsed(monkeypatch, tmp_path, REGISTRY))
    conf = {"feeds": ["valley-news"], "poll_now": True, "retry_failed": True}
    assert dag.params.deep_merge(conf).validate() == conf


@pytest.mark.parametrize(
    "registry",
    [
        None,  # no registry configured
        "this is [not toml",
        "".join(f'[[feeds]]\nkey = "f{i}"\nurl = "https://x.example/{i}"\n' for i in range(501)),
        '[[feeds]]\nkey = "big"\nurl = "https://x.example/"\n' + "#" * (600 * 1024),
    ],
    ids=["unset", "not-toml", "over-500-feeds", "over-512-kib"],
)
def test_without_a_cheap_registry_the_form_takes_keys_the_run_checks(
    airflow_db, monkeypatch, tmp_path, registry
):
    dag = parsed(monkeypatch, tmp_path, registry)  # the DAG still parses
    feeds = dag.params.get_param("feeds").schema
    assert "enum" not in feeds["items"] and "examples" not in feeds
    merged = served(dag).params.deep_merge({"feeds": ["any-key"]})
    assert merged.validate()["feeds"] == ["any-key"]


@pytest.fixture
def demo_env(tmp_path, demo_site, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    feeds = home / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    url = f"sqlite:///{home / 'warehouse.db'}"
    for key, value in {
        "INGEST_HOME": str(home), "INGEST_FEEDS_FILE": str(feeds), "INGEST_PAGE_DEADLINE_S": "2",
        "INGEST_ALLOW_LOOPBACK": "true", "INGEST_POLITENESS_DELAY_S": "0.05",
        "AIRFLOW_CONN_NEWS_WAREHOUSE": url, "INGEST_CHECK_MAX_FAILED_SHARE": "1",
        "INGEST_FEED_BROKEN_AFTER": "100",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    engine = db.make_engine(url)
    yield engine
    engine.dispose()


def logged(engine, run_id, kind):
    with engine.connect() as conn:
        return conn.execute(
            select(wh.fetch_log.c.feed_key, wh.fetch_log.c.url)
            .where(wh.fetch_log.c.run_id == run_id, wh.fetch_log.c.kind == kind)
        ).all()  # fmt: skip


@pytest.mark.slow
def test_manual_runs_poll_chosen_feeds_now_and_retry_failed_pages(demo_env, monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(DAG_FILE)).get_dag("news_ingest")
    keys = dag.params.get_param("feeds").schema["items"]["enum"]
    assert len(keys) > 2  # the demo registry is offered
    start = datetime.now(UTC)
    first = dag.test(logical_date=start)
    assert first.state == "success"
    polled_first = {key for key, _ in logged(demo_env, first.run_id, "feed")}
    assert polled_first == set(keys)
    with demo_env.connect() as conn:
        failed = conn.execute(
            select(wh.feed_entries.c.feed_key, wh.feed_entries.c.link)
            .where(wh.feed_entries.c.state == "failed")
        ).all()  # fmt: skip
    assert failed  # the demo site has pages that fail (404, not HTML, ...)

    # Minutes later nothing is due; a manual run polls the chosen feed anyway, it alone.
    chosen = failed[0].feed_key
    second = dag.test(
        logical_date=start + timedelta(minutes=1), run_conf={"feeds": [chosen], "poll_now": True}
    )
    assert second.state == "success"
    assert {key for key, _ in logged(demo_env, second.run_id, "feed")} == {chosen}

    # Retry the chosen feed's failed pages: each is asked again (or refused again).
    third = dag.test(
        logical_date=start + timedelta(minutes=2),
        # every param given: dag.test() keeps the previous run's conf in the DAG's params
        run_conf={"feeds": [chosen], "poll_now": False, "retry_failed": True},
    )
    assert third.state == "success"
    assert logged(demo_env, third.run_id, "feed") == []  # not due, and not asked to poll now
    retried = {url for _, url in logged(demo_env, third.run_id, "page")}
    theirs = {link for key, link in failed if key == chosen}
    assert theirs <= retried
    others = {link for key, link in failed if key != chosen}
    assert not others & retried
