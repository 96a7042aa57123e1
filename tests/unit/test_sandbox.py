import contextlib
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


def _gone(pid: int, timeout: float = 10.0) -> bool:
    """Whether process ``pid`` has ended (a zombie counts: it runs no more)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):  # reaped before, or while, it was read
            return True
        if state in {"Z", "X"}:
            return True
        time.sleep(0.01)
    return False


def test_a_bug_in_a_task_is_an_internal_error_with_the_workers_trace_and_the_worker_lives_on(
    caplog,
):
    with Sandbox(workers=1, memory_mb=512) as box:
        before = box.run(5, tasks.pid)
        outcome = box.run(5, tasks.boom, "an injected bug")
        after = box.run(5, tasks.pid)
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.INTERNAL_ERROR
    assert outcome.detail == "boom: ValueError: an injected bug"
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert "boom raised in its worker (a bug)" in logged
    assert 'sandbox_tasks.py", line' in logged  # the worker's traceback, where it raised
    assert before == after  # an exception is an answer: the worker is kept


def test_a_result_that_cannot_be_sent_back_is_an_internal_error_naming_why():
    with Sandbox(workers=1, memory_mb=512) as box:
        outcome = box.run(5, tasks.unsendable)
        again = box.run(5, tasks.echo, "still here")
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.INTERNAL_ERROR
    assert "its result could not be sent back" in outcome.detail
    assert "lock" in outcome.detail
    assert again == "still here"


def test_arguments_that_cannot_be_sent_raise_in_the_caller_and_cost_no_worker():
    import threading as th

    with Sandbox(workers=1, memory_mb=512) as box:
        before = box.run(5, tasks.pid)
        with pytest.raises(TypeError, match="lock"):
            box.run(5, tasks.echo, th.Lock())
        assert box.run(5, tasks.pid) == before


@pytest.mark.parametrize(("how", "expected"), [("exit", "exit code 3"), ("kill", "signal 9")])
def test_a_worker_dying_mid_task_fails_that_task_alone_and_is_replaced(how, expected):
    with Sandbox(workers=1, memory_mb=512) as box:
        first = box.run(5, tasks.pid)
        if how == "exit":
            outcome = box.run(5, tasks.exit_now, 3)
        else:
            killer = threading.Timer(0.3, os.kill, (first, 9))
            killer.start()
            outcome = box.run(10, tasks.spin, 5)
            killer.join()
        second = box.run(5, tasks.pid)
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.WORKER_CRASHED
    assert outcome.detail.endswith(f"worker died ({expected})")
    assert second != first


def test_a_worker_that_died_idle_is_replaced_before_the_next_task_which_runs_whole():
    with Sandbox(workers=1, memory_mb=512) as box:
        first = box.run(5, tasks.pid)
        os.kill(first, 9)
        assert _gone(first)
        assert box.run(5, tasks.echo, "ran") == "ran"  # not a Miss: the task never reached it
        assert box.run(5, tasks.pid) != first


def test_a_worker_that_met_its_memory_limit_is_replaced():
    with Sandbox(workers=1, memory_mb=256) as box:
        first = box.run(5, tasks.pid)
        outcome = box.run(10, tasks.hog, 1024)
        second = box.run(5, tasks.pid)
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.WORKER_CRASHED
    assert second != first


def test_a_worker_is_replaced_after_its_task_allowance(monkeypatch):
    from ingest import sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "MAX_TASKS_PER_WORKER", 3)
    with Sandbox(workers=1, memory_mb=512) as box:
        pids = [box.run(5, tasks.pid) for _ in range(7)]
    assert pids[0] == pids[1] == pids[2]
    assert pids[3] == pids[4] == pids[5] != pids[0]
    assert pids[6] != pids[3]
    assert all(_gone(p) for p in set(pids))  # retired workers ended, not left behind


def test_closing_lets_running_tasks_finish_then_ends_the_workers_and_refuses_more():
    box = Sandbox(workers=2, memory_mb=512)
    pids = {box.run(5, tasks.pid) for _ in range(4)}
    results = []
    runner = threading.Thread(target=lambda: results.append(box.run(10, tasks.spin, 0.5)))
    runner.start()
    time.sleep(0.1)  # the task is under way
    box.close()
    runner.join()
    assert results == ["done"]
    assert all(_gone(p) for p in pids)
    with pytest.raises(RuntimeError, match="closed"):
        box.run(5, tasks.echo, 1)


def test_leaving_on_an_error_kills_running_tasks_at_once():
    results = []
    box = Sandbox(workers=1, memory_mb=512)
    pid = box.run(5, tasks.pid)
    runner = threading.Thread(target=lambda: results.append(box.run(60, tasks.spin, 30)))
    runner.start()
    time.sleep(0.3)  # the task is under way
    started = time.monotonic()
    box.__exit__(KeyError, KeyError("the caller's own error"), None)
    runner.join(10)
    assert not runner.is_alive()
    assert time.monotonic() - started < 10
    [outcome] = results
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.WORKER_CRASHED
    assert _gone(pid)


def test_ctrl_c_reaching_a_worker_lets_its_task_finish():
    """A terminal's Ctrl-C reaches the whole process group; the task saves what is in hand."""
    import signal

    with Sandbox(workers=1, memory_mb=512) as box:
        pid = box.run(5, tasks.pid)
        interrupt = threading.Timer(0.3, os.kill, (pid, signal.SIGINT))
        interrupt.start()
        outcome = box.run(10, tasks.spin, 1.0)
        interrupt.join()
        assert outcome == "done"
        assert box.run(5, tasks.pid) == pid


