"""Extraction per core and on both cores (issue 17, point 2).

1. *Per core*: the extraction stage as a fetch runs it on each page (``extract_page``, then
   ``normalise``, both in a worker) against bare ``trafilatura.extract(html, url=url)``, by
   paired CPU time: each page through both, one after the other (the order alternating),
   on this thread's CPU clock; the ratio is bare CPU over ours, summed over a pass, the
   median of the passes. On the dev set (197 real pages) and on a generated set of pages
   of real size (:mod:`pagegen`, 50-300 KB with nav, ads, scripts and comments).
   Target: at least 0.95x on both.
2. *Both cores*: one ``fetch_shard`` (the DAG's fetch task) on a CPU-bound workload (many
   hosts serving generated pages from another process, no politeness delay), with
   ``INGEST_WORKERS`` 1 and 2, interleaved; the ratio is pages/s with 2 over pages/s with
   1, the median of the pairs. Target: at least 1.8x.
3. *Diagnostic, not a target*: the same pairs with the HTTP exchange replaced by the same
   responses served from memory (``Fetcher.get`` answering from what a real run fetched,
   the body still hashed): how far the ratio goes when the HTTP costs the task's main
   process nothing, everything else (hand-off, workers, archive, warehouse) real; and
   bare ``trafilatura.extract`` in two processes at once against one: the machine's own
   ceiling for the ratio.

    PYTHONPATH=tools:bench .venv/bin/python bench/run.py --only cores
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import trafilatura

from bench_devset import DEVSET
from hostfarm import HostFarm
from ingest import fetch, pipeline
from ingest.extract import extract_page
from ingest.models import Extracted, Fetched, FetchFailure, PageJob
from ingest.normalise import normalise
from ingest.settings import load_settings
from ingest.store import engine as db
from ingest.textutil import sha256_hex
from ingest.urls import canonical_url
from pagegen import pages as generated_pages

ROOT = Path(__file__).resolve().parents[1]
GENERATED = 200
PASSES = 3
HOSTS, PAGES = 24, 20
PAIRS = 5
CT = "text/html; charset=utf-8"
_TICKS = os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- per core


def devset_pages(devset: Path = DEVSET) -> dict[str, bytes]:
    """The dev set's pages, URL to bytes (its SOURCES.tsv gives each page's URL)."""
    out: dict[str, bytes] = {}
    with (devset / "SOURCES.tsv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            path = devset / "html" / f"{row['id']}.html"
            if path.exists():
                out[row["url"] or f"https://devset.example/{row['id']}"] = path.read_bytes()
    return out


def _inputs(url: str, html: bytes) -> tuple[PageJob, Fetched]:
    """What the fetch hands the stage: the page's job and its fetched record (hashed)."""
    job = PageJob("e", "bench", url, url, canonical_url(url))
    return job, Fetched(url, url, 200, CT, html, sha256_hex(html), None, None, 0.0)


def _ours(
    url: str, html: bytes, inputs: tuple[PageJob, Fetched], now: datetime
) -> tuple[bool, float]:
    """Our stage on one page: whether it gave an article, and the CPU ``extract_page`` took
    (alone; ``normalise`` follows it in the same worker)."""
    started = time.thread_time()
    result = extract_page(html, CT, url)
    extracted = time.thread_time() - started
    if not isinstance(result, Extracted):
        return False, extracted
    normalise(*inputs, result, now=now)
    return True, extracted


def paired_cpu(pages: dict[str, bytes], passes: int = PASSES) -> dict[str, float]:
    """Bare and our CPU seconds per pass, each page through both in turn; the ratio."""
    now = datetime.now(UTC)
    inputs = {url: _inputs(url, html) for url, html in pages.items()}  # the fetch's work
    for url, html in list(pages.items())[:5]:  # warm imports and caches
        trafilatura.extract(html, url=url)
        _ours(url, html, inputs[url], now)
    ratios, worker_ratios, bare_s, ours_s, ok = [], [], [], [], 0
    for p in range(passes):
        bare = ours = worker = 0.0
        ok = 0
        for i, (url, html) in enumerate(pages.items()):
            for turn in (0, 1) if (i + p) % 2 == 0 else (1, 0):
                t = time.thread_time()
                if turn == 0:
                    trafilatura.extract(html, url=url)
                    bare += time.thread_time() - t
                else:
                    article, extracting = _ours(url, html, inputs[url], now)
                    ours += time.thread_time() - t
                    worker += extracting
                    ok += article
        ratios.append(bare / ours)
        worker_ratios.append(bare / worker)
        bare_s.append(bare)
        ours_s.append(ours)
    return {
        "ratio": statistics.median(ratios), "bare_s": statistics.median(bare_s),
        "worker_ratio": statistics.median(worker_ratios),
        "ours_s": statistics.median(ours_s), "ok": ok, "n": len(pages),
        "kb": statistics.median(len(h) for h in pages.values()) / 1024,
        "low": min(ratios), "high": max(ratios),
    }  # fmt: skip


