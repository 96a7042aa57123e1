"""Reading WARC files as a CC-NEWS backfill does: warcio against FastWARC, in one run.

A WARC file is written here with warcio (request and response records, gzip per record,
as CC-NEWS and our archive hold them): 10,000 responses carrying the demo site's article
pages, half on hosts we register and half on others, their capture times spread over 30
days. Each library then streams it from a Python file object (as it would stream an HTTP
download: never the whole file in memory), keeps the responses on a registered host
captured in a 10-day range, and reads their bodies. Reported: records per second and MB
of WARC per second, the ratio of FastWARC to warcio, and that both kept the same pages.
"""

from __future__ import annotations

import io
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from fastwarc.warc import ArchiveIterator as FastIterator
from fastwarc.warc import WarcRecordType
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.demosite import build_site

RESPONSES = 10_000
START = datetime(2026, 11, 1, tzinfo=UTC)
RANGE = (START + timedelta(days=10), START + timedelta(days=20))
REPEATS = 3


def _write(path: Path) -> tuple[set[str], int]:
    """The WARC file; the hosts we register, and the responses a backfill keeps."""
    site, _ = build_site([f"http://127.0.0.{i}:9999" for i in range(1, 5)])
    pages = sorted(site.pages().items())
    registered = {urlsplit(url).netloc for url, _ in pages[: len(pages) // 2]}
    kept = 0
    with path.open("wb") as out:
        writer = WARCWriter(out, gzip=True)
        for n in range(RESPONSES):
            url, body = pages[n % len(pages)]
            parts = urlsplit(url)
            host = parts.netloc if n % 2 == 0 else f"other{n % 7}.example"
            url = f"http://{host}{parts.path}?n={n}"
            when = START + timedelta(seconds=n * 30 * 86400 // RESPONSES)
            date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            request = writer.create_warc_record(
                url, "request", payload=io.BytesIO(f"GET {parts.path} HTTP/1.1\r\n\r\n".encode()),
                warc_headers_dict={"WARC-Date": date},
            )  # fmt: skip
            headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                       protocol="HTTP/1.1")  # fmt: skip
            response = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=headers,
                warc_headers_dict={"WARC-Date": date},
            )  # fmt: skip
            writer.write_record(request)
            writer.write_record(response)
            kept += host in registered and RANGE[0] <= when <= RANGE[1]
    return registered, kept


def _in_range(date: str) -> bool:
    when = datetime.fromisoformat(date)
    return RANGE[0] <= when <= RANGE[1]


def _warcio(path: Path, registered: set[str]) -> tuple[set[str], int]:
    found, total = set(), 0
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response":
                continue
            url = record.rec_headers.get_header("WARC-Target-URI")
            if urlsplit(url).netloc in registered and _in_range(
                record.rec_headers.get_header("WARC-Date")
            ):
                total += len(record.content_stream().read())
                found.add(url)
    return found, total


def _fastwarc(path: Path, registered: set[str]) -> tuple[set[str], int]:
    found, total = set(), 0
    with path.open("rb") as stream:
        for record in FastIterator(stream, record_types=WarcRecordType.response,
                                   parse_http=True, fsspec_args=False):  # fmt: skip
            url = record.headers.get("WARC-Target-URI")
            if urlsplit(url).netloc in registered and _in_range(record.headers.get("WARC-Date")):
                total += len(record.reader.read())
                found.add(url)
    return found, total


def run() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "news.warc.gz"
        registered, expected = _write(path)
        size = path.stat().st_size
        timings: dict[str, list[float]] = {"warcio": [], "FastWARC": []}
        results = {}
        for _ in range(REPEATS):  # interleaved, so both meet the same machine
            for name, read in (("warcio", _warcio), ("FastWARC", _fastwarc)):
                started = time.perf_counter()
                results[name] = read(path, registered)
                timings[name].append(time.perf_counter() - started)
    assert results["warcio"] == results["FastWARC"], "the two readers kept different pages"
    assert len(results["warcio"][0]) == expected
    rows = []
    base = statistics.median(timings["warcio"])
    for name, times in timings.items():
        median = statistics.median(times)
        print(f"  {name}: {median:.3f} s, {2 * RESPONSES / median:,.0f} records/s")
        rows.append(
            f"| {name} | {median:.3f} | {2 * RESPONSES / median:,.0f} | "
            f"{size / median / 1e6:.1f} | {base / median:.2f}x |"
        )
    return [
        "## Reading WARC files: warcio against FastWARC",
        "",
        f"One WARC file written here with warcio: {RESPONSES:,} responses (the demo site's "
        f"article pages) and their requests, gzip per record, {size / 1e6:.1f} MB; half the "
        "responses on hosts we register, captures spread over 30 days. Each library streams "
        "it from a Python file object, keeps the responses on a registered host captured in "
        f"a 10-day range ({expected:,} of them; both keep the same pages) and reads their "
        f"bodies. Median of {REPEATS} interleaved runs.",
        "",
        "| reader | seconds | records/s | MB of WARC/s | vs warcio |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"At these rates one CC-NEWS file (about 1 GB of WARC) takes "
        f"{1e9 / (size / base):.0f} s to read with warcio and "
        f"{1e9 / (size / statistics.median(timings['FastWARC'])):.0f} s with FastWARC, before "
        "any extraction: the CC-NEWS reader uses FastWARC (Apache-2.0, like warcio).",
        "",
    ]
