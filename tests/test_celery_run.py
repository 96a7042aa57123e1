"""news_ingest on the CeleryExecutor, for real: docker-compose.yml's topology without Docker.

PostgreSQL, Redis, Airflow's scheduler, API server, dag-processor and triggerer, a worker
for the fetch queue and one for the cpu queue (tools/celery_topology.py, as ``make
scale-demo`` starts them). A run is triggered through the REST API; while a fetch task
is mid-flight on the demo site's slow page its worker is SIGKILLed, process group and
all, and another worker for the fetch queue is started. Airflow finds the task's
heartbeat gone, retries it there, and the run ends green with every article once.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import time

import psycopg
import pytest

from ci_env import in_ci

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG = "news_ingest"
SLOW_HOST = "127.0.0.2"  # the demo site's slow page lives on its second host
SLOW_PATH = "/live/2026/11/22/storm-updates-from-across-the-district"


def test_a_sandbox_opens_in_a_task_forked_from_a_celery_pool_process():
    """Celery's pool processes are daemonic, and Airflow forks each task from one."""
    code = textwrap.dedent("""
        import os, billiard
        def pool_process():
            pid = os.fork()  # as Airflow's supervisor forks the task's process
            if pid == 0:
                from ingest.sandbox import Sandbox
                from ingest.textutil import word_count
                with Sandbox(1, 512) as sandbox:
                    print(sandbox.run(30, word_count, "three little words"), flush=True)
                os._exit(0)
            os.waitpid(pid, 0)
        if __name__ == "__main__":
            process = billiard.Process(target=pool_process, daemon=True)
            process.start()
            process.join()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.stdout.strip() == "3", done.stderr[-3000:]


@pytest.fixture(scope="module")
def topology(tmp_path_factory):
    from celery_topology import WorkerSpec, find_bindir, redis_server, running

    missing = [name for name, found in (("PostgreSQL", find_bindir()),
                                        ("redis-server", redis_server())) if not found]  # fmt: skip
    if missing:
        message = f"{' and '.join(missing)} not installed (make test installs them)"
        if in_ci():
            pytest.fail(f"the Celery test is required in CI: {message}")
        pytest.skip(message)
    workers = (WorkerSpec("fetch", "fetch", 2), WorkerSpec("cpu", "cpu", 2))
    settings = {
        # the slow page drips for 60 s and a fetch gives it 12: long enough to be caught
        "INGEST_PAGE_DEADLINE_S": "12",
        "INGEST_RETRY_DELAY_S": "2",
    }
    airflow = {
        # a task whose worker died is failed (and retried) 20 s after its last heartbeat
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "3",
        # a task the killed worker had taken but not yet started stays queued in Airflow
        # (its message unacknowledged in Redis): queued this long, the scheduler requeues it
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "15",
    }
    home = tmp_path_factory.mktemp("celery")
    with running(home, workers=workers, ingest=settings, airflow=airflow,
                 slow_seconds=60) as topo:  # fmt: skip
        yield topo


def wait_for(what, predicate, timeout_s, topo):
    deadline = time.monotonic() + timeout_s
    while not (found := predicate()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen in {timeout_s} s; logs in {topo.home / 'logs'}")
        time.sleep(0.5)
    return found


def slow_page_asked(topo):
    return SLOW_PATH in topo.log("demosite").read_text(errors="replace")


@pytest.mark.timeout(600)  # the topology's start (in this test's setup) and the run
def test_a_run_uses_both_queues_and_survives_a_fetch_worker_killed_mid_task(topology):
    """The killed tasks are retried on the other worker, and the run succeeds.

    A retry holds its shard's own lease token, so it takes back the hosts its killed try
    was crawling and fetches their pages (docs/operations.md, "A killed run"): when the
    run ends every article is in, once.
    """
    from celery_topology import WorkerSpec

    topo = topology
    run_id = topo.trigger(DAG)
    wait_for("a fetch of the slow page", lambda: slow_page_asked(topo), 180, topo)
    topo.crash("worker-fetch")  # the worker, its pool, the tasks' processes: SIGKILL, at once
    # the tasks it was running: the slow page's fetch at least (it drips for 60 s)
    killed = {(t["task_id"], t["map_index"]): t for t in topo.tries(DAG, run_id)
              if t["state"] == "running"}  # fmt: skip
    assert killed and {t for t, _ in killed} <= {"poll", "fetch"}, killed
    spare = topo.start_worker(WorkerSpec("fetch2", "fetch", 2))
    state = topo.wait_run(DAG, run_id, 240)
    tries = topo.tries(DAG, run_id)
    lines = "\n".join(topo.ran_on_lines(DAG, run_id))
    assert state == "success", f"{state}\n{lines}\nlogs in {topo.home / 'logs'}"

    # Each killed task was retried on the other fetch worker, and the slow page's among them.
    for key, victim in killed.items():
        mine = [t for t in tries if (t["task_id"], t["map_index"]) == key]
        assert victim["worker"].startswith("fetch@"), lines
        assert mine[0]["worker"] == victim["worker"], lines
        assert mine[-1]["try_number"] >= 2, lines
        assert (mine[-1]["state"], mine[-1]["worker"]) == ("success", spare), lines
    slow = [
        t for t in tries if t["task_id"] == "fetch" and SLOW_HOST in (t["rendered_map_index"] or "")
    ]
    assert (slow[-1]["task_id"], slow[-1]["map_index"]) in killed, lines
    # HTTP tasks ran on the fetch queue's workers, everything else on the cpu worker.
    ran = [t for t in tries if t["worker"]]
    nodes = {t["worker"].split("@")[0] for t in ran}
    assert nodes == {"fetch", "fetch2", "cpu"}, lines
    for t in ran:
        expected = ("fetch", "fetch2") if t["task_id"] in ("poll", "fetch") else ("cpu",)
        assert t["worker"].split("@")[0] in expected, lines
    # Every article of the demo feeds is in the warehouse exactly once, after this one run.
    expected_urls = demo_articles(topo.site_port)
    dsn = topo.warehouse_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        urls = [u for (u,) in conn.execute("SELECT canonical_url FROM articles").fetchall()]
    assert len(urls) == len(set(urls))
    assert expected_urls <= set(urls)
    assert len(urls) == len(expected_urls) + 1  # and the syndicated story once
    assert_no_host_held(topo)


def assert_no_host_held(topo):
    """The retries ended their crawls: no lease of the killed tries is left behind."""
    dsn = topo.warehouse_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        held = conn.execute(
            "SELECT host, lease_owner FROM hosts WHERE lease_owner IS NOT NULL"
        ).fetchall()
    assert held == []


def demo_articles(port):
    """The demo site's distinct stories (a syndicated copy is stored as its original)."""
    from ingest.demosite import build_site
    from ingest.demosite.server import DEFAULT_HOSTS

    site, _ = build_site([f"http://{host}:{port}" for host in DEFAULT_HOSTS])
    return {a.url for a in site.articles if not a.syndicated}


def test_a_crash_kills_the_whole_tree_even_processes_in_groups_of_their_own(tmp_path):
    """As Airflow puts each task's process in a process group of its own."""
    import psutil
    from celery_topology import Topology

    topo = Topology(home=tmp_path, env=dict(os.environ), api="", metadata_dsn="",
                    warehouse_url="", feeds_file=tmp_path / "f", site_port=0)  # fmt: skip
    topo.spawn("tree", ["sh", "-c", "setsid sleep 300 & sleep 300 & wait"])
    root = psutil.Process(topo.processes["tree"].pid)

    def groups() -> set[int]:
        """The children's process groups (the setsid child has its own once setsid ran)."""
        with contextlib.suppress(ProcessLookupError):
            return {os.getpgid(c.pid) for c in root.children()}
        return set()

    # two children, and the first one in a group of its own: a child is seen as soon as
    # sh forked it, before setsid(2) has run in it
    wait_for("two children in two groups", lambda: len(groups()) == 2, 10, topo)
    children = root.children()
    assert len(children) == 2
    topo.crash("tree")
    _gone, alive = psutil.wait_procs(children, timeout=10)
    assert alive == []