# --------------------------------------------------------------------------- both cores


def _extract_all(pages: dict[str, bytes], start: Any, walls: Any) -> None:  # noqa: ANN401 - multiprocessing's proxies
    for url, html in list(pages.items())[:5]:  # warm
        trafilatura.extract(html, url=url)
    start.wait()
    began = time.perf_counter()
    for url, html in pages.items():
        trafilatura.extract(html, url=url)
    walls.put(time.perf_counter() - began)


def bare_scaling(pages: dict[str, bytes], rounds: int = 3) -> list[float]:
    """What this machine gives two processes doing nothing but extracting: the ceiling.

    Each round, one process extracts every page, then two do at once (the order
    alternating); the ratio is 2 x one's wall time over the slower of the two's.
    """
    ctx = multiprocessing.get_context("fork")
    ratios = []
    for round_ in range(rounds):
        wall: dict[int, float] = {}
        for n in (1, 2) if round_ % 2 == 0 else (2, 1):
            start, walls = ctx.Barrier(n), ctx.Queue()
            procs = [ctx.Process(target=_extract_all, args=(pages, start, walls)) for _ in range(n)]
            for proc in procs:
                proc.start()
            wall[n] = max(walls.get(timeout=600) for _ in procs)  # a child that died: raises
            for proc in procs:
                proc.join()
        ratios.append(2 * wall[1] / wall[2])
    return ratios


_SPIN = (
    "import time\nt = time.perf_counter()\nc = time.process_time()\n"
    "while time.perf_counter() - t < {s}: pass\n"
    "print(time.process_time() - c, time.perf_counter() - t)"
)


def cores_available(seconds: float = 1.0) -> float:
    """How many cores two busy processes get right now (2.0 on an idle two-core machine).

    Other jobs share this machine: a ratio of two-core to one-core throughput means
    little when two cores are not there to be had. Measured beside each pair.
    """
    procs = [
        subprocess.Popen([sys.executable, "-c", _SPIN.format(s=seconds)], stdout=subprocess.PIPE)
        for _ in range(2)
    ]
    got = 0.0
    for proc in procs:
        out, _ = proc.communicate()
        cpu, wall = map(float, out.split())
        got += cpu / wall
    return got


def _tree_cpu(root: int, skip: frozenset[int]) -> dict[int, float]:
    seen: dict[int, float] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in skip:
            continue
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        seen[pid] = (int(stat[11]) + int(stat[12])) / _TICKS
        todo.extend(int(c) for c in children)
    return seen


class CpuMeter:
    """CPU seconds of this process and its children (but ``skip``'s), sampled; by pid."""

    def __init__(self, skip: frozenset[int] = frozenset()) -> None:
        self.skip = skip
        self.base = _tree_cpu(os.getpid(), skip)
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self.last.update(_tree_cpu(os.getpid(), self.skip))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.last.update(_tree_cpu(os.getpid(), self.skip))

    @property
    def seconds(self) -> float:
        return sum(cpu - self.base.get(pid, 0.0) for pid, cpu in self.last.items())

    @property
    def main_seconds(self) -> float:
        pid = os.getpid()
        return self.last.get(pid, 0.0) - self.base.get(pid, 0.0)


def _polled_warehouse(farm: HostFarm, tmp: Path, feed_path: str) -> Path:
    """A warehouse whose pages are all pending: registry synced, every feed polled."""
    feeds = tmp / "feeds.toml"
    feeds.write_text(
        "".join(
            f'[[feeds]]\nkey = "host-{i}"\nurl = "{base}{feed_path}"\n\n'
            for i, base in enumerate(farm.bases)
        )
    )
    home = tmp / "template"
    home.mkdir()
    settings = _settings(home, workers=2, hosts=len(farm.bases))
    engine = db.make_engine(settings.resolved_warehouse_url)
    pipeline.prepare(engine, feeds)
    for shard in pipeline.plan_feed_shards(engine, settings, pipeline._now()):  # noqa: SLF001 - the planner's clock
        pipeline.poll_shard(engine, settings, shard["items"], "bench")
    engine.dispose()
    return home / "warehouse.db"


