import os
import threading
import time
from pathlib import Path

import pytest

import sandbox_tasks as tasks
from ingest import extract, parse
from ingest.models import Extracted, Miss, ParsedFeed, Reason
from ingest.sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox():
    with Sandbox(workers=2, memory_mb=512) as box:
        yield box


def test_results_come_back(sandbox):
    assert sandbox.run(5, tasks.echo, {"a": (1, 2)}) == {"a": (1, 2)}


def test_a_catastrophic_regex_is_killed_at_its_budget_and_the_pool_goes_on(sandbox):
    before = sandbox.run(5, tasks.pid)
    started = time.monotonic()
    outcome = sandbox.run(0.5, tasks.catastrophic_regex, 64)
    elapsed = time.monotonic() - started
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.TIME_BUDGET
    assert elapsed < 3
    assert sandbox.run(5, tasks.echo, 7) == 7  # a fresh worker took the killed one's place
    assert before > 0


def test_a_memory_bomb_ends_in_its_worker(sandbox):
    outcome = sandbox.run(10, tasks.hog, 2048)
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.WORKER_CRASHED
    assert sandbox.run(5, tasks.hog, 16) == 16 * 1024 * 1024


def test_budget_counts_from_the_start_of_the_task_not_the_queue(sandbox):
    # Four 0.4 s tasks on two workers from four threads: each is within its 1 s budget
    # although the last ones wait in the queue for about 0.4 s first.
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(sandbox.run(1.0, tasks.spin, 0.4)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["done"] * 4


def test_the_real_parser_and_extractor_run_in_it(sandbox, fixtures):
    feed = (fixtures / "rss2.xml").read_bytes()
    parsed = sandbox.run(10, parse.parse_feed, feed, "http://example.org/feed.xml", None)
    assert isinstance(parsed, ParsedFeed)
    assert parsed.entries
    html = (fixtures / "article.html").read_bytes()
    extracted = sandbox.run(10, extract.extract_page, html, "text/html", "http://example.org/a")
    assert isinstance(extracted, Extracted)
    assert extracted == extract.extract_page(html, "text/html", "http://example.org/a")


def test_workers_never_re_run_the_host_programs_main_script(tmp_path):
    """Under Airflow the main script is `airflow`, which cannot be imported inside a task:
    a worker must not re-run it (multiprocessing does, for functions defined there)."""
    import subprocess
    import sys

    script = tmp_path / "host_program.py"
    script.write_text(
        "import sys\n"
        "if __name__ != '__main__':\n"
        "    raise SystemExit('the main script was re-run in a worker')\n"
        "from ingest.sandbox import Sandbox\n"
        "import sandbox_tasks\n"
        "with Sandbox(workers=1, memory_mb=256) as box:\n"
        "    first = box.run(5, sandbox_tasks.echo, 'ok')\n"
        "    killed = box.run(0.3, sandbox_tasks.spin, 5)\n"  # the replacement worker too
        "    again = box.run(5, sandbox_tasks.echo, 'ok')\n"
        "print(first, killed.reason.value, again, sys.modules['__main__'].__spec__)\n"
    )
    tests_dir = str(Path(tasks.__file__).parent)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": tests_dir},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["ok", "time_budget", "ok", "None"]  # and restored after
