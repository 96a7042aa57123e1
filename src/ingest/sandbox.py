"""Time and memory budgets for CPU work on hostile input: parsing feeds, extracting pages.

A pathological page (or a catastrophic regex on a crafted feed) can hold a CPU for
minutes, and Python cannot interrupt a thread stuck in C code. So that work runs in
worker processes: a task that overruns its budget has its worker killed and replaced,
and the item gets the reason ``time_budget``. Each worker also runs under an
address-space limit (``RLIMIT_AS``), so a memory bomb ends in that worker
(``worker_crashed``) instead of in the task's process.

Each worker is a process with a pipe of its own. The thread that has a task takes an idle
worker, writes the task to its pipe and waits on it for the reply, up to the budget: no
thread of the sandbox's own stands between them. A pool library (pebble, before) passes
every task and result through two threads of its own, which cost the task's process
about half a millisecond a page in thread hand-offs: a sixth of what that process spends
on a page, and that process's share is what bounds how far a fetch task scales with
workers (``bench/bench_cores.py``).

Workers start from a fork server that has already imported the parser and extractor,
so a new worker costs a fork, not an interpreter start, and nothing is forked from a
process with threads running (the Airflow task, the fetch threads).

multiprocessing would also re-run the host program's main script in every new worker
(to find functions defined there). Under Airflow that script is ``airflow`` itself, whose
import fails inside a task (the metadata database is off limits there). Our functions
live in importable modules, so while a sandbox is open the main module is marked as
"nothing to re-import" (``__spec__.name == "__main__"``, which multiprocessing skips).

In a Celery worker, Airflow forks each task's process from a pool process of Celery's,
whose record of the current process multiprocessing cannot use (:func:`_own_process_record`).
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import multiprocessing
import os
import queue
import resource
import sys
import threading
import traceback
from contextlib import AbstractContextManager
from multiprocessing import forkserver
from multiprocessing import process as mp_process
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any, Final, Self

from ingest.logs import get_logger
from ingest.models import Miss, Reason

if TYPE_CHECKING:
    from multiprocessing.connection import Connection
    from multiprocessing.context import ForkServerContext, ForkServerProcess
    from types import TracebackType

log = get_logger(__name__)

#: Modules the fork server imports once, so workers start warm.
PRELOAD = ["ingest.pagework", "ingest.parse"]
#: A worker is replaced after this many tasks (bounds slow leaks in C libraries).
MAX_TASKS_PER_WORKER = 500
#: How long a worker asked to stop may take to exit before it is killed.
_STOP_GRACE_S = 5.0


#: A worker runs one task at a time: numerical libraries get one thread. OpenBLAS (under
#: numpy, which signing imports) otherwise starts a thread per core at import and reserves
#: memory for each, enough to reach a small ``INGEST_WORKER_MEMORY_MB`` on its own.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _start_worker(megabytes: int) -> None:
    """A new worker: one thread for numerical libraries, then its address-space limit."""
    os.environ.update(ONE_THREAD)  # read when they load: no worker has loaded numpy yet
    _limit_memory(megabytes)


def _limit_memory(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _how_ended(code: int | None) -> str:
    """A worker's exit code in words."""
    return f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"


class _Unpicklable(Exception):  # noqa: N818 - the name says what it stands for
    """What a worker sends back for an exception (or a result) that could not be pickled."""


def _serve(conn: Connection, megabytes: int) -> None:
    """A worker's life: tasks from ``conn``, each answered on it, until told to stop.

    The reply is ``(True, result)``, or ``(False, exception, its traceback as text)`` when
    the function raised. Anything else (a signal, ``os._exit``, a crash in C) ends the
    process, and the caller sees the pipe close.
    """
    _start_worker(megabytes)
    while True:
        try:
            task = conn.recv()
        except EOFError:
            return  # the task's process is gone, or closed its end
        if task is None:
            return
        function, args, kwargs = task
        try:
            reply: tuple[Any, ...] = (True, function(*args, **kwargs))
        except Exception as exc:  # noqa: BLE001 - sent back whole, for the caller to judge
            reply = (False, exc, traceback.format_exc())
        try:
            conn.send(reply)
        except MemoryError:  # pickling a large result met the memory limit
            conn.send((False, MemoryError(), ""))
        except Exception as exc:  # noqa: BLE001 - what would not pickle is named instead
            what = "its result" if reply[0] else f"its {type(reply[1]).__name__}"
            trace = "" if reply[0] else reply[2]
            conn.send((False, _Unpicklable(f"{what} could not be sent back: {exc!r}"), trace))


_MAIN_LOCK = threading.Lock()
_MAIN_USERS = 0


