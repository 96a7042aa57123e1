"""Many feeds: 10,000 feeds over 1,000 loopback hosts, planned, polled and fetched
(issue 17, point 4).

The fault server's hosts (:mod:`hostfarm`, a process of their own), ten feeds on each
(``/good/feed.xml?n=1&start=k``: one new article each). The run goes through the
pipeline's steps as the DAG does: plan the feed shards, poll them, plan the page
shards, fetch them, load. Each poll and fetch shard runs in a fresh process of its own,
two at a time (two task slots on two cores), so that its peak memory is a task's.
Then every feed is polled again, nothing new (what most polls of a day are).

Measured at 1,000 and at 10,000 feeds, so that growth shows: the planners' times (the
median of 3 calls; budget at most 1 s), polling's CPU per feed, a task's peak memory,
and the warehouse's and the archive's growth, per new article and per poll, scaled to
a day at that rate.

    PYTHONPATH=tools:bench .venv/bin/python bench/run.py --only many_feeds
"""

from __future__ import annotations

import multiprocessing
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_cores import CpuMeter
from hostfarm import HostFarm
from ingest import pipeline
from ingest.request import RunRequest
from ingest.settings import load_settings
from ingest.store import engine as db

if TYPE_CHECKING:
    from sqlalchemy import Engine

SCALES = (1_000, 10_000)
FEEDS_PER_HOST = 10
#: One task per this many feeds or hosts: the DAG's default of 8 feeds a shard would map
#: 1,250 poll tasks at 10,000 feeds, each paying a process and a sandbox start.
FEED_SHARD = 500
HOST_SHARD = 100
SLOTS = 2
RUNS_PER_DAY = 96  # the DAG's schedule, every 15 minutes


def _overrides(home: Path) -> dict[str, Any]:
    return {
        "home": home, "allow_loopback": True, "politeness_delay_s": 0.0,
        "feed_shard_size": FEED_SHARD, "page_shard_hosts": HOST_SHARD,
        "max_pages_per_run": 1_000_000,
    }  # fmt: skip


def _peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _stored_bytes(engine: Engine, home: Path) -> int:
    """The warehouse's pages in use (free pages left by deleted rows not counted) and
    the raw archive's files."""
    with engine.connect() as conn:
        pages, free, size = (
            conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
            for name in ("page_count", "freelist_count", "page_size")
        )
    return (pages - free) * size + _size(home / "archive")


def _task(job: tuple[str, dict[str, Any], list[str], str, dict[str, Any]]) -> dict[str, Any]:
    """One poll or fetch shard in this (fresh) process: its counts, time, CPU, peak memory."""
    kind, overrides, items, run_id, extra = job
    settings = load_settings(**overrides)
    engine = db.make_engine(settings.resolved_warehouse_url)
    step = pipeline.poll_shard if kind == "poll" else pipeline.fetch_shard
    with CpuMeter() as cpu:  # this process and its sandbox's workers
        started = time.perf_counter()
        stats = step(engine, settings, items, run_id, **extra)
        seconds = time.perf_counter() - started
    engine.dispose()
    return {"stats": stats, "seconds": seconds, "cpu": cpu.seconds, "peak_kb": _peak_kb()}


def _run_tasks(jobs: list[Any]) -> tuple[float, list[dict[str, Any]]]:
    context = multiprocessing.get_context("forkserver")
    started = time.perf_counter()
    with ProcessPoolExecutor(SLOTS, mp_context=context, max_tasks_per_child=1) as pool:
        results = list(pool.map(_task, jobs))
    return time.perf_counter() - started, results


