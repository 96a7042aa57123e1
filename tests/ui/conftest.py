"""A real Airflow API server with the news-ingest plugin, over a warehouse a real run filled.

Session-scoped, because the server takes about half a minute to come up: one fresh
``AIRFLOW_HOME`` (SQLite metadata, migrated with ``airflow db migrate``), the project's
``plugins/`` and ``dags/``, two simple-auth-manager users, and ``INGEST_WAREHOUSE_URL``
pointing at a warehouse that ``ingest run`` filled from the bundled demo site plus one
hostile feed (markup and script in its title, a ``javascript:`` link, a story whose
title is script and 100 KB long, a 1,500-character URL, a header made of markup). Chromium is Debian's, driven by Playwright; in CI a missing
browser fails these tests, elsewhere they skip saying why.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from airflow_servers import ApiServer, airflow_env, serving_api
from ci_env import in_ci
from ui_site import hostile_feeds

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Warehouse:
    url: str
    home: Path


@pytest.fixture(scope="session")
def ui_warehouse() -> Iterator[Warehouse]:
    """A warehouse one real ``ingest run`` filled: the demo site and the hostile feeds."""
    from ingest.cli import main
    from ingest.demosite import serve

    tmp = Path(tempfile.mkdtemp(prefix="ingest-ui-"))
    server = HTTPServer(host="127.0.0.1", port=0)
    server.start()
    env = {"INGEST_HOME": str(tmp / "home"), "INGEST_ALLOW_LOOPBACK": "true",
           "INGEST_POLITENESS_DELAY_S": "0", "INGEST_PAGE_DEADLINE_S": "2",
           "INGEST_FEED_BROKEN_AFTER": "1"}  # fmt: skip
    url = f"sqlite:///{tmp / 'warehouse.db'}"
    try:
        with serve(port=0, slow_seconds=3.0) as site, pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            feeds = tmp / "feeds.toml"
            # two runs: the demo site, then the hostile feeds added (the demo's are not due
            # again), so that the hostile story is the newest article
            for registry in (site.feeds_toml(), site.feeds_toml() + "\n" + hostile_feeds(server)):
                feeds.write_text(registry, encoding="utf-8")
                code = main(["run", "--feeds", str(feeds), "--warehouse", url, "--no-progress"])
                assert code == 0, code
        yield Warehouse(url, tmp)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def api_server(ui_warehouse: Warehouse) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free port, with the plugin, for the session."""
    home = Path(tempfile.mkdtemp(prefix="ingest-ui-airflow-"))
    env = airflow_env(
        home,
        INGEST_WAREHOUSE_URL=ui_warehouse.url,
        INGEST_HOME=str(ui_warehouse.home / "home"),
        INGEST_FEEDS_FILE=str(ui_warehouse.home / "feeds.toml"),  # the trigger form's feeds
    )
    with (home / "migrate.log").open("wb") as log:
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True, timeout=300)  # fmt: skip
        # the DAG in the metadata database, so that its page (and the plugin's tab) exist
        subprocess.run([str(BIN / "airflow"), "dags", "reserialize"], env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True, timeout=300)  # fmt: skip
    try:
        with serving_api(home, env) as server:
            yield server
    finally:
        shutil.rmtree(home, ignore_errors=True)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's chromium, headless, through Playwright. Required in CI."""
    if not Path(CHROMIUM).exists():
        message = "no chromium (install Debian's chromium: make test does)"
        if in_ci():
            pytest.fail(f"chromium is required in CI: {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
