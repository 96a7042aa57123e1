"""Functions the sandbox tests run in worker processes (importable by name)."""

from __future__ import annotations

import time


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
