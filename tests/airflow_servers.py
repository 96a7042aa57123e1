"""A real Airflow API server of a test's own: its environment, its start and stop, a login."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ui_site import USERS

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
SERVER_START_S = 180.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class ApiServer:
    base: str
    home: Path
    env: dict[str, str]

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


def airflow_env(home: Path, **extra: str) -> dict[str, str]:
    """An environment for an Airflow of our own: this home, our DAGs and plugin, our users."""
    (home / "passwords.json").write_text(json.dumps(dict(USERS.values())), encoding="utf-8")
    return {
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
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        **extra,
    }  # fmt: skip


@contextmanager
def serving_api(home: Path, env: dict[str, str]) -> Iterator[ApiServer]:
    """``airflow api-server`` on a free port over ``home`` (already migrated), until exit."""
    port = free_port()
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
        yield ApiServer(base, home, env)
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        log.close()


def signed_in(path: str):
    """A URL test for "landed on ``path`` after signing in".

    A glob on ``path`` alone would match the login page itself, whose ``next=`` parameter
    ends with that path, and return before the session cookie is set.
    """

    def landed(url: str) -> bool:
        return "/auth/" not in url and url.split("?", 1)[0].rstrip("/").endswith(path.rstrip("/"))

    return landed


def login(browser: object, server: ApiServer, user: str, then: str) -> object:
    """A browser context logged in as ``user`` on Airflow's own login form, at ``then``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    page.goto(f"{server.base}/auth/login/?next={server.base}{then}")
    name, password = USERS[user]
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(signed_in(then), timeout=60_000)
    page.close()
    return context
