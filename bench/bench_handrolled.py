"""End to end on many hosts: ``ingest run`` against the hand-rolled loop (issue 17, point 2).

The fault-server hosts of :mod:`hostfarm` (a process of their own) serve generated pages
of real size; each host's feed also lists one page again under tracking parameters and
one under a second URL, and the first host's lists a PDF and a 21 MB page. In the same
run, in alternating order: our whole run (the real CLI: migrations, registry, polls,
robots.txt, fetch with politeness off, WARC archive, extraction on two workers, dedupe,
load, clustering) into a fresh SQLite warehouse; the hand-rolled loop of
``bench/handrolled.py`` into a fresh SQLite file; and bare ``trafilatura.extract`` over
the same article pages in one thread (wall time), the extraction rate to compare with.

Targets: ours at least 0.8x the bare extraction rate (articles stored per second of
wall time over bare pages per second in one thread), and no slower than the loop.

    PYTHONPATH=tools:bench .venv/bin/python bench/run.py --only handrolled
"""

from __future__ import annotations

import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import trafilatura

from bench_cores import cores_available
from hostfarm import HostFarm

HOSTS, PAGES = 40, 25
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
LOOP_TRIES = 6
MAX_PAGE_BYTES = 10 * 1024 * 1024  # our default page cap (INGEST_PAGE_MAX_BYTES)
HERE = Path(__file__).resolve().parent


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    return {**env, **extra}


PHASES = (  # (phase, the INFO line that ends it)
    ("start, migrations, registry", "ingest.pipeline.warehouse: registry "),
    ("polls", "shard polled "),
    ("fetch, archive, extraction", "shard fetched "),
    ("dedupe and load", "ingest.store.loads: run "),
    ("clustering", "clustered "),
)
_LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO (.*)$")


def phases(log: str, started: float, ended: float) -> dict[str, float]:
    """Seconds spent in each phase of a run, from its ``-v`` log's timestamps."""
    ends: dict[str, float] = {}
    for line in log.splitlines():
        match = _LOG_LINE.match(line)
        if not match:
            continue
        at = datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f").timestamp()  # noqa: DTZ007 - the log's local time
        for name, marker in PHASES:
            if marker in match[2]:
                ends[name] = at  # the last such line
    out, previous = {}, started
    for name, _ in PHASES:
        if name in ends:
            out[name] = ends[name] - previous
            previous = ends[name]
    out["housekeeping, exit"] = ended - previous
    return out


def ours(tmp: Path, feeds_toml: Path, *, verbose: bool = False) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(dir=tmp))
    url = f"sqlite:///{home / 'warehouse.db'}"
    env = _clean_env(
        INGEST_HOME=str(home), INGEST_ALLOW_LOOPBACK="true", INGEST_POLITENESS_DELAY_S="0"
    )
    ingest = Path(sys.executable).with_name("ingest")
    started, clock = time.perf_counter(), time.time()
    done = subprocess.run(
        [str(ingest), *(["-v"] if verbose else []), "run", "--feeds", str(feeds_toml),
         "--warehouse", url, "--no-progress"],
        check=True, env=env, capture_output=True, text=True,
    )  # fmt: skip
    wall = time.perf_counter() - started
    if verbose:
        return {"wall": wall, "phases": phases(done.stderr, clock, time.time())}
    with sqlite3.connect(home / "warehouse.db") as db:
        stored, distinct_bodies, pdf, biggest = db.execute(
            "SELECT count(*), count(DISTINCT content_hash), "
            "sum(final_url LIKE '%.pdf'), max(length(body)) FROM articles"
        ).fetchone()
    return {
        "wall": wall, "stored": stored, "duplicates": stored - distinct_bodies,
        "non_html": pdf or 0, "oversize": int((biggest or 0) > MAX_PAGE_BYTES),
    }  # fmt: skip


def loop(tmp: Path, feeds_txt: Path) -> dict[str, float]:
    """One run of the loop that finished.

    A run that died (the process has aborted, lxml in 16 threads) is counted and the loop
    run again, from an empty database.
    """
    crashes = 0
    while True:
        db_file = Path(tempfile.mkdtemp(dir=tmp)) / "loop.db"
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, str(HERE / "handrolled.py"), str(feeds_txt), str(db_file)],
            check=False, env=_clean_env(), capture_output=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
        if done.returncode == 0:
            break
        crashes += 1
        tail = done.stderr.decode(errors="replace")[-200:]
        print(f"  the loop died (exit {done.returncode}) after {wall:.1f} s: {tail!r}", flush=True)
        if crashes == LOOP_TRIES:
            raise RuntimeError(f"the hand-rolled loop died {LOOP_TRIES} times in a row")
    with sqlite3.connect(db_file) as db:
        stored, with_text, distinct_text, non_html, oversize = db.execute(
            "SELECT count(*), count(text), count(DISTINCT text), "
            "sum(content_type NOT LIKE 'text/html%'), sum(bytes > ?) FROM articles",
            (MAX_PAGE_BYTES,),
        ).fetchone()
    return {
        "wall": wall, "stored": stored, "duplicates": with_text - distinct_text,
        "non_html": non_html or 0, "oversize": oversize or 0, "crashes": crashes,
    }  # fmt: skip


def bare(pages: dict[str, bytes]) -> dict[str, float]:
    """Bare extraction of the article pages in one thread: pages per second of wall time
    (the rate compared with ours, timed alike) and per CPU second."""
    cpu = 0.0
    started = time.perf_counter()
    for url, html in pages.items():
        t = time.thread_time()
        trafilatura.extract(html, url=url)
        cpu += time.thread_time() - t
    wall = time.perf_counter() - started
    return {"wall": wall, "cpu": cpu, "rate": len(pages) / wall, "cpu_rate": len(pages) / cpu}


