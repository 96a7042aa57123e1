"""Time and memory budgets for CPU work on hostile input: parsing feeds, extracting pages.

A pathological page (or a catastrophic regex on a crafted feed) can hold a CPU for
minutes, and Python cannot interrupt a thread stuck in C code. So that work runs in
worker processes (pebble's ``ProcessPool``): a task that overruns its budget has its
worker killed and replaced, and the item gets the reason ``time_budget``. Each worker
also runs under an address-space limit (``RLIMIT_AS``), so a memory bomb ends in that
worker (``worker_crashed``) instead of in the task's process.

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
import resource
import sys
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from multiprocessing import forkserver
from multiprocessing import process as mp_process
from types import TracebackType
from typing import Any, Self, TypeVar

from pebble import ProcessExpired, ProcessPool

from ingest.logs import get_logger
from ingest.models import Miss, Reason

log = get_logger(__name__)

T = TypeVar("T")

#: Modules the fork server imports once, so workers start warm.
PRELOAD = ["ingest.pagework", "ingest.parse"]
#: A worker is replaced after this many tasks (bounds slow leaks in C libraries).
MAX_TASKS_PER_WORKER = 500


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


class Sandbox:
    """A small pool of worker processes running functions under a budget.

    Use as a context manager; :meth:`run` may be called from several threads at once.
    """

    def __init__(self, workers: int, memory_mb: int) -> None:
        _own_process_record()
        _hide_main_script()
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self._pool = ProcessPool(
            max_workers=workers,
            max_tasks=MAX_TASKS_PER_WORKER,
            initializer=_start_worker,
            initargs=(memory_mb,),
            context=context,
        )

    def run(self, budget_s: float, function: Any, *args: Any, **kwargs: Any) -> Any | Miss:  # noqa: ANN401 - whatever the function returns
        """``function(*args, **kwargs)`` in a worker; a :class:`Miss` when it overran or died.

        ``function`` must be importable by name (a module-level function) and its
        arguments and result picklable.
        """
        name = getattr(function, "__name__", "task")
        future = self._pool.schedule(function, args=args, kwargs=kwargs, timeout=budget_s)
        try:
            return future.result()
        except FutureTimeout:
            log.warning("%s overran its %gs budget; its worker was killed", name, budget_s)
            return Miss(Reason.TIME_BUDGET, f"{name} ran past its {budget_s:g}s budget")
        except ProcessExpired as exc:
            log.warning("%s: worker died (%s)", name, exc)
            return Miss(Reason.WORKER_CRASHED, f"{name}: worker died ({exc})"[:300])
        except MemoryError:
            return Miss(Reason.WORKER_CRASHED, f"{name}: worker memory limit reached")
        except Exception as exc:  # noqa: BLE001 - a bug of ours, kept as a value for the caller
            # The functions run here turn every input error into a Miss themselves: an
            # exception that still escapes is a bug. It is logged with the worker's trace,
            # and the item is an internal error: retryable, so it waits for the fix, and
            # the caller fails its task after saving the rest.
            trace = getattr(exc, "traceback", "") or ""
            log.error("%s raised in its worker (a bug): %r\n%s", name, exc, trace)  # noqa: TRY400 - the trace that matters is the worker's, logged here
            return Miss(Reason.INTERNAL_ERROR, f"{name}: {type(exc).__name__}: {exc}"[:300])

    def close(self) -> None:
        """Let running tasks finish, then stop the workers."""
        try:
            self._pool.close()  # type: ignore[no-untyped-call]
            self._pool.join()
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
            return
        try:
            self._pool.stop()  # type: ignore[no-untyped-call]
            self._pool.join()
        finally:
            _restore_main_script()