def _settings(home: Path, *, workers: int, hosts: int):  # type: ignore[no-untyped-def]  # noqa: ANN202
    return load_settings(
        home=home, allow_loopback=True, politeness_delay_s=0.0, workers=workers,
        page_shard_hosts=hosts, max_pages_per_run=100_000, max_entries_per_feed=1000,
        flush_every=100,
    )  # fmt: skip


@contextlib.contextmanager
def http_from_memory(seen: dict[str, Fetched]) -> Iterator[None]:
    """``Fetcher.get`` answers a URL in ``seen`` from memory (hashed again), else for real
    (:func:`keeping_responses` fills ``seen``)."""
    real = fetch.Fetcher.get

    def get(
        self: fetch.Fetcher, url: str, limits: fetch.Limits, *args: object, **kwargs: object
    ) -> Fetched | FetchFailure:
        kept = seen.get(url)
        if kept is not None:
            return dataclasses.replace(kept, body_hash=sha256_hex(kept.body), elapsed_s=0.0)
        return real(self, url, limits, *args, **kwargs)

    fetch.Fetcher.get = get  # type: ignore[method-assign]
    try:
        yield
    finally:
        fetch.Fetcher.get = real  # type: ignore[method-assign]


@contextlib.contextmanager
def keeping_responses(seen: dict[str, Fetched]) -> Iterator[None]:
    """Every response ``Fetcher.get`` gets for real is kept in ``seen``, by URL."""
    real = fetch.Fetcher.get

    def get(
        self: fetch.Fetcher, url: str, limits: fetch.Limits, *args: object, **kwargs: object
    ) -> Fetched | FetchFailure:
        got = real(self, url, limits, *args, **kwargs)
        if isinstance(got, Fetched):
            seen[url] = got
        return got

    fetch.Fetcher.get = get  # type: ignore[method-assign]
    try:
        yield
    finally:
        fetch.Fetcher.get = real  # type: ignore[method-assign]


def fetch_once(template: Path, tmp: Path, workers: int, farm_pid: int) -> dict[str, float]:
    """One fetch task over every pending page, on a copy of ``template``; its rate and CPU."""
    home = Path(tempfile.mkdtemp(dir=tmp))
    shutil.copy(template, home / "warehouse.db")
    engine = db.make_engine(f"sqlite:///{home / 'warehouse.db'}")
    settings = _settings(home, workers=workers, hosts=10_000)
    [shard] = pipeline.plan_page_shards(engine, settings)
    farm_before = sum(_tree_cpu(farm_pid, frozenset()).values())
    with CpuMeter(frozenset({farm_pid})) as cpu:
        started = time.perf_counter()
        stats = pipeline.fetch_shard(engine, settings, shard["items"], f"bench-{workers}")
        wall = time.perf_counter() - started
    farm = sum(_tree_cpu(farm_pid, frozenset()).values()) - farm_before
    engine.dispose()
    shutil.rmtree(home)
    pages = stats["pages_fetched"]
    return {
        "pages": pages, "extracted": stats["articles_extracted"], "wall": wall,
        "rate": pages / wall, "cpu": cpu.seconds, "main": cpu.main_seconds, "farm": farm,
    }  # fmt: skip


Runs = dict[int, list[dict[str, float]]]


def _pairs(template: Path, tmp: Path, farm_pid: int, label: str) -> Runs:
    runs: Runs = {1: [], 2: []}
    for pair in range(PAIRS):
        for workers in (1, 2) if pair % 2 == 0 else (2, 1):
            available = cores_available()
            run = fetch_once(template, tmp, workers, farm_pid)
            run["available"] = available
            runs[workers].append(run)
            print(
                f"  {label}{workers} worker(s): {run['pages']:.0f} pages in {run['wall']:.2f}s "
                f"= {run['rate']:.1f}/s, CPU {run['cpu']:.1f}s "
                f"({run['cpu'] / run['wall']:.2f} cores; main process {run['main']:.1f}s, "
                f"hosts {run['farm']:.1f}s; cores to be had before: {available:.2f})",
                flush=True,
            )
    return runs


