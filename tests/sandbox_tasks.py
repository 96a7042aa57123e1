"""Functions the sandbox tests run in worker processes (importable by name)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.models import Fetched


def spin(seconds: float) -> str:
    """Busy CPU for ``seconds`` (a catastrophic regex stands in for this in real input)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "done"


def catastrophic_regex(n: int) -> bool:
    import re

    return re.match(r"(a+)+$", "a" * n + "b") is not None


def hog(megabytes: int) -> int:
    block = bytearray(megabytes * 1024 * 1024)
    return len(block)


def echo(value: object) -> object:
    return value


def pid() -> int:
    import os

    return os.getpid()


def boom(message: str) -> None:
    """A bug of ours, raised in the worker."""
    raise ValueError(message)


def unsendable() -> object:
    """A result that cannot be pickled back to the caller (a bug of ours too)."""
    import threading

    return threading.Lock()


def system_exit() -> None:
    """A library calling ``sys.exit`` inside a task."""
    import sys

    sys.exit(3)


class TwoPartError(Exception):
    """An exception that pickles but cannot be rebuilt (``__init__`` wants two arguments)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def raise_two_part() -> None:
    raise TwoPartError("a bug", 7)


class _PicklesWithAnOSError:
    def __reduce__(self) -> tuple[object, ...]:
        raise OSError(9, "a closed file in the result")


def unpicklable_os_error() -> object:
    """A result whose pickling raises an OSError (a closed file or socket in it, say)."""
    return _PicklesWithAnOSError()


def leave_a_thread() -> int:
    """Leave a thread running in the worker, which holds its exit back for 30 s."""
    import os
    import threading

    threading.Thread(target=time.sleep, args=(30,)).start()
    return os.getpid()


def leave_a_thread_and_outlive_the_fork_server() -> int:
    """:func:`leave_a_thread`, in a worker that no longer dies with its fork server (as a
    worker started before that rule, or on a system without it)."""
    import ctypes

    pr_set_pdeathsig = 1
    assert ctypes.CDLL(None).prctl(pr_set_pdeathsig, 0, 0, 0, 0) == 0
    return leave_a_thread()


def exit_now(code: int) -> None:
    """The worker process ends mid-task, as a crash in C code would end it."""
    import os

    os._exit(code)


#: Pages whose URL holds this meet the injected extractor bug below; feeds whose URL holds
#: FEED_BUG_MARK meet the parser's.
BUG_MARK = "/sport/"
FEED_BUG_MARK = "/atom.xml"


@contextlib.contextmanager
def _cleanup_with_a_bug() -> Iterator[None]:
    """Our cleanup, inside the extractor's own handling of what the libraries raise, with
    a bug (a KeyError, which hostile markup could raise in a library too)."""
    from ingest import cleanup

    real = cleanup.clean_body

    def clean_body_with_a_bug(*_args: object, **_kwargs: object) -> str:
        raise KeyError("an injected bug in the extractor")

    cleanup.clean_body = clean_body_with_a_bug
    try:
        yield
    finally:
        cleanup.clean_body = real


def work_page_with_a_bug(job: object, fetched: Fetched, **kwargs: Any) -> object:
    """A worker's real work on a page; a page whose URL holds BUG_MARK meets a bug of ours
    in the extractor."""
    from ingest import pagework

    if BUG_MARK not in fetched.final_url:
        return pagework.work_page(job, fetched, **kwargs)
    with _cleanup_with_a_bug():
        return pagework.work_page(job, fetched, **kwargs)


def parse_feed_with_a_bug(
    body: bytes, url: str, content_type: str | None = None, *, max_entries: int = 1000
) -> object:
    """The real parser; a feed whose URL holds FEED_BUG_MARK meets a bug of ours inside it."""
    from ingest import parse

    if FEED_BUG_MARK not in url:
        return parse.parse_feed(body, url, content_type, max_entries=max_entries)
    real = parse._first_entries

    def first_entries_with_a_bug(*_args: object, **_kwargs: object) -> None:
        raise IndexError("an injected bug in the parser")

    parse._first_entries = first_entries_with_a_bug
    try:
        return parse.parse_feed(body, url, content_type, max_entries=max_entries)
    finally:
        parse._first_entries = real


def work_page_with_v1_url_rules(job: object, fetched: Fetched, **kwargs: Any) -> object:
    """A worker's real work on a page under URL rules version 1 (yesterday's deploy).

    Rules v1 kept the tracking parameters v2 drops; the worker normalises, so the rules
    are changed where it runs.
    """
    from ingest import normalise, pagework, urls

    saved = urls.TRACKING_PARAMS, normalise.RULES_VERSION
    urls.TRACKING_PARAMS = urls.TRACKING_PARAMS - V2_ONLY_TRACKING_PARAMS
    normalise.RULES_VERSION = 1
    try:
        return pagework.work_page(job, fetched, **kwargs)
    finally:
        urls.TRACKING_PARAMS, normalise.RULES_VERSION = saved


#: The tracking parameters URL rules v2 drops and v1 kept.
V2_ONLY_TRACKING_PARAMS = frozenset({"smid", "smtyp", "ncid", "guccounter", "fb_ref", "fb_source"})


#: Pages whose URL holds this have their worker killed (SIGKILL) under them.
KILL_MARK = "/news/empty-page"


def work_page_killing_its_worker(job: object, fetched: Fetched, **kwargs: Any) -> object:
    """A worker's real work on a page; a page whose URL holds KILL_MARK has its worker
    killed (as the OOM killer or a stopped task's signal would)."""
    import os
    import signal

    from ingest import pagework

    if KILL_MARK in fetched.final_url:
        os.kill(os.getpid(), signal.SIGKILL)
    return pagework.work_page(job, fetched, **kwargs)
