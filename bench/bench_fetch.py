"""Polite fetching at scale: many hosts at once, each at its politeness delay.

50 fault-server hosts on loopback aliases (127.0.0.10 ..), 40 article pages each, 50 ms
of latency on every response, fetched by one `fetch_shard` (the DAG's fetch task) with a
per-host delay d. A host's next request waits d from the end of its previous response,
so the politeness lower bound of the whole fetch is pages-per-host x d plus the latency
of each of the host's requests (robots.txt and its pages); the ratio of the wall time to
it shows how well the hosts overlap (target: at most 1.2x). CPU time per page counts this process
and its parse/extract workers.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Self

from faultserver import FaultServer

from ingest import pipeline
from ingest.settings import load_settings
from ingest.store import engine as db

HOSTS = 50
PAGES = 40
LATENCY_S = 0.05
DELAY_S = 0.5

_TICKS = os.sysconf("SC_CLK_TCK")


def _tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system) of ``root`` and every live descendant, by pid."""
    seen: dict[int, float] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        seen[pid] = (int(stat[11]) + int(stat[12])) / _TICKS
        todo.extend(int(c) for c in children)
    return seen


class _CpuMeter:
    """Samples the process tree's CPU time; a worker's last sample counts after it exits."""

    def __init__(self) -> None:
        self.last: dict[int, float] = {}
        self.base = _tree_cpu(os.getpid())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self.last.update(_tree_cpu(os.getpid()))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.last.update(_tree_cpu(os.getpid()))

    @property
    def seconds(self) -> float:
        return sum(cpu - self.base.get(pid, 0.0) for pid, cpu in self.last.items())


def run() -> list[str]:
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        robots = "User-agent: *\nAllow: /\n"
        servers = [
            stack.enter_context(
                FaultServer(f"127.0.0.{10 + i}", latency_s=LATENCY_S, pages=PAGES, robots=robots)
            )
            for i in range(HOSTS)
        ]
        feeds = tmp / "feeds.toml"
        feeds.write_text(
            "".join(
                f'[[feeds]]\nkey = "host-{i}"\nurl = "{s.url("/pages/feed.xml")}"\n\n'
                for i, s in enumerate(servers)
            )
        )
        settings = load_settings(
            home=tmp, allow_loopback=True, politeness_delay_s=DELAY_S,
            max_parallel_hosts=HOSTS, page_shard_hosts=HOSTS, max_pages_per_run=HOSTS * PAGES,
            max_entries_per_feed=PAGES, flush_every=100,
        )  # fmt: skip
        engine = db.make_engine(settings.resolved_warehouse_url)
        pipeline.prepare(engine, feeds)
        for shard in pipeline.plan_feed_shards(engine, settings, pipeline._now()):  # noqa: SLF001 - the planner's clock
            pipeline.poll_shard(engine, settings, shard["items"], "bench")
        [shard] = pipeline.plan_page_shards(engine, settings)
        print(f"fetching {HOSTS} hosts x {PAGES} pages, delay {DELAY_S}s ...", flush=True)
        with _CpuMeter() as cpu:
            started = time.perf_counter()
            stats = pipeline.fetch_shard(engine, settings, shard["items"], "bench")
            wall = time.perf_counter() - started
        pages = stats["pages_fetched"]
        loaded = pipeline.load_run(engine, "bench")
        engine.dispose()
    bound = PAGES * DELAY_S + (PAGES + 1) * LATENCY_S  # the delay runs from each response's end
    ratio = wall / bound
    per_page_ms = cpu.seconds / max(pages, 1) * 1000
    print(
        f"{pages} pages ({stats['articles_extracted']} extracted, {loaded.inserted} loaded) in "
        f"{wall:.1f}s; politeness bound {bound:.1f}s; ratio {ratio:.2f}x; "
        f"CPU {per_page_ms:.1f} ms/page"
    )
    return [
        "## Polite fetching: 50 hosts x 40 pages",
        "",
        f"{HOSTS} fault-server hosts on loopback aliases, {PAGES} article pages each, "
        f"{LATENCY_S * 1000:.0f} ms latency per response, robots.txt on every host. One "
        f"`pipeline.fetch_shard` (the DAG's fetch task: robots.txt, fetch, archive, extract in "
        f"the worker processes, normalise, stage) with a per-host delay of {DELAY_S} s and up "
        f"to {HOSTS} hosts at once. A host's delay runs from the end of its previous response, "
        f"so the politeness lower bound is pages per host x delay plus the latency of each of "
        f"the host's {PAGES + 1} requests (robots.txt and pages) = {bound:.1f} s. CPU is this process plus its parse/extract workers, per fetched page.",
        "",
        "| pages fetched | extracted | wall s | politeness bound s | wall / bound | CPU ms per page |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {pages} | {stats['articles_extracted']} | {wall:.1f} | {bound:.1f} | "
        f"**{ratio:.2f}x** | {per_page_ms:.1f} |",
        "",
    ]