def test_a_task_calling_sys_exit_is_an_internal_error_not_a_dead_worker():
    with Sandbox(workers=1, memory_mb=512) as box:
        pid = box.run(5, tasks.pid)
        outcome = box.run(5, tasks.system_exit)
        assert box.run(5, tasks.pid) == pid
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.INTERNAL_ERROR
    assert outcome.detail == "system_exit: SystemExit: 3"


def test_an_answer_that_cannot_be_read_here_is_an_internal_error_and_the_worker_stays():
    with Sandbox(workers=1, memory_mb=512) as box:
        pid = box.run(5, tasks.pid)
        outcome = box.run(5, tasks.raise_two_part)
        assert box.run(5, tasks.pid) == pid
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.INTERNAL_ERROR
    assert "its answer cannot be read" in outcome.detail


def test_a_function_the_worker_cannot_import_is_an_internal_error(monkeypatch):
    def only_here() -> int:
        return 1

    only_here.__module__, only_here.__qualname__ = tasks.__name__, "only_here"
    monkeypatch.setattr(tasks, "only_here", only_here, raising=False)  # here, not in workers
    with Sandbox(workers=1, memory_mb=512) as box:
        outcome = box.run(5, only_here)
        assert box.run(5, tasks.echo, 2) == 2
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.INTERNAL_ERROR
    assert "only_here" in outcome.detail


def test_a_dead_workers_pid_is_never_signalled(monkeypatch):
    """The fork server reaps a dead worker at once: its pid may be another process's soon."""
    signalled = []
    real_kill = os.kill
    with Sandbox(workers=1, memory_mb=512) as box:
        dead = box.run(5, tasks.pid)
        real_kill(dead, 9)
        assert _gone(dead)
        monkeypatch.setattr(
            os, "kill", lambda pid, sig: (signalled.append(pid), real_kill(pid, sig))
        )
        assert box.run(5, tasks.echo, 1) == 1
    box.kill()
    assert dead not in signalled


def test_a_task_too_large_for_the_workers_memory_fails_alone_as_a_crash():
    with Sandbox(workers=1, memory_mb=256) as box:
        outcome = box.run(10, len, b"x" * (300 * 1024 * 1024))
        assert box.run(5, tasks.echo, "next") == "next"
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.WORKER_CRASHED


def test_retiring_a_worker_does_not_hold_the_task_that_ran_last(monkeypatch):
    from ingest import sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "MAX_TASKS_PER_WORKER", 1)
    monkeypatch.setattr(sandbox_module, "_STOP_GRACE_S", 0.5)
    box = Sandbox(workers=1, memory_mb=512)
    retired = box.run(5, tasks.leave_a_thread)  # its thread holds its exit back for 30 s
    assert not _gone(retired, timeout=0.2)  # run() returned without waiting for its end
    assert box.run(5, tasks.pid) != retired
    box.close()  # waits its grace for the retired worker, then kills it
    assert _gone(retired)


def test_closing_refuses_a_task_still_waiting_for_a_worker():
    box = Sandbox(workers=1, memory_mb=512)
    box.run(5, tasks.pid)
    results: list[object] = []

    def call(seconds: float) -> None:
        try:
            results.append(box.run(10, tasks.spin, seconds))
        except RuntimeError as exc:
            results.append(exc)

    first = threading.Thread(target=call, args=(0.5,))
    first.start()
    time.sleep(0.1)  # the first task holds the one worker
    second = threading.Thread(target=call, args=(0.1,))
    second.start()
    time.sleep(0.1)  # the second waits for it
    box.close()
    first.join()
    second.join()
    assert results[0] == "done"
    assert isinstance(results[1], RuntimeError)
    assert "closed" in str(results[1])


