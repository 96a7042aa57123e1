"""The CeleryExecutor deployment (docker-compose.yml, Dockerfile) holds together.

No Docker engine runs here: the compose file is checked against the compose
specification's schema, and every part it names is checked against the project: the
Airflow commands exist in the locked Airflow (Celery provider included), the database
URLs use drivers the lock installs and databases the init script creates, the files the
image copies exist. Its workers, queues, pools and Celery settings are the ones
tests/test_celery_run.py runs for real (tools/celery_topology.py, ``make scale-demo``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from ingest.store import engine as db
from ingest.store.engine import url_from_connection

ROOT = Path(__file__).parents[1]
COMPOSE = ROOT / "docker-compose.yml"
WORKERS = {"airflow-worker-fetch", "airflow-worker-cpu"}
AIRFLOW_SERVICES = {
    "airflow-init", "airflow-pools", "airflow-apiserver", "airflow-scheduler",
    "airflow-dag-processor", "airflow-triggerer", *WORKERS,
}  # fmt: skip


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # anchors and merge keys resolved


def test_the_compose_file_follows_the_compose_specification():
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_airflow_service_runs_our_image_with_celery_and_one_configuration(compose):
    services = compose["services"]
    assert set(services) >= AIRFLOW_SERVICES
    assert {"postgres", "redis"} <= set(services)
    envs = [services[name]["environment"] for name in sorted(AIRFLOW_SERVICES)]
    assert all(env == envs[0] for env in envs)  # one configuration for every component
    env = envs[0]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert urlsplit(env["AIRFLOW__CELERY__BROKER_URL"]).hostname == "redis"
    assert urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"]).hostname == (
        "airflow-apiserver"
    )
    for name in AIRFLOW_SERVICES:
        assert services[name]["build"] == "."
        assert "/data/ingest" in " ".join(services[name]["volumes"])  # one shared archive
    for name in WORKERS:
        depends = services[name]["depends_on"]
        assert depends["airflow-apiserver"]["condition"] == "service_healthy"
    # the pools exist before the scheduler schedules a task in them
    assert services["airflow-pools"]["depends_on"]["airflow-init"]["condition"] == (
        "service_completed_successfully"
    )
    assert services["airflow-scheduler"]["depends_on"]["airflow-pools"]["condition"] == (
        "service_completed_successfully"
    )


def _option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def test_the_workers_are_the_ones_make_scale_demo_runs(compose):
    """A worker per queue, with the concurrency, names and settings make scale-demo runs."""
    from celery_topology import CELERY_SETTINGS, default_workers

    services = compose["services"]
    proven = {spec.queue: spec for spec in default_workers()}
    started = {}
    for name in sorted(WORKERS):
        command = services[name]["command"]
        assert command[:3] == ["airflow", "celery", "worker"]
        queue = _option(command, "-q")
        started[queue] = (int(_option(command, "--concurrency")),
                          _option(command, "--celery-hostname"))  # fmt: skip
    assert started == {q: (s.concurrency, f"{s.name}@%h") for q, s in proven.items()}
    env = services["airflow-scheduler"]["environment"]
    assert {k: env[k] for k in CELERY_SETTINGS} == CELERY_SETTINGS


@pytest.mark.airflow
def test_every_task_names_a_queue_a_worker_consumes_and_a_pool_the_init_creates(compose):
    from airflow.dag_processing.dagbag import DagBag

    from ingest_airflow.topology import POOL_HTTP, POOL_WAREHOUSE, QUEUE_CPU, QUEUE_FETCH

    services = compose["services"]
    queues = {_option(services[name]["command"], "-q") for name in WORKERS}
    pools_file = services["airflow-pools"]["command"][-1].removeprefix("/app/")
    pools = json.loads((ROOT / pools_file).read_text())
    assert set(pools) == {POOL_HTTP, POOL_WAREHOUSE}
    assert all(p["slots"] >= 1 for p in pools.values())
    dagbag = DagBag(dag_folder=str(ROOT / "dags"))
    assert dagbag.import_errors == {}
    tasks = [t for dag in dagbag.dags.values() for t in dag.tasks]
    assert {t.queue for t in tasks} == queues == {QUEUE_FETCH, QUEUE_CPU}
    assert {t.pool for t in tasks} <= {*pools, "default_pool"}
    http = {(t.dag_id, t.task_id) for t in tasks if t.queue == QUEUE_FETCH}
    assert http == {("news_ingest", "poll"), ("news_ingest", "fetch"),
                    ("news_backfill", "backfill")}  # fmt: skip
    assert all(t.pool == POOL_HTTP for t in tasks if t.queue == QUEUE_FETCH)


def _expand(value: str) -> str:
    """Compose's ${VAR:-default}, with the defaults."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", value)


