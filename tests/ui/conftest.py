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

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from ci_env import in_ci
from ui_site import USERS, hostile_feeds

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent
SERVER_START_S = 180.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


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


@dataclass(frozen=True)
class ApiServer:
    base: str
    home: Path

    def token(self, user: str) -> str:
        name, password = USERS[user]
        request = urllib.request.Request(
            f"{self.base}/auth/token",
            data=json.dumps({"username": name, "password": password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.loads(response.read())["access_token"])


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def api_server(ui_warehouse: Warehouse) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free port, with the plugin, for the session."""
    home = Path(tempfile.mkdtemp(prefix="ingest-ui-airflow-"))
    (home / "passwords.json").write_text(json.dumps(dict(USERS.values())), encoding="utf-8")
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "INGEST_"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(
            f"{name}:{role}" for role, (name, _) in USERS.items()
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": "u" * 64,
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(_free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(_free_port()),
        "INGEST_WAREHOUSE_URL": ui_warehouse.url,
        "INGEST_HOME": str(ui_warehouse.home / "home"),
        "INGEST_FEEDS_FILE": str(ui_warehouse.home / "feeds.toml"),  # the trigger form's feeds
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }  # fmt: skip
    with (home / "migrate.log").open("wb") as log:
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True, timeout=300)  # fmt: skip
        # the DAG in the metadata database, so that its page (and the plugin's tab) exist
        subprocess.run([str(BIN / "airflow"), "dags", "reserialize"], env=env, stdout=log,
                       stderr=subprocess.STDOUT, check=True, timeout=300)  # fmt: skip
    log = (home / "api-server.log").open("wb")
    process = subprocess.Popen(
        [str(BIN / "airflow"), "api-server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not _healthy(base):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = (home / "api-server.log").read_text(errors="replace")[-3000:]
                pytest.fail(f"the API server did not come up (exit {process.poll()}):\n{tail}")
            time.sleep(0.5)
        yield ApiServer(base, home)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()
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
