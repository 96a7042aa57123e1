"""docker-compose.yml's CeleryExecutor topology on one machine, without Docker.

PostgreSQL (Airflow's metadata and the warehouse), Redis (the broker), Airflow's
scheduler, API server, dag-processor and triggerer, a Celery worker per queue, and the
demo news site: each a process group of its own, all stopped on exit. ``make scale-demo``
(``python tools/celery_topology.py``) and tests/test_celery_run.py start it the same
way, with :func:`running`.

Which worker ran a task is read from Airflow's records: a task instance's (or a past
try's) ``external_executor_id`` is its Celery task id, and the Celery result backend, a
table of Airflow's metadata database, keeps the worker's node name beside it
(``result_extended``, set here and in docker-compose.yml).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from pgcluster import Cluster, find_bindir

from ingest_airflow.topology import QUEUE_CPU, QUEUE_FETCH

ROOT = Path(__file__).parents[1]
BIN = Path(sys.executable).parent
POOLS_FILE = ROOT / "deploy" / "pools.json"
START_S = 240.0
STOP_S = 20.0
HTTP_OK = 200

#: Settings every component shares, as docker-compose.yml sets them (tests/test_compose.py).
CELERY_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
    # the worker's node name is kept beside each task's result (see the module docstring)
    "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": '{"result_extended": true}',
    # one task taken at a time per free process: a worker that dies loses one task each
    "AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "1",
}


@dataclass(frozen=True)
class WorkerSpec:
    """``airflow celery worker -q QUEUE --concurrency N --celery-hostname NAME@%h``."""

    name: str
    queue: str
    concurrency: int


def default_workers(fetch: int = 4, cpu: int = 2) -> tuple[WorkerSpec, ...]:
    return (WorkerSpec("fetch", QUEUE_FETCH, fetch), WorkerSpec("cpu", QUEUE_CPU, cpu))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def say(*parts: object, flush: bool = True) -> None:
    """A line for the person running make scale-demo."""
    sys.stdout.write(" ".join(map(str, parts)) + "\n")
    if flush:
        sys.stdout.flush()


def _wait(
    what: str,
    ready: Callable[[], bool],
    deadline_s: float,
    alive: Callable[[], bool] | None = None,
    log: Path | None = None,
) -> None:
    deadline = time.monotonic() + deadline_s
    while not ready():
        if alive is not None and not alive():
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"{what}: the process exited\n{tail}")
        if time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise TimeoutError(f"{what}: not ready after {deadline_s:.0f} s\n{tail}")
        time.sleep(0.5)


@dataclass
class Topology:
    """Everything running; :func:`running` starts it and stops it."""

    home: Path
    env: dict[str, str]
    api: str
    metadata_dsn: str
    warehouse_url: str
    feeds_file: Path
    site_port: int
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _token: str = ""

    # -------------------------------------------------------------- processes
    def log(self, name: str) -> Path:
        return self.home / "logs" / f"{name}.log"

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        """Start ``argv`` as the process group ``name`` (its pgid is its pid)."""
        self.log(name).parent.mkdir(parents=True, exist_ok=True)
        with self.log(name).open("ab") as out:
            self.processes[name] = subprocess.Popen(
                argv, env=env or self.env, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.home,
            )  # fmt: skip

    def alive(self, name: str) -> bool:
        return self.processes[name].poll() is None

    def stop(self, name: str, sig: int = signal.SIGTERM, wait_s: float = STOP_S) -> None:
        """Signal the group ``name``; SIGKILL all of it if it is not gone in ``wait_s``.

        Whatever it started in groups of their own (Airflow puts each task's process in
        one) is SIGKILLed too once the group has ended.
        """
        process = self.processes[name]
        # every process seen under it while it stops (psutil's records: a pid reused since
        # is not killed); read only while it is not reaped, so the pid is still its own
        seen = {p.pid: p for p in _descendants(process.pid)}
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + wait_s
        while process.poll() is None and time.monotonic() < deadline:
            for p in _descendants(process.pid):
                seen.setdefault(p.pid, p)
            time.sleep(0.2)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        _kill_all(list(seen.values()))

    def crash(self, name: str) -> None:
        """SIGKILL ``name`` and every process under it at once, as if its machine died.

        The tree is frozen (SIGSTOP) first, so that nothing in it sees the others go.
        """
        process = self.processes[name]
        tree = [psutil.Process(process.pid), *_descendants(process.pid)]
        for p in tree:
            with contextlib.suppress(psutil.Error):
                p.send_signal(signal.SIGSTOP)
        _kill_all(tree + _descendants(process.pid))
        process.wait(timeout=30)

    def start_worker(self, spec: WorkerSpec) -> str:
        """A Celery worker of its own log-server port; returns its node name."""
        node = f"{spec.name}@{socket.gethostname()}"
        env = {**self.env, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
        log = self.log(f"worker-{spec.name}")
        offset = log.stat().st_size if log.exists() else 0  # a reused home: this start's lines
        self.spawn(
            f"worker-{spec.name}",
            [str(BIN / "airflow"), "celery", "worker", "-q", spec.queue,
             "--concurrency", str(spec.concurrency), "--celery-hostname", f"{spec.name}@%h"],
            env,
        )  # fmt: skip
        _wait(f"celery worker {node}", lambda: f"{node} ready" in _text_after(log, offset),
              START_S, lambda: self.alive(f"worker-{spec.name}"), log)  # fmt: skip
        return node

    # -------------------------------------------------------------- REST API
    def call(self, method: str, path: str, body: Any = None) -> Any:  # noqa: ANN401
        if not self._token:
            login = json.loads((self.home / "passwords.json").read_text())
            self._token = self._send("POST", "/auth/token",
                                     {"username": "admin", "password": login["admin"]},
                                     auth=False)["access_token"]  # fmt: skip
        return self._send(method, path, body)

    def _send(self, method: str, path: str, body: Any, *, auth: bool = True) -> Any:  # noqa: ANN401
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api + path, data, headers, method=method)  # noqa: S310 - our loopback API
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return json.loads(response.read() or b"null")

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Unpause ``dag_id`` and trigger a run; its run id."""
        self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                        {"logical_date": None, "conf": conf or {}})  # fmt: skip
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while (state := self.run_state(dag_id, run_id)) not in ("success", "failed"):
            if time.monotonic() > deadline:
                return state
            time.sleep(2)
        return state

    # -------------------------------------------------------------- records
    def tries(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every try of every task instance of a run, with the Celery node that ran it."""
        query = """
            SELECT t.task_id, t.map_index, t.try_number, t.state, t.hostname, c.worker,
                   t.rendered_map_index
            FROM (
                SELECT task_id, map_index, try_number, state, hostname, external_executor_id,
                       rendered_map_index
                FROM task_instance WHERE dag_id = %(dag)s AND run_id = %(run)s
                UNION ALL
                SELECT task_id, map_index, try_number, state, hostname, external_executor_id,
                       rendered_map_index
                FROM task_instance_history WHERE dag_id = %(dag)s AND run_id = %(run)s
            ) t LEFT JOIN celery_taskmeta c ON c.task_id = t.external_executor_id
            ORDER BY t.task_id, t.map_index, t.try_number
        """
        with psycopg.connect(self.metadata_dsn) as conn, conn.cursor() as cur:
            cur.execute(query, {"dag": dag_id, "run": run_id})
            names = [d.name for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def ran_on_lines(self, dag_id: str, run_id: str) -> list[str]:
        """``<task_id>[<map_index>] ran on <node>``, one line per task instance (its last try)."""
        last: dict[tuple[str, int], dict[str, Any]] = {}
        for row in self.tries(dag_id, run_id):
            last[(row["task_id"], row["map_index"])] = row
        lines = []
        for (task_id, index), row in sorted(last.items()):
            where = row["worker"] or f"(not run: {row['state']})"
            label = f"  {row['rendered_map_index']}" if index >= 0 else ""
            tries = f"  (try {row['try_number']})" if row["try_number"] > 1 else ""
            lines.append(f"{task_id}[{index}] ran on {where}{label}{tries}")
        return lines


def _text_after(path: Path, offset: int) -> str:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def _kill_all(processes: list[psutil.Process]) -> None:
    """SIGKILL each process and the group it leads (a task's process and its workers).

    A process that has ended, or whose pid now names another process (psutil compares
    start times), is left alone.
    """
    for p in processes:
        with contextlib.suppress(psutil.Error, OSError):
            if not p.is_running():
                continue
            leads = os.getpgid(p.pid) == p.pid
            p.kill()
            if leads:
                os.killpg(p.pid, signal.SIGKILL)


def _airflow_env(home: Path, pg: Cluster, redis_port: int, api_port: int) -> dict[str, str]:
    metadata = pg.url("airflow")
    password = secrets.token_urlsafe(12)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "INGEST_"))},
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(48),
        "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata}",
        **CELERY_SETTINGS,
        # manual runs only: unpausing must not add the latest scheduled interval's run
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW_CONN_NEWS_WAREHOUSE": pg.url("warehouse").replace("+psycopg", ""),
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def _redis_up(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith(b"+PONG")
    return False


@contextlib.contextmanager
def running(
    home: Path,
    *,
    workers: tuple[WorkerSpec, ...] | None = None,
    ingest: dict[str, str] | None = None,
    airflow: dict[str, str] | None = None,
    slow_seconds: float = 8.0,
) -> Iterator[Topology]:
    """Start the whole topology over ``home``; stop every process group on exit.

    ``ingest``: INGEST_* settings over the defaults below; ``airflow``: AIRFLOW__* ones.
    Raises RuntimeError when PostgreSQL or Redis is missing (scripts/ensure-*.sh).
    """
    bindir = find_bindir()
    redis = redis_server()
    if bindir is None or redis is None:
        missing = "PostgreSQL" if bindir is None else "redis-server"
        raise RuntimeError(
            f"{missing} is not installed (scripts/ensure-postgres.sh, ensure-redis.sh)"
        )
    home.mkdir(parents=True, exist_ok=True)
    pg = Cluster(bindir)
    topo: Topology | None = None
    with contextlib.ExitStack() as stack:
        pg.start()
        stack.callback(pg.stop)
        dsn = f"host=127.0.0.1 port={pg.port} user={pg.user} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE airflow")
            conn.execute("CREATE DATABASE warehouse")
        redis_port, api_port, site_port = free_port(), free_port(), free_port()
        env = _airflow_env(home, pg, redis_port, api_port)
        ingest_home = home / "ingest"
        env.update({
            "INGEST_HOME": str(ingest_home),  # the shared archive: every worker writes here
            "INGEST_FEEDS_FILE": str(ingest_home / "feeds.toml"),
            "INGEST_ALLOW_LOOPBACK": "true",  # the demo site is on 127.0.0.1-4
            "INGEST_POLITENESS_DELAY_S": "0.2",
            "INGEST_PAGE_DEADLINE_S": "3",
            "INGEST_PAGE_SHARD_HOSTS": "1",  # a fetch shard per host
            "INGEST_FEED_SHARD_SIZE": "2",
            **(ingest or {}),
            **(airflow or {}),
        })  # fmt: skip
        ingest_home.mkdir(parents=True, exist_ok=True)
        topo = Topology(
            home=home, env=env, api=f"http://127.0.0.1:{api_port}",
            metadata_dsn=f"host=127.0.0.1 port={pg.port} user={pg.user} dbname=airflow",
            warehouse_url=pg.url("warehouse"), feeds_file=ingest_home / "feeds.toml",
            site_port=site_port,
        )  # fmt: skip
        stack.callback(_stop_all, topo)
        topo.spawn("redis", [redis, "--port", str(redis_port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--daemonize", "no"])  # fmt: skip
        topo.spawn("demosite", [
            str(BIN / "python"), "-m", "ingest.demosite", "serve", "--port", str(site_port),
            "--feeds-out", str(topo.feeds_file), "--slow-seconds", str(slow_seconds), "-v",
        ])  # fmt: skip
        _migrate(topo)
        for name, argv in _components(api_port).items():
            topo.spawn(name, argv)
        for spec in workers or default_workers():
            topo.start_worker(spec)
        _wait("API server", lambda: _healthy(topo.api), START_S, lambda: topo.alive("api-server"),
              topo.log("api-server"))  # fmt: skip
        _wait("redis", lambda: _redis_up(redis_port), 30, lambda: topo.alive("redis"),
              topo.log("redis"))  # fmt: skip
        _wait("demo site", topo.feeds_file.exists, 60, lambda: topo.alive("demosite"),
              topo.log("demosite"))  # fmt: skip
        _wait("news_ingest parsed", lambda: _parsed(topo, "news_ingest"), START_S,
              lambda: topo.alive("dag-processor"), topo.log("dag-processor"))  # fmt: skip
        yield topo


def redis_server() -> str | None:
    """Debian's redis-server (scripts/ensure-redis.sh installs it), or one on PATH."""
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if Path(p).exists()), None
    )


