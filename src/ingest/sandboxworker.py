"""What runs inside a sandbox worker process (:mod:`ingest.sandbox` runs the pool).

A worker reads tasks from its pipe, one at a time, and answers each on it: the task's
result, or the exception it raised with its traceback as text. It leaves the signals that
stop a task's process group to that process, runs numerical libraries on one thread,
lives under an address-space limit, and dies with the fork server that forked it (which
ends when the task's process does).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import traceback
from multiprocessing import forkserver
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

#: A worker runs one task at a time: numerical libraries get one thread. OpenBLAS (under
#: numpy, which signing imports) otherwise starts a thread per core at import and reserves
#: memory for each, enough to reach a small ``INGEST_WORKER_MEMORY_MB`` on its own.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _start_worker(megabytes: int) -> None:
    """A new worker: Ctrl-C left to the task, one thread for numerical libraries, its limit.

    A terminal's Ctrl-C reaches the whole process group: the task finishes the pages in
    hand and saves them, so their workers must not die of it first. SIGTERM still ends a
    worker: multiprocessing's exit hook ends leftover workers with it (and then waits for
    them), and a group told to stop must stop.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    os.environ.update(ONE_THREAD)  # read when they load: no worker has loaded numpy yet
    _limit_memory(megabytes)


#: prctl(2)'s option: the signal this process gets when its parent ends.
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """SIGKILL this worker when the fork server that forked it ends (Linux).

    The fork server ends once no process holds its "alive" pipe's write end: the task's
    process holds one, and every process it forks is handed a copy, which a worker drops
    here. So the fork server ends with the task's process, killed (SIGKILL: the OOM
    killer, a lost Celery worker) or not, and takes its workers with it. Otherwise a
    worker busy with a page would go on with it, hostile input included, up to its end,
    with nobody to read its answer.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    try:
        took = ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, ctypes.c_ulong(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no C library to ask: not fatal either
        return
    if took != 0:
        return  # not fatal: the worker still ends when it reads its pipe closed
    server = forkserver._forkserver  # noqa: SLF001 - the fork server's record in this process
    alive = getattr(server, "_forkserver_alive_fd", None)
    if alive is not None:  # a worker forks nothing: the fork server's life is not its own
        with contextlib.suppress(OSError):
            os.close(alive)
        server._forkserver_alive_fd = None  # type: ignore[attr-defined]  # noqa: SLF001
    if os.getppid() != parent:  # the fork server ended before the request took hold
        os._exit(0)


def _limit_memory(megabytes: int) -> None:
    limit = megabytes * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


class _Unpicklable(Exception):  # noqa: N818 - the name says what it stands for
    """What a worker sends back for an exception (or a result) that could not be pickled."""


#: What tells a worker to exit (a pickled task is never empty).
STOP = b""


def serve(conn: Connection, megabytes: int) -> None:
    """A worker's life: tasks from ``conn``, each answered on it, until told to stop.

    The answer is ``(True, result)``, or ``(False, exception, its traceback as text)`` when
    the task raised, or could not be read here. Anything else (a signal, ``os._exit``, a
    crash in C) ends the process, and the caller sees the pipe close.
    """
    _start_worker(megabytes)
    while True:
        try:
            task = conn.recv_bytes()
        except (EOFError, OSError):
            return  # the task's process is gone, or closed its end
        if task == STOP:
            return
        _answer(conn, task)
        del task  # an idle worker holds nothing of its last task


def _answer(conn: Connection, task: bytes) -> None:
    """Run ``task`` and send back its answer; its arguments and result die with the call."""
    try:
        function, args, kwargs = ForkingPickler.loads(task)
        reply: tuple[Any, ...] = (True, function(*args, **kwargs))
    except BaseException as exc:  # noqa: BLE001 - SystemExit too: every end of a task is an answer
        reply = (False, exc, traceback.format_exc())
    try:
        answer = ForkingPickler.dumps(reply)
    except MemoryError:  # pickling a large result met the memory limit
        answer = ForkingPickler.dumps((False, MemoryError(), ""))
    except Exception as exc:  # noqa: BLE001 - what would not pickle is named instead
        what = "its result" if reply[0] else f"its {type(reply[1]).__name__}"
        trace = "" if reply[0] else reply[2]
        unsent = _Unpicklable(f"{what} could not be sent back: {exc!r}")
        answer = ForkingPickler.dumps((False, unsent, trace))
    del reply
    with contextlib.suppress(OSError):  # the task's process is gone: nobody to answer
        conn.send_bytes(answer)