def _median_time(call: Any, times: int = 3) -> tuple[float, Any]:  # noqa: ANN401 - any step
    spent, result = [], None
    for _ in range(times):
        started = time.perf_counter()
        result = call()
        spent.append(time.perf_counter() - started)
    return statistics.median(spent), result


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def one_scale(feeds: int, tmp: Path) -> dict[str, Any]:
    hosts = feeds // FEEDS_PER_HOST
    home = tmp / f"scale-{feeds}"
    home.mkdir()
    overrides = _overrides(home)
    settings = load_settings(**overrides)
    out: dict[str, Any] = {"feeds": feeds, "hosts": hosts}
    with HostFarm(hosts, 1, kind="fault", net=3) as farm:
        registry = home / "feeds.toml"
        registry.write_text(
            "".join(
                f'[[feeds]]\nkey = "h{i}-f{j}"\nurl = "{base}/good/feed.xml?n=1&start={j + 1}"\n\n'
                for i, base in enumerate(farm.bases)
                for j in range(FEEDS_PER_HOST)
            )
        )
        engine = db.make_engine(settings.resolved_warehouse_url)
        started = time.perf_counter()
        pipeline.prepare(engine, registry)
        out["prepare_s"] = time.perf_counter() - started
        size_empty = _stored_bytes(engine, home)
        now = pipeline._now()  # noqa: SLF001 - the planner's clock
        out["plan_feeds_s"], shards = _median_time(
            lambda: pipeline.plan_feed_shards(engine, settings, now)
        )
        jobs = [("poll", overrides, s["items"], "bench", {"due_at": now}) for s in shards]
        out["poll_wall_s"], polls = _run_tasks(jobs)
        out["poll_tasks"] = len(jobs)
        out["plan_pages_s"], page_shards = _median_time(
            lambda: pipeline.plan_page_shards(engine, settings)
        )
        jobs = [("fetch", overrides, s["items"], "bench", {}) for s in page_shards]
        out["fetch_wall_s"], fetches = _run_tasks(jobs)
        out["fetch_tasks"] = len(jobs)
        started = time.perf_counter()
        loaded = pipeline.load_run(engine, "bench", steps=[r["stats"] for r in polls + fetches])
        out["load_s"] = time.perf_counter() - started
        started = time.perf_counter()  # as the DAG's cluster task: the queue emptied
        pipeline.cluster_stories(engine, settings)
        out["cluster_s"] = time.perf_counter() - started
        with engine.connect() as conn:
            out["clusters"] = conn.exec_driver_sql(
                "SELECT COUNT(DISTINCT cluster_id) FROM articles"
            ).scalar_one()
        size_first = _stored_bytes(engine, home)
        # every feed again, nothing new: what most of a day's polls are
        again = pipeline._now()  # noqa: SLF001
        shards = pipeline.plan_feed_shards(engine, settings, again, RunRequest(poll_now=True))
        jobs = [("poll", overrides, s["items"], "again", {"unpolled_since": again}) for s in shards]
        out["repoll_wall_s"], repolls = _run_tasks(jobs)
        pipeline.load_run(engine, "again", steps=[r["stats"] for r in repolls])
        size_second = _stored_bytes(engine, home)
        engine.dispose()
    out["inserted"] = loaded.inserted
    out["entries_new"] = sum(r["stats"]["entries_new"] for r in polls)
    out["pages"] = sum(r["stats"]["pages_fetched"] for r in fetches)
    out["poll_cpu_ms"] = sum(r["cpu"] for r in polls) / feeds * 1000
    out["repoll_cpu_ms"] = sum(r["cpu"] for r in repolls) / feeds * 1000
    out["fetch_cpu_ms"] = sum(r["cpu"] for r in fetches) / max(out["pages"], 1) * 1000
    out["poll_peak_mb"] = max(r["peak_kb"] for r in polls) / 1024
    out["fetch_peak_mb"] = max(r["peak_kb"] for r in fetches) / 1024
    out["archive_bytes"] = _size(settings.resolved_archive_dir)
    out["first_bytes"] = size_first - size_empty
    out["repoll_bytes"] = size_second - size_first
    return out