def both_cores(tmp: Path) -> tuple[Runs, Runs]:
    """The pairs for real, then the pairs with the HTTP answered from memory."""
    seen: dict[str, Fetched] = {}
    with HostFarm(HOSTS, PAGES, kind="real") as farm:
        template = _polled_warehouse(farm, tmp, "/pages/feed.xml")
        with keeping_responses(seen):  # warm: page cache, imports, the farm
            fetch_once(template, tmp, 2, farm.pid)
        runs = _pairs(template, tmp, farm.pid, "")
        with http_from_memory(seen):
            fetch_once(template, tmp, 2, farm.pid)  # warm
            stubbed = _pairs(template, tmp, farm.pid, "HTTP from memory, ")
    return runs, stubbed


# --------------------------------------------------------------------------- report


def _summary(runs: Runs) -> tuple[float, list[float], dict[int, dict[str, float]]]:
    """The median ratio of the pairs, the pairs, and each worker count's median run."""
    pairs = [two["rate"] / one["rate"] for one, two in zip(runs[1], runs[2], strict=True)]
    med = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for w, rs in runs.items()}
    return statistics.median(pairs), pairs, med


def _per_page(run: dict[str, float]) -> tuple[float, float, float]:
    """CPU ms a page: the task's main process, its workers, the hosts."""
    pages = run["pages"] / 1000
    return run["main"] / pages, (run["cpu"] - run["main"]) / pages, run["farm"] / pages