def _hide_main_script() -> None:
    """Stop multiprocessing from re-running the host's main script in new workers."""
    global _MAIN_USERS  # noqa: PLW0603 - one process-wide setting, reference-counted
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        if _MAIN_USERS == 0 and main is not None and getattr(main, "__spec__", None) is None:
            main.__spec__ = importlib.machinery.ModuleSpec("__main__", None)
            main.__dict__["_ingest_sandbox_spec"] = True
        _MAIN_USERS += 1


def _restore_main_script() -> None:
    global _MAIN_USERS  # noqa: PLW0603 - one process-wide setting, reference-counted
    with _MAIN_LOCK:
        _MAIN_USERS -= 1
        main = sys.modules.get("__main__")
        if (
            _MAIN_USERS == 0
            and main is not None
            and main.__dict__.pop("_ingest_sandbox_spec", False)
        ):
            main.__spec__ = None


def _own_process_record() -> None:
    """Make another library's record of this process usable by multiprocessing.

    Celery's prefork pool (billiard) puts its own record of the current process in
    multiprocessing: daemonic, with an authkey only billiard may pickle. Airflow forks
    each task's process from a pool process with a bare ``os.fork``, so the task inherits
    that record, and multiprocessing would refuse it workers ("daemonic processes are not
    allowed to have children", then "Pickling an AuthenticationString object is
    disallowed"). No pool manages the task's process: it is nobody's daemon.
    """
    current = mp_process.current_process()
    config = getattr(current, "_config", None)
    if not isinstance(current, mp_process.BaseProcess) and isinstance(config, dict):
        config["daemon"] = False
        config["authkey"] = mp_process.AuthenticationString(bytes(config["authkey"]))


def opened(
    workers: int, memory_mb: int, lent: Sandbox | None = None
) -> AbstractContextManager[Sandbox]:
    """A new sandbox to use and close, or the one a caller lends (left open for it).

    A process running several steps in turn (``ingest run``) lends each its own sandbox,
    so workers are started once, not once a shard.
    """
    return contextlib.nullcontext(lent) if lent is not None else Sandbox(workers, memory_mb)


def warm_up() -> None:
    """Start this process's fork server now: it imports :data:`PRELOAD` while we work on.

    The first sandbox otherwise waits for those imports (half a second: the extractor's
    libraries). A caller with other work first (a whole run's migrations and registry)
    starts it early; every sandbox of the process then forks from it.
    """
    _own_process_record()
    _hide_main_script()
    try:
        multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()
    finally:
        _restore_main_script()


