"""Monitoring reads on a warehouse of 1M articles: each query the dashboard makes.

The warehouse is filled in SQL: 1,000,000 articles first stored over 60 days (so a day
holds about 16,700), one feed entry each plus 2,000 pending on 200 hosts, 1,000 feeds
(some broken, failing, degraded), 1,000 hosts (some throttled, crawl-delayed, with an
unreachable robots.txt), 3,000,000 fetch-log lines over 30 days (their retention) of
which 2% failed, a ledger row per 15-minute run, and one article in ten a near-duplicate;
every body is 2 KB of incompressible text, as stored bodies are.
Then every read of :mod:`ingest.monitor` is timed warm, as the API calls it, the median
of several calls. Budget (issue 14): each at most 200 ms, on SQLite and PostgreSQL. The
baseline measured in the same run is a plain ``count(*)`` of ``articles``: the cost of
touching every row once, which no windowed read may approach.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pgcluster import Cluster, find_bindir
from sqlalchemy import Connection, Engine, text

from ingest import monitor
from ingest.store import engine as db
from ingest.store import metrics
from ingest.store.engine import reading

ARTICLES = int(os.environ.get("BENCH_MONITOR_ARTICLES", "1000000"))
FETCH_LINES = 3 * ARTICLES
FEEDS, HOSTS, PENDING = 1000, 1000, 2000
BODY_CHARS = int(os.environ.get("BENCH_MONITOR_BODY_CHARS", "2048"))
SPAN_S = 60 * 86400  # articles over 60 days
LOG_SPAN_S = 30 * 86400  # fetch-log lines over 30 days
NOW = datetime(2026, 11, 20, tzinfo=UTC)
BUDGET_MS = 200.0
CALLS = 7


def _times(*, pg: bool) -> Callable[[str], str]:
    """SQL for the moment ``seconds`` before NOW, stored as each backend stores it."""
    if pg:
        return lambda seconds: (
            f"(timestamptz '2026-11-20 00:00+00' - ({seconds}) * interval '1 second')"
        )
    return lambda seconds: (
        f"(strftime('%Y-%m-%d %H:%M:%S', '2026-11-20', (-({seconds})) || ' seconds') || '.000000')"
    )


def _series(count: int | str, *, pg: bool) -> tuple[str, str]:
    """A (prefix, FROM) pair that yields i = 0 .. count-1."""
    if pg:
        return "", f"FROM generate_series(0, {count} - 1) AS s(i)"
    return (
        f"WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i + 1 < {count}) ",
        "FROM s",
    )


def _fill(engine: Engine) -> None:
    pg = engine.dialect.name == "postgresql"
    at = _times(pg=pg)
    true, false = ("true", "false") if pg else ("1", "0")
    hexid = (lambda x: f"lpad(to_hex({x}), 32, '0')") if pg else (lambda x: f"printf('%032x', {x})")

    def mod(a: str, b: int) -> str:
        return f"({a} % {b})"

    fk = (lambda x: f"'feed-' || lpad(({x})::text, 4, '0')") if pg else (
        lambda x: f"'feed-' || printf('%04d', {x})"
    )  # fmt: skip
    host = (lambda x: f"'news' || ({x})::text || '.example'") if pg else (
        lambda x: f"'news' || ({x}) || '.example'"
    )  # fmt: skip

    def insert(conn: Connection, table: str, columns: str, values: str, count: int | str) -> None:
        prefix, source = _series(count, pg=pg)
        conn.execute(text(f"{prefix}INSERT INTO {table} ({columns}) SELECT {values} {source}"))

    seen = f"{SPAN_S} - i * {SPAN_S / ARTICLES}"  # article i, seconds before NOW
    with engine.begin() as conn:
        if not pg:
            conn.exec_driver_sql("PRAGMA cache_size = -1000000")
        insert(
            conn, "feeds",
            "feed_key, url, enabled, tags, broken, consecutive_failures, last_error, "
            "last_warning, last_polled_at, last_success_at, last_new_at, new_gap_s, "
            "next_due_at, poll_interval_s, items_seen, items_new, created_at, updated_at",
            f"{fk('i')}, 'https://' || {host('i')} || '/feed', {true}, '[]', "
            f"CASE WHEN i % 100 = 0 THEN {true} ELSE {false} END, "
            "CASE WHEN i % 100 = 0 THEN 5 WHEN i % 50 = 1 THEN 1 ELSE 0 END, "
            "CASE WHEN i % 50 IN (0, 1) THEN 'http_5xx: HTTP 503' END, "
            "CASE WHEN i % 40 = 3 THEN 'feed_recovered: junk' END, "
            f"{at('600')}, {at('600')}, {at('3600 + i * 10')}, 1800, {at('-300')}, 900, 0, 0, "
            f"{at(str(SPAN_S))}, {at('600')}",
            FEEDS,
        )  # fmt: skip
        insert(
            conn, "hosts",
            "host, next_eligible_at, crawl_delay_s, robots_status, throttled_count, "
            "last_throttle, updated_at",
            f"{host('i')}, CASE WHEN i % 50 = 0 THEN {at('-3600')} END, "
            "CASE WHEN i % 20 = 0 THEN 5.0 END, "
            "CASE WHEN i % 100 = 7 THEN 503 ELSE 200 END, 0, NULL, "
            f"{at('600')}",
            HOSTS,
        )  # fmt: skip
        aid = hexid("i")
        # a body of BODY_CHARS incompressible characters, stored as a real one is (overflow
        # pages on SQLite, TOAST on PostgreSQL), so that no read gets cheap rows for free
        body = (
            f"(SELECT string_agg(md5(i::text || '-' || k), '') FROM generate_series(1, "
            f"{BODY_CHARS // 32}) AS b(k))"
            if pg else f"hex(randomblob({BODY_CHARS // 2}))"
        )  # fmt: skip
        insert(
            conn, "articles",
            "article_id, canonical_url, url, final_url, source, feed_key, body, authors, tags, "
            "word_count, content_hash, cluster_id, is_representative, first_seen_at, "
            "last_seen_at, fetched_at, extracted_at, published_at, extractor_version, "
            "pipeline_version, url_rules_version, last_run_id, first_listed_at",
            f"{aid}, 'https://s.example/' || i, 'https://s.example/' || i, "
            f"'https://s.example/' || i, {host(mod('i', HOSTS))}, {fk(mod('i', FEEDS))}, {body}, "
            f"'[]', '[]', 1, {aid}, "
            f"CASE WHEN i % 10 = 1 THEN {hexid('i - 1')} ELSE {aid} END, "
            f"CASE WHEN i % 10 = 1 THEN {false} ELSE {true} END, "
            f"{at(seen)}, {at(seen)}, {at(seen)}, {at(seen)}, {at(seen + ' + 7200')}, "
            f"'x', 'x', 1, 'bench', {at(seen + ' + 300 + i % 600')}",
            ARTICLES,
        )  # fmt: skip
        insert(
            conn, "feed_entries",
            "entry_id, feed_key, guid, link, canonical_url, host, first_seen_at, "
            "last_seen_at, state, attempts, article_id",
            f"{aid}, {fk(mod('i', FEEDS))}, 'g' || i, 'https://s.example/' || i, "
            f"'https://s.example/' || i, {host(mod('i', HOSTS))}, "
            f"{at(seen + ' + 300 + i % 600')}, {at(seen)}, 'stored', 0, {aid}",
            ARTICLES,
        )  # fmt: skip
        insert(
            conn, "feed_entries",
            "entry_id, feed_key, guid, link, canonical_url, host, first_seen_at, "
            "last_seen_at, state, attempts",
            f"{hexid(f'i + {ARTICLES}')}, {fk(mod('i', FEEDS))}, 'p' || i, "
            "'https://p.example/' || i, 'https://p.example/' || i, "
            f"{host(mod('i', 200))}, {at('i * 3')}, {at('i * 3')}, 'pending', 0",
            PENDING,
        )  # fmt: skip
        step = LOG_SPAN_S / FETCH_LINES
        insert(
            conn, "fetch_log",
            "run_id, kind, url, status, elapsed_ms, reason, detail, fetched_at, feed_key",
            "'run', CASE WHEN i % 3 = 0 THEN 'feed' ELSE 'page' END, "
            "'https://s.example/x' || i, 200, 100, "
            "CASE WHEN i % 50 = 0 THEN 'timeout' WHEN i % 50 = 25 THEN 'http_404' "
            "WHEN i % 500 = 7 THEN 'feed_recovered' END, NULL, "
            f"{at(f'i * {step}')}, {fk(mod('i', FEEDS))}",
            FETCH_LINES,
        )  # fmt: skip
        runs = SPAN_S // 900
        insert(
            conn, "load_ledger",
            "run_id, load_seq, rows_in, inserted, updated, skipped, duplicates, started_at, "
            "finished_at, pipeline_version, feeds_polled, feeds_failed, entries_seen, "
            "entries_new, pages_fetched, pages_failed",
            f"'run-' || i, 1, 170, 170, 0, 0, 3, {at('i * 900')}, {at('i * 900')}, 'x', "
            "0, 0, 0, 0, 0, 0",
            runs,
        )  # fmt: skip
    with engine.connect() as conn:
        if pg:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")


def _timed(call: Callable[[], object]) -> float:
    """Median milliseconds of CALLS warm calls (one warm-up first)."""
    call()
    samples = []
    for _ in range(CALLS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _reads(engine: Engine) -> dict[str, Callable[[], object]]:
    since = NOW - timedelta(hours=24)
    with reading(engine) as conn:
        top = list(metrics.stored_by_source(conn, since))[: monitor.TOP_SOURCES]

    def on_conn(
        read: Callable[..., object], *args: object, **kwargs: object
    ) -> Callable[[], object]:
        def call() -> object:
            with reading(engine) as conn:
                return read(conn, *args, **kwargs)

        return call

    return {
        "feed health (1,000 feeds, judged)": lambda: monitor.feeds_health(engine),
        "stored by source, 24 h": on_conn(metrics.stored_by_source, since),
        "stored per hour, top 9 sources and the rest, 24 h": on_conn(
            metrics.stored_per_hour, since, top
        ),
        "stored per hour, top 9 sources and the rest, 7 days": on_conn(
            metrics.stored_per_hour, NOW - timedelta(days=7), top
        ),
        "failures per hour by reason, 24 h": on_conn(metrics.failures_per_hour, since),
        "failures, first page of 50": lambda: monitor.failures(engine, 24, now=NOW),
        "failures, page 20 of 50": lambda: monitor.failures(engine, 24, page=20, now=NOW),
        "queue: pending totals": on_conn(metrics.pending_totals),
        "queue: pending by host": on_conn(metrics.pending_by_host, 50),
        "lag p50/p95, 24 h": on_conn(metrics.lag_seconds, since),
        "dedupe counts, 24 h": on_conn(metrics.dedupe_counts, since),
        "held hosts": on_conn(metrics.held_hosts, NOW, 50),
        "robots.txt refusals, 24 h": on_conn(metrics.refused_by_robots, since, 5000),
        "whole summary, 24 h (all of the above)": lambda: monitor.summary(engine, 24, now=NOW),
    }


def _bench(engine: Engine) -> tuple[float, list[tuple[str, float]]]:
    db.upgrade(engine)
    started = time.perf_counter()
    _fill(engine)
    print(f"  filled in {time.perf_counter() - started:.0f} s", flush=True)
    check = monitor.summary(engine, 24, now=NOW)
    assert check.stored > 0, check
    assert check.failed > 0, check
    assert check.queue["pending"] == PENDING, check
    with engine.connect() as conn:
        baseline = _timed(lambda: conn.exec_driver_sql("SELECT count(*) FROM articles").scalar())
    rows = []
    for name, call in _reads(engine).items():
        ms = _timed(call)
        rows.append((name, ms))
        print(f"  {name}: {ms:.1f} ms ({ms / BUDGET_MS:.2f}x budget)", flush=True)
    print(f"  baseline count(*) of articles: {baseline:.1f} ms", flush=True)
    return baseline, rows


def _warehouses(tmp: Path) -> Iterator[tuple[str, str]]:
    yield "SQLite", f"sqlite:///{tmp / 'monitor.db'}"
    bindir = find_bindir()
    if bindir is None:
        print("no PostgreSQL server binaries: PostgreSQL part skipped")
        return
    cluster = Cluster(bindir)
    cluster.start()
    try:
        with cluster.database() as url:
            yield "PostgreSQL", url
    finally:
        cluster.stop()


def run() -> list[str]:
    results: dict[str, tuple[float, list[tuple[str, float]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend, url in _warehouses(Path(tmp)):
            print(f"{backend}:", flush=True)
            engine = db.make_engine(url)
            results[backend] = _bench(engine)
            engine.dispose()
    backends = list(results)
    lines = [
        f"## Monitoring reads on {ARTICLES:,} articles",
        "",
        f"A warehouse filled in SQL: {ARTICLES:,} articles stored over 60 days (about "
        f"{ARTICLES * 86400 // SPAN_S:,} a day), their feed entries plus {PENDING:,} pending "
        f"on 200 hosts, {FEEDS:,} feeds, {HOSTS:,} hosts, {FETCH_LINES:,} fetch-log lines over "
        "30 days (2% failures), a ledger row per 15-minute run, one article in ten a "
        "near-duplicate. Each read of `ingest.monitor` / `ingest.store.metrics` as the "
        f"dashboard and `ingest stats` make it, warm, median of {CALLS} calls. Budget: "
        f"{BUDGET_MS:.0f} ms each. The baseline, measured in the same run, is `count(*)` of "
        "`articles` (touching every row once): "
        + ", ".join(f"{b} {results[b][0]:.0f} ms" for b in backends)
        + ".",
        "",
        "| read | " + " | ".join(f"{b} ms | x budget | x count(*)" for b in backends) + " |",
        "|---|" + "---:|---:|---:|" * len(backends),
    ]
    names = [name for name, _ in results[backends[0]][1]]
    for i, name in enumerate(names):
        cells = []
        for b in backends:
            baseline, rows = results[b]
            ms = rows[i][1]
            cells.append(f"{ms:.1f} | {ms / BUDGET_MS:.2f}x | {ms / baseline:.2f}x")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
