"""`make demo` as a newcomer runs it, then its run in the Airflow UI, task logs included.

The demo script itself runs (on its own Airflow home, warehouse and port): the demo site,
one run of the real DAG through the LocalExecutor, the report. Then an API server on that
home shows the run, and each task's log is there: by the REST API, and in chromium on
the task's page, logged in (a plain ``dags test`` writes no log file, and the UI said
"Log file not found on worker").
"""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from pathlib import Path

import pytest

from airflow_servers import ROOT, airflow_env, free_port, login, serving_api
from ui_site import shot

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """What `make demo` printed, and its Airflow home."""
    top = tmp_path_factory.mktemp("demo")
    (top / "airflow").mkdir()
    env = airflow_env(top / "airflow", INGEST_HOME=str(top / "var"), DEMO_PORT=str(free_port()))
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")], env=env, capture_output=True, text=True,
        timeout=600, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout, top / "airflow", env


def test_the_demo_says_what_it_ran_and_what_landed(demo):
    out, _, _ = demo
    assert "the DAG run succeeded" in out
    stored = int(re.search(r"articles stored \(new\)\s*│\s*(\d+)", out).group(1))
    assert stored > 0
    assert f"warehouse: {stored} articles" in out


def test_the_demo_leaves_nothing_running(demo):
    """The demo site, the API server and the executor's workers are all gone."""
    _, _, env = demo
    mine = f"INGEST_HOME={env['INGEST_HOME']}".encode()
    left = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if mine in environ.read_bytes().split(b"\0"):
                left.append((environ.parent / "cmdline").read_bytes().replace(b"\0", b" "))
        except OSError:
            continue
    assert left == []


@pytest.fixture(scope="module")
def demo_ui(demo):
    _, home, env = demo
    # the demo's own settings (its secret, its home) with the test's users on top
    env = {**env, "AIRFLOW__API_AUTH__JWT_SECRET": (home / "jwt_secret").read_text().strip()}
    with serving_api(home, env) as server:
        yield server


def _api(server, path: str):
    request = urllib.request.Request(
        f"{server.base}/api/v2{path}", headers={"Authorization": f"Bearer {server.token('admin')}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_every_task_of_the_demo_run_has_its_log_in_the_ui(demo_ui, browser):
    (run,) = _api(demo_ui, "/dags/news_ingest/dagRuns")["dag_runs"]
    assert run["state"] == "success"
    tis = _api(demo_ui, f"/dags/news_ingest/dagRuns/{run['dag_run_id']}/taskInstances")
    ran = [t for t in tis["task_instances"] if t["state"] == "success"]
    assert {t["task_id"] for t in ran} >= {"prepare", "poll", "fetch", "load", "check"}
    for ti in ran:
        logs = _api(
            demo_ui,
            f"/dags/news_ingest/dagRuns/{run['dag_run_id']}/taskInstances/{ti['task_id']}"
            f"/logs/{ti['try_number']}?map_index={ti['map_index']}",
        )
        text = json.dumps(logs["content"])
        assert "Log file not found" not in text, ti["task_id"]
        assert "Done. Returned value" in text, ti["task_id"]  # the task ran to its end
    fetch = next(t for t in ran if t["task_id"] == "fetch")
    logs = _api(
        demo_ui,
        f"/dags/news_ingest/dagRuns/{run['dag_run_id']}/taskInstances/fetch/logs/"
        f"{fetch['try_number']}?map_index={fetch['map_index']}",
    )
    assert "shard fetched" in json.dumps(logs["content"])  # our own summary line

    path = f"/dags/news_ingest/runs/{run['dag_run_id']}/tasks/check"
    context = login(browser, demo_ui, "admin", "/dags/news_ingest")
    try:
        page = context.new_page()
        page.goto(f"{demo_ui.base}{path}")
        page.get_by_text("healthy", exact=False).first.wait_for(
            timeout=60_000
        )  # the check's summary
        assert page.get_by_text("Log file not found").count() == 0
        shot(page, "task-log")
    finally:
        context.close()