def test_a_worker_retiring_as_the_sandbox_is_killed_is_not_left_behind(monkeypatch):
    from ingest import sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "MAX_TASKS_PER_WORKER", 1)
    box = Sandbox(workers=1, memory_mb=512)
    real_retire = Sandbox._retire

    def retire_after_a_kill(self: Sandbox, worker: object) -> None:
        self.kill()  # kill() comes between the task's end and its worker's retirement
        real_retire(self, worker)

    monkeypatch.setattr(Sandbox, "_retire", retire_after_a_kill)
    pid = box.run(5, tasks.pid)
    assert _gone(pid)
    assert not box._live
    assert not box._retiring


def test_a_retired_worker_is_ended_at_close_even_when_the_fork_server_is_gone(monkeypatch):
    """Without the fork server, a live worker's status reads as ended (255): its pidfd,
    not that status, says whether it still runs."""
    import signal
    from multiprocessing import forkserver

    from ingest import sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "MAX_TASKS_PER_WORKER", 1)
    monkeypatch.setattr(sandbox_module, "_STOP_GRACE_S", 0.5)
    box = Sandbox(workers=1, memory_mb=512)
    retired = box.run(5, tasks.leave_a_thread_and_outlive_the_fork_server)  # 30 s to exit
    assert isinstance(retired, int), retired
    server = forkserver._forkserver._forkserver_pid
    os.kill(server, signal.SIGKILL)
    assert _gone(server)
    box.close()
    assert _gone(retired)
    with Sandbox(workers=1, memory_mb=512) as again:  # a new fork server serves the next
        assert again.run(5, tasks.echo, "ok") == "ok"


def test_a_program_that_exits_with_a_sandbox_open_ends_at_once_and_ends_its_workers(tmp_path):
    """multiprocessing's exit hook ends leftover workers (SIGTERM) and waits for them: a
    worker that ignored SIGTERM would hold the program's exit for ever."""
    import subprocess
    import sys

    script = tmp_path / "leaves_it_open.py"
    script.write_text(
        "from ingest.sandbox import Sandbox\n"
        "import sandbox_tasks\n"
        "box = Sandbox(workers=2, memory_mb=256)\n"
        "print(box.run(5, sandbox_tasks.pid), box.run(5, sandbox_tasks.pid), flush=True)\n"
    )
    tests_dir = str(Path(tasks.__file__).parent)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": tests_dir},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    pids = [int(p) for p in result.stdout.split()]
    assert pids
    assert all(_gone(p) for p in pids)


def test_a_result_whose_pickling_raises_an_os_error_is_an_internal_error_at_once():
    """Not taken for a task's process gone (an OSError too), which would wait out the budget."""
    started = time.monotonic()
    with Sandbox(workers=1, memory_mb=512) as box:
        outcome = box.run(30, tasks.unpicklable_os_error)
        assert box.run(5, tasks.echo, 3) == 3
    assert isinstance(outcome, Miss)
    assert outcome.reason is Reason.INTERNAL_ERROR
    assert "could not be sent back" in outcome.detail
    assert time.monotonic() - started < 25  # the budget was 30 s


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_busy_worker_dies_with_a_killed_task_process_not_at_its_tasks_end(tmp_path):
    """SIGKILL of the task's process (the OOM killer, a lost Celery worker) ends its fork
    server, and that ends every worker at once: a busy one does not go on with its page,
    hostile or not, for nobody (here a task of 60 s)."""
    import signal
    import subprocess
    import sys

    script = tmp_path / "killed_mid_task.py"
    script.write_text(
        "from ingest.sandbox import Sandbox\n"
        "import sandbox_tasks\n"
        "box = Sandbox(workers=1, memory_mb=256)\n"
        "print(box.run(5, sandbox_tasks.pid), flush=True)\n"
        "box.run(120, sandbox_tasks.spin, 60)\n"
    )
    tests_dir = str(Path(tasks.__file__).parent)
    worker = None
    with subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": tests_dir},
    ) as proc:  # fmt: skip
        try:
            assert proc.stdout is not None
            worker = int(proc.stdout.readline())
            deadline = time.monotonic() + 60
            while _cpu_s(worker) < 1.0:  # it is running the long task (an idle one spends ~0)
                assert time.monotonic() < deadline, "the worker never started its task"
                time.sleep(0.01)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    gone = False
    try:
        gone = _gone(worker)
        assert gone  # within 10 s, of a task with 60 s to go
    finally:  # a failure must not leave it spinning through the tests that follow
        if worker is not None and not gone:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker, signal.SIGKILL)
