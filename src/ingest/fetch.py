"""HTTP fetching with hard limits: deadline, decompressed-size cap, hand-followed redirects.

Every call ends in a :class:`~ingest.models.Fetched` or a
:class:`~ingest.models.FetchFailure` carrying a reason; nothing here raises for a bad
response, a dead host or a hostile body. Bodies are read raw from the socket and
decompressed here under the cap, because httpx would inflate a gzip bomb before we could
look at it.
"""

from __future__ import annotations

import logging
import threading
import time
import zlib
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Literal, Self
from urllib.parse import urljoin, urlsplit

import httpx

from ingest.models import Fetched, FetchFailure, Reason, Validators
from ingest.textutil import sha256_hex

if TYPE_CHECKING:
    from ingest.settings import Settings

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_STACKED_ENCODINGS = 2
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)
PAGE_ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True, slots=True)
class Limits:
    """The bounds of one request."""

    deadline_s: float
    max_bytes: int
    connect_timeout_s: float = 10.0
    max_redirects: int = 5
    max_url_length: int = 2048
    accept: str = PAGE_ACCEPT

    @classmethod
    def for_kind(cls, settings: Settings, kind: Literal["feed", "page"]) -> Limits:
        """Limits for a feed or a page request from the settings."""
        feed = kind == "feed"
        return cls(
            deadline_s=settings.feed_deadline_s if feed else settings.page_deadline_s,
            max_bytes=settings.feed_max_bytes if feed else settings.page_max_bytes,
            connect_timeout_s=settings.connect_timeout_s,
            max_redirects=settings.max_redirects,
            max_url_length=settings.max_url_length,
            accept=FEED_ACCEPT if feed else PAGE_ACCEPT,
        )


