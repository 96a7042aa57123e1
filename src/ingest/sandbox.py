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
every task and result through two threads of its own, which cost the fetch task's
process 0.1-0.2 ms a page in thread hand-offs (measured when pebble was replaced); that
process's share of a page's CPU bounds how far a fetch task scales with workers
(``bench/bench_cores.py``). The worker's side is
:mod:`ingest.sandboxworker`.

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
import math
import multiprocessing
import multiprocessing.connection
import os
import queue
import select
import signal
import sys
import threading
import time
from contextlib import AbstractContextManager
from multiprocessing import forkserver
from multiprocessing import process as mp_process
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any, Final, Self

from ingest import sandboxworker
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


def _how_ended(code: int | None) -> str:
    """A worker's exit code in words."""
    if code is None:
        return "its end not seen yet"
    return f"signal {-code}" if code < 0 else f"exit code {code}"


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


#: multiprocessing's records of child processes (``multiprocessing.process._children``, a
#: fork-server child's exit status read once from its sentinel) are not made to be used by
#: several threads at once: starting, joining and polling workers take turns.
_PROCESS_LOCK = threading.Lock()
#: How long a worker told to stop, or killed, may take to be seen ending.
_STOP_GRACE_S = 5.0


def _readable(fd: int, deadline: float) -> bool:
    """Whether ``fd`` is readable by ``deadline`` (a pidfd is once its process has ended)."""
    poller = select.poll()  # not select(): a task's process may hold more than 1024 fds
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0, math.ceil((deadline - time.monotonic()) * 1000))))


