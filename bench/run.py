"""Benchmarks: run every bench in one process, print ratios, optionally write the report.

Timings on shared machines are noisy, so each comparison is measured in the same run,
interleaved, and reported as a ratio to a baseline measured alongside it.

    make bench            # = uv run python bench/run.py --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "tools"))

import bench_backfill
import bench_clusters
import bench_cores
import bench_devset
import bench_e2e
import bench_extract
import bench_fetch
import bench_freshness
import bench_handrolled
import bench_loads
import bench_many_feeds
import bench_migrations
import bench_monitor
import bench_neardup
import bench_registry
import bench_startup
import bench_warc

BENCHES = {
    "devset": bench_devset.run,
    "extract": bench_extract.run,
    "e2e": bench_e2e.run,
    "fetch": bench_fetch.run,
    "cores": bench_cores.run,
    "handrolled": bench_handrolled.run,
    "many_feeds": bench_many_feeds.run,
    "loads": bench_loads.run,
    "neardup": bench_neardup.run,
    "warc": bench_warc.run,
    "backfill": bench_backfill.run,
    "clusters": bench_clusters.run,
    "registry": bench_registry.run,
    "monitor": bench_monitor.run,
    "freshness": bench_freshness.run,
    "startup": bench_startup.run,
    "migrations": bench_migrations.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="write the Markdown report here")
    parser.add_argument("--only", choices=sorted(BENCHES), action="append")
    parser.add_argument(
        "--merge", action="store_true",
        help="with --write: replace only this run's sections in the existing report",
    )  # fmt: skip
    args = parser.parse_args()
    sections = []
    for name, bench in BENCHES.items():
        if args.only and name not in args.only:
            continue
        print(f"== {name}", flush=True)
        sections.append(bench())
    if args.write:
        command = (
            "make bench"
            if not args.only
            else "uv run python bench/run.py --write docs/benchmarks.md "
            + " ".join(f"--only {shlex.quote(o)}" for o in args.only)
        )
        header = [
            "# Benchmarks",
            "",
            f"Produced by `{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
            f"({platform.python_implementation()} {platform.python_version()}, "
            f"{platform.machine()}, {_cpus()} CPUs). Numbers are from one run on a shared, "
            "noisy machine: compare the ratios, which are measured within the same run, "
            "more than the absolute rates.",
            "",
        ]
        body = [line for s in sections for line in s]
        if args.merge and args.write.exists():
            old = args.write.read_text()
            header = [
                line
                for line in old.split("\n## ", 1)[0].rstrip("\n").splitlines()
                if not line.startswith("Sections marked")
            ]
            header = [
                *header,
                "",
                "Sections marked *updated* were re-run later, alone; each says when and how.",
                "",
            ]
            header = [line for i, line in enumerate(header) if line or (i and header[i - 1])]
            body = _merged(
                old, sections, f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `{command} --merge`"
            )
        args.write.write_text("\n".join(header + body) + "\n")
        print(f"report written to {args.write}")
    return 0


def _merged(old: str, sections: list[list[str]], how: str) -> list[str]:
    """The old report's sections, with this run's replacing those of the same title."""
    blocks: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in old.splitlines():
        if line.startswith("## "):
            current = blocks.setdefault(line, [])
        if current is not None:
            current.append(line)
    for section in sections:
        blocks[section[0]] = [*section[:1], "", f"*updated {how}*", *section[1:]]
    return [line for block in blocks.values() for line in block]


def _cpus() -> int:
    import os  # noqa: PLC0415

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
