"""Start-up cost: what each Airflow task imports before it does any work (issue 17).

Each task of ``dags/news_ingest.py`` imports its step (``from ingest.pipeline import
poll_shard``) and the adapter (``ingest_airflow``), then calls the step. What a step costs
at start is every module the task loads for it: found by running the task's imports and
its call on an empty warehouse in a fresh process, and recording ``sys.modules``. That set
is then imported again in fresh processes, timed, ``REPS`` times (median), interleaved
with the baseline (``import trafilatura`` alone), two ways:

- *on Airflow*: on top of what the task process already has, ``airflow.sdk`` and the DAG
  file parsed (Airflow's task runner forks from such a process: so does this bench);
- *cold*: in a bare interpreter (the adapter's Airflow calls left out).

And ``ingest run`` with nothing to do (an empty feeds registry), wall time of the whole
command, on a new warehouse (its migrations included) and on one already migrated.

Bytecode caches are written and used (an installed package has them): a warm-up pass
runs first. This module imports only the standard library at the top, because it is also
the probe run in those fresh processes (``python bench/bench_startup.py probe ...``).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DAG_FILE = ROOT / "dags" / "news_ingest.py"
REPS = 7
TARGET_RATIO = 1.5  # a step's imports: at most 1.5x `import trafilatura`
TARGET_RUN_S = 2.0  # an empty `ingest run`: at most 2 s

# Each task of dags/news_ingest.py: its imports, then its call on an empty warehouse
# (``engine``, ``settings``, ``now`` and ``run_id`` are given), as the task body has them.
ADAPTER = "from ingest_airflow import counted_even_if_it_fails, run_context, warehouse\n"
STEPS: dict[str, tuple[str, str]] = {
    "prepare": (
        "from ingest.errors import ConfigError\nfrom ingest.pipeline import prepare\n" + ADAPTER,
        "prepare(engine, settings.feeds_file)",
    ),
    "plan_feeds": (
        "from ingest.pipeline import plan_feed_shards\n" + ADAPTER,
        "plan_feed_shards(engine, settings, now)",
    ),
    "poll": (
        "from ingest.pipeline import poll_shard\n" + ADAPTER,
        "poll_shard(engine, settings, [], run_id, due_at=now)",
    ),
    "plan_pages": (
        "from ingest.pipeline import plan_page_shards\n" + ADAPTER,
        "plan_page_shards(engine, settings)",
    ),
    "fetch": (
        "from ingest.pipeline import fetch_shard\n" + ADAPTER,
        "fetch_shard(engine, settings, [], run_id)",
    ),
    "reprocess (live run: returns)": (
        "from ingest.pipeline import reprocess_interval\n" + ADAPTER,
        "None",
    ),
    "load": (
        "from ingest.pipeline import housekeeping, load_run\n" + ADAPTER,
        "load_run(engine, run_id, steps=[]); housekeeping(engine, settings)",
    ),
    "cluster": (
        "from ingest.pipeline import cluster_stories\n" + ADAPTER,
        "cluster_stories(engine, settings)",
    ),
    "check": (
        "from ingest_airflow.alerts import judge_run\n" + ADAPTER,
        "judge_run(engine, settings, run_id)",
    ),
}
#: Cold, the check task's Airflow module is left out: what it calls is this.
COLD_CHECK = ("from ingest.pipeline import check_run\n", "check_run(engine, settings, run_id)")
BASELINE = "trafilatura (baseline)"
#: What every step but a live run's reprocess loads: the engine and the settings.
FLOOR = "SQLAlchemy + pydantic-settings alone"
#: The same bench on the commit before issue 17's change (4b7aa89), same machine and day.
BEFORE = (
    "Before issue 17's change (commit 4b7aa89, this bench on the same machine the same "
    "day), every task loaded the whole pipeline, about 1,000 modules on Airflow and 1,600 "
    "cold: 6.6x to 11x trafilatura on Airflow, 8x to 11x cold; an empty `ingest run` took "
    "3.0 s on a new warehouse and 2.3 s on a migrated one."
)


# --------------------------------------------------------------------------- the probe


def _preload() -> None:
    """What an Airflow task process has before the task body runs."""
    import airflow.sdk  # noqa: PLC0415
    import airflow.sdk.execution_time.task_runner  # noqa: F401, PLC0415

    runpy.run_path(str(DAG_FILE), run_name="news_ingest_dag")


def _discover(name: str, mode: str) -> list[str]:
    """The modules a task loads for its step, in the order they were first imported."""
    if mode == "airflow":
        _preload()
    imports, call = COLD_CHECK if (mode == "cold" and name == "check") else STEPS[name]
    before = set(sys.modules)
    scope: dict[str, object] = {}
    exec(imports, scope)  # noqa: S102 - our own table above
    if call == "None":  # the task returns before it asks for the warehouse
        return [m for m in sys.modules if m not in before]
    from ingest.settings import load_settings  # noqa: PLC0415 - what warehouse() does
    from ingest.store.engine import make_engine  # noqa: PLC0415

    settings = load_settings()
    scope.update(
        engine=make_engine(settings.resolved_warehouse_url), settings=settings,
        now=__import__("datetime").datetime.now(__import__("datetime").UTC), run_id="bench",
    )  # fmt: skip
    try:
        exec(call, scope)  # noqa: S102 - our own table above
    except Exception as exc:  # noqa: BLE001 - a check of an empty run may fail; its imports count
        print(f"{name}: {type(exc).__name__}: {exc}"[:200], file=sys.stderr)
    return [m for m in sys.modules if m not in before]


def _time(sets: dict[str, list[str]], mode: str) -> dict[str, float]:
    """Each set of modules imported in a child forked from this (preloaded) process."""
    if mode == "airflow":
        _preload()
    out: dict[str, float] = {}
    names = list(sets)
    random.shuffle(names)
    for name in names:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: a task starting
            os.close(read)
            started = time.perf_counter()
            for module in sets[name]:
                with contextlib.suppress(Exception):  # a module made at run time (no spec)
                    importlib.import_module(module)
            os.write(write, repr(time.perf_counter() - started).encode())
            os._exit(0)
        os.close(write)
        with os.fdopen(read) as pipe:
            out[name] = float(pipe.read())
        os.waitpid(pid, 0)
    return out


def _probe(argv: list[str]) -> None:
    what, mode = argv[0], argv[1]
    if what == "discover":
        print(json.dumps(_discover(argv[2], mode)))
    else:
        print(json.dumps(_time(json.loads(Path(argv[2]).read_text()), mode)))


# --------------------------------------------------------------------------- the bench


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return env | {
        "INGEST_HOME": str(tmp / "home"),
        "INGEST_WAREHOUSE_URL": f"sqlite:///{tmp / 'steps.db'}",
        "INGEST_FEEDS_FILE": str(tmp / "feeds.toml"),
    }


def _run_probe(env: dict[str, str], *args: str) -> object:
    done = subprocess.run(
        [sys.executable, __file__, "probe", *args],
        env=env, capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout.splitlines()[-1])


def _ingest_run(env: dict[str, str], db: Path, feeds: Path) -> float:
    command = [
        str(Path(sys.executable).with_name("ingest")), "run", "--feeds", str(feeds),
        "--warehouse", f"sqlite:///{db}", "--no-progress",
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, check=True)
    return time.perf_counter() - started


def _row(seconds: float, baseline: float) -> str:
    ratio = seconds / baseline
    verdict = "pass" if ratio <= TARGET_RATIO else "**over**"
    return f"{seconds:.3f} s | {ratio:.2f}x | {verdict}"


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        (tmp / "feeds.toml").write_text("")
        env = _env(tmp)
        _ingest_run(env, tmp / "steps.db", tmp / "feeds.toml")  # migrated; caches written
        sets: dict[str, dict[str, list[str]]] = {}
        for mode in ("airflow", "cold"):
            found = {step: _run_probe(env, "discover", mode, step) for step in STEPS}
            floor = ["sqlalchemy", "pydantic_settings"]
            sets[mode] = {BASELINE: ["trafilatura"], FLOOR: floor, **found}  # type: ignore[dict-item]
            (tmp / f"{mode}.json").write_text(json.dumps(sets[mode]))
        times: dict[str, dict[str, list[float]]] = {"airflow": {}, "cold": {}}
        runs: dict[str, list[float]] = {"first": [], "second": []}
        for rep in range(REPS):  # interleaved, so drift hits all alike
            for mode in ("airflow", "cold"):
                got = _run_probe(env, "time", mode, str(tmp / f"{mode}.json"))
                for step, seconds in got.items():  # type: ignore[attr-defined]
                    times[mode].setdefault(step, []).append(seconds)
            db = tmp / f"run{rep}.db"
            runs["first"].append(_ingest_run(env, db, tmp / "feeds.toml"))
            runs["second"].append(_ingest_run(env, db, tmp / "feeds.toml"))
    med = {mode: {s: statistics.median(v) for s, v in t.items()} for mode, t in times.items()}
    base = med["cold"][BASELINE]
    rows = []
    for step in [BASELINE, FLOOR, *STEPS]:
        cold, warm = med["cold"][step], med["airflow"][step]
        modules = (
            (len(sets["airflow"][step]), len(sets["cold"][step])) if step in STEPS else ("", "")
        )
        print(f"{step:32s} on Airflow {warm:.3f} s ({warm / base:.2f}x)  cold {cold:.3f} s "
              f"({cold / base:.2f}x)  modules {modules[0]}/{modules[1]}")  # fmt: skip
        rows.append(f"| {step} | {modules[0]} | {_row(warm, base)} | {modules[1]} | "
                    f"{_row(cold, base)} |")  # fmt: skip
    first, second = statistics.median(runs["first"]), statistics.median(runs["second"])
    print(f"empty ingest run: first {first:.2f} s, second {second:.2f} s")
    verdict = {s: "pass" if s <= TARGET_RUN_S else "**over**" for s in (first, second)}
    return [
        "## Start-up: what each task imports (issue 17)",
        "",
        f"Median of {REPS} fresh processes each, interleaved. A step's imports are every "
        "module its task loads for it (the task's imports and its call, recorded on an empty "
        "warehouse), imported again and timed: *on Airflow*, in a process forked after "
        "`airflow.sdk` and the DAG file are loaded (as the task runner starts a task), and "
        "*cold*, in a bare interpreter (the check task's Airflow module left out). Ratios "
        f"are to `import trafilatura` alone, cold ({base:.3f} s); the target is "
        f"{TARGET_RATIO}x. Bytecode caches warm, as an installed package has them. "
        f"Cold, {FLOOR.removesuffix(' alone')} (the engine, the settings) are most of each "
        "step: an Airflow task process has them loaded already.",
        "",
        "| task | modules | on Airflow | ratio | target | modules | cold | ratio | target |",
        "|---|---:|---:|---:|---|---:|---:|---:|---|",
        *rows,
        "",
        f"`ingest run` with an empty registry, the whole command's wall time (target "
        f"{TARGET_RUN_S:g} s): **{first:.2f} s** on a new warehouse (migrations included, "
        f"{verdict[first]}), **{second:.2f} s** on one already migrated ({verdict[second]}).",
        "",
        BEFORE,
        "",
    ]


if __name__ == "__main__" and sys.argv[1:2] == ["probe"]:
    _probe(sys.argv[2:])
elif __name__ == "__main__":
    print("\n".join(run()))
