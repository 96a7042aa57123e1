"""HTTP fetching with hard limits: deadline, decompressed-size cap, hand-followed redirects.

Every call ends in a :class:`~ingest.models.Fetched` or a
:class:`~ingest.models.FetchFailure` carrying a reason; nothing here raises for a bad
response, a dead host or a hostile body. Bodies are read raw from the socket and
decompressed here under the cap, because httpx would inflate a gzip bomb before we could
look at it.
"""

from __future__ import annotations

import contextlib
import email.utils
import io
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, Literal, Self
from urllib.parse import urljoin, urlsplit

import httpx

from ingest.logs import get_logger
from ingest.models import Fetched, FetchFailure, Reason, Validators
from ingest.netguard import AddressBlocked, GuardedTransport, Resolver, system_resolver
from ingest.textutil import sha256_hex
from ingest.watchdog import alarm

if TYPE_CHECKING:
    from ingest.settings import Settings

log = get_logger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
MAX_STACKED_ENCODINGS = 2
FEED_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.9, */*;q=0.5"
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
    truncate: bool = False  # past max_bytes keep the first max_bytes instead of failing

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


class StreamBroken(OSError):  # noqa: N818 - an OSError, as a failed socket read is
    """A streamed body stopped before its end: the connection failed or the deadline passed."""


@dataclass(frozen=True, slots=True)
class Stream:
    """An open response whose body is read as it arrives (:meth:`Fetcher.stream`)."""

    url: str
    final_url: str
    status: int
    headers: httpx.Headers
    length: int | None  # the Content-Length, when the server sent one
    body: IO[bytes]  # raw bytes as sent (no Content-Encoding is asked for)


class _BodyReader(io.RawIOBase):
    """An httpx response's raw body as a file; a failed read raises :class:`StreamBroken`."""

    def __init__(self, resp: httpx.Response, expired: threading.Event) -> None:
        self._chunks = resp.iter_raw(1 << 16)
        self._left = b""
        self._expired = expired

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:  # noqa: ANN401 - a writable buffer
        if not self._left:
            try:
                self._left = next(self._chunks, b"")
            except (httpx.HTTPError, OSError, RuntimeError) as exc:
                why = "deadline reached" if self._expired.is_set() else type(exc).__name__
                raise StreamBroken(f"body read failed: {why}: {exc}"[:300]) from None
            if self._expired.is_set():
                raise StreamBroken("deadline reached mid-body")
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


class _Failed(Exception):  # noqa: N818 - internal control flow, never escapes this module
    def __init__(
        self,
        reason: Reason,
        detail: str = "",
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status = status
        self.retry_after_s = retry_after_s


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks us to wait (RFC 9110: seconds or an HTTP date).

    None when the header is absent or unreadable; a date in the past gives 0. Capping a
    huge value is the caller's policy.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value[:12]))
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" dates: RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,10})", re.IGNORECASE)


def max_age_seconds(cache_control: str | None) -> int | None:
    """``Cache-Control: max-age`` in seconds (``no-cache``/``no-store`` give 0)."""
    if not cache_control:
        return None
    if re.search(r"(?:^|,)\s*no-(?:cache|store)\b", cache_control, re.IGNORECASE):
        return 0
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


class _Inflater:
    """Streaming decoder for one Content-Encoding layer, bounded in output."""

    def __init__(self, encoding: str, cap: int, *, truncate: bool) -> None:
        self.encoding = encoding
        self.cap = cap
        self.truncate = truncate
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
                if self.truncate:  # keep what fits; the reader stops at the cap
                    out += piece[: len(piece) - (self.total - self.cap)]
                    break
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


def _decoders(content_encoding: str | None, cap: int, *, truncate: bool) -> list[_Inflater]:
    layers = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    layers = [e for e in layers if e != "identity"]
    if len(layers) > MAX_STACKED_ENCODINGS:
        raise _Failed(Reason.BAD_ENCODING, f"{len(layers)} stacked content encodings")
    unknown = [e for e in layers if e not in ("gzip", "x-gzip", "deflate")]
    if unknown:
        raise _Failed(Reason.BAD_ENCODING, f"unsupported content-encoding {unknown[0]!r}")
    # Encodings are listed in the order applied; undo them last-first.
    return [_Inflater(e, cap, truncate=truncate) for e in reversed(layers)]


def _status_failure(status: int, headers: httpx.Headers) -> _Failed:
    mapping = {404: Reason.NOT_FOUND, 410: Reason.GONE, 429: Reason.THROTTLED}
    reason = mapping.get(status) or (
        Reason.SERVER_ERROR if status >= 500 else Reason.CLIENT_ERROR  # noqa: PLR2004 - HTTP status class
    )
    detail = f"HTTP {status}"
    retry_after = None
    if status in (429, 503):  # the statuses Retry-After comes with
        raw = headers.get("retry-after")
        retry_after = retry_after_seconds(raw)
        if raw and retry_after is None:
            detail += f"; unreadable Retry-After {raw[:60]!r}"
        elif retry_after is not None:
            detail += f"; Retry-After {retry_after:g}s"
    return _Failed(reason, detail, status, retry_after)


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
    """One HTTP client: bounded GETs with conditional requests, to public addresses only.

    ``allow_loopback`` lets it reach 127.0.0.0/8 and ::1 (local sites); every other
    non-public address is refused at connect time (:mod:`ingest.netguard`).
    ``max_connections`` 1 gives one connection per host when a fetcher serves one host.
    """

    def __init__(
        self,
        user_agent: str,
        *,
        allow_loopback: bool = False,
        max_connections: int = 16,
        resolve: Resolver = system_resolver,
    ) -> None:
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max(1, max_connections // 2),
        )
        self._transport = GuardedTransport(
            allow_loopback=allow_loopback, limits=self._limits, resolve=resolve
        )
        self._client = httpx.Client(
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": user_agent},
            transport=self._transport,
        )

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
        self,
        url: str,
        limits: Limits,
        validators: Validators | None = None,
        *,
        on_redirect: Callable[[str, str], tuple[Reason, str] | None] | None = None,
    ) -> Fetched | FetchFailure:
        """GET ``url`` within ``limits``; send conditional headers from ``validators``.

        ``on_redirect(from_url, to_url)`` is asked before each redirect hop is followed
        (the crawler paces same-host hops and checks robots.txt there); a ``(reason,
        detail)`` answer ends the fetch with that reason and ``final_url`` = the target.
        """
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
                    verdict = on_redirect(current, result) if on_redirect else None
                    current = result
                    if verdict is not None:  # the caller will not follow this hop now
                        raise _Failed(*verdict)  # noqa: TRY301 - one exit for every failure
                    redirects.append(current)
                    continue
                status, content_type, body, wire, resp_headers = result
                sent = {"User-Agent": self._client.headers.get("user-agent", ""), **headers}
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
                    max_age_s=max_age_seconds(resp_headers.get("cache-control")),
                    headers=tuple(resp_headers.multi_items()),
                    request_headers=tuple(sent.items()),
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
                retry_after_s=failed.retry_after_s,
            )

    @contextlib.contextmanager
    def stream(self, url: str, limits: Limits) -> Iterator[Stream | FetchFailure]:
        """GET ``url`` and hand its body over as a stream, not in memory (a WARC file).

        The same guard, URL checks and hand-followed redirects as :meth:`get`;
        ``limits.deadline_s`` bounds the whole exchange, body included (the request's
        sockets are shut when it passes: the next read raises :class:`StreamBroken`).
        ``max_bytes`` is not applied: the reader decides how much to read. An error
        status is a :class:`FetchFailure` (with its ``Retry-After``), as with :meth:`get`.
        """
        started = time.monotonic()
        deadline = started + limits.deadline_s
        backend = self._transport.backend
        token = backend.begin(deadline)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            backend.expire(token)

        watchdog = alarm(limits.deadline_s, expire)
        current = url
        try:
            with contextlib.ExitStack() as stack:
                for _hop in range(limits.max_redirects + 1):
                    check_url(current, limits.max_url_length)
                    resp = stack.enter_context(self._open(current, limits, deadline))
                    status = resp.status_code
                    if status in REDIRECT_STATUSES:
                        current = _redirect_target(current, status, resp.headers.get("location"))
                        continue
                    if status >= 400:  # noqa: PLR2004 - HTTP status class
                        raise _status_failure(status, resp.headers)
                    declared = resp.headers.get("content-length")
                    yield Stream(
                        url=url, final_url=current, status=status, headers=resp.headers,
                        length=int(declared) if declared and declared.isdigit() else None,
                        body=io.BufferedReader(_BodyReader(resp, expired), 1 << 16),
                    )  # fmt: skip
                    return
                raise _Failed(Reason.TOO_MANY_REDIRECTS, f"more than {limits.max_redirects}")  # noqa: TRY301 - one exit for every failure
        except _Failed as failed:
            yield FetchFailure(
                url=url, reason=failed.reason, detail=failed.detail, status=failed.status,
                elapsed_s=time.monotonic() - started, final_url=current,
                retry_after_s=failed.retry_after_s,
            )  # fmt: skip
        finally:
            watchdog.cancel()
            backend.finish(token)

    @contextlib.contextmanager
    def _open(self, url: str, limits: Limits, deadline: float) -> Iterator[httpx.Response]:
        """One streamed request, its errors as :class:`_Failed` (as :meth:`_exchange`)."""
        remaining = max(0.001, deadline - time.monotonic())
        timeout = httpx.Timeout(remaining, connect=min(limits.connect_timeout_s, remaining))
        headers = {"Accept": limits.accept, "Accept-Encoding": "identity"}
        stack = contextlib.ExitStack()
        try:
            resp = stack.enter_context(
                self._client.stream("GET", url, headers=headers, timeout=timeout)
            )
        except AddressBlocked as exc:
            raise _Failed(Reason.BLOCKED_ADDRESS, str(exc)[:300]) from None
        except httpx.ConnectTimeout:
            raise _Failed(
                Reason.CONNECT_TIMEOUT, f"no connection within {timeout.connect}s"
            ) from None
        except httpx.TimeoutException as exc:
            raise _Failed(Reason.TIMEOUT, type(exc).__name__) from None
        except httpx.ConnectError as exc:
            raise _Failed(Reason.CONNECT_ERROR, str(exc)[:200]) from None
        except httpx.TransportError as exc:
            raise _Failed(Reason.PROTOCOL_ERROR, f"{type(exc).__name__}: {exc}"[:200]) from None
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
            raise _Failed(Reason.BAD_URL, f"{type(exc).__name__}: {exc}"[:200]) from None
        with stack:  # the caller's own errors pass through untouched
            yield resp

    def _one_request(
        self, url: str, headers: dict[str, str], limits: Limits, deadline: float
    ) -> str | tuple[int, str | None, bytes, int, httpx.Headers]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Failed(Reason.TIMEOUT, f"deadline of {limits.deadline_s:g}s reached")
        timeout = httpx.Timeout(remaining, connect=min(limits.connect_timeout_s, remaining))
        # httpx's timeouts bound each read, so a server dripping header or body bytes could
        # hold a request far past its deadline. The watchdog shuts the request's sockets at
        # the deadline; the backend also bounds DNS and connects by it.
        backend = self._transport.backend
        token = backend.begin(deadline)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            backend.expire(token)

        watchdog = alarm(remaining, expire)
        try:
            result = self._exchange(url, headers, limits, deadline, timeout)
        except (_Failed, httpx.HTTPError, RuntimeError, OSError) as exc:
            # A connection that never came up keeps its own reason, even when the watchdog
            # fired in the same instant (a DNS lookup or connect cut at the deadline).
            connecting = isinstance(exc, _Failed) and exc.reason is Reason.CONNECT_TIMEOUT
            if not expired.is_set() or connecting:
                raise
            surfaced = exc.reason.value if isinstance(exc, _Failed) else type(exc).__name__
            raise _Failed(
                Reason.TIMEOUT, f"deadline of {limits.deadline_s:g}s reached ({surfaced})"
            ) from None
        finally:
            watchdog.cancel()
            backend.finish(token)
        if expired.is_set():  # the shut socket read as an end of body: it is truncated
            raise _Failed(Reason.TIMEOUT, f"deadline of {limits.deadline_s:g}s reached")
        return result

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
                    raise _status_failure(status, resp.headers)
                body, wire = _read_body(resp, limits, deadline)
                return status, resp.headers.get("content-type"), body, wire, resp.headers
        except AddressBlocked as exc:
            raise _Failed(Reason.BLOCKED_ADDRESS, str(exc)[:300]) from None
        except httpx.ConnectTimeout:
            raise _Failed(
                Reason.CONNECT_TIMEOUT, f"no connection within {timeout.connect}s"
            ) from None
        except httpx.TimeoutException as exc:
            raise _Failed(Reason.TIMEOUT, type(exc).__name__) from None
        except httpx.ConnectError as exc:
            raise _Failed(Reason.CONNECT_ERROR, str(exc)[:200]) from None
        except httpx.TransportError as exc:
            raise _Failed(Reason.PROTOCOL_ERROR, f"{type(exc).__name__}: {exc}"[:200]) from None
        except (httpx.InvalidURL, ValueError, UnicodeError) as exc:  # e.g. an IDN httpx refuses
            raise _Failed(Reason.BAD_URL, f"{type(exc).__name__}: {exc}"[:200]) from None


def _read_body(resp: httpx.Response, limits: Limits, deadline: float) -> tuple[bytes, int]:
    """Read the raw body under the deadline and inflate it under the size cap.

    Past the cap the body fails as ``too_large``, or with ``limits.truncate`` its first
    ``max_bytes`` are kept and the rest is not read (robots.txt: RFC 9309 reads 500 KiB).
    """
    out = bytearray()
    wire = [0]  # bytes read off the wire, kept when the read stops at the cap
    try:
        _read_into(out, wire, resp, limits, deadline)
    except _Failed as failed:
        if not (limits.truncate and failed.reason is Reason.TOO_LARGE):
            raise
    return bytes(memoryview(out)[: limits.max_bytes]), wire[0]  # one copy of the body


def _read_into(
    out: bytearray, wire: list[int], resp: httpx.Response, limits: Limits, deadline: float
) -> None:
    decoders = _decoders(
        resp.headers.get("content-encoding"), limits.max_bytes, truncate=limits.truncate
    )
    declared = resp.headers.get("content-length")
    too_long = declared and declared.isdigit() and int(declared) > limits.max_bytes
    if not decoders and too_long and not limits.truncate:
        raise _Failed(Reason.TOO_LARGE, f"Content-Length {declared} > {limits.max_bytes}")
    for chunk in resp.iter_raw():
        wire[0] += len(chunk)
        if time.monotonic() > deadline:  # a backstop: the request's watchdog shuts it first
            raise _Failed(Reason.TIMEOUT, f"deadline of {limits.deadline_s:g}s reached mid-body")
        if wire[0] > limits.max_bytes and not limits.truncate:
            raise _Failed(Reason.TOO_LARGE, f"body exceeds {limits.max_bytes} bytes on the wire")
        data = chunk
        for decoder in decoders:
            data = decoder.feed(data)
        out += data
        if len(out) > limits.max_bytes or (limits.truncate and len(out) >= limits.max_bytes):
            raise _Failed(Reason.TOO_LARGE, f"body exceeds {limits.max_bytes} bytes")
    for index, decoder in enumerate(decoders):
        tail = decoder.flush()
        for later in decoders[index + 1 :]:
            tail = later.feed(tail)
        out += tail
    if len(out) > limits.max_bytes:
        raise _Failed(Reason.TOO_LARGE, f"body exceeds {limits.max_bytes} bytes")