class _Worker:
    """A worker process, our end of its pipe, and how many tasks it has run.

    Only the thread holding the worker (its task's, or the sandbox's when it is idle or
    retiring) reads or writes the pipe; any thread may :meth:`signal` or reap it.
    """

    __slots__ = ("_lock", "_pidfd", "code", "conn", "pid", "process", "retired_at", "tasks")

    def __init__(self, process: ForkServerProcess, conn: Connection) -> None:
        self.process = process
        self.pid = process.pid
        self.conn = conn
        self.tasks = 0
        self.retired_at: float | None = None  # when it was told to stop
        self.code: int | None = None  # its exit code, once it has been seen to end
        self._lock = threading.RLock()
        # The fork server, not we, reaps a worker: once it has, the worker's pid may be
        # another process's. A pidfd names this process only, whatever its pid becomes; it
        # is ours if the worker was still there after it was opened (a new worker has
        # written nothing, so anything to read is its pipe's end).
        try:
            self._pidfd: int | None = os.pidfd_open(self.pid or 0)
        except OSError:  # already gone (its pid is not signalled then), or no pidfds here
            self._pidfd = None
        if self._pidfd is not None and not self.waiting():
            os.close(self._pidfd)
            self._pidfd = None

    def waiting(self) -> bool:
        """Whether it still waits for a task (not dead between tasks).

        Between tasks a worker writes nothing: anything to read is its pipe's end.
        """
        try:
            return not self.conn.poll(0)
        except OSError:
            return False

    def signal(self) -> None:
        """SIGKILL it, if it still runs (never another process that took its pid)."""
        with self._lock:
            if self.code is not None:
                return
            if self._pidfd is not None:
                with contextlib.suppress(OSError):  # ProcessLookupError: ended already
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                return
            with _PROCESS_LOCK:
                if self.process.exitcode is None:  # not seen to end: its pid is its own
                    with contextlib.suppress(OSError):
                        self.process.kill()

    def reap(self, timeout: float | None = None) -> int | None:
        """Its exit code once it has ended; our end of its pipe closed then.

        ``timeout``: how long to wait for its end (:data:`_STOP_GRACE_S` by default). Its
        end is seen on its pidfd: the fork server's record of its status, which we read
        the code from, reads 255 for a live worker once the fork server itself is gone.
        """
        with self._lock:
            if self.code is None:
                deadline = time.monotonic() + (_STOP_GRACE_S if timeout is None else timeout)
                if self._pidfd is not None:
                    if not _readable(self._pidfd, deadline):
                        return None  # still running
                    deadline = time.monotonic() + _STOP_GRACE_S  # ended: its status follows
                multiprocessing.connection.wait(
                    [self.process.sentinel], max(0.0, deadline - time.monotonic())
                )
                with _PROCESS_LOCK:
                    self.process.join(0)
                    code = self.process.exitcode
                if code is None:
                    return None
                self.code = code
                try:
                    self.conn.close()
                    self.process.close()
                finally:
                    if self._pidfd is not None:
                        os.close(self._pidfd)
                        self._pidfd = None
            return self.code

    def kill(self) -> int | None:
        """End it now; its exit code (negative: the signal that ended it)."""
        self.signal()
        code = self.reap()
        if code is None:
            log.error("sandbox worker %s did not end after SIGKILL", self.pid)
        return code


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
        # a slot per worker: an idle worker, or None where one is to be started
        self._idle: queue.SimpleQueue[_Worker | object | None] = queue.SimpleQueue()
        for _ in range(workers):
            self._idle.put(None)
        self._lock = threading.Lock()
        self._live: set[_Worker] = set()  # started and not reaped: idle, busy or retiring
        self._retiring: list[_Worker] = []  # told to stop after their last task
        self._closed = False  # no new task: close() or kill() has begun
        self._killed = False
        self._restored = False

    def run(self, budget_s: float, function: Any, *args: Any, **kwargs: Any) -> Any | Miss:  # noqa: ANN401 - whatever the function returns
        """``function(*args, **kwargs)`` in a worker; a :class:`Miss` when it overran or died.

        ``function`` must be importable by name (a module-level function) and its
        arguments and result picklable (arguments that are not raise here). The budget
        counts from when a worker takes the task, not from when the call began waiting.
        """
        name = getattr(function, "__name__", "task")
        task = ForkingPickler.dumps((function, args, kwargs))  # before a worker is held
        slot = self._idle.get()
        if slot is _CLOSED or self._closed:  # no new task once closing has begun
            self._idle.put(slot)
            msg = "the sandbox is closed"
            raise RuntimeError(msg)
        worker = slot if isinstance(slot, _Worker) else None
        keep = False
        try:
            if worker is not None and not worker.waiting():
                how = _how_ended(self._drop(worker))
                log.warning("a sandbox worker died between tasks (%s); replaced", how)
                worker = None
            if worker is None:
                worker = self._start()
            outcome, keep = self._call(worker, name, budget_s, task)
        finally:
            self._give_back(worker, keep=keep)
        return outcome

    def _call(
        self, worker: _Worker, name: str, budget_s: float, task: memoryview
    ) -> tuple[Any, bool]:
        """The outcome of ``task`` in ``worker``, and whether the worker may run another."""
        worker.tasks += 1
        try:
            worker.conn.send_bytes(task)
            if not worker.conn.poll(budget_s):
                log.warning("%s overran its %gs budget; its worker was killed", name, budget_s)
                return Miss(Reason.TIME_BUDGET, f"{name} ran past its {budget_s:g}s budget"), False
            answer = worker.conn.recv_bytes()
        except (EOFError, OSError):  # its pipe closed under us: the worker died
            how = _how_ended(self._drop(worker))
            log.warning("%s: worker died (%s)", name, how)
            return Miss(Reason.WORKER_CRASHED, f"{name}: worker died ({how})"), False
        try:
            reply = ForkingPickler.loads(answer)
        except Exception as exc:  # noqa: BLE001 - e.g. an exception class that will not rebuild
            log.error("%s: its worker's answer cannot be read here (a bug): %r", name, exc)  # noqa: TRY400 - the trace is of the unpickling, not the bug
            detail = f"{name}: its answer cannot be read: {type(exc).__name__}: {exc}"
            return Miss(Reason.INTERNAL_ERROR, detail[:300]), True
        if reply[0]:
            return reply[1], True
        error, trace = reply[1], reply[2]
        if isinstance(error, MemoryError):  # its heap is suspect now: a fresh worker follows
            log.warning("%s reached its worker's memory limit", name)
            return Miss(Reason.WORKER_CRASHED, f"{name}: worker memory limit reached"), False
        # The functions run here turn every input error into a Miss themselves: an
        # exception that still escapes is a bug. It is logged with the worker's trace,
        # and the item is an internal error: retryable, so it waits for the fix, and
        # the caller fails its task after saving the rest.
        log.error("%s raised in its worker (a bug): %r\n%s", name, error, trace)
        return Miss(Reason.INTERNAL_ERROR, f"{name}: {type(error).__name__}: {error}"[:300]), True

    def _give_back(self, worker: _Worker | None, *, keep: bool) -> None:
        """Return the task's slot: its worker, or None where a new one is to start."""
        doomed = None
        try:
            if worker is not None and not keep:
                self._drop(worker)
                worker = None
            elif worker is not None and worker.tasks >= MAX_TASKS_PER_WORKER:
                self._retire(worker)
                worker = None
        finally:
            with self._lock:
                if self._killed and worker is not None:
                    doomed, worker = worker, None
                self._idle.put(worker)
        if doomed is not None:
            self._drop(doomed)

    def _start(self) -> _Worker:
        """A new worker process, forked by the fork server."""
        with self._lock:
            if self._closed:
                msg = "the sandbox is closed"
                raise RuntimeError(msg)
            retiring = list(self._retiring)
        self._reap_retired(retiring, wait=False)
        # The fork server is spawned without holding the process records' lock, which
        # reaping needs. Its preload imports go on after this returns: the first worker's
        # start waits for them (about 0.2 s) under the lock, unless warm_up() ran earlier.
        forkserver.ensure_running()
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=sandboxworker.serve,
            args=(theirs, self._memory_mb),
            daemon=True,
            name="ingest-sandbox",
        )
        try:
            with _PROCESS_LOCK:
                process.start()
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # the worker has its own copy; its death closes the pipe
        worker = _Worker(process, ours)
        with self._lock:
            self._live.add(worker)
            killed = self._killed
        if killed:
            self._drop(worker)
            msg = "the sandbox is closed"
            raise RuntimeError(msg)
        return worker

    def _reap_retired(self, retiring: list[_Worker], *, wait: bool) -> None:
        """Reap the retired workers that have ended; kill those past their grace.

        ``wait``: give each the rest of its grace (closing) rather than none.
        """
        ended = []
        for worker in retiring:
            grace = _STOP_GRACE_S - (time.monotonic() - (worker.retired_at or 0.0))
            if worker.reap(max(0.0, grace) if wait else 0.0) is None and (wait or grace <= 0):
                worker.kill()  # past its grace
            if worker.code is not None:
                ended.append(worker)
        if ended:
            with self._lock:
                self._retiring = [w for w in self._retiring if w not in ended]
                self._live.difference_update(ended)

    def _drop(self, worker: _Worker) -> int | None:
        """Kill ``worker`` and forget it; its exit code."""
        code = worker.kill()
        with self._lock:
            self._live.discard(worker)
        return code

    def _retire(self, worker: _Worker) -> None:
        """Tell ``worker`` to exit; it is reaped later, not on the caller's time."""
        with contextlib.suppress(OSError):  # its end is closed: it has exited already
            worker.conn.send_bytes(sandboxworker.STOP)
        worker.retired_at = time.monotonic()
        with self._lock:
            killed = self._killed
            if not killed:
                self._retiring.append(worker)
        if killed:  # kill() has been and gone: nothing else would reap it
            self._drop(worker)

    def close(self) -> None:
        """Let running tasks finish, then stop the workers."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            for _ in range(self._size):  # every slot back: every task has ended
                slot = self._idle.get()
                if slot is _CLOSED:  # killed meanwhile: nothing is left to stop
                    self._idle.put(_CLOSED)
                    break
                if isinstance(slot, _Worker):
                    self._retire(slot)
            with self._lock:
                retiring = list(self._retiring)
            self._reap_retired(retiring, wait=True)
            self._idle.put(_CLOSED)
        finally:
            self._restore()

    def kill(self) -> None:
        """Kill every worker now; running tasks end ``worker_crashed`` (their threads reap)."""
        with self._lock:
            if self._killed:
                return
            self._closed = self._killed = True
            idle: list[object] = []
            with contextlib.suppress(queue.Empty):
                while True:
                    idle.append(self._idle.get_nowait())
            busy = self._live - {w for w in idle if isinstance(w, _Worker)}
            retiring, self._retiring = self._retiring, []
            self._idle.put(_CLOSED)
        try:
            for worker in busy:  # their threads see the pipe close, and reap them
                worker.signal()
            for held in [*idle, *retiring]:
                if isinstance(held, _Worker):
                    self._drop(held)
        finally:
            self._restore()

    def _restore(self) -> None:
        with self._lock:
            if self._restored:
                return
            self._restored = True
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
