"""One end-to-end ``ingest run`` (the real CLI, a fresh SQLite warehouse) over the demo site."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select

from ingest.demosite import serve
from ingest.store import engine as db
from ingest.store import schema as wh

PAGE_DEADLINE_S = 3.0  # the demo site's slow page is cut here, as in `make demo`
POLITENESS_S = 0.5  # the demo's per-host delay (scripts/env.sh)


def run() -> list[str]:
    ingest = Path(sys.executable).with_name("ingest")
    with tempfile.TemporaryDirectory() as tmp, serve(port=0, slow_seconds=8.0) as site:
        feeds = Path(tmp) / "feeds.toml"
        feeds.write_text(site.feeds_toml())
        url = f"sqlite:///{tmp}/bench.db"
        env = {
            **os.environ, "INGEST_HOME": tmp, "INGEST_PAGE_DEADLINE_S": str(PAGE_DEADLINE_S),
            "INGEST_ALLOW_LOOPBACK": "true", "INGEST_POLITENESS_DELAY_S": str(POLITENESS_S),
        }  # fmt: skip
        started = time.perf_counter()
        subprocess.run(
            [str(ingest), "run", "--feeds", str(feeds), "--warehouse", url, "--no-progress"],
            check=True, env=env, capture_output=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
        engine = db.make_engine(url)
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
            urls = conn.execute(
                select(wh.fetch_log.c.url).where(wh.fetch_log.c.kind.in_(("page", "robots")))
            ).scalars().all()  # fmt: skip
        engine.dispose()
    per_host = Counter(urlsplit(u).hostname for u in urls)
    pages = len(urls)
    # Each host's requests start POLITENESS_S apart: the busiest host bounds the fetch.
    bound = (max(per_host.values()) - 1) * POLITENESS_S
    print(f"end-to-end: {stored} articles, {pages} requests to {len(per_host)} hosts "
          f"in {wall:.2f}s = {stored / wall:.1f} articles/s; busiest host's politeness "
          f"bound {bound:.1f}s")  # fmt: skip
    return [
        "## End to end: `ingest run` over the demo site",
        "",
        "One `ingest run` process (interpreter start, migrations, registry sync, polls, "
        "robots.txt and page fetches on loopback with a politeness delay of "
        f"{POLITENESS_S:g} s per host, extraction in worker processes, dedupe, load) into a "
        "fresh SQLite warehouse. Hosts are fetched at once, so the busiest host's requests "
        "x the delay bound the fetch; the demo site's slow page holds one fetch for the "
        f"{PAGE_DEADLINE_S:g} s page deadline.",
        "",
        "| articles stored | requests (pages + robots.txt) | hosts | wall s | articles/s "
        "| busiest host's politeness bound s |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {stored} | {pages} | {len(per_host)} | {wall:.2f} | {stored / wall:.1f} "
        f"| {bound:.1f} |",
        "",
    ]
