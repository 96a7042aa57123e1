"""Loads that never duplicate and never lose: concurrency, crashes, dropped connections,
hostile text. Every test runs on SQLite and on PostgreSQL unless it says otherwise."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from synthetic import synthetic

from helpers import T0, faults_in_loads
from ingest import pipeline
from ingest.errors import WarehouseUnavailable
from ingest.models import Extracted, Fetched, PageJob
from ingest.normalise import normalise
from ingest.store import dialects, staging
from ingest.store import engine as db
from ingest.store import rows as store_rows
from ingest.store import schema as wh

LOADER = Path(__file__).with_name("loader_proc.py")


def count(engine, table=wh.articles):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def duplicates(engine):
    with engine.connect() as conn:
        return conn.execute(
            select(wh.articles.c.canonical_url)
            .group_by(wh.articles.c.canonical_url)
            .having(func.count() > 1)
        ).all()


def stage(engine, run_id, batch):
    staging.stage_articles(engine, run_id, [(a.canonical_url, a) for a in batch], T0)


def loader(url, run_id, start, stop, *extra):
    return subprocess.Popen(
        [sys.executable, str(LOADER), url, run_id, str(start), str(stop), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_same_interval_loaded_twice_writes_nothing_the_second_time(engine):
    batch = [synthetic(i) for i in range(300)]
    stage(engine, "first", batch)
    first = pipeline.load_run(engine, "first")
    stage(engine, "second", batch)
    second = pipeline.load_run(engine, "second")
    assert (first.inserted, first.updated) == (300, 0)
    assert (second.inserted, second.updated, second.skipped) == (0, 0, 300)


def test_retried_task_after_its_commit_writes_nothing(engine):
    stage(engine, "run", [synthetic(i) for i in range(50)])
    first = pipeline.load_run(engine, "run")
    again = pipeline.load_run(engine, "run")  # the load task retried after its commit
    assert again.already_loaded
    assert again.inserted == first.inserted == 50
    assert (count(engine), count(engine, wh.load_ledger)) == (50, 1)


def test_a_cleared_run_that_stages_again_loads_again_without_duplicates(engine):
    stage(engine, "run", [synthetic(i) for i in range(50)])
    pipeline.load_run(engine, "run")
    stage(engine, "run", [synthetic(i) for i in range(40, 60)])  # Airflow "Clear": same run id
    second = pipeline.load_run(engine, "run")
    assert (second.inserted, second.skipped) == (10, 10)
    assert count(engine) == 60
    with engine.connect() as conn:
        seqs = conn.execute(select(wh.load_ledger.c.load_seq).order_by("load_seq")).scalars().all()
    assert seqs == [1, 2]


@pytest.mark.timeout(120)
def test_two_loader_processes_with_overlapping_batches(engine, warehouse_url, tmp_path):
    go = tmp_path / "go"
    a = loader(warehouse_url, "run-a", 0, 1200, "--go", str(go))
    b = loader(warehouse_url, "run-b", 600, 1800, "--go", str(go))
    while count(engine, wh.article_staging) < 2400:  # both staged: now load together
        time.sleep(0.05)
    go.touch()
    outputs = [p.communicate(timeout=100) for p in (a, b)]
    assert [p.returncode for p in (a, b)] == [0, 0], outputs
    inserted = [int(out.split()[0]) for out, _ in outputs]
    assert sum(inserted) == 1800  # each new row written once, by one of the two
    assert count(engine) == 1800
    assert duplicates(engine) == []
    assert count(engine, wh.load_ledger) == 2


@pytest.mark.timeout(120)
def test_loader_killed_mid_batch_then_rerun_gives_exactly_the_rows(engine, warehouse_url):
    crashed = loader(warehouse_url, "run-k", 0, 1500, "--kill-after", str(dialects.WRITE_CHUNK))
    _, err = crashed.communicate(timeout=100)
    assert crashed.returncode == -9, err
    assert count(engine) == 0  # the transaction died with the process
    assert count(engine, wh.load_ledger) == 0
    assert count(engine, wh.article_staging) == 1500  # staged work survives the crash
    rerun = loader(warehouse_url, "run-k", 0, 1500)
    out, err = rerun.communicate(timeout=100)
    assert rerun.returncode == 0, err
    assert out.split() == ["1500", "0", "0"]
    assert count(engine) == 1500
    assert duplicates(engine) == []
    with engine.connect() as conn:
        ledger = conn.execute(select(wh.load_ledger)).one()
    assert (ledger.run_id, ledger.rows_in, ledger.inserted) == ("run-k", 1500, 1500)
    assert count(engine, wh.article_staging) == 0


def test_connection_dropped_mid_transaction_rolls_back_and_the_retry_succeeds(
    engine, warehouse_url
):
    """The load's connection is lost after part of the batch is written. PostgreSQL: the
    server terminates its backend. SQLite (no server): the database handle is closed under
    the transaction, which discards its writes as a dying process would. The load raises
    a retryable error and leaves nothing behind; the retry (Airflow's) loads it all."""
    batch = [synthetic(i) for i in range(1200)]
    stage(engine, "run", batch)
    faults = []

    def fault(conn, written):
        if faults:
            return
        faults.append(written)
        if engine.dialect.name == "postgresql":
            pid = conn.execute(text("select pg_backend_pid()")).scalar_one()
            other = db.make_engine(warehouse_url)
            with other.connect() as killer:
                killer.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
            other.dispose()
        else:
            conn.connection.dbapi_connection.close()

    with faults_in_loads(engine, fault), pytest.raises(WarehouseUnavailable):
        pipeline.load_run(engine, "run")
    assert faults and 0 < faults[0] < 1200  # it died mid-batch, with rows written
    assert count(engine) == 0  # rolled back with its connection
    assert count(engine, wh.load_ledger) == 0
    result = pipeline.load_run(engine, "run")  # the task's retry
    assert result.inserted == 1200
    assert count(engine) == 1200
    assert count(engine, wh.load_ledger) == 1
    assert count(engine, wh.article_staging) == 0


def test_the_cli_retries_a_load_whose_connection_dropped(engine, warehouse_url, caplog):
    """Outside Airflow, the one-shot run retries the load itself (a task retry's stand-in)."""
    stage(engine, "run", [synthetic(i) for i in range(600)])
    cut = []

    def fault(conn, _written):
        if not cut:
            cut.append(True)
            if engine.dialect.name == "postgresql":
                pid = conn.execute(text("select pg_backend_pid()")).scalar_one()
                other = db.make_engine(warehouse_url)
                with other.connect() as killer:
                    killer.execute(text("select pg_terminate_backend(:pid)"), {"pid": pid})
                other.dispose()
            else:
                conn.connection.dbapi_connection.close()

    with faults_in_loads(engine, fault):
        result = pipeline._retrying(lambda: pipeline.load_run(engine, "run"), "load of run")
    assert "retrying (1/3)" in caplog.text  # the first attempt died with its connection
    assert result.inserted == 600
    assert count(engine) == 600
    assert count(engine, wh.load_ledger) == 1


@pytest.mark.sqlite_only
def test_sqlite_write_lock_held_past_the_busy_timeout_is_retried(warehouse_url, request):
    """SQLite's other transient failure: another writer holds the lock past busy_timeout."""
    engine = db.make_engine(warehouse_url)
    db.upgrade(engine)
    stage(engine, "run", [synthetic(i) for i in range(300)])
    impatient = db.make_engine(warehouse_url, busy_timeout_ms=200)
    holder = db.make_engine(warehouse_url)
    conn = holder.connect().execution_options(ingest_write=True)
    conn.begin()  # BEGIN IMMEDIATE: holds the write lock
    release = threading.Timer(1.0, lambda: (conn.rollback(), conn.close()))
    release.start()
    request.addfinalizer(release.cancel)
    with pytest.raises(WarehouseUnavailable, match="locked"):
        pipeline.load_run(impatient, "run")
    release.join()
    result = pipeline.load_run(impatient, "run")  # the retry, once the lock is free
    assert result.inserted == 300
    assert count(engine) == 300
    assert count(engine, wh.load_ledger) == 1


def test_hostile_text_is_cleaned_or_bounded_and_the_rest_of_the_batch_lands(engine):
    job = PageJob("e", "f", "g", "https://x.example/a", "https://x.example/a")
    fetched = Fetched(job.link, job.link, 200, "text/html", b"", "0" * 64, None, None, 0.0)
    now = datetime(2026, 11, 20, tzinfo=UTC)
    hostile = [
        Extracted(body="Body with NUL\x00 and more words here.", title="Ti\x00tle", extractor="x"),
        Extracted(
            body="Body with a lone \ud800 surrogate inside.",
            title="S\udfffurrogate",
            authors=("A\x00uthor",),
            extractor="x",
        ),
        Extracted(body="A one-megabyte title follows.", title="t" * 1_000_000, extractor="x"),
        Extracted(body="word " * 10_000_000, title="A fifty-megabyte body", extractor="x"),
    ]
    batch = []
    for i, extracted in enumerate(hostile):
        url = f"https://x.example/{i}"
        page = replace(job, guid=f"g{i}", link=url, canonical_url=url)
        batch.append(normalise(page, replace(fetched, final_url=url), extracted, now=now))
    # One row bypasses normalisation with a body beyond what the warehouse accepts.
    raw = replace(synthetic(99), body="x " * (store_rows.MAX_STORED_BODY_CHARS // 2 + 10))
    good = [synthetic(i) for i in range(5)]
    stage(engine, "run", [*batch, raw, *good])
    result = pipeline.load_run(engine, "run")
    assert result.inserted == len(batch) + len(good)
    with engine.connect() as conn:
        rows = {r.canonical_url: r for r in conn.execute(select(wh.articles))}
    assert raw.canonical_url not in rows
    assert rows["https://x.example/0"].title == "Title"
    assert "\x00" not in rows["https://x.example/0"].body
    assert rows["https://x.example/1"].title == "Surrogate"
    assert rows["https://x.example/1"].authors == ["Author"]
    assert len(rows["https://x.example/2"].title) == 1000
    assert len(rows["https://x.example/3"].body) <= 1_000_000
    with engine.connect() as conn:
        ledger = conn.execute(select(wh.load_ledger)).one()
    assert (ledger.rejected, ledger.pages_failed) == (1, 0)  # a refused row, not a failed page
    assert result.rejected == 1
    assert ledger.rows_in == sum(
        (ledger.inserted, ledger.updated, ledger.skipped, ledger.duplicates, ledger.rejected)
    )


@pytest.mark.sqlite_only
@pytest.mark.timeout(120)
def test_sqlite_two_writers_never_see_database_is_locked(engine, warehouse_url, tmp_path):
    go = tmp_path / "go"
    procs = [
        loader(warehouse_url, f"run-{n}", n * 700, n * 700 + 1000, "--go", str(go))
        for n in range(3)
    ]
    while count(engine, wh.article_staging) < 3000:
        time.sleep(0.05)
    go.touch()
    results = [p.communicate(timeout=100) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    assert not any("locked" in err for _, err in results)
    assert count(engine) == 2400
    assert duplicates(engine) == []
