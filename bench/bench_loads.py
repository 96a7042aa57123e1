"""Warehouse loads: 100k synthetic articles upserted into SQLite and PostgreSQL, then again.

For PostgreSQL the same rows are also COPYed into an empty table in the same run: the
fastest way in, so the upsert's cost is a ratio to it.
"""

from __future__ import annotations

import gc
import json
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pgcluster import Cluster, find_bindir
from sqlalchemy import Engine
from synthetic import synthetic

from ingest.dedupe import dedupe_batch
from ingest.models import Article
from ingest.store import engine as db
from ingest.store import loads
from ingest.store.rows import article_row

N = 100_000
BATCH = 10_000  # one load per micro-batch, as the DAG does


def _load_all(engine: Engine, articles: Sequence[Article], prefix: str) -> float:
    started = time.perf_counter()
    for n, start in enumerate(range(0, len(articles), BATCH)):
        staged = [(a.canonical_url, a) for a in articles[start : start + BATCH]]
        loads.load_batch(engine, f"{prefix}-{n}", staged, dedupe_batch, now=datetime.now(UTC))
    return time.perf_counter() - started


def _copy(engine: Engine, articles: Sequence[Article], table: str, like: str) -> float:
    """Seconds to COPY the articles' rows into a new empty table ``(LIKE articles <like>)``."""
    now = datetime.now(UTC)
    rows = [article_row(a, "copy", now) for a in articles]
    columns = list(rows[0])
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(f"CREATE TABLE {table} (LIKE articles {like})")
        raw.commit()
        started = time.perf_counter()
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([json.dumps(v) if isinstance(v, list) else v for v in row.values()])
        raw.commit()
        return time.perf_counter() - started
    finally:
        raw.close()


def run() -> list[str]:
    print(f"generating {N} synthetic articles ...", flush=True)
    articles = [synthetic(i) for i in range(N)]
    mean_kb = sum(len(a.body) for a in articles) / N / 1024
    results: dict[str, tuple[float, float]] = {}
    copy_s = same_s = None
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
        db.upgrade(engine)
        results["SQLite"] = (_load_all(engine, articles, "a"), _load_all(engine, articles, "b"))
        engine.dispose()
    gc.collect()
    bindir = find_bindir()
    if bindir is None:
        print("no PostgreSQL server binaries: PostgreSQL part skipped")
    else:
        cluster = Cluster(bindir)
        cluster.start()
        try:
            with cluster.database() as url:
                engine = db.make_engine(url)
                db.upgrade(engine)
                # The baseline: a plain table of the same columns, server defaults (no
                # index, default compression). Then one with articles' own indexes and
                # storage settings, so the cost of the load's own work shows apart.
                copy_s = _copy(engine, articles, "copy_plain", "INCLUDING DEFAULTS")
                same_s = _copy(engine, articles, "copy_same", "INCLUDING ALL")
                first = _load_all(engine, articles, "a")
                results["PostgreSQL"] = (first, _load_all(engine, articles, "b"))
                engine.dispose()
        finally:
            cluster.stop()
    lines = [
        "## Warehouse loads: 100k articles, new then unchanged",
        "",
        f"{N:,} synthetic articles (mean body {mean_kb:.1f} KiB), loaded with "
        f"`store.loads.load_batch` in {N // BATCH} micro-batches of {BATCH:,} (dedupe against "
        "the warehouse, upsert in key order, entry links and ledger row, one transaction "
        "each), then the same 100k again unchanged. On PostgreSQL the same rows are first "
        "COPYed, in the same run, into an empty table of the same columns with the server's "
        "defaults (`LIKE articles INCLUDING DEFAULTS`: no index, default compression): the "
        "ratio is upsert rows/s over that COPY's rows/s (target: new rows at least 0.5x). "
        "They are also COPYed into a table with the articles table's own indexes and "
        "storage settings (`INCLUDING ALL`, so lz4 for the body since migration 0002): the "
        "like-for-like ratio shows what the load's own work (validation, dedupe lookups, "
        "entry links, ledger) costs over the bare writes.",
        "",
        "| backend | new rows/s | unchanged re-load rows/s | re-load / first load "
        "| new / COPY | new / like-for-like COPY |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for backend, (first, again) in results.items():
        pg = backend == "PostgreSQL"
        vs_copy = f"{copy_s / first:.2f}x" if pg and copy_s else ""
        vs_same = f"{same_s / first:.2f}x" if pg and same_s else ""
        print(f"{backend}: new {N / first:,.0f} rows/s, unchanged {N / again:,.0f} rows/s"
              + (f", new/COPY {vs_copy}, new/like-for-like COPY {vs_same}" if pg else ""))  # fmt: skip
        lines.append(
            f"| {backend} | {N / first:,.0f} | {N / again:,.0f} | {first / again:.2f}x faster "
            f"| {vs_copy} | {vs_same} |"
        )
    if copy_s and same_s:
        print(f"PostgreSQL COPY: {N / copy_s:,.0f} rows/s; like-for-like {N / same_s:,.0f} rows/s")
        lines.append(
            f"| PostgreSQL COPY, plain table (baseline) | {N / copy_s:,.0f} | | | 1.00x | |"
        )
        lines.append(
            f"| PostgreSQL COPY, same indexes and storage | {N / same_s:,.0f} | | | "
            f"{copy_s / same_s:.2f}x | 1.00x |"
        )
    lines.append("")
    return lines
