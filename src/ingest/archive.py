"""The raw archive: every page we fetched, as WARC records in rotating files, each indexed.

A page is kept as two WARC/1.1 records, the ``request`` we sent and the ``response`` we
got, with their HTTP headers; each record is its own gzip member, appended to this
writer's current file, which rotates past ``max_file_bytes``. Files are named after when
and by which process they were begun (``YYYY/MM/DD/news-ingest-<time>-<pid>-<id>.warc.gz``),
so concurrent writers (fetch tasks, Celery workers) never share one. Any WARC tool reads
them (warcio, FastWARC, pywb). The body is kept decoded: the response's
``Content-Encoding`` and ``Transfer-Encoding`` are dropped and ``Content-Length`` is the
body's (a payload digest then means the page as we read it).

Where each response record is (:class:`~ingest.models.RawRef`: file, offset, length, and
the body's SHA-256) is indexed in the warehouse (``archive_records``), so re-extracting a
page reads that one gzip member. The root is a local directory by default, or any fsspec
URL (``s3://bucket/archive``, ``gs://...``, with the matching fsspec package installed):
every worker then reads what any worker wrote. A file is readable once written and
flushed locally; on object storage, once closed (a rotation, the end of a task).

The archive of earlier versions (one gzip file per body, ``ab/<sha256>.gz``) is still
read: a page indexed nowhere is looked for there.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import string
import threading
import uuid
import zlib
from datetime import UTC, datetime
from http import HTTPStatus
from types import TracebackType
from typing import IO, Self
from urllib.parse import quote, urlsplit

import fsspec
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.errors import IngestError
from ingest.models import Fetched, RawRef
from ingest.urls import host_of

#: A file rotates once it holds this many bytes (compressed).
MAX_FILE_BYTES = 256 * 1024 * 1024
#: Each record's gzip level. warcio's own, 9, costs 3x the CPU of level 3 for files 12%
#: smaller on the dev set's news pages (8.2 against 2.7 ms a page, 18% of the page's size
#: against 21%): at 9 the fetch task's largest cost after extraction.
GZIP_LEVEL = 3
#: Response headers that describe the wire, not the decoded body we keep.
_WIRE_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
_HEX = frozenset("0123456789abcdef")


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")
_URL_SAFE = "/:?#[]@!$&'()*+,;=%-._~"


def _ascii(value: str) -> str:
    """A header value as HTTP/1.1 text: bytes past ASCII percent-encoded, controls dropped."""
    if value.isascii() and value.isprintable():
        return value
    return quote("".join(c for c in value if c.isprintable()), safe=string.punctuation + " ")


def _headers(pairs: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    """Headers a WARC record can carry: names that are HTTP tokens, values in ASCII."""
    return [(name, _ascii(value)) for name, value in pairs if _TOKEN.fullmatch(name)]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


#: A page's two WARC records, each a gzip member: the request, then the response.
Records = tuple[bytes, bytes]


def _when(captured_at: datetime | None) -> datetime:
    return (captured_at or datetime.now(UTC)).astimezone(UTC)


def records(fetched: Fetched, captured_at: datetime | None = None) -> Records:
    """The request and response records of a fetch, as :meth:`RawArchive.append` writes them.

    Pure CPU (no file, no state): a sandbox worker may make them.
    """
    when = _when(captured_at)
    return _request_record(fetched, when), _response_record(fetched, when)


def _record(kind: str, url: str, when: datetime, payload: bytes,
            http: StatusAndHeaders | None, extra: dict[str, str] | None = None) -> bytes:  # fmt: skip
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=False, warc_version="WARC/1.1")
    headers = {"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), **(extra or {})}
    record = writer.create_warc_record(
        url, kind, payload=io.BytesIO(payload), http_headers=http, warc_headers_dict=headers
    )
    writer.write_record(record)
    # one gzip member per record, as warcio writes them, at our level (warcio's is 9)
    gz = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, zlib.MAX_WBITS + 16)
    return gz.compress(buffer.getbuffer()) + gz.flush()


def _request_record(fetched: Fetched, when: datetime) -> bytes:
    parts = urlsplit(fetched.final_url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    target = quote(target, safe=_URL_SAFE)  # a raw UTF-8 path, as it went on the wire
    host = host_of(fetched.final_url) + (f":{parts.port}" if parts.port else "")
    headers = [("Host", host), *_headers(fetched.request_headers)]  # IDNA, no user:pass
    http = StatusAndHeaders(f"GET {target} HTTP/1.1", headers, is_http_request=True)
    return _record("request", fetched.final_url, when, b"", http)


def _response_record(fetched: Fetched, when: datetime) -> bytes:
    headers = [(k, v) for k, v in _headers(fetched.headers) if k.lower() not in _WIRE_HEADERS]
    if not any(k.lower() == "content-type" for k, _ in headers) and fetched.content_type:
        headers.append(("Content-Type", _ascii(fetched.content_type)))
    headers.append(("Content-Length", str(len(fetched.body))))
    status = f"{fetched.status} {_reason(fetched.status)}"
    http = StatusAndHeaders(status, headers, protocol="HTTP/1.1")
    return _record("response", fetched.final_url, when, fetched.body, http)


class RawArchive:
    """The archive under one root: writes WARC records (thread-safe), reads one back."""

    def __init__(
        self, root: str | os.PathLike[str], *, max_file_bytes: int = MAX_FILE_BYTES
    ) -> None:
        self.root = str(root)
        self.fs, self.base = fsspec.core.url_to_fs(self.root)
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._out: IO[bytes] | None = None
        self._name = ""
        self._written = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ writing

    def put(self, fetched: Fetched, captured_at: datetime | None = None) -> RawRef:
        """Append the exchange as request and response records; where the response is."""
        when = _when(captured_at)
        return self.append(fetched, records(fetched, when), when)

    def append(self, fetched: Fetched, pair: Records, captured_at: datetime) -> RawRef:
        """Append records :func:`records` made of ``fetched`` at ``captured_at``.

        The CPU a page's records cost (encoding, compressing) can then be spent elsewhere:
        a sandbox worker makes them (:mod:`ingest.pagework`), and only the write is here.
        """
        when, (request, response) = _when(captured_at), pair
        with self._lock:
            out = self._current(when)
            try:
                out.write(request)
                offset = self._written + len(request)
                out.write(response)
                out.flush()
            except BaseException:  # the file's end is unknown now: never append to it again
                self._out = None
                with contextlib.suppress(Exception):
                    out.close()
                raise
            self._written = offset + len(response)
            name = self._name
            if self._written >= self.max_file_bytes:
                self._close_current()
        return RawRef(
            digest=fetched.body_hash, file=name, offset=offset, length=len(response),
            url=fetched.final_url, captured_at=when,
        )  # fmt: skip

    def close(self) -> None:
        """Close the current file (on object storage: upload it)."""
        with self._lock:
            self._close_current()

    def _current(self, when: datetime) -> IO[bytes]:
        if self._out is None:
            stamp = when.strftime("%Y%m%d%H%M%S%f")
            self._name = (
                f"{when:%Y/%m/%d}/news-ingest-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:8]}.warc.gz"
            )
            path = self._path(self._name)
            self.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            self._out = self.fs.open(path, "wb")
            self._written = 0
        return self._out

    def _close_current(self) -> None:
        if self._out is not None:
            out, self._out = self._out, None
            out.close()

    def _path(self, name: str) -> str:
        return f"{self.base.rstrip('/')}/{name}" if self.base else name

    # ------------------------------------------------------------------ reading

    def get(self, digest: str, ref: RawRef | None = None) -> bytes | None:
        """The body kept: from its indexed record, else from the archive of old.

        Only a body whose SHA-256 is ``digest`` is returned: None when neither has it (a
        file gone or never uploaded, a record damaged, a page archived before any archive).
        """
        if ref is not None:
            body = self._read_record(ref)
            if body is not None and hashlib.sha256(body).hexdigest() == digest:
                return body
        body = self._legacy(digest)
        return body if body is not None and hashlib.sha256(body).hexdigest() == digest else None

    def _read_record(self, ref: RawRef) -> bytes | None:
        try:
            with self.fs.open(self._path(ref.file), "rb") as raw:
                raw.seek(ref.offset)
                member = raw.read(ref.length)
            for record in ArchiveIterator(io.BytesIO(member)):
                if record.rec_type == "response":
                    return bytes(record.content_stream().read())
        except (OSError, EOFError, ValueError, zlib.error, ArchiveLoadFailed):
            return None  # gone or damaged: not this body
        return None

    def legacy_path(self, digest: str) -> str:
        """Where the archive of old kept the body with this SHA-256."""
        if len(digest) != 64 or not set(digest) <= _HEX:  # noqa: PLR2004 - hex SHA-256
            raise IngestError(f"not a SHA-256 hex digest: {digest!r}")
        return self._path(f"{digest[:2]}/{digest}.gz")

    def _legacy(self, digest: str) -> bytes | None:
        try:
            with self.fs.open(self.legacy_path(digest), "rb") as raw, gzip.open(raw, "rb") as gz:
                body: bytes = gz.read()
        except (OSError, EOFError, zlib.error):  # gone or damaged: not this body
            return None
        return body


__all__ = ["MAX_FILE_BYTES", "RawArchive", "Records", "records"]
