"""The requests' watchdog: one thread fires every alarm at its time, in deadline order.

"Did not fire" is never judged by waiting a while: alarms fire in deadline order, so an
alarm set later than a cancelled one, which has fired, proves the cancelled one was
passed over.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from ingest import watchdog

WAIT_S = 30  # an upper bound for "it fired": generous, as a loaded machine may be slow


def recorder() -> tuple[list[str], threading.Event, object]:
    fired: list[str] = []
    done = threading.Event()

    def make(name: str, *, last: bool = False):
        def fn() -> None:
            fired.append(name)
            if last:
                done.set()

        return fn

    return fired, done, make


def test_an_alarm_fires_once_and_not_before_its_time():
    fired: list[float] = []
    done = threading.Event()
    set_at = time.monotonic()
    watchdog.alarm(0.2, lambda: (fired.append(time.monotonic()), done.set()))
    assert done.wait(WAIT_S)
    assert fired[0] - set_at >= 0.2
    time.sleep(0.05)
    assert len(fired) == 1


def test_alarms_fire_in_deadline_order_whatever_order_they_were_set_in():
    fired, done, make = recorder()
    watchdog.alarm(0.6, make("late", last=True))
    watchdog.alarm(0.3, make("middle"))
    watchdog.alarm(0.1, make("early"))  # earlier than what the thread sleeps for: wakes it
    assert done.wait(WAIT_S)
    assert fired == ["early", "middle", "late"]


def test_a_cancelled_alarm_never_fires():
    fired, done, make = recorder()
    cancelled = watchdog.alarm(0.1, make("cancelled"))
    watchdog.alarm(0.2, make("kept", last=True))
    cancelled.cancel()
    cancelled.cancel()  # twice: still a no-op
    assert done.wait(WAIT_S)
    assert fired == ["kept"]


def test_cancelling_an_alarm_that_fired_is_a_no_op():
    done = threading.Event()
    alarm = watchdog.alarm(0.0, done.set)
    assert done.wait(WAIT_S)
    alarm.cancel()
    fired, done2, make = recorder()
    watchdog.alarm(0.0, make("next", last=True))
    assert done2.wait(WAIT_S)
    assert fired == ["next"]


def test_a_failing_alarm_is_logged_and_the_others_still_fire(caplog):
    fired, done, make = recorder()

    def broken() -> None:
        raise RuntimeError("boom")

    watchdog.alarm(0.05, broken)
    watchdog.alarm(0.1, make("after", last=True))
    assert done.wait(WAIT_S)
    assert fired == ["after"]
    assert any("watchdog alarm failed" in r.getMessage() for r in caplog.records)


def test_cancelled_alarms_do_not_pile_up():
    clock = watchdog._clock
    for _ in range(5000):  # a request each, all ended well before their deadlines
        watchdog.alarm(3600, lambda: None).cancel()
    assert len(clock._heap) <= 2 * watchdog._COMPACT_AT + 2
    _fired, done, make = recorder()
    watchdog.alarm(0.0, make("still works", last=True))
    assert done.wait(WAIT_S)


def test_one_thread_serves_every_alarm():
    before = {t.ident for t in threading.enumerate()}
    alarms = [watchdog.alarm(3600, lambda: None) for _ in range(50)]
    started = [t for t in threading.enumerate() if t.ident not in before]
    for alarm in alarms:
        alarm.cancel()
    assert started == [] or [t.name for t in started] == ["watchdog"]
    assert sum(t.name == "watchdog" for t in threading.enumerate()) == 1


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_fires_its_own_alarms():
    watchdog.alarm(3600, lambda: None)  # the parent's thread is running
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the parent's thread is not here; its own starts
        try:
            done = threading.Event()
            watchdog.alarm(0.05, done.set)
            os.write(write, b"y" if done.wait(WAIT_S) else b"n")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"y"
