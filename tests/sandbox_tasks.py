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


#: Pages whose URL holds this meet the injected extractor bug below; feeds whose URL holds
#: FEED_BUG_MARK meet the parser's.
BUG_MARK = "/sport/"
FEED_BUG_MARK = "/atom.xml"


def extract_page_with_a_bug(body: bytes, content_type: str | None, url: str | None) -> object:
    """The real extractor; a page whose URL holds BUG_MARK meets a bug of ours inside it.

    The bug (a KeyError, which hostile markup could raise in a library too) is in our
    cleanup, inside the extractor's own handling of what the libraries raise.
    """
    from ingest import cleanup, extract

    if not (url and BUG_MARK in url):
        return extract.extract_page(body, content_type, url)
    real = cleanup.clean_body

    def clean_body_with_a_bug(*_args: object, **_kwargs: object) -> str:
        raise KeyError("an injected bug in the extractor")

    cleanup.clean_body = clean_body_with_a_bug
    try:
        return extract.extract_page(body, content_type, url)
    finally:
        cleanup.clean_body = real


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
