"""Helpers for the tests of overlapping runs: sites, registry, processes, assertions."""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
from collections import Counter
from urllib.parse import quote

from faultserver import FaultServer
from sqlalchemy import func, select

from ingest.store import engine as db
from ingest.store import schema as wh

DELAY = 0.5
PAGES = 8


@contextlib.contextmanager
def serve_sites():
    """Two page hosts and, apart, the host of their feeds."""
    robots = "User-agent: *\nAllow: /\n"
    with (
        FaultServer("127.0.0.21", robots=robots) as a,
        FaultServer("127.0.0.22", robots=robots) as b,
        FaultServer("127.0.0.23") as feeds,
    ):
        yield a, b, feeds


DELAY = 0.5
PAGES = 8


def registry(tmp_path, feeds, hosts, together, pages=PAGES):
    path = tmp_path / "feeds.toml"
    urls = [
        feeds.url(f"/feed-of?base={quote(h.base_url, safe='')}&n={pages}&together={together}")
        for h in hosts
    ]
    path.write_text(
        "".join(f'[[feeds]]\nkey = "f{i}"\nurl = "{u}"\n\n' for i, u in enumerate(urls))
    )
    return path


def ingest_env(tmp_path, warehouse_url):
    return {
        **os.environ,
        "INGEST_HOME": str(tmp_path / "home"),
        "INGEST_WAREHOUSE_URL": warehouse_url,
        "INGEST_ALLOW_LOOPBACK": "true",
        "INGEST_POLITENESS_DELAY_S": str(DELAY),
        "INGEST_FEED_DEADLINE_S": "90",  # the polls wait at the barrier for each other
        "INGEST_WORKERS": "1",
    }


def ingest_run(feeds_file, env):
    return subprocess.Popen(
        [sys.executable, "-m", "ingest.cli", "-v", "run", "--no-progress", "--feeds", str(feeds_file)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def finish(proc):
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{out}\n{err}"
    return err


def assert_each_page_once_and_paced(*servers, pages=PAGES):
    for server in servers:
        asked = [
            r for r in server.requests if r.path == "/robots.txt" or r.path.startswith("/pages/")
        ]
        paths = Counter(r.path for r in asked)
        assert paths == {"/robots.txt": 1, **{f"/pages/{i}.html": 1 for i in range(1, pages + 1)}}
        gaps = [
            later - earlier for earlier, later in itertools.pairwise(sorted(r.at for r in asked))
        ]
        assert min(gaps) >= DELAY, gaps  # counted from a response's end: no slack needed


def assert_stored_once_and_nothing_held(warehouse_url, expected):
    engine = db.make_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            assert (
                conn.execute(select(func.count()).select_from(wh.articles)).scalar_one() == expected
            )
            pending = (
                select(func.count())
                .select_from(wh.feed_entries)
                .where(wh.feed_entries.c.state == "pending")
            )
            assert conn.execute(pending).scalar_one() == 0
            assert conn.execute(select(wh.page_leases)).all() == []  # every load let go
            held = select(wh.hosts.c.host).where(wh.hosts.c.lease_owner.is_not(None))
            assert conn.execute(held).all() == []
    finally:
        engine.dispose()
