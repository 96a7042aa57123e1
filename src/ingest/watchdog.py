"""Deadlines for requests: one thread per process calls each alarm's function when it is due.

A request's watchdog used to be a :class:`threading.Timer`, a thread started and stopped
for every request: about 0.13 ms of CPU each on these machines, paid in the fetch task's
process, the one process every page of a shard goes through. One thread now keeps every
alarm in a heap and sleeps until the next is due; setting and cancelling one is a heap
push and a flag.

A forked child (a sandbox worker, a Celery prefork worker) starts with no alarms and no
thread: it starts its own when it first sets one.
"""

from __future__ import annotations

import heapq
import itertools
import math
import os
import threading
import time
from collections.abc import Callable

from ingest.logs import get_logger

log = get_logger(__name__)

#: Cancelled alarms left in the heap before it is rebuilt without them (and over half).
_COMPACT_AT = 1024


class Alarm:
    """One deadline: ``fn`` is called at ``due`` (``time.monotonic()``) unless cancelled."""

    __slots__ = ("_clock", "cancelled", "due", "fn", "queued")

    def __init__(self, clock: _Clock, due: float, fn: Callable[[], None]) -> None:
        self._clock, self.due, self.fn = clock, due, fn
        self.cancelled = False  # cancelled, or fired
        self.queued = True  # in its clock's heap

    def cancel(self) -> None:
        """Do not call it (a no-op when it has been called already)."""
        self._clock.cancel(self)


class _Clock:
    """The heap of alarms and the thread that fires them."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._heap: list[tuple[float, int, Alarm]] = []
        self._order = itertools.count()  # equal deadlines fire in the order they were set
        self._dead = 0  # cancelled alarms still in the heap
        self._thread: threading.Thread | None = None

    def set(self, due: float, fn: Callable[[], None]) -> Alarm:
        alarm = Alarm(self, due, fn)
        with self._cond:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
                thread.start()  # if it cannot start, the caller hears of it, no alarm set
                self._thread = thread
            heapq.heappush(self._heap, (due, next(self._order), alarm))
            if self._heap[0][2] is alarm:  # the thread sleeps until a later one: wake it
                self._cond.notify()
        return alarm

    def cancel(self, alarm: Alarm) -> None:
        with self._cond:
            if alarm.cancelled:
                return
            alarm.cancelled = True
            if not alarm.queued:
                return
            self._dead += 1
            if self._dead > _COMPACT_AT and self._dead * 2 > len(self._heap):
                for entry in self._heap:
                    entry[2].queued = not entry[2].cancelled
                self._heap = [entry for entry in self._heap if not entry[2].cancelled]
                heapq.heapify(self._heap)
                self._dead = 0

    def _next_due(self) -> Alarm:
        """Wait for the earliest alarm not cancelled to fall due; take it off the heap."""
        with self._cond:
            while True:
                while self._heap and self._heap[0][2].cancelled:
                    heapq.heappop(self._heap)[2].queued = False
                    self._dead -= 1
                if not self._heap:
                    self._cond.wait()
                    continue
                wait = min(self._heap[0][0] - time.monotonic(), threading.TIMEOUT_MAX)
                if wait <= 0:
                    alarm = heapq.heappop(self._heap)[2]
                    alarm.queued, alarm.cancelled = False, True  # fired: cancel() is a no-op
                    return alarm
                self._cond.wait(wait)

    def _run(self) -> None:
        while True:
            try:
                self._next_due().fn()
            except BaseException:  # a broken alarm must not stop the others (a SystemExit too)
                log.exception("a watchdog alarm failed")


_clock = _Clock()


def _new_clock() -> None:
    global _clock  # noqa: PLW0603 - the child's own clock: the parent's thread is not in it
    _clock = _Clock()


os.register_at_fork(after_in_child=_new_clock)


def alarm(seconds: float, fn: Callable[[], None]) -> Alarm:
    """Call ``fn`` (from the watchdog's thread) ``seconds`` from now, unless cancelled.

    ``seconds`` must be a number (NaN would break the alarms' order: a ValueError); an
    infinite one never falls due.
    """
    if math.isnan(seconds):
        raise ValueError("an alarm needs a time, not NaN")
    return _clock.set(time.monotonic() + seconds, fn)


__all__ = ["Alarm", "alarm"]
