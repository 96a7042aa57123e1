"""`airflow backfill create` on a real `airflow standalone`: backfills store nothing twice.

The slowest test of the suite (about a minute): it starts Airflow's scheduler, API server
and DAG processor in their own process group, with their own Airflow home.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from ingest.pipeline import run_once
from ingest.settings import load_settings
from ingest.store import engine as db
from ingest.store import schema as wh

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

AIRFLOW = Path(sys.executable).with_name("airflow")
DAGS = Path(__file__).parents[2] / "dags"
STEP = timedelta(minutes=15)
SHIFT = timedelta(hours=3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


#: What an `airflow` command says when Airflow's SQLite metadata file was being written by
#: another of its processes (the scheduler) as it wrote: SQLite refuses at once rather than
#: wait when both would deadlock, whatever the busy timeout. Nothing was written; the
#: command is run again, as a user of the embedded default would (docs/operations.md).
LOCKED = "database is locked"
LOCKED_ATTEMPTS = 5


def floor(moment: datetime) -> datetime:
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def captured(request, tmp_path_factory, demo_site):
    """A warehouse loaded three hours ago (as far as its fetch times say)."""
    home = tmp_path_factory.mktemp("backfill")
    feeds = home / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    with contextlib.ExitStack() as stack:
        url = (
            f"sqlite:///{home / 'warehouse.db'}"
            if request.param == "sqlite"
            else stack.enter_context(request.getfixturevalue("pg_cluster").database())
        )
        yield _load_three_hours_ago(home, feeds, url)


def _load_three_hours_ago(home, feeds, url):
    settings = load_settings(
        home=home, page_deadline_s=2.0, warehouse_url=url, allow_loopback=True,
        politeness_delay_s=0.2,
    )  # fmt: skip
    engine = db.make_engine(url)
    run_once(engine, settings, feeds)
    with db.transaction(engine) as conn:
        for article_id, fetched_at in conn.execute(
            select(wh.articles.c.article_id, wh.articles.c.fetched_at)
        ).all():
            conn.execute(
                update(wh.articles)
                .where(wh.articles.c.article_id == article_id)
                .values(fetched_at=fetched_at - SHIFT)
            )
    return home, feeds, engine


@pytest.fixture(scope="module")
def standalone(captured):
    home, feeds, engine = captured
    port = free_port()
    airflow_home = home / "airflow"
    airflow_home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "INGEST_"))}
    env.update(
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__PARALLELISM="2",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        AIRFLOW__API_AUTH__JWT_SECRET="b" * 64,
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW_CONN_NEWS_WAREHOUSE=engine.url.render_as_string(hide_password=False).replace(
            "postgresql+psycopg://", "postgresql://"
        ),
        INGEST_HOME=str(home),
        INGEST_FEEDS_FILE=str(feeds),
        INGEST_PAGE_DEADLINE_S="2",
        INGEST_ALLOW_LOOPBACK="true",
        INGEST_POLITENESS_DELAY_S="0.2",
        PATH=f"{AIRFLOW.parent}:{os.environ['PATH']}",
    )
    log = (home / "standalone.log").open("wb")
    # A child started in the background may inherit SIGINT as ignored; restore it first.
    launcher = (
        "import os, signal; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execvp('airflow', ['airflow', 'standalone'])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", launcher],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip

    def cli(*args: str) -> str:
        for attempt in range(1, LOCKED_ATTEMPTS + 1):
            done = subprocess.run(
                [str(AIRFLOW), *args], check=False, env=env, capture_output=True, text=True,
                timeout=120,
            )  # fmt: skip
            if done.returncode and LOCKED in done.stderr and attempt < LOCKED_ATTEMPTS:
                time.sleep(2)  # Airflow's SQLite metadata: the scheduler wrote at that moment
                continue
            if done.returncode:  # the whole of what Airflow said, not just its exit status
                raise CliError(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
            return done.stdout
        raise AssertionError("unreachable")  # pragma: no cover

    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (home / "standalone.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "airflow standalone did not become ready"
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=2
                ) as r:
                    if json.load(r)["scheduler"]["status"] == "healthy" and "news_ingest" in cli(
                        "dags", "list", "-o", "plain"
                    ):
                        break
            except (OSError, KeyError, CliError):
                pass
            time.sleep(2)
        cli("pools", "import", str(DAGS.parent / "deploy" / "pools.json"))  # as make airflow
        yield cli, airflow_home / "airflow.db"
    finally:
        stop_group(proc)
        log.close()


class CliError(AssertionError):
    """An `airflow` command exited non-zero; the message holds its stderr."""


def stop_group(proc: subprocess.Popen) -> None:
    """INT, then TERM, then KILL the whole group: idle workers can outlive the first two."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            proc.poll()  # reap our own child so it does not count as alive
            if not group_alive(proc.pid):
                proc.wait()
                return
            time.sleep(0.5)
    proc.wait()


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is left in the process group (Linux /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def test_backfill_over_a_captured_interval_stores_nothing_twice(captured, standalone):
    _, _, engine = captured
    cli, metadata_db = standalone
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
        first, last = conn.execute(
            select(func.min(wh.articles.c.fetched_at), func.max(wh.articles.c.fetched_at))
        ).one()
    start, end = floor(first) - STEP, floor(last)
    expected_runs = int((end - start) / STEP) + 1

    cli("backfill", "create", "--dag-id", "news_ingest",
        "--from-date", start.isoformat(), "--to-date", end.isoformat())  # fmt: skip
    cli("dags", "unpause", "news_ingest")

    deadline = time.monotonic() + 300
    while True:
        with sqlite3.connect(metadata_db) as meta:
            runs = meta.execute(
                "select run_type, state from dag_run where dag_id='news_ingest'"
            ).fetchall()
        backfill = [state for kind, state in runs if kind == "backfill"]
        scheduled = [state for kind, state in runs if kind == "scheduled"]
        finished = all(state in ("success", "failed") for _, state in runs)
        if len(backfill) == expected_runs and scheduled and finished:
            break
        assert time.monotonic() < deadline, f"runs still going: {runs}"
        time.sleep(2)
    assert backfill == ["success"] * expected_runs, runs
    assert "success" in scheduled, f"a scheduled run ran alongside the backfill: {runs}"

    with engine.connect() as conn:
        ledgers = conn.execute(
            select(wh.load_ledger).where(wh.load_ledger.c.run_id.like("backfill__%"))
        ).all()
        after = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
        dupes = conn.execute(
            select(wh.articles.c.canonical_url).group_by(wh.articles.c.canonical_url)
            .having(func.count() > 1)
        ).all()  # fmt: skip
    assert len(ledgers) == expected_runs
    assert sum(row.rows_in for row in ledgers) == before  # every capture was re-extracted
    assert all((row.inserted, row.updated) == (0, 0) for row in ledgers)
    assert after == before
    assert dupes == []
