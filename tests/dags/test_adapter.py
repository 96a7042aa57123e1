"""ingest_airflow: an Airflow Connection becomes the warehouse URL it means."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.engine import make_url

from ingest.settings import load_settings

pytestmark = pytest.mark.airflow


@pytest.fixture
def settings(tmp_path):
    return load_settings(home=tmp_path)


def url_for(monkeypatch, settings, conn: str | None) -> str:
    from ingest_airflow import warehouse_url

    if conn is None:
        monkeypatch.delenv("AIRFLOW_CONN_NEWS_WAREHOUSE", raising=False)
    else:
        monkeypatch.setenv("AIRFLOW_CONN_NEWS_WAREHOUSE", conn)
    return warehouse_url(settings)


def test_without_a_connection_the_settings_warehouse_is_used(monkeypatch, settings):
    assert url_for(monkeypatch, settings, None) == settings.resolved_warehouse_url


def test_a_sqlite_connection_names_its_file(monkeypatch, settings, tmp_path):
    url = url_for(monkeypatch, settings, f"sqlite:///{tmp_path}/w.db")
    assert make_url(url).database == f"{tmp_path}/w.db"


def test_a_postgres_connection_keeps_its_tls_and_libpq_options(monkeypatch, settings):
    url = make_url(
        url_for(
            monkeypatch, settings,
            "postgresql://ingest:p%40ss@db.internal:5433/news?sslmode=require&connect_timeout=5",
        )
    )  # fmt: skip
    assert (url.drivername, url.username, url.password, url.host, url.port, url.database) == (
        "postgresql+psycopg", "ingest", "p@ss", "db.internal", 5433, "news",
    )  # fmt: skip
    assert dict(url.query) == {"sslmode": "require", "connect_timeout": "5"}


def test_a_postgres_connection_takes_the_hooks_sqlalchemy_extras(monkeypatch, settings):
    conn = {
        "conn_type": "postgres", "host": "db", "login": "u", "password": "pw", "schema": "news",
        "port": 5432,
        "extra": {"sqlalchemy_query": {"application_name": "news-ingest"}, "sslmode": "verify-full"},
    }  # fmt: skip
    url = make_url(url_for(monkeypatch, settings, json.dumps(conn)))
    assert dict(url.query) == {"application_name": "news-ingest", "sslmode": "verify-full"}


def test_a_connection_of_another_kind_is_refused(monkeypatch, settings):
    from ingest.errors import WarehouseError

    with pytest.raises(WarehouseError, match="unsupported warehouse connection type 'mysql'"):
        url_for(monkeypatch, settings, "mysql://u:p@db/news")


def test_a_postgres_connection_asking_for_another_driver_is_refused(monkeypatch, settings):
    from ingest.errors import ConfigError

    conn = {"conn_type": "postgres", "host": "db", "schema": "news",
            "extra": {"sqlalchemy_scheme": "postgresql+psycopg2"}}  # fmt: skip
    with pytest.raises(ConfigError, match="psycopg 3"):
        url_for(monkeypatch, settings, json.dumps(conn))


def test_boolean_extras_reach_libpq_as_it_spells_them(monkeypatch, settings):
    conn = {"conn_type": "postgres", "host": "db", "schema": "news", "extra": {"keepalives": True}}
    assert dict(make_url(url_for(monkeypatch, settings, json.dumps(conn))).query) == {
        "keepalives": "1"
    }