def test_database_urls_use_locked_drivers_and_databases_the_init_script_creates(compose):
    env = compose["services"]["airflow-scheduler"]["environment"]
    created = set(
        re.findall(r"CREATE DATABASE (\w+)", (ROOT / "deploy/postgres-init.sh").read_text())
    )
    metadata = make_url(_expand(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]))
    metadata.get_dialect()  # the driver (psycopg 3) is importable from the lock
    assert metadata.host == "postgres"
    assert metadata.database in created
    backend = make_url(_expand(env["AIRFLOW__CELERY__RESULT_BACKEND"]).removeprefix("db+"))
    backend.get_dialect()
    # The warehouse Connection, read the way the DAG reads it.
    conn = urlsplit(_expand(env["AIRFLOW_CONN_NEWS_WAREHOUSE"]))
    url = make_url(url_from_connection(
        conn.scheme, conn.hostname, conn.path.lstrip("/"), conn.username, conn.password, conn.port
    ))  # fmt: skip
    assert url.drivername == "postgresql+psycopg"
    assert (url.host, url.database) == ("postgres", "warehouse")
    assert url.database in created


@pytest.mark.slow
@pytest.mark.airflow
@pytest.mark.parametrize("service", sorted(AIRFLOW_SERVICES))
def test_each_service_command_exists_in_the_locked_airflow(compose, service, tmp_path):
    command = compose["services"][service]["command"]
    assert command[0] == "airflow"
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False"}
    env["AIRFLOW__CORE__EXECUTOR"] = "CeleryExecutor"  # `airflow celery` needs the provider
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run(
        [str(airflow), *command[1:], "--help"], env=env, capture_output=True, text=True,
        check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_image_installs_exactly_the_lock_with_airflow_and_celery():
    dockerfile = (ROOT / "Dockerfile").read_text()
    syncs = [line for line in dockerfile.splitlines() if "uv sync" in line]
    assert syncs and all("--frozen" in s and "--extra airflow" in s and "--extra celery" in s
                         for s in syncs)  # fmt: skip
    for source in re.findall(r"^COPY (?!--)(.+) \S+$", dockerfile, re.MULTILINE):
        for name in source.split():
            assert (ROOT / name).exists(), name
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "celery" in extras["project"]["optional-dependencies"]


def test_the_postgres_init_script_creates_both_databases_and_the_warehouse_migrates(pg_cluster):
    import psycopg

    env = {
        **os.environ, "POSTGRES_USER": pg_cluster.user, "PGHOST": "127.0.0.1",
        "PGPORT": str(pg_cluster.port), "PATH": f"{pg_cluster.bindir}:{os.environ['PATH']}",
        "AIRFLOW_DB_PASSWORD": "air'flow", "WAREHOUSE_DB_PASSWORD": "in gest",
    }  # fmt: skip
    dsn = f"host=127.0.0.1 port={pg_cluster.port} user={pg_cluster.user} dbname=postgres"
    try:
        subprocess.run(["sh", str(ROOT / "deploy/postgres-init.sh")], env=env, check=True,
                       capture_output=True, timeout=60)  # fmt: skip
        with psycopg.connect(dsn) as conn:
            owners = dict(conn.execute(
                "SELECT datname, pg_get_userbyid(datdba) FROM pg_database"
                " WHERE datname IN ('airflow', 'warehouse')"
            ).fetchall())  # fmt: skip
            passwords = dict(conn.execute(
                "SELECT rolname, rolpassword IS NOT NULL FROM pg_authid"
                " WHERE rolname IN ('airflow', 'ingest')"
            ).fetchall())  # fmt: skip
        assert owners == {"airflow": "airflow", "warehouse": "ingest"}
        assert passwords == {"airflow": True, "ingest": True}
        engine = db.make_engine(
            f"postgresql+psycopg://ingest@127.0.0.1:{pg_cluster.port}/warehouse"
        )
        db.upgrade(engine)  # the warehouse user can create the whole schema
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM articles").scalar() == 0
        engine.dispose()
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for statement in (
                "DROP DATABASE IF EXISTS airflow WITH (FORCE)",
                "DROP DATABASE IF EXISTS warehouse WITH (FORCE)",
                "DROP ROLE IF EXISTS airflow",
                "DROP ROLE IF EXISTS ingest",
            ):
                conn.execute(statement)  # fmt: skip
