"""Runs that overlap share one budget: each page fetched once, each host's delay kept.

Two real ``ingest run`` processes share one warehouse (SQLite, PostgreSQL). Their feed
is a barrier at the fault server: it answers both polls at the same moment, so both runs
reach their fetch step together, and the hosts see what two overlapping runs would do to
them. Leases (ingest.store.leases) are what keeps the pages and the pace shared.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import text

from concurrency import (
    PAGES,
    assert_each_page_once_and_paced,
    assert_stored_once_and_nothing_held,
    finish,
    ingest_env,
    ingest_run,
    registry,
    serve_sites,
)
from ingest.store import engine as db

pytestmark = pytest.mark.slow


@pytest.fixture
def sites():
    with serve_sites() as servers:
        yield servers


def test_two_first_runs_at_once_share_the_pages_and_the_pace(sites, tmp_path, warehouse_url):
    """Fresh warehouse: both migrate (one waits for the other), then share the hosts."""
    a, b, feeds = sites
    feeds_file = registry(
        tmp_path, feeds, (a, b), together=2
    )  # each feed answers once both runs ask
    env = ingest_env(tmp_path, warehouse_url)
    runs = [ingest_run(feeds_file, env), ingest_run(feeds_file, env)]
    logs = [finish(run) for run in runs]
    assert_each_page_once_and_paced(a, b)
    assert_stored_once_and_nothing_held(warehouse_url, 2 * PAGES)
    # they did overlap: one of them found hosts or pages the other held
    assert any("left to the runs holding them" in log for log in logs), "\n\n".join(logs)


def test_first_upgrades_at_once_take_turns(tmp_path, warehouse_url):
    """Four processes create one fresh warehouse at once: all succeed, one schema."""
    env = ingest_env(tmp_path, warehouse_url)
    command = [sys.executable, "-m", "ingest.cli", "db", "upgrade"]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    for proc in procs:
        finish(proc)
    engine = db.make_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("select version_num from alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert versions == [db.head_revision()]