class _Worker:
    """A worker process, our end of its pipe, and how many tasks it has run.

    :meth:`kill` and :meth:`stop` may be called more than once, from several threads (the
    thread whose task it runs, and :meth:`Sandbox.kill`).
    """

    __slots__ = ("_lock", "code", "conn", "process", "tasks")

    def __init__(self, process: ForkServerProcess, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.tasks = 0
        self.code: int | None = None  # its exit code, once it has ended and been reaped
        self._lock = threading.Lock()

    def kill(self) -> int | None:
        """End the process now; its exit code (negative: the signal that ended it)."""
        with self._lock:
            if self.code is None:
                with contextlib.suppress(OSError):  # it has exited already
                    self.process.kill()
                self._reap(None)
            return self.code

    def stop(self) -> None:
        """Ask the process to exit, as it would between tasks; kill it if it has not in time."""
        with self._lock:
            if self.code is None:
                with contextlib.suppress(OSError):  # its end is closed: it exits on its own
                    self.conn.send(None)
                self._reap(_STOP_GRACE_S)
        self.kill()

    def _reap(self, timeout: float | None) -> None:
        self.process.join(timeout)
        if self.process.exitcode is not None:
            self.code = self.process.exitcode
            self.conn.close()
            self.process.close()


#: What the queue of idle workers holds once the sandbox is closed.
_CLOSED: Final = object()


class Sandbox:
    """A small pool of worker processes running functions under a budget.

    Use as a context manager; :meth:`run` may be called from several threads at once.
    A worker is started when a task first needs it, and replaced when it is killed,
    dies, runs out of memory or has run :data:`MAX_TASKS_PER_WORKER` tasks.
    """

    def __init__(self, workers: int, memory_mb: int) -> None:
        if workers < 1:
            msg = f"a sandbox needs at least one worker, not {workers}"
            raise ValueError(msg)
        _own_process_record()
        _hide_main_script()
        self._context: ForkServerContext = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        self._memory_mb = memory_mb
        self._size = workers
        # a slot per worker: a running worker, or None where one is to be started
        self._idle: queue.SimpleQueue[_Worker | object | None] = queue.SimpleQueue()
        for _ in range(workers):
            self._idle.put(None)
        self._live: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False

    def run(self, budget_s: float, function: Any, *args: Any, **kwargs: Any) -> Any | Miss:  # noqa: ANN401 - whatever the function returns
        """``function(*args, **kwargs)`` in a worker; a :class:`Miss` when it overran or died.

        ``function`` must be importable by name (a module-level function) and its
        arguments and result picklable. The budget counts from when a worker takes the
        task, not from when the call began waiting for one.
        """
        name = getattr(function, "__name__", "task")
        task = ForkingPickler.dumps((function, args, kwargs))  # before a worker is held
        slot = self._idle.get()
        if slot is _CLOSED:
            self._idle.put(_CLOSED)
            msg = "the sandbox is closed"
            raise RuntimeError(msg)
        worker: _Worker | None = slot if isinstance(slot, _Worker) else None
        try:
            worker = self._sent(worker, task)
            outcome, keep = self._outcome(worker, name, budget_s)
        except BaseException:
            if worker is not None:  # in an unknown state: it is not given to another task
                self._end(worker, worker.kill)
            self._idle.put(None)
            raise
        if not keep or worker.tasks >= MAX_TASKS_PER_WORKER:
            self._end(worker, worker.stop if keep else worker.kill)
            self._idle.put(None)
        else:
            self._idle.put(worker)
        return outcome

    def _sent(self, worker: _Worker | None, task: memoryview) -> _Worker:
        """The worker that took ``task``: ``worker``, or a new one if it has none or died idle."""
        if worker is not None:
            try:
                worker.conn.send_bytes(task)
            except OSError:  # it died between tasks (this task never reached it)
                log.warning("a sandbox worker died while idle (%s)", _how_ended(worker.kill()))
                self._end(worker, worker.kill)
            else:
                worker.tasks += 1
                return worker
        worker = self._start()
        worker.conn.send_bytes(task)
        worker.tasks += 1
        return worker

    @staticmethod
    def _outcome(worker: _Worker, name: str, budget_s: float) -> tuple[Any, bool]:
        """The outcome of the task ``worker`` has taken, and whether it may run another."""
        try:
            if not worker.conn.poll(budget_s):
                log.warning("%s overran its %gs budget; its worker was killed", name, budget_s)
                return Miss(Reason.TIME_BUDGET, f"{name} ran past its {budget_s:g}s budget"), False
            reply = worker.conn.recv()
        except (EOFError, OSError):  # its pipe closed under us: the worker died
            how = _how_ended(worker.kill())
            log.warning("%s: worker died (%s)", name, how)
            return Miss(Reason.WORKER_CRASHED, f"{name}: worker died ({how})"), False
        if reply[0]:
            return reply[1], True
        exc, trace = reply[1], reply[2]
        if isinstance(exc, MemoryError):  # its heap is suspect now: a fresh worker follows
            log.warning("%s reached its worker's memory limit", name)
            return Miss(Reason.WORKER_CRASHED, f"{name}: worker memory limit reached"), False
        # The functions run here turn every input error into a Miss themselves: an
        # exception that still escapes is a bug. It is logged with the worker's trace,
        # and the item is an internal error: retryable, so it waits for the fix, and
        # the caller fails its task after saving the rest.
        log.error("%s raised in its worker (a bug): %r\n%s", name, exc, trace)
        return Miss(Reason.INTERNAL_ERROR, f"{name}: {type(exc).__name__}: {exc}"[:300]), True

    def _start(self) -> _Worker:
        """A new worker process, forked by the fork server."""
        with self._lock:
            if self._closed:
                msg = "the sandbox is closed"
                raise RuntimeError(msg)
            ours, theirs = self._context.Pipe(duplex=True)
            process = self._context.Process(
                target=_serve, args=(theirs, self._memory_mb), daemon=True, name="ingest-sandbox"
            )
            try:
                process.start()
            finally:
                theirs.close()  # the worker has its own copy; its death closes the pipe
            worker = _Worker(process, ours)
            self._live.add(worker)
            return worker

    def _end(self, worker: _Worker, how: Any) -> None:  # noqa: ANN401 - _Worker.kill or .stop
        with self._lock:
            self._live.discard(worker)
        how()

    def close(self) -> None:
        """Let running tasks finish, then stop the workers."""
        try:
            with self._lock:
                if self._closed:
                    return
                self._closed = True
            for _ in range(self._size):  # every slot back: no task is running
                slot = self._idle.get()
                if isinstance(slot, _Worker):
                    self._end(slot, slot.stop)
            self._idle.put(_CLOSED)
        finally:
            _restore_main_script()

    def kill(self) -> None:
        """Kill every worker now, running tasks included (they end ``worker_crashed``)."""
        try:
            with self._lock:
                if self._closed:
                    return
                self._closed = True
                live, self._live = self._live, set()
            for worker in live:
                worker.kill()
            self._idle.put(_CLOSED)
        finally:
            _restore_main_script()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.kill()