def _migrate(topo: Topology) -> None:
    for argv in (["db", "migrate"], ["pools", "import", str(POOLS_FILE)]):
        with topo.log("setup").open("ab") as out:
            done = subprocess.run([str(BIN / "airflow"), *argv], env=topo.env, stdout=out,
                                  stderr=subprocess.STDOUT, check=False, timeout=600)  # fmt: skip
        if done.returncode:
            tail = topo.log("setup").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"airflow {' '.join(argv)} failed:\n{tail}")


def _components(api_port: int) -> dict[str, list[str]]:
    airflow = str(BIN / "airflow")
    return {
        "api-server": [airflow, "api-server", "--host", "127.0.0.1", "--port", str(api_port),
                       "--workers", "1"],
        "scheduler": [airflow, "scheduler"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer"],
    }  # fmt: skip


def _healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5) as response:  # noqa: S310 - loopback
            return response.status == HTTP_OK
    except (urllib.error.URLError, OSError):
        return False


def _parsed(topo: Topology, dag_id: str) -> bool:
    try:
        topo.call("GET", f"/api/v2/dags/{dag_id}")
    except (urllib.error.URLError, OSError):
        return False
    return True


def _stop_all(topo: Topology) -> None:
    """Workers first (their tasks end), then the scheduler and the rest, last Redis."""
    order = sorted(topo.processes, key=lambda n: (not n.startswith("worker"), n == "redis"))
    # a second Ctrl-C (or a TERM) must not cut the teardown short and orphan the rest
    quiet = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in quiet} if main else {}
    try:
        for name in order:
            try:
                topo.stop(name)
            except Exception as exc:  # noqa: BLE001 - stop every other one whatever this did
                say(f"could not stop {name}: {exc!r}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def main() -> int:
    """Run ``make scale-demo``: one run of news_ingest on the Celery topology; where each task ran."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--home", type=Path, help="state directory (default: a fresh temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep it running until Ctrl-C")
    args = parser.parse_args()
    # a TERM or HUP unwinds like Ctrl-C: every process group is stopped on the way out
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _exit_on)
    home = args.home or Path(tempfile.mkdtemp(prefix="scale-demo-"))
    say("starting PostgreSQL, Redis, Airflow (scheduler, api-server, dag-processor, triggerer),")
    say(f"two Celery workers and the demo site; logs in {home / 'logs'} ...")
    with running(home) as topo:
        say(f"Airflow on {topo.api}, demo site on port {topo.site_port} (hosts 127.0.0.1-4)")
        run_id = topo.trigger("news_ingest")
        say(f"triggered news_ingest: {run_id}")
        state = topo.wait_run("news_ingest", run_id, 900)
        say(f"run {state}; where each task instance ran (Airflow's records):\n")
        for line in topo.ran_on_lines("news_ingest", run_id):
            say(line)
        _print_landed(topo)
        if args.keep:
            say(f"\nkept running: {topo.api}/dags/news_ingest (admin, password in "
                f"{home / 'passwords.json'}); Ctrl-C stops everything")  # fmt: skip
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        say("stopping every process ...")
    return 0 if state == "success" else 1


def _exit_on(signum: int, frame: object) -> None:
    del frame
    raise SystemExit(128 + signum)


def _print_landed(topo: Topology) -> None:
    dsn = topo.warehouse_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        articles, urls = conn.execute(
            "SELECT count(*), count(DISTINCT canonical_url) FROM articles"
        ).fetchone() or (0, 0)
        (hosts,) = conn.execute(
            "SELECT count(DISTINCT split_part(canonical_url, '/', 3)) FROM articles"
        ).fetchone() or (0,)
    say(f"\nwarehouse: {articles} articles ({urls} distinct URLs) from {hosts} hosts")


if __name__ == "__main__":
    sys.exit(main())
