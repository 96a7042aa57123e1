"""CC-NEWS: Common Crawl's archive of news pages, as WARC files, listed and read lazily.

Each month's files are listed in ``crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz`` under a base
URL (Common Crawl's data host by default; a mirror's, or a local test server's, when set).
A file is named ``CC-NEWS-YYYYMMDDHHMMSS-NNNNN.warc.gz`` after the time it was written, and
holds captures made before that time: so a range [since, until] of capture times needs the
files written from ``since`` on, up to ``until`` plus a margin for the files still being
filled when the range ended. Files are read as streams (never whole), and of their
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

from ingest.models import Miss, Reason
from ingest.urls import host_of

DEFAULT_BASE_URL = "https://data.commoncrawl.org/"
#: How long after a file's last capture it may be written (its name's time).
DEFAULT_MARGIN = timedelta(hours=24)
MAX_PATHS_BYTES = 16 * 1024 * 1024  # a month lists some 10,000 files: well under 1 MB
_NAME = re.compile(r"^crawl-data/CC-NEWS/(\d{4})/(\d{2})/CC-NEWS-(\d{14})-(\d{5})\.warc\.gz$")


@dataclass(frozen=True, slots=True)
class WarcFile:
    """One CC-NEWS file: its path under the base URL, and when it was written."""

    path: str
    written_at: datetime
    serial: int


@dataclass(frozen=True, slots=True)
class Capture:
    """One HTTP response a crawler fetched before us: what we would have got ourselves."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    captured_at: datetime
    source_file: str
    offset: int  # of the record in its file


def listing_urls(base_url: str, since: datetime, until: datetime, margin: timedelta) -> list[str]:
    """The ``warc.paths.gz`` of every month whose files may hold captures in the range."""
    out = []
    year, month = since.year, since.month
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
    """The files that may hold captures made in [``since``, ``until``]."""
    return [f for f in files if since <= f.written_at <= until + margin]


class ForwardOnly(io.RawIOBase):
    """A stream read once, front to back (an HTTP body), that FastWARC may "seek" forward.

    FastWARC 2.0 seeks past records it skips, and panics (a Rust panic, which Python sees
    as a ``BaseException``) on a stream that cannot seek. Here a forward seek reads and
    discards; a backward one is refused with the usual ``OSError``.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: Any) -> int:  # noqa: ANN401 - a writable buffer
        data = self._raw.read(len(buffer))
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


def captures(
    stream: IO[bytes],
    source_file: str,
    hosts: set[str],
    since: datetime,
    until: datetime,
) -> Iterator[Capture]:
    """The responses of a WARC stream on one of ``hosts``, captured in the range.

    Read as it arrives; records on other hosts or dates are skipped unread.
    """
    for record in ArchiveIterator(
        ForwardOnly(stream),
        record_types=WarcRecordType.response,
        parse_http=True,
        fsspec_args=False,
    ):
        url = record.headers.get("WARC-Target-URI") or ""
        if host_of(url) not in hosts:
            continue
        when = _warc_date(record.headers.get("WARC-Date"))
        if when is None or not since <= when <= until:
            continue
        http = record.http_headers
        status = (http.status_code or 0) if http is not None else 0
        headers = tuple((k, v) for k, v in http.items()) if http is not None else ()
        yield Capture(url, status, headers, record.reader.read(), when, source_file,
                      record.stream_pos)  # fmt: skip


def _warc_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


__all__ = [
    "DEFAULT_BASE_URL",
    "Capture",
    "WarcFile",
    "captures",
    "choose",
    "listing_urls",
    "parse_paths",
]