class _Failed(Exception):  # noqa: N818 - internal control flow, never escapes this module
    def __init__(self, reason: Reason, detail: str = "", status: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status


class _Inflater:
    """Streaming decoder for one Content-Encoding layer, bounded in output."""

    def __init__(self, encoding: str, cap: int) -> None:
        self.encoding = encoding
        self.cap = cap
        self.total = 0
        # gzip: 16+MAX_WBITS; deflate: zlib-wrapped, with a raw-deflate fallback on error.
        self._wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else zlib.MAX_WBITS
        self._obj = zlib.decompressobj(self._wbits)
        self._raw_fallback = encoding == "deflate"

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        while data:
            try:
                piece = self._obj.decompress(data, self.cap - self.total + 1)
            except zlib.error as exc:
                if self._raw_fallback and self.total == 0 and not out:
                    self._raw_fallback = False
                    self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                    continue
                raise _Failed(Reason.BAD_ENCODING, f"{self.encoding}: {exc}") from None
            self._raw_fallback = False
            self.total += len(piece)
            if self.total > self.cap:
                raise _Failed(Reason.TOO_LARGE, f"decompressed body exceeds {self.cap} bytes")
            out += piece
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                # gzip may have several members (RFC 1952): go on with the next one.
                data = self._obj.unused_data + data
                if not data.strip(b"\0") or self._wbits == zlib.MAX_WBITS:
                    break
                self._obj = zlib.decompressobj(self._wbits)
        return bytes(out)

    def flush(self) -> bytes:
        return self._obj.flush()


def _decoders(content_encoding: str | None, cap: int) -> list[_Inflater]:
    layers = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    layers = [e for e in layers if e != "identity"]
    if len(layers) > MAX_STACKED_ENCODINGS:
        raise _Failed(Reason.BAD_ENCODING, f"{len(layers)} stacked content encodings")
    unknown = [e for e in layers if e not in ("gzip", "x-gzip", "deflate")]
    if unknown:
        raise _Failed(Reason.BAD_ENCODING, f"unsupported content-encoding {unknown[0]!r}")
    # Encodings are listed in the order applied; undo them last-first.
    return [_Inflater(e, cap) for e in reversed(layers)]


def _status_failure(status: int) -> _Failed:
    mapping = {404: Reason.NOT_FOUND, 410: Reason.GONE, 429: Reason.THROTTLED}
    if status in mapping:
        return _Failed(mapping[status], f"HTTP {status}", status)
    if status >= 500:  # noqa: PLR2004 - HTTP status class
        return _Failed(Reason.SERVER_ERROR, f"HTTP {status}", status)
    return _Failed(Reason.CLIENT_ERROR, f"HTTP {status}", status)


def check_url(url: str, max_length: int) -> None:
    """Refuse what we will never request: non-http(s), over-long or host-less URLs."""
    if len(url) > max_length:
        raise _Failed(Reason.URL_TOO_LONG, f"{len(url)} characters")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError as exc:
        raise _Failed(Reason.BAD_URL, str(exc)) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise _Failed(Reason.BAD_SCHEME, f"scheme {parts.scheme!r}")
    if not parts.hostname:
        raise _Failed(Reason.BAD_URL, "no host")


def _redirect_target(url: str, status: int, location: str | None) -> str:
    if not location:
        raise _Failed(Reason.PROTOCOL_ERROR, f"HTTP {status} without Location")
    try:
        return str(urljoin(url, location.strip()))
    except ValueError as exc:
        raise _Failed(Reason.BAD_URL, f"redirect to {location[:100]!r}: {exc}") from None


def _header_safe(value: str) -> bool:
    return value.isascii() and value.isprintable() and len(value) <= 1024  # noqa: PLR2004 - header sanity


class Fetcher:
    """One HTTP client for one task: bounded GETs with conditional requests."""

    def __init__(self, user_agent: str, *, transport: httpx.BaseTransport | None = None) -> None:
        self._user_agent = user_agent
        self._transport = transport
        self._client = self._new_client()
        self._expired = threading.Event()

    def _new_client(self) -> httpx.Client:
        return httpx.Client(
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": self._user_agent},
            transport=self._transport,
            limits=httpx.Limits(max_connections=16, max_keepalive_connections=8),
        )

    def _expire(self) -> None:
        """Deadline watchdog: close the connections under a request that is still running.

        httpx's timeouts bound each read, so a server that drips header or body bytes
        could hold a request far past its deadline; closing the socket ends it.
        """
        self._expired.set()
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def get(
        self, url: str, limits: Limits, validators: Validators | None = None
    ) -> Fetched | FetchFailure:
        """GET ``url`` within ``limits``; send conditional headers from ``validators``."""
        started = time.monotonic()
        deadline = started + limits.deadline_s
        current = url
        redirects: list[str] = []
        try:
            for _hop in range(limits.max_redirects + 1):
                check_url(current, limits.max_url_length)
                headers = {"Accept": limits.accept, "Accept-Encoding": "gzip, deflate"}
                if validators is not None and not redirects:
                    # Only validators that are valid header values go back to the server.
                    if validators.etag and _header_safe(validators.etag):
                        headers["If-None-Match"] = validators.etag
                    if validators.last_modified and _header_safe(validators.last_modified):
                        headers["If-Modified-Since"] = validators.last_modified
                result = self._one_request(current, headers, limits, deadline)
                if isinstance(result, str):  # a redirect target
                    current = result
                    redirects.append(current)
                    continue
                status, content_type, body, wire, resp_headers = result
                return Fetched(
                    url=url,
                    final_url=current,
                    status=status,
                    content_type=content_type,
                    body=body,
                    body_hash=sha256_hex(body),
                    etag=resp_headers.get("etag"),
                    last_modified=resp_headers.get("last-modified"),
                    elapsed_s=time.monotonic() - started,
                    redirects=tuple(redirects),
                    wire_bytes=wire,
                )
            raise _Failed(Reason.TOO_MANY_REDIRECTS, f"more than {limits.max_redirects}")  # noqa: TRY301 - one exit for every failure
        except _Failed as failed:
            log.debug("fetch %s failed: %s %s", url, failed.reason, failed.detail)
            return FetchFailure(
                url=url,
                reason=failed.reason,
                detail=failed.detail,
                status=failed.status,
                elapsed_s=time.monotonic() - started,
                final_url=current,
            )

    def _one_request(
        self, url: str, headers: dict[str, str], limits: Limits, deadline: float
    ) -> str | tuple[int, str | None, bytes, int, httpx.Headers]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed(Reason.TIMEOUT, f"deadline of {limits.deadline_s:g}s reached")
        timeout = httpx.Timeout(remaining, connect=min(limits.connect_timeout_s, remaining))
        self._expired.clear()
        watchdog = threading.Timer(remaining, self._expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            return self._exchange(url, headers, limits, deadline, timeout)
        except (_Failed, httpx.HTTPError, RuntimeError, OSError) as exc:
            if not self._expired.is_set():
                raise
            raise _Failed(
                Reason.TIMEOUT, f"deadline of {limits.deadline_s:g}s reached ({type(exc).__name__})"
            ) from None
        finally:
            watchdog.cancel()
            if self._expired.is_set():  # the watchdog closed the pool: start a fresh one
                self._client = self._new_client()

    def _exchange(
        self,
        url: str,
        headers: dict[str, str],
        limits: Limits,
        deadline: float,
        timeout: httpx.Timeout,
    ) -> str | tuple[int, str | None, bytes, int, httpx.Headers]:
        try:
            with self._client.stream("GET", url, headers=headers, timeout=timeout) as resp:
                status = resp.status_code
                if status in REDIRECT_STATUSES:
                    return _redirect_target(url, status, resp.headers.get("location"))
                if status == 304:  # noqa: PLR2004 - HTTP status
                    return status, None, b"", 0, resp.headers
                if status >= 400:  # noqa: PLR2004 - HTTP status class
                    raise _status_failure(status)
                body, wire = _read_body(resp, limits, deadline)
                return status, resp.headers.get("content-type"), body, wire, resp.headers
        except httpx.TimeoutException as exc:
            raise _Failed(Reason.TIMEOUT, type(exc).__name__) from None
        except httpx.ConnectError as exc:
            raise _Failed(Reason.CONNECT_ERROR, str(exc)[:200]) from None
        except httpx.TransportError as exc:
            raise _Failed(Reason.PROTOCOL_ERROR, f"{type(exc).__name__}: {exc}"[:200]) from None
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:  # e.g. an IDN httpx refuses
            raise _Failed(Reason.BAD_URL, f"{type(exc).__name__}: {exc}"[:200]) from None


def _read_body(resp: httpx.Response, limits: Limits, deadline: float) -> tuple[bytes, int]:
    """Read the raw body under the deadline and inflate it under the size cap."""
    decoders = _decoders(resp.headers.get("content-encoding"), limits.max_bytes)
    declared = resp.headers.get("content-length")
    if not decoders and declared and declared.isdigit() and int(declared) > limits.max_bytes:
        raise _Failed(Reason.TOO_LARGE, f"Content-Length {declared} > {limits.max_bytes}")
    out = bytearray()
    wire = 0
    for chunk in resp.iter_raw():
        wire += len(chunk)
        if time.monotonic() > deadline:
            raise _Failed(Reason.TIMEOUT, f"deadline of {limits.deadline_s:g}s reached mid-body")
        if wire > limits.max_bytes:
            raise _Failed(Reason.TOO_LARGE, f"body exceeds {limits.max_bytes} bytes on the wire")
        data = chunk
        for decoder in decoders:
            data = decoder.feed(data)
        out += data
        if len(out) > limits.max_bytes:
            raise _Failed(Reason.TOO_LARGE, f"body exceeds {limits.max_bytes} bytes")
    for index, decoder in enumerate(decoders):
        tail = decoder.flush()
        for later in decoders[index + 1 :]:
            tail = later.feed(tail)
        out += tail
    if len(out) > limits.max_bytes:
        raise _Failed(Reason.TOO_LARGE, f"body exceeds {limits.max_bytes} bytes")
    return bytes(out), wire
