"""One end-to-end ``ingest run`` (the real CLI, a fresh SQLite warehouse) over the demo site."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from ingest import warehouse as wh
from ingest.demosite import serve

PAGE_DEADLINE_S = 3.0  # the demo site's slow page is cut here, as in `make demo`


def run() -> list[str]:
    ingest = Path(sys.executable).with_name("ingest")
    with tempfile.TemporaryDirectory() as tmp, serve(port=0, slow_seconds=8.0) as site:
        feeds = Path(tmp) / "feeds.toml"
        feeds.write_text(site.feeds_toml())
        url = f"sqlite:///{tmp}/bench.db"
        env = {
            **os.environ, "INGEST_HOME": tmp, "INGEST_PAGE_DEADLINE_S": str(PAGE_DEADLINE_S),
            "INGEST_ALLOW_LOOPBACK": "true", "INGEST_POLITENESS_DELAY_S": "0.5",
        }  # fmt: skip
        started = time.perf_counter()
        subprocess.run(  # noqa: S603 - our own CLI
            [str(ingest), "run", "--feeds", str(feeds), "--warehouse", url, "--no-progress"],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
        engine = wh.make_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
            pages = conn.execute(
                select(func.count()).select_from(wh.fetch_log).where(wh.fetch_log.c.kind == "page")
            ).scalar_one()
        engine.dispose()
    net = wall - PAGE_DEADLINE_S
    print(f"end-to-end: {stored} articles from {pages} page fetches in {wall:.2f}s "
          f"= {stored / wall:.1f} articles/s ({stored / net:.1f}/s without the slow page's "
          f"{PAGE_DEADLINE_S:g}s deadline)")  # fmt: skip
    return [
        "## End to end: `ingest run` over the demo site",
        "",
        "One `ingest run` process (interpreter start, migrations, registry sync, polls, page "
        "fetches on loopback, extraction, dedupe, load) into a fresh SQLite warehouse. The "
        f"demo site's slow page holds one fetch for the {PAGE_DEADLINE_S:g} s page deadline.",
        "",
        "| articles stored | page fetches | wall s | articles/s | articles/s excl. slow page |",
        "|---:|---:|---:|---:|---:|",
        f"| {stored} | {pages} | {wall:.2f} | {stored / wall:.1f} | {stored / net:.1f} |",
        "",
    ]