def run() -> list[str]:
    sets = {
        "dev set (real pages)": devset_pages(),
        "generated, real size": generated_pages(GENERATED),
    }
    per_core = {}
    for name, pages in sets.items():
        per_core[name] = result = paired_cpu(pages)
        print(
            f"{name}: {result['n']} pages, median {result['kb']:.0f} KB: ours/bare per core "
            f"{result['ratio']:.3f}x ({result['low']:.3f}-{result['high']:.3f})",
            flush=True,
        )
    machine = bare_scaling(sets["generated, real size"])
    print(f"bare extraction, 2 processes over 1: {', '.join(f'{r:.2f}' for r in machine)}")
    with tempfile.TemporaryDirectory() as tmp:
        runs, stubbed = both_cores(Path(tmp))
    scale, pairs, med = _summary(runs)
    stub_scale, stub_pairs, stub_med = _summary(stubbed)
    print(f"2 workers / 1 worker: {scale:.2f}x (pairs {', '.join(f'{p:.2f}' for p in pairs)})")
    print(
        f"  HTTP from memory: {stub_scale:.2f}x (pairs {', '.join(f'{p:.2f}' for p in stub_pairs)})"
    )
    lines = [
        "## Extraction on one core and on two (issue 17, point 2)",
        "",
        "Command: `PYTHONPATH=tools:bench .venv/bin/python bench/run.py --only cores`.",
        "",
        "**Per core.** Each page through bare `trafilatura.extract(html, url=url)` and "
        "through our stage (`ingest.extract.extract_page`, then `ingest.normalise.normalise` "
        "of the fetch's record, as a sandbox worker runs them), one right after the other in alternating order, "
        "timed on the thread's CPU clock; the ratio is the bare CPU over ours for a pass "
        f"(median of {PASSES} passes, range in brackets). The generated pages are "
        "`bench/pagegen.py`'s: 50-300 KB each, with a head of meta tags, JSON-LD, inline "
        "CSS and scripts, a menu of 100-250 links, ad slots, a captioned image, READ MORE "
        "promotions, related stories, comments and a footer. Target: at least 0.95x, for "
        "the whole stage (normalising included; `extract_page` alone shown beside it). "
        "A worker also makes the page's WARC records and signs the article "
        "(`ingest.pagework.work_page`): not extraction, and measured in the fetch task below.",
        "",
        "| page set | pages | median KB | bare CPU s | ours CPU s | ours / bare per core "
        "| `extract_page` alone / bare | articles | target met |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in per_core.items():
        lines.append(
            f"| {name} | {r['n']:.0f} | {r['kb']:.0f} | {r['bare_s']:.2f} | {r['ours_s']:.2f} "
            f"| **{r['ratio']:.3f}x** ({r['low']:.3f}-{r['high']:.3f}) "
            f"| {r['worker_ratio']:.3f}x | {r['ok']:.0f} "
            f"| {'yes' if r['ratio'] >= 0.95 else 'no'} |"
        )
    lines += [
        "",
        f"**Both cores.** {HOSTS} fault-server hosts (in a process of their own), "
        f"{PAGES} generated pages each, no politeness delay, robots.txt read: one "
        "`pipeline.fetch_shard` (the HTTP and the archive file's writes in the task's "
        "process; WARC records, extraction, normalising and signing in the sandbox's worker "
        "processes; staging) over all of them, with `INGEST_WORKERS=1` and `=2` "
        f"in turn, {PAIRS} pairs in alternating order. The ratio is pages/s with two "
        "workers over pages/s with one, the median of the pairs. CPU per page is split "
        "into the task's main process (the HTTP, writing the records, staging: one "
        "interpreter), its workers, and the hosts' process; *cores busy* is "
        "all of it over wall time; *cores to be had* is what two busy processes got just "
        "before (2.00 on an idle machine: other jobs share it). Target: at least 1.8x.",
        "",
        "| HTTP | workers | pages | wall s | pages/s | main ms/page | workers ms/page "
        "| hosts ms/page | cores busy | cores to be had |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, meds in (("real", med), ("from memory (diagnostic)", stub_med)):
        for w, m in meds.items():
            lines.append(
                f"| {label} | {w} | {m['pages']:.0f} | {m['wall']:.2f} | {m['rate']:.1f} "
                f"| {m['main'] / m['pages'] * 1000:.1f} "
                f"| {(m['cpu'] - m['main']) / m['pages'] * 1000:.1f} "
                f"| {m['farm'] / m['pages'] * 1000:.1f} | {(m['cpu'] + m['farm']) / m['wall']:.2f} "
                f"| {m['available']:.2f} |"
            )
    two, one = med[2], med[1]
    main_ms, work_ms, farm_ms = _per_page(two)
    # one worker: the slower process sets the pace; two: all the CPU shares two cores
    ceiling = 2 * max(_per_page(one)[:2]) / (main_ms + work_ms + farm_ms)
    busy_one = (one["cpu"] - one["main"]) / one["wall"]  # the one worker's share of the time
    work_one = _per_page(one)[1]
    stub_main, stub_work, _ = _per_page(stub_med[2])
    stub_work_one = _per_page(stub_med[1])[1]
    bare = statistics.median(machine)
    lines += [
        "",
        f"2 workers over 1: **{scale:.2f}x** (pairs: {', '.join(f'{p:.2f}' for p in pairs)}); "
        f"target met: {'yes' if scale >= 1.8 else 'no'}. With the HTTP from memory "
        f"(diagnostic): {stub_scale:.2f}x (pairs: {', '.join(f'{p:.2f}' for p in stub_pairs)}). "
        "Bare `trafilatura.extract` over the generated pages in two processes at once, "
        f"against one (the machine's own ceiling): {bare:.2f}x (rounds: "
        f"{', '.join(f'{r:.2f}' for r in machine)}).",
        "",
        "With the one worker never idle, the ratio would be at most 2 x max(main, workers) "
        "with one worker / (main + workers + hosts) with two, per page on two cores: with "
        "one worker, the slower of the two processes sets the pace and the other's CPU is "
        "free; with two, all the CPU a page costs shares the two cores. Here that is "
        f"**{ceiling:.2f}x**, and the measured ratio is "
        f"{'above' if scale > ceiling else 'under'} it: the one worker was busy "
        f"{busy_one:.0%} of the time (waiting on the main process for the rest: a page's "
        "answer is read, and the next page sent, by the task's threads in turn), which "
        "lowers the one-worker pace. Against the bare ceiling the fetch task loses in two "
        f"ways: its main process's CPU ({main_ms:.1f} ms a page with two workers), and its "
        f"workers' CPU a page, {work_one:.1f} ms with one worker and {work_ms:.1f} with two. "
        f"The diagnostic rows show the HTTP's part: answered from memory, the main process "
        f"spends {stub_main:.1f} ms a page instead of {main_ms:.1f} (the workers "
        f"{stub_work_one:.1f} ms with one worker and {stub_work:.1f} with two), and the "
        f"ratio is {stub_scale:.2f}x "
        f"(pairs {min(stub_pairs):.2f}-{max(stub_pairs):.2f}). That is as far as a cheaper "
        "HTTP client could take this ratio; the rest of the main process's share (handing "
        "pages to workers and their answers back, hashing, the archive's writes, staging) "
        "stays. Moving the HTTP into the workers would put it into the one-worker run's "
        "path as well (lifting the ratio partly by slowing its baseline), and on the "
        "internet a worker waiting on a slow host holds a core's worth of extraction idle.",
        "",
    ]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
