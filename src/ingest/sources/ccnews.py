"""CC-NEWS: Common Crawl's archive of news pages, as WARC files, listed and read lazily.

Each month's files are listed in ``crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz`` under a base
URL (Common Crawl's data host by default; a mirror's, or a local test server's, when set).
A file is named ``CC-NEWS-YYYYMMDDHHMMSS-NNNNN.warc.gz`` after the time it was written:
a range [since, until] of capture times needs the files named from ``since`` to ``until``,
widened by a margin on both sides (see :func:`choose`). Files are read as streams (never whole), and of their
``response`` records only those on a publisher's host, captured in the range, are kept
(FastWARC: 3.4x warcio's speed, docs/benchmarks.md).
"""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from fastwarc.warc import ArchiveIterator, WarcRecordType

from ingest.models import Miss, Reason, SourceKind, SourceRef
from ingest.sources import Capture
from ingest.urls import host_of

DEFAULT_BASE_URL = "https://data.commoncrawl.org/"
#: How long after a file's last capture it may be written (its name's time).
DEFAULT_MARGIN = timedelta(hours=24)
MAX_PATHS_BYTES = 16 * 1024 * 1024
MAX_BODY_BYTES = (
    20 * 1024 * 1024
)  # a page body we would not fetch ourselves is not read  # a month lists some 10,000 files: well under 1 MB
_NAME = re.compile(r"^crawl-data/CC-NEWS/(\d{4})/(\d{2})/CC-NEWS-(\d{14})-(\d{5})\.warc\.gz$")


@dataclass(frozen=True, slots=True)
class WarcFile:
    """One CC-NEWS file: its path under the base URL, and when it was written."""

    path: str
    written_at: datetime
    serial: int


def listing_urls(base_url: str, since: datetime, until: datetime, margin: timedelta) -> list[str]:
    """The ``warc.paths.gz`` of every month whose files may hold captures in the range."""
    out = []
    first = since - margin
    year, month = first.year, first.month
    last = until + margin
    while (year, month) <= (last.year, last.month):
        out.append(
            f"{base_url.rstrip('/')}/crawl-data/CC-NEWS/{year:04d}/{month:02d}/warc.paths.gz"
        )
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)  # noqa: PLR2004 - December
    return out


def parse_paths(body: bytes) -> list[WarcFile] | Miss:
    """A ``warc.paths.gz`` listing (gzip or plain), its CC-NEWS files in name order."""
    if body.startswith(b"\x1f\x8b"):
        inflater = zlib.decompressobj(wbits=31)
        try:
            body = inflater.decompress(body, MAX_PATHS_BYTES + 1)
        except zlib.error as exc:
            return Miss(Reason.PROTOCOL_ERROR, f"warc.paths.gz: bad gzip: {exc}"[:300])
        if len(body) > MAX_PATHS_BYTES:
            return Miss(Reason.TOO_LARGE, f"warc.paths.gz inflates past {MAX_PATHS_BYTES} bytes")
    files = []
    for line in body.decode("utf-8", "replace").splitlines():
        match = _NAME.match(line.strip())
        if match is None:
            continue
        try:
            written = datetime.strptime(match[3], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            continue
        files.append(WarcFile(line.strip(), written, int(match[4])))
    return sorted(files, key=lambda f: (f.written_at, f.serial, f.path))


def choose(
    files: Iterable[WarcFile], since: datetime, until: datetime, margin: timedelta
) -> list[WarcFile]:
    """The files that may hold captures made in [``since``, ``until``].

    A file's name is the time it was written: captures before it, per Common Crawl; the
    time it was begun, per the WARC naming convention. Either way a file named within
    ``margin`` of the range may hold some of it, so the margin applies on both sides (the
    captures' own dates are filtered as they are read).
    """
    return [f for f in files if since - margin <= f.written_at <= until + margin]


class ForwardOnly(io.RawIOBase):
    """A stream read once, front to back (an HTTP body), that FastWARC may "seek" forward.

    FastWARC 2.0 seeks past records it skips, and panics (a Rust panic, which Python sees
    as a ``BaseException``) on a stream that cannot seek. Here a forward seek reads and
    discards; a backward one is refused with the usual ``OSError``.
    """

    def __init__(self, raw: IO[bytes], expected: int | None = None) -> None:
        self._raw = raw
        self._pos = 0
        self._expected = expected  # bytes the sender announced (Content-Length)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:  # noqa: ANN401 - a writable buffer
        data = self._raw.read(len(buffer))
        if not data and self._expected is not None and self._pos < self._expected:
            raise WarcTruncated(f"the stream ended after {self._pos} of {self._expected} bytes")
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: offset, io.SEEK_CUR: self._pos + offset}.get(whence)
        if target is None or target < self._pos:
            raise io.UnsupportedOperation("a forward-only stream seeks forward only")
        while self._pos < target:
            chunk = self._raw.read(min(target - self._pos, 1 << 20))
            if not chunk:
                break
            self._pos += len(chunk)
        return self._pos


class WarcTruncated(OSError):  # noqa: N818 - an OSError, as FastWARC's own read errors are
    """A record ended before its declared length: the file is cut short (not done)."""


@dataclass(slots=True)
class Skipped:
    """Records on a publisher's host, in range, that were not kept, by why."""

    too_large: int = 0  # a body over the cap
    not_http: int = 0  # no HTTP status line (not a response we could have got)
    responses: int = 0  # response records read in all (any host, any date)


def captures(
    stream: IO[bytes],
    source_file: str,
    hosts: set[str],
    since: datetime,
    until: datetime,
    *,
    max_body: int = MAX_BODY_BYTES,
    skipped: Skipped | None = None,
    expected_bytes: int | None = None,
) -> Iterator[Capture]:
    """The responses of a WARC stream on one of ``hosts``, captured in the range.

    Read as it arrives; records on other hosts or dates are skipped unread. A body over
    ``max_body`` is skipped (and counted in ``skipped``); a record shorter than its
    declared length raises :class:`WarcTruncated`, and so does a stream that ends before
    ``expected_bytes`` (its Content-Length: a cut between two records shows only there), so
    a cut download is never taken for a whole file.
    """
    skipped = skipped if skipped is not None else Skipped()
    for record in ArchiveIterator(
        ForwardOnly(stream, expected_bytes), record_types=WarcRecordType.response, parse_http=True,
        fsspec_args=False,
    ):  # fmt: skip
        skipped.responses += 1
        url = record.headers.get("WARC-Target-URI") or ""
        if host_of(url) not in hosts:
            continue
        when = _warc_date(record.headers.get("WARC-Date"))
        if when is None or not since <= when <= until:
            continue
        http = record.http_headers
        if http is None or not http.status_code:
            skipped.not_http += 1
            continue
        if record.content_length > max_body:
            skipped.too_large += 1
            continue
        body = record.reader.read(max_body + 1)
        if len(body) < record.content_length:
            raise WarcTruncated(
                f"{source_file}: the record of {url[:200]} ends after {len(body)} of "
                f"{record.content_length} bytes"
            )
        yield Capture(url, http.status_code, tuple(http.items()), body, when,
                      SourceRef(SourceKind.CCNEWS, source_file), record.stream_pos)  # fmt: skip


def _warc_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text.upper())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


__all__ = [
    "DEFAULT_BASE_URL",
    "Capture",
    "Skipped",
    "WarcFile",
    "WarcTruncated",
    "captures",
    "choose",
    "listing_urls",
    "parse_paths",
]
