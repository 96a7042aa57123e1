"""A local CC-NEWS mirror: the demo site's pages as Common Crawl would hold them.

:func:`write_mirror` writes, under a directory served as a CC-NEWS base URL, one month's
``crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz`` and its WARC files (request and response
records, gzip per record, written with warcio). The captures are the given pages on their
own hosts, the same pages on hosts nobody registers, and captures from before the month;
each file is named after the time it was written, later than every capture it holds.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

PER_FILE = 8  # captures per WARC file


@dataclass(frozen=True, slots=True)
class MirrorCapture:
    """One response written to the mirror, and whether a backfill of the range should keep it."""

    url: str
    captured_at: datetime
    path: str  # its WARC file, under the base URL
    registered: bool  # on the page's own host (not a stranger's)


def write_mirror(root: Path, pages: Mapping[str, bytes], month: datetime) -> list[MirrorCapture]:
    """Write the mirror for ``month`` under ``root``; every capture written, in file order.

    Each page is captured twice in the month (on its host, and on an unregistered
    ``mirror-stranger.example`` host) and once in the month before (out of range).
    """
    start = month.replace(day=1, hour=0, minute=0, second=0, microsecond=0, tzinfo=UTC)
    plan: list[tuple[str, datetime, bytes, bool]] = []
    for n, (url, body) in enumerate(sorted(pages.items())):
        parts = urlsplit(url)
        when = start + timedelta(hours=6 + 7 * n)
        plan.append((url, when, body, True))
        plan.append((f"http://mirror-stranger.example{parts.path}", when, body, False))
        plan.append((url, start - timedelta(days=2, hours=n), body, True))
    plan.sort(key=lambda p: (p[1], p[0]))
    written: list[MirrorCapture] = []
    paths: list[str] = []
    for serial, first in enumerate(range(0, len(plan), PER_FILE)):
        chunk = plan[first : first + PER_FILE]
        closed = max(when for _, when, _, _ in chunk) + timedelta(minutes=5)
        month_dir = f"crawl-data/CC-NEWS/{closed:%Y}/{closed:%m}"
        path = f"{month_dir}/CC-NEWS-{closed:%Y%m%d%H%M%S}-{serial:05d}.warc.gz"
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("wb") as out:
            writer = WARCWriter(out, gzip=True)
            for url, when, body, registered in chunk:
                _write(writer, url, when, body)
                written.append(MirrorCapture(url, when, path, registered))
        paths.append(path)
    by_month: dict[str, list[str]] = {}
    for path in paths:
        by_month.setdefault(path.rsplit("/", 1)[0], []).append(path)
    for month_dir, listed in by_month.items():
        (root / month_dir / "warc.paths.gz").write_bytes(
            gzip.compress(("\n".join(listed) + "\n").encode(), mtime=0)
        )
    return written


def _write(writer: WARCWriter, url: str, when: datetime, body: bytes) -> None:
    date = {"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    parts = urlsplit(url)
    request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    writer.write_record(
        writer.create_warc_record(url, "request", payload=io.BytesIO(request),
                                  warc_headers_dict=date)
    )  # fmt: skip
    headers = StatusAndHeaders(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))],
        protocol="HTTP/1.1",
    )
    response = writer.create_warc_record(
        url, "response", payload=io.BytesIO(body), http_headers=headers, warc_headers_dict=date
    )
    writer.write_record(response)