def run() -> list[str]:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for feeds in SCALES:
            result = one_scale(feeds, Path(tmp))
            results.append(result)
            print(
                "  " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in result.items()),
                flush=True,
            )  # fmt: skip
    small, big = results
    scale = big["feeds"] / small["feeds"]
    # the planners' times and CPU per feed as they are; the poll's wall time per feed
    grow = {k: big[k] / small[k] for k in ("plan_feeds_s", "plan_pages_s", "poll_cpu_ms")}
    grow["poll_wall_s"] = big["poll_wall_s"] / small["poll_wall_s"] / scale
    per_article = big["first_bytes"] / max(big["inserted"], 1)
    per_poll = big["repoll_bytes"] / big["feeds"]
    new_day = big["inserted"] * RUNS_PER_DAY
    day_busy = big["first_bytes"] * RUNS_PER_DAY
    day_quiet = big["repoll_bytes"] * RUNS_PER_DAY
    cluster_grow = (big["cluster_s"] / big["inserted"]) / (small["cluster_s"] / small["inserted"])
    planner_ok = max(big["plan_feeds_s"], big["plan_pages_s"]) <= 1.0
    linear_ok = max(grow["poll_cpu_ms"], grow["poll_wall_s"]) <= 1.25
    mib = 1024 * 1024
    lines = [
        "## Many feeds: 10,000 feeds on 1,000 hosts (issue 17, point 4)",
        "",
        "Command: `PYTHONPATH=tools:bench .venv/bin/python bench/run.py --only many_feeds`.",
        "",
        f"Fault-server hosts on loopback (a process of their own), {FEEDS_PER_HOST} feeds "
        "each, one new article per feed. The DAG's steps in order: plan the feed shards, "
        "poll, plan the page shards, fetch (politeness delay 0, robots.txt read), load, "
        "cluster; "
        f"each poll and fetch shard a fresh process, {SLOTS} at a time; then every feed "
        f"polled again with nothing new. Shards of {FEED_SHARD} feeds and {HOST_SHARD} hosts "
        "(`INGEST_FEED_SHARD_SIZE`, `INGEST_PAGE_SHARD_HOSTS`): the default 8 feeds a "
        "shard would map 1,250 poll tasks. Planner times are the median of 3 calls. "
        "Growth per run is the warehouse's SQLite pages in use plus the raw archive's files, "
        "after the cluster step (each article's signature and band index rows included; the "
        "queue it empties held the signatures the fetch made).",
        "",
        "| feeds | hosts | plan feeds s | poll tasks | poll wall s | poll CPU ms/feed "
        "| plan pages s | fetch tasks | fetch wall s | fetch CPU ms/page | load s | cluster s "
        "| peak MB poll / fetch task | articles |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['feeds']:,} | {r['hosts']:,} | {r['plan_feeds_s']:.3f} | {r['poll_tasks']} "
        f"| {r['poll_wall_s']:.1f} | {r['poll_cpu_ms']:.2f} | {r['plan_pages_s']:.3f} "
        f"| {r['fetch_tasks']} | {r['fetch_wall_s']:.1f} | {r['fetch_cpu_ms']:.2f} "
        f"| {r['load_s']:.1f} | {r['cluster_s']:.1f} "
        f"| {r['poll_peak_mb']:.0f} / {r['fetch_peak_mb']:.0f} "
        f"| {r['inserted']:,} |"
        for r in results
    ]
    lines += [
        "",
        f"- **Planner**: {big['plan_feeds_s'] * 1000:.0f} ms (feeds) and "
        f"{big['plan_pages_s'] * 1000:.0f} ms (pages) at {big['feeds']:,} feeds; budget "
        f"1 s per run: {'met' if planner_ok else 'missed'}. From {small['feeds']:,} to "
        f"{big['feeds']:,} feeds the planners' times grew {grow['plan_feeds_s']:.1f}x and "
        f"{grow['plan_pages_s']:.1f}x ({scale:.0f}x the feeds).",
        f"- **Polling**: CPU per feed at {big['feeds']:,} over at {small['feeds']:,}: "
        f"**{grow['poll_cpu_ms']:.2f}x**; wall time per feed **{grow['poll_wall_s']:.2f}x** "
        f"(1.0 is linear; target not worse than linear, with 25% for noise: "
        f"{'met' if linear_ok else 'missed'}). An unchanged poll costs "
        f"{big['repoll_cpu_ms']:.2f} ms of CPU.",
        f"- **Clustering**: {small['cluster_s'] / small['inserted'] * 1000:.1f} ms an "
        f"article at {small['inserted']:,} articles, "
        f"{big['cluster_s'] / big['inserted'] * 1000:.1f} ms at {big['inserted']:,} "
        f"(**{cluster_grow:.2f}x**). The fault server tells story *n* in the same words "
        f"on every host (only its lead names the host), and feed *j* of each host lists "
        f"story *j*: a run is {FEEDS_PER_HOST} wire stories, each on every host, "
        f"{small['clusters']} and {big['clusters']} clusters found. Each band gives its "
        "latest 32 articles at most (`ingest.neardup.MAX_PER_ROW`): before that cap, "
        "every article's lookup read every copy's band rows, 2.0 s at 1,000 articles and "
        "398 s at 10,000.",
        f"- **Memory per task**: peak RSS of a poll task {big['poll_peak_mb']:.0f} MB, of a "
        f"fetch task {big['fetch_peak_mb']:.0f} MB (the task's process; its sandbox workers "
        "are separate processes, each under `INGEST_WORKER_MEMORY_MB`).",
        f"- **Warehouse growth**: a run with {big['inserted']:,} new articles added "
        f"{big['first_bytes'] / mib:.0f} MiB ({per_article / 1024:.1f} KiB an article, "
        f"{big['archive_bytes'] / mib:.0f} MiB of it the WARC archive); a run of "
        f"{big['feeds']:,} polls with nothing new added {big['repoll_bytes'] / mib:.1f} MiB "
        f"({per_poll:.0f} bytes a poll: the fetch log and feed state). At "
        f"{RUNS_PER_DAY} runs a day: {day_quiet / mib / 1024:.2f} GiB a day when nothing "
        f"is new, {day_busy / mib / 1024:.1f} GiB a day if every run brought "
        f"{big['inserted']:,} new articles ({new_day:,} a day). The fetch log is pruned "
        "after `INGEST_FETCH_LOG_KEEP_DAYS`.",
        "",
    ]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
