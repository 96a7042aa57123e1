"""Shared fixtures. Airflow's environment is set here, before anything imports airflow."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ci_env import in_ci

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="ingest-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).parents[1] / "dags")
os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "t" * 64)
for _name in [n for n in os.environ if n.startswith("INGEST_")]:
    del os.environ[_name]  # tests choose their settings explicitly

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture
def settings(tmp_path):
    from ingest.settings import load_settings

    return load_settings(
        home=tmp_path / "var", page_deadline_s=2.0, feed_deadline_s=2.0,
        allow_loopback=True, politeness_delay_s=0.0,
    )  # fmt: skip


@pytest.fixture(scope="session")
def pg_cluster():
    """A PostgreSQL server for the session. Required in CI; elsewhere a skip says why."""
    from pgcluster import Cluster, find_bindir

    bindir = find_bindir()
    if bindir is None:
        message = "no PostgreSQL server binaries (install Debian's postgresql: make test does)"
        if in_ci():
            pytest.fail(f"PostgreSQL is required in CI: {message}")
        pytest.skip(message)
    cluster = Cluster(bindir)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def warehouse_url(request, tmp_path):
    """A fresh, empty warehouse URL on each backend the test is parametrised over."""
    backend = getattr(request, "param", "sqlite")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    with cluster.database() as url:
        yield url


@pytest.fixture
def engine(warehouse_url):
    """A migrated warehouse engine (SQLite, or PostgreSQL where parametrised)."""
    from ingest.store import engine as db

    eng = db.make_engine(warehouse_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def pytest_generate_tests(metafunc):
    """Every test that uses a warehouse runs on SQLite and on PostgreSQL (unless sqlite_only)."""
    if "warehouse_url" in metafunc.fixturenames and not metafunc.definition.get_closest_marker(
        "sqlite_only"
    ):
        metafunc.parametrize("warehouse_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def now():
    return datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def demo_site():
    """The bundled demo news site on loopback, with a slow page slower than tests' deadline."""
    from ingest.demosite import serve

    with serve(port=0, slow_seconds=6.0) as site:
        yield site
