"""The requests' watchdog: one thread fires every alarm at its time, in deadline order.

Nothing here depends on how fast the machine is: "did not fire" is never judged by
waiting a while (alarms fire in deadline order, so a later alarm that fired proves an
earlier cancelled one was passed over), and alarms whose order is tested are set while
the watchdog's thread is held inside another alarm, all already due when it is let go.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator

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


@contextlib.contextmanager
def held() -> Iterator[None]:
    """The watchdog's thread held inside an alarm: what is set meanwhile waits for it."""
    inside, go = threading.Event(), threading.Event()
    watchdog.alarm(0.0, lambda: (inside.set(), go.wait(WAIT_S)))
    assert inside.wait(WAIT_S)
    try:
        yield
    finally:
        go.set()


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
    now = time.monotonic()
    with held():  # all three are due when the thread is let go: their order decides
        watchdog._clock.set(now - 1, make("late", last=True))
        watchdog._clock.set(now - 2, make("middle"))
        watchdog._clock.set(now - 3, make("early"))
    assert done.wait(WAIT_S)
    assert fired == ["early", "middle", "late"]


def test_an_earlier_alarm_wakes_the_thread_sleeping_until_a_later_one():
    fired, done, make = recorder()
    later = watchdog.alarm(3600, make("an hour away"))  # the thread sleeps until it
    watchdog.alarm(0.05, make("soon", last=True))
    assert done.wait(WAIT_S)
    assert fired == ["soon"]
    later.cancel()


def test_a_cancelled_alarm_never_fires():
    fired, done, make = recorder()
    with held():
        cancelled = watchdog.alarm(0.0, make("cancelled"))  # due, but the thread is held
        watchdog.alarm(0.0, make("kept", last=True))
        cancelled.cancel()
        cancelled.cancel()  # twice: still a no-op
    assert done.wait(WAIT_S)
    assert fired == ["kept"]


def test_cancelling_an_alarm_that_fired_is_a_no_op():
    done = threading.Event()
    alarm = watchdog.alarm(0.0, done.set)
    assert done.wait(WAIT_S)
    dead = watchdog._clock._dead
    alarm.cancel()
    assert watchdog._clock._dead == dead  # not counted as a cancelled alarm in the heap
    fired, done2, make = recorder()
    watchdog.alarm(0.0, make("next", last=True))
    assert done2.wait(WAIT_S)
    assert fired == ["next"]


@pytest.mark.parametrize("error", [RuntimeError("boom"), SystemExit(3)], ids=repr)
def test_a_failing_alarm_is_logged_and_the_others_still_fire(caplog, error):
    """Even a SystemExit (which would end the thread quietly) leaves the later alarms set."""
    fired, done, make = recorder()

    def broken() -> None:
        raise error

    watchdog.alarm(0.05, broken)
    watchdog.alarm(0.1, make("after", last=True))
    assert done.wait(WAIT_S)
    assert fired == ["after"]
    assert any("watchdog alarm failed" in r.getMessage() for r in caplog.records)


def test_an_alarm_too_far_away_to_wait_for_does_not_stop_the_others(caplog):
    far = watchdog.alarm(float("inf"), lambda: None)  # a wait past threading.TIMEOUT_MAX
    huge = watchdog.alarm(1e11, lambda: None)
    _fired, done, make = recorder()
    watchdog.alarm(0.05, make("still fires", last=True))
    assert done.wait(WAIT_S)
    far.cancel()
    huge.cancel()
    assert not any("watchdog" in r.getMessage() for r in caplog.records)  # no error met
    with pytest.raises(ValueError, match="NaN"):
        watchdog.alarm(float("nan"), lambda: None)


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
            fired = done.wait(WAIT_S)
            inherited = len(watchdog._clock._heap)  # the parent's alarms are not the child's
            os.write(write, b"y" if fired and inherited == 0 else b"n")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 1)
    os.close(read)
    os.waitpid(pid, 0)
    assert answer == b"y"
