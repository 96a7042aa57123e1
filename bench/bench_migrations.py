"""How long migration 0017 (the band index re-keyed by time) holds a large warehouse.

Migration 0017 re-keys ``signature_bands`` (about 55 rows a signed article): PostgreSQL
drops the primary key and builds the new one, under an ACCESS EXCLUSIVE lock on the
table; SQLite copies the table into a new one (``WITHOUT ROWID``), holding the database's
write lock. Either way the load and clustering steps wait for it. Here a warehouse at
revision 0016 gets ``signature_bands`` rows filled in SQL (the articles' rows spread over
60 days), then the upgrade to 0017 is timed, at two sizes, on both backends. The baseline
measured in the same run is building one index on the same columns over the same rows:
a reference for what sorting those rows costs (SQLite's copy also rebuilds the
``article_id`` index; PostgreSQL's new key may come cheaper than the index, warm).

    PYTHONPATH=tools:bench .venv/bin/python bench/run.py --only migrations
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from pgcluster import Cluster, find_bindir
from sqlalchemy import Engine, text

from bench_monitor import _series, _times
from ingest.store import engine as db

ROWS = 55  # rows a signed article has in signature_bands: 42 bands, anchors (docs/schema.md)
BANDS = 42  # neardup.BANDS; the rest of an article's rows are paragraph anchors (band 42)
SIZES = tuple(int(n) for n in os.environ.get("BENCH_MIGRATION_ARTICLES", "25000,100000").split(","))
SPAN_S = 60 * 86400


def _fill(engine: Engine, articles: int) -> None:
    """``articles`` x ROWS rows: each article's bands and anchors, its one time, keys spread
    widely."""
    pg = engine.dialect.name == "postgresql"
    prefix, source = _series(articles * ROWS, pg=pg)
    article = f"(i / {ROWS})"
    band = f"CASE WHEN i % {ROWS} < {BANDS} THEN i % {ROWS} ELSE {BANDS} END"
    hexid = f"lpad(to_hex({article}), 32, '0')" if pg else f"printf('%032x', {article})"
    at = _times(pg=pg)(f"({article} * {SPAN_S // max(1, articles)}) % {SPAN_S}")
    key = "((i::bigint * 2654435761) % 4294967296)" if pg else "((i * 2654435761) % 4294967296)"
    with db.transaction(engine) as conn:
        conn.execute(
            text(
                f"{prefix}INSERT INTO signature_bands (band, band_key, article_id, at) "
                f"SELECT {band}, {key}, {hexid}, {at} {source}"
            )
        )


def _settle(engine: Engine) -> None:
    """Leave nothing pending from the fill for a timed step to pay: PostgreSQL's dirty
    buffers (a checkpoint), its autovacuum of the new rows (vacuumed and analysed now)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE signature_bands"))
        conn.execute(text("CHECKPOINT"))


def _index_s(engine: Engine) -> float:
    """The baseline: one index built on the new key's columns, then dropped."""
    _settle(engine)
    with db.transaction(engine) as conn:
        started = time.perf_counter()
        conn.execute(
            text("CREATE INDEX bench_rekey ON signature_bands (band, band_key, at, article_id)")
        )
        took = time.perf_counter() - started
        conn.execute(text("DROP INDEX bench_rekey"))
    return took


def _measure(url: str, articles: int) -> dict[str, float]:
    """The upgrade's time, between two builds of the baseline index (their mean)."""
    engine = db.make_engine(url)
    try:
        db.upgrade(engine, "0016")
        _fill(engine, articles)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT count(*) FROM signature_bands")).scalar_one()
        before = _index_s(engine)
        _settle(engine)
        started = time.perf_counter()
        db.upgrade(engine, "0017")
        migration = time.perf_counter() - started
        after = _index_s(engine)
    finally:
        engine.dispose()
    return {"rows": rows, "migration": migration, "baseline": (before + after) / 2}


def _one(backend: str, articles: int, url: str) -> tuple[str, int, dict[str, float]]:
    got = _measure(url, articles)
    print(
        f"{backend} {articles:,} articles ({got['rows']:,.0f} band rows): "
        f"0017 in {got['migration']:.2f}s, one index {got['baseline']:.2f}s",
        flush=True,
    )
    return backend, articles, got


def run() -> list[str]:
    results: list[tuple[str, int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, articles in enumerate(SIZES):
            results.append(_one("SQLite", articles, f"sqlite:///{Path(tmp) / f'm{n}.db'}"))
    bindir = find_bindir()
    if bindir is None:
        print("no PostgreSQL server binaries: PostgreSQL part skipped")
    else:
        cluster = Cluster(bindir)
        cluster.start()
        try:
            for articles in SIZES:
                with cluster.database() as url:
                    results.append(_one("PostgreSQL", articles, url))
        finally:
            cluster.stop()
    lines = [
        "## Migration 0017 on a large warehouse",
        "",
        "Command: `PYTHONPATH=tools:bench .venv/bin/python bench/run.py --only migrations`.",
        "",
        f"`signature_bands` filled in SQL at revision 0016 ({ROWS} rows a signed article: "
        f"{BANDS} bands and {ROWS - BANDS} paragraph anchors, over 60 days), then "
        "`alembic upgrade` to 0017 timed: PostgreSQL replaces the "
        "primary key (the table locked ACCESS EXCLUSIVE meanwhile), SQLite copies the "
        "table into its new key's B-tree and rebuilds its `article_id` index (holding the "
        "database's write lock). Loads and "
        "clustering wait for it. The baseline, measured in the same run on the same rows, "
        "is building one index on the new key's columns (the mean of one build before the "
        "upgrade and one after; on PostgreSQL each timed step follows a checkpoint and a "
        "VACUUM ANALYZE). The PostgreSQL server is the test suite's: fsync off, "
        "`maintenance_work_mem` at its 64 MB default, everything in the page cache.",
        "",
        "| backend | articles | band rows | 0017 s | one index s | 0017 / index "
        "| 0017 s per million rows |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, articles, got in results:
        lines.append(
            f"| {backend} | {articles:,} | {got['rows']:,.0f} | {got['migration']:.2f} "
            f"| {got['baseline']:.2f} | {got['migration'] / got['baseline']:.2f}x "
            f"| {got['migration'] / got['rows'] * 1e6:.2f} |"
        )
    lines.append("")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