def run() -> list[str]:
    results: dict[str, list[dict[str, float]]] = {"ours": [], "loop": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp_name, HostFarm(HOSTS, PAGES, extras=True) as farm:
        tmp = Path(tmp_name)
        feeds_toml, feeds_txt = tmp / "feeds.toml", tmp / "feeds.txt"
        feeds_toml.write_text(
            "".join(
                f'[[feeds]]\nkey = "host-{i}"\nurl = "{base}/bench/feed.xml"\n\n'
                for i, base in enumerate(farm.bases)
            )
        )
        feeds_txt.write_text("".join(f"{base}/bench/feed.xml\n" for base in farm.bases))
        with httpx.Client() as client:
            pages = {
                url: client.get(url).content
                for base in farm.bases
                for url in (f"{base}/pages/{i}.html" for i in range(1, PAGES + 1))
            }
        trafilatura.extract(next(iter(pages.values())))  # imports
        for r in range(ROUNDS):
            order = ("ours", "loop", "bare") if r % 2 == 0 else ("bare", "loop", "ours")
            for subject in order:
                results.setdefault("available", []).append({"cores": cores_available()})
                if subject == "ours":
                    result = ours(tmp, feeds_toml)
                elif subject == "loop":
                    result = loop(tmp, feeds_txt)
                else:
                    result = bare(pages)
                results[subject].append(result)
                print(f"  round {r + 1} {subject}: {result}", flush=True)
        breakdown = ours(tmp, feeds_toml, verbose=True)  # logged at INFO: not timed above
        print(f"  phases of one more run of ours: {breakdown}", flush=True)
    med = {k: {f: statistics.median(r[f] for r in rs) for f in rs[0]} for k, rs in results.items()}
    ours_rate = med["ours"]["stored"] / med["ours"]["wall"]
    vs_bare = ours_rate / med["bare"]["rate"]
    vs_loop = [
        lp["wall"] / o["wall"] for o, lp in zip(results["ours"], results["loop"], strict=True)
    ]
    speed = statistics.median(vs_loop)
    print(
        f"ours {ours_rate:.1f} articles/s = {vs_bare:.2f}x bare extraction "
        f"({med['bare']['rate']:.1f} pages/s); loop time / ours {speed:.2f}x"
    )
    o, lp = med["ours"], med["loop"]
    return [
        "## End to end on many hosts: ours against the hand-rolled loop (issue 17, point 2)",
        "",
        "Command: `PYTHONPATH=tools:bench .venv/bin/python bench/run.py --only handrolled`.",
        "",
        f"{HOSTS} fault-server hosts on loopback (a process of their own), each serving "
        f"{PAGES} generated pages of real size (`bench/pagegen.py`, 50-300 KB) and a feed "
        "of them that also lists one page again under `utm_` parameters and one under a "
        "second URL; the first host's feed also lists a PDF and a 21 MB page (a story and "
        "an inline image). *Ours* is one `ingest run` (the CLI, from interpreter start to "
        "clustering) into a fresh SQLite warehouse, politeness delay 0, every other "
        "setting its default (2 extraction workers). *Loop* is `bench/handrolled.py`: "
        "feedparser, 16 httpx threads, `trafilatura.extract`, `INSERT OR IGNORE` into "
        "SQLite keyed by the listed URL. *Bare* is `trafilatura.extract(html, url=url)` "
        f"over the {HOSTS * PAGES} article pages in one thread, timed by the wall clock as "
        f"ours is. {ROUNDS} rounds "
        "in alternating order, medians. Targets: ours at least 0.8x the bare rate, and "
        "not slower than the loop.",
        "",
        "| run | wall s | rows stored | duplicates stored | non-HTML stored | over 10 MiB stored |",
        "|---|---:|---:|---:|---:|---:|",
        f"| ours | {o['wall']:.2f} | {o['stored']:.0f} | {o['duplicates']:.0f} "
        f"| {o['non_html']:.0f} | {o['oversize']:.0f} |",
        f"| hand-rolled loop | {lp['wall']:.2f} | {lp['stored']:.0f} | {lp['duplicates']:.0f} "
        f"| {lp['non_html']:.0f} | {lp['oversize']:.0f} |",
        "",
        f"Bare extraction: {med['bare']['rate']:.1f} pages/s on one core "
        f"({med['bare']['cpu_rate']:.1f} per CPU second). Ours: "
        f"{ours_rate:.1f} articles stored per second, **{vs_bare:.2f}x** the bare rate "
        f"(target 0.8x: {'met' if vs_bare >= 0.8 else 'missed'}). The loop's time over "
        f"ours: **{speed:.2f}x** (pairs {', '.join(f'{v:.2f}' for v in vs_loop)}; target "
        f"at least 1.0x: {'met' if speed >= 1.0 else 'missed'}).",
        "",
        f"Cores to be had (two busy processes, before each subject; 2.00 on an idle "
        f"machine): median {med['available']['cores']:.2f}, "
        f"{min(r['cores'] for r in results['available']):.2f} at worst.",
        "",
        f"The loop died {sum(r['crashes'] for r in results['loop']):.0f} times in "
        f"{ROUNDS} rounds (the process aborted) and was run again; its time is that of the "
        "run that finished.",
        "",
        "Where our time goes, from the timestamps of one more run logged at INFO "
        f"({breakdown['wall']:.1f} s): "
        + "; ".join(f"{name} {sec:.1f} s" for name, sec in breakdown["phases"].items())
        + ".",
        "",
    ]


if __name__ == "__main__":
    print("\n".join(run()))
