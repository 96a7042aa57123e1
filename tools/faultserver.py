"""A hostile HTTP/1.1 server on loopback, for tests and benchmarks of our HTTP fetcher.

The server writes raw bytes to sockets so that it can lie and misbehave: wrong lengths, bodies
that never end, headers that never finish, decompression bombs, redirect loops, broken status
lines, feeds with entity bombs and lying encodings. Well-behaved routes (``/good/...``,
``/pages/...``, feeds, redirects, status pages) support keep-alive. Every connection gets one
daemon thread; :meth:`FaultServer.stop` closes every socket and joins every thread.

Example:
    >>> with FaultServer() as server:  # doctest: +SKIP
    ...     fetcher.get(server.url("/x/gzip-bomb?mb=64"), limits)
    ...     assert len(server.hits("/x/gzip-bomb")) == 1

The routes are listed on :class:`FaultServer`. Standard library only.
"""

from __future__ import annotations

import contextlib
import gzip
import html
import http
import itertools
import logging
import math
import random
import re
import selectors
import socket
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, formatdate
from types import TracebackType
from typing import Self
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

logger = logging.getLogger(__name__)

__all__ = ["FaultServer", "Logged"]

HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
PUBLISHED = "2026-11-20T10:00:00+00:00"
FEED_T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
MIB = 1 << 20
DRIP_LIMIT_S = 120.0  # no fault stream lasts longer than this
JOIN_TIMEOUT_S = 2.0  # stop() waits this long, in total, for connection threads
IDLE_TIMEOUT_S = 60.0  # an idle keep-alive connection is closed after this
LINGER_S = 1.0  # after our last byte we wait this long for the client's FIN
MAX_HEADER_BYTES = 64 * 1024
MAX_BOMB_MB = 4096
MAX_FEED_ITEMS = 1_000_000
SLOW_DRIP_LENGTH = 100_000
CHUNK_SIZE = 64 * 1024
SPAM = b"<p>spam</p>"
# 64 KiB of whole "<p>spam</p>" elements, padded with newlines to the exact chunk size.
_SPAM_CHUNK = SPAM * (CHUNK_SIZE // len(SPAM)) + b"\n" * (CHUNK_SIZE % len(SPAM))
_ENDLESS_CHUNK = f"{CHUNK_SIZE:x}\r\n".encode() + _SPAM_CHUNK + b"\r\n"
MALFORMED_HTTP = (
    b"HTTP/1.1 200 OK\r\nContent-Length: banana\r\n\x00\x01 not a header\r\n\r\n<html>broken</html>"
)
GARBAGE_SEED = 20261120
GARBAGE = b"\x00" + random.Random(GARBAGE_SEED).randbytes(2047)  # never starts with "HTTP/"
LIE_TITLE = "Café – “quoted” naïve"  # noqa: RUF001 - the typography is the test

WORDS = (
    "the", "council", "said", "new", "harbour", "budget", "would", "school", "river", "bridge",
    "police", "market", "weather", "festival", "library", "station", "hospital", "teachers",
    "residents", "ferry", "road", "flooding", "plan", "vote", "report", "minister", "club",
    "season", "match", "museum", "park", "volunteers", "housing", "prices", "business", "jobs",
    "court", "after", "before", "during", "week", "year", "local", "families", "town", "city",
    "centre", "opened", "closed", "agreed", "warned", "million", "pounds", "public", "meeting",
    "morning", "evening", "people", "children", "summer",
)  # fmt: skip

_ARTICLE_PATH = re.compile(r"/(good/a|pages)/(-?\d{1,18})\.html")
_BOMBS: dict[tuple[str, int], bytes] = {}
_BOMB_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Logged:
    """One request as the server received it.

    Attributes:
        path: The request target's path including the query string, e.g. ``/good/feed.xml?n=3``.
        headers: Request headers with lower-cased names (repeated headers joined by ", ").
        at: ``time.monotonic()`` when the request's header block was complete.
        client: The peer as ``"ip:port"`` (``"[ip]:port"`` for IPv6).
        method: The request method (the server answers only GET; others get 405).
    """

    path: str
    headers: dict[str, str]
    at: float
    client: str
    method: str = "GET"


class _BadRequestError(ValueError):
    """A query parameter that cannot be used; answered with 400."""


class _StoppingError(RuntimeError):
    """The server is stopping while a response was being prepared."""


@dataclass(frozen=True, slots=True)
class _Response:
    """A complete response. ``content_length`` and ``close`` let a route lie about itself."""

    status: int
    body: bytes = b""
    content_type: str | None = HTML
    headers: tuple[tuple[str, str], ...] = ()
    content_length: int | None = None  # None: the true length of body
    close: bool = False  # close the connection after the body


@dataclass(slots=True)
class _Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]

    @property
    def keep_alive(self) -> bool:
        tokens = {t.strip().lower() for t in self.headers.get("connection", "").split(",")}
        if self.version == "HTTP/1.1":
            return "close" not in tokens
        return "keep-alive" in tokens


@dataclass(slots=True)
class _Ctx:
    """What a dynamic route sees: its parsed query and the connection to write raw bytes to."""

    path: str
    query: dict[str, list[str]]
    conn: _Conn

    def text(self, name: str, default: str | None = None) -> str:
        values = self.query.get(name)
        if values:
            return values[0]
        if default is None:
            raise _BadRequestError(f"missing query parameter {name!r}")
        return default

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            raise _BadRequestError(f"{name}={raw!r} is not an integer") from None
        if not low <= value <= high:
            raise _BadRequestError(f"{name}={value} is outside {low}..{high}")
        return value

    def seconds(self, name: str, default: float) -> float:
        raw = self.text(name, str(default))
        try:
            value = float(raw)
        except ValueError:
            raise _BadRequestError(f"{name}={raw!r} is not a number") from None
        if not math.isfinite(value) or value <= 0:
            raise _BadRequestError(f"{name}={raw!r} must be a positive number of seconds")
        return min(max(value, 0.001), DRIP_LIMIT_S)


class _Conn:
    """One accepted socket: reads requests, writes bytes, pauses while watching for hang-ups."""

    def __init__(self, sock: socket.socket, stopping: threading.Event) -> None:
        self.sock = sock
        self.stopping = stopping
        self.buffer = bytearray()
        self._selector: selectors.BaseSelector | None = None

    def read_request(self) -> _Request | None:
        """The next request's head, or None when the client is gone or sent nonsense."""
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HEADER_BYTES or self.stopping.is_set():
                return None
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buffer += data
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.buffer = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):  # noqa: PLR2004 - method target version
            return None
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                continue
            key = name.strip().lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        return _Request(parts[0], parts[1], parts[2], headers)

    def discard_body(self, request: _Request) -> bool:
        """Read and drop a request body announced by Content-Length; False if we cannot."""
        if "transfer-encoding" in request.headers:
            return False
        try:
            length = int(request.headers.get("content-length", "0"))
        except ValueError:
            return False
        while len(self.buffer) < length:
            data = self.sock.recv(65536)
            if not data:
                return False
            self.buffer += data
        del self.buffer[:length]
        return True

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def pause(self, seconds: float) -> bool:
        """Wait up to ``seconds``; False as soon as the client hangs up or the server stops."""
        if self._selector is None:
            self._selector = selectors.DefaultSelector()
            self._selector.register(self.sock, selectors.EVENT_READ)
        deadline = time.monotonic() + seconds
        while not self.stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return True
            if self._selector.select(min(remaining, 0.25)):
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    return False
                if not data:
                    return False  # the client hung up (or stop() shut the socket down)
                # Anything the client sends while we drip is ignored; the connection will close.
        return False

    def close(self) -> None:
        """Send FIN, wait briefly for the client's, then close (avoids a RST eating our bytes)."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER_S
            while not self.stopping.is_set() and (left := deadline - time.monotonic()) > 0:
                self.sock.settimeout(left)
                if not self.sock.recv(65536):
                    break
        if self._selector is not None:
            self._selector.close()
        self.sock.close()


# --------------------------------------------------------------------------- content


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _status_page(status: int, note: str = "") -> bytes:
    title = f"{status} {_reason(status)}"
    extra = f"<p>{html.escape(note)}</p>" if note else ""
    return (
        f"<!DOCTYPE html>\n<html><head><title>{title}</title></head>"
        f"<body><h1>{title}</h1>{extra}</body></html>\n"
    ).encode()


def _sentences(rng: random.Random, count: int) -> str:
    """``count`` words from WORDS as English-looking sentences of 6 to 14 words."""
    out: list[str] = []
    left = count
    while left > 0:
        size = min(left, rng.randint(6, 14))
        words = [rng.choice(WORDS) for _ in range(size)]
        out.append(" ".join(words).capitalize() + ".")
        left -= size
    return " ".join(out)


def _article_parts(n: int, host: str) -> tuple[str, list[str]]:
    """The title and paragraphs of story ``n``: seeded by ``n``, naming ``host`` in the lead."""
    rng = random.Random(n)
    title = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 8))).capitalize()
    paragraphs = [f"Story {n} from {host}. {_sentences(rng, rng.randint(40, 80))}"]
    paragraphs += [_sentences(rng, rng.randint(40, 80)) for _ in range(rng.randint(5, 7))]
    return title, paragraphs


def _article_html(n: int, title: str, paragraphs: list[str], canonical: str) -> str:
    body = "\n".join(f"<p>{html.escape(p, quote=False)}</p>" for p in paragraphs)
    description = html.escape(paragraphs[1][:150].rsplit(" ", 1)[0] + "...")
    title = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} | Fault News</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="{description}">
<link rel="canonical" href="{html.escape(canonical)}">
<meta property="og:title" content="{title}">
<meta property="article:published_time" content="{PUBLISHED}">
</head>
<body>
<header><a class="logo" href="/">Fault News</a></header>
<nav>
<a href="/">Home</a>
<a href="/good/feed.xml">Latest</a>
<a href="/good/a/{n - 1}.html">Previous story</a>
<a href="/good/a/{n + 1}.html">Next story</a>
</nav>
<main>
<article>
<h1>{title}</h1>
<div class="byline">By Staff Reporter, <time datetime="{PUBLISHED}">20 November 2026</time></div>
{body}
</article>
</main>
<footer>&copy; 2026 Fault News. Contact the newsroom at news@fault.example.</footer>
</body>
</html>
"""


def _rss(
    title: str, link: str, items: list[str], *, encoding: str = "utf-8", doctype: str = ""
) -> str:
    return (
        f'<?xml version="1.0" encoding="{encoding}"?>\n{doctype}'
        '<rss version="2.0">\n<channel>\n'
        f"<title>{escape(title)}</title>\n<link>{escape(link)}</link>\n"
        f"<description>{escape(title)}, served by the fault server</description>\n"
        "<language>en</language>\n" + "".join(items) + "</channel>\n</rss>\n"
    )


def _item(
    *, title: str, link: str, guid: str, pub_date: str, description: str = "", raw: bool = False
) -> str:
    """One RSS <item>. With ``raw`` the title and description are inserted unescaped (entities)."""
    if not raw:
        title, description = escape(title), escape(description or title)
    return (
        f"<item><title>{title}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{escape(guid)}</guid>'
        f"<pubDate>{escape(pub_date)}</pubDate>"
        f"<description>{description}</description></item>\n"
    )


def _pub_date(i: int) -> str:
    return format_datetime(FEED_T0 - timedelta(minutes=i), usegmt=True)


def _bomb(encoding: str, mb: int, stopping: threading.Event) -> bytes:
    """A ``gzip`` or ``deflate`` (zlib) stream inflating to exactly ``mb`` MiB of HTML and spaces.

    Deflate output after a full flush does not refer back to earlier data, so the compressed
    form of one MiB of spaces can be repeated ``mb - 1`` times; only the trailer's checksum has
    to be computed over the whole input. Cached per (encoding, size) for the life of the process.
    """
    key = (encoding, mb)
    with _BOMB_LOCK:
        cached = _BOMBS.get(key)
        if cached is not None:
            return cached
        block = b" " * MIB
        first = b"<html><body>" + block[12:]
        raw = zlib.compressobj(9, zlib.DEFLATED, -15)
        head = raw.compress(first) + raw.flush(zlib.Z_FULL_FLUSH)
        middle = raw.compress(block) + raw.flush(zlib.Z_FULL_FLUSH)
        tail = raw.flush(zlib.Z_FINISH)
        checksum = zlib.crc32 if encoding == "gzip" else zlib.adler32
        value = checksum(first, 0 if encoding == "gzip" else 1)
        for _ in range(mb - 1):
            if stopping.is_set():
                raise _StoppingError
            value = checksum(block, value)
        deflated = head + middle * (mb - 1) + tail
        if encoding == "gzip":
            size = (mb * MIB) & 0xFFFFFFFF
            header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0, max level
            data = header + deflated + value.to_bytes(4, "little") + size.to_bytes(4, "little")
        else:
            data = b"\x78\xda" + deflated + value.to_bytes(4, "big")  # zlib header, level 9
        _BOMBS[key] = data
        return data


def _billion_laughs_doctype() -> str:
    lines = ['<!DOCTYPE rss [\n <!ENTITY lol "lol">\n']
    for level in range(1, 10):
        previous = f"lol{level - 1}" if level > 1 else "lol"
        lines.append(f' <!ENTITY lol{level} "{f"&{previous};" * 10}">\n')
    lines.append("]>\n")
    return "".join(lines)


# --------------------------------------------------------------------------- server


Route = _Response | Callable[[_Ctx], "_Response | None"]


class FaultServer:
    """A threaded, hostile HTTP/1.1 server on a loopback address.

    Well-behaved routes: ``/good/a/<n>.html`` (a deterministic article naming this server),
    ``/good/feed.xml?n=3&start=1``, ``/feed-to?path=...``, ``/pages/<n>.html`` and
    ``/pages/feed.xml`` and ``/sitemap.xml`` (``pages`` items), ``/feed-of?base=URL&n=N`` (the ``/pages/``
    items of the server at ``URL``: a feed host apart from its pages; with ``together=K``
    each request waits until K have arrived, up to 60 s, so K runs go on from one moment),
    ``/robots.txt``. Faults live under ``/x/``:
    slow-drip, slow-headers, endless-chunked, cl-too-long, cl-too-short, gzip-bomb,
    deflate-bomb, stacked, redirect-loop, redirect-pingpong-a/-b, redirect-chain, redirect-to,
    retry-after, flaky, malformed-http, garbage, html-as-feed, billion-laughs, xxe (and
    xxe-probe), big-feed, encoding-lie-feed, encoding-lie-page, same-guid, relative-links,
    bad-dates, status. Anything else is a 404. :attr:`blackhole_url` points at a port whose
    accept queue is full, so connecting to it hangs.

    Args:
        host: Any loopback address to listen on (127.0.0.0/8, or ``::1``).
        port: The port; 0 picks a free one.
        latency_s: Delay added before the first byte of every response.
        robots: The body of ``/robots.txt``; None with ``robots_status`` 200 means a 404.
        robots_status: The status of ``/robots.txt``.
        robots_moved_to: When set, ``/robots.txt`` answers 301 to this path, which serves
            ``robots`` (a redirected robots.txt).
        robots_headers: Extra headers of the ``/robots.txt`` answer (``Retry-After``, say).
        pages: How many items ``/pages/feed.xml`` lists.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_s: float = 0.0,
        robots: str | None = None,
        robots_status: int = 200,
        robots_moved_to: str | None = None,
        robots_headers: tuple[tuple[str, str], ...] = (),
        pages: int = 40,
    ) -> None:
        self.host = host
        self.port = port
        self.latency_s = latency_s
        self.robots = robots
        self.robots_status = robots_status
        self.robots_moved_to = robots_moved_to
        self.robots_headers = robots_headers
        self.pages = pages
        self._family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._lock = threading.Lock()
        self._log: list[Logged] = []
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._conns: dict[threading.Thread, socket.socket] = {}
        self._black_listener: socket.socket | None = None
        self._black_clients: list[socket.socket] = []
        self._black_port = 0
        self._flaky: dict[str, int] = {}
        self._arrived: dict[str, int] = {}
        self._together = threading.Condition()
        self._big_feeds: dict[int, bytes] = {}
        self._routes: dict[str, Route] = {}
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Bind, fill the black hole, build the static pages and start accepting."""
        if self._started or self._stopping.is_set():
            raise RuntimeError("a FaultServer can be started only once")
        self._started = True
        listener = socket.socket(self._family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(128)
            listener.setblocking(False)  # noqa: FBT003 - the socket API's own flag
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]
        try:
            self._open_blackhole()
            self._routes = self._build_routes()
            self._wake_r, self._wake_w = socket.socketpair()
            self._acceptor = threading.Thread(
                target=self._accept_loop, name=f"faultserver-{self.port}-accept", daemon=True
            )
            self._acceptor.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop accepting, shut every open connection down and join all threads (about 2 s max)."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")
        if self._acceptor is not None:
            self._acceptor.join(JOIN_TIMEOUT_S)
        with self._lock:
            open_conns = list(self._conns.items())
        for _, sock in open_conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv or send
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        for thread, _ in open_conns:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            stuck = [thread.name for thread in self._conns]
        if stuck:
            logger.warning("fault server threads still running after stop(): %s", stuck)
        for own in [self._listener, self._wake_r, self._wake_w, self._black_listener]:
            if own is not None:
                own.close()
        for client in self._black_clients:
            client.close()
        self._black_clients.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ public helpers

    @property
    def netloc(self) -> str:
        """``host:port`` as it appears in this server's URLs (IPv6 hosts in brackets)."""
        host = f"[{self.host}]" if self._family == socket.AF_INET6 else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://host:port`` (no trailing slash); valid once started."""
        if not self._started:
            raise RuntimeError("start the FaultServer first")
        return f"http://{self.netloc}"

    def url(self, path: str) -> str:
        """``base_url + path``."""
        return self.base_url + path

    @property
    def blackhole_url(self) -> str:
        """A URL on this host whose port accepts TCP connections never: connecting hangs."""
        if not self._started:
            raise RuntimeError("start the FaultServer first")
        host = f"[{self.host}]" if self._family == socket.AF_INET6 else self.host
        return f"http://{host}:{self._black_port}/"

    @property
    def requests(self) -> list[Logged]:
        """A snapshot of every request received so far, in order."""
        with self._lock:
            return list(self._log)

    def hits(self, path_prefix: str) -> list[Logged]:
        """The logged requests whose path (with query) starts with ``path_prefix``."""
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    def clear_requests(self) -> None:
        """Forget the request log (for a benchmark's phases)."""
        with self._lock:
            self._log.clear()

    @property
    def active_connections(self) -> int:
        """How many connection threads are running right now."""
        with self._lock:
            return len(self._conns)

    # ------------------------------------------------------------------ sockets and threads

    def _open_blackhole(self) -> None:
        black = socket.socket(self._family, socket.SOCK_STREAM)
        self._black_listener = black
        black.bind((self.host, 0))
        black.listen(0)  # never accept(): Linux queues one connection, then drops SYNs
        self._black_port = black.getsockname()[1]
        address = (self.host, self._black_port)
        first = socket.socket(self._family, socket.SOCK_STREAM)
        self._black_clients.append(first)
        first.settimeout(1.0)
        first.connect(address)  # completes: the queue was empty
        for _ in range(2):  # these hang in SYN_SENT; they make sure the queue stays full
            extra = socket.socket(self._family, socket.SOCK_STREAM)
            self._black_clients.append(extra)
            extra.setblocking(False)  # noqa: FBT003 - the socket API's own flag
            extra.connect_ex(address)

    def _accept_loop(self) -> None:
        listener, wake = self._listener, self._wake_r
        if listener is None or wake is None:
            return
        with selectors.DefaultSelector() as selector:
            selector.register(listener, selectors.EVENT_READ)
            selector.register(wake, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is wake or self._stopping.is_set():
                        return
                    try:
                        sock, peer = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        logger.exception("fault server %s: accept failed", self.netloc)
                        return
                    self._spawn(sock, peer)

    def _spawn(
        self, sock: socket.socket, peer: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        sock.settimeout(IDLE_TIMEOUT_S)
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client = (
            f"[{peer[0]}]:{peer[1]}" if self._family == socket.AF_INET6 else f"{peer[0]}:{peer[1]}"
        )
        thread = threading.Thread(
            target=self._serve_connection,
            args=(sock, client),
            name=f"faultserver-{self.port}-conn-{client}",
            daemon=True,
        )
        with self._lock:
            self._conns[thread] = sock
        thread.start()

    def _serve_connection(self, sock: socket.socket, client: str) -> None:
        conn = _Conn(sock, self._stopping)
        try:
            while not self._stopping.is_set():
                request = conn.read_request()
                if request is None:
                    break
                self._record(request, client)
                if not self._handle(conn, request):
                    break
        except OSError:
            pass  # the client went away (reset, broken pipe, timeout): that ends this handler
        except Exception:
            logger.exception("fault server %s: handler failed", self.netloc)
        finally:
            conn.close()
            with self._lock:
                self._conns.pop(threading.current_thread(), None)

    def _record(self, request: _Request, client: str) -> None:
        target = request.target
        if "://" in target:  # absolute-form request target
            parts = urlsplit(target)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
        request.target = target
        logged = Logged(target, dict(request.headers), time.monotonic(), client, request.method)
        with self._lock:
            self._log.append(logged)

    def _handle(self, conn: _Conn, request: _Request) -> bool:
        """Answer one request; True if the connection may carry another one."""
        if self.latency_s > 0 and self._stopping.wait(self.latency_s):
            return False
        if not conn.discard_body(request):
            self._write(conn, _Response(400, _status_page(400), close=True), keep_alive=False)
            return False
        if request.method != "GET":
            refusal = _Response(405, _status_page(405), headers=(("Allow", "GET"),))
            return self._write(conn, refusal, keep_alive=request.keep_alive)
        response: _Response | None
        try:
            response = self._respond(conn, request.target)
        except _BadRequestError as error:
            response = _Response(400, _status_page(400, str(error)))
        except _StoppingError:
            return False
        if response is None:  # the route wrote its own bytes; such connections always close
            return False
        return self._write(conn, response, keep_alive=request.keep_alive)

    def _respond(self, conn: _Conn, target: str) -> _Response | None:
        """The response for a GET of ``target``, or None if the route wrote raw bytes itself."""
        parts = urlsplit(target)
        route = self._routes.get(parts.path)
        if route is None:
            match = _ARTICLE_PATH.fullmatch(parts.path)
            if match is None:
                return _Response(404, _status_page(404, parts.path))
            return self._article_response(int(match[2]), self.url(parts.path))
        if isinstance(route, _Response):
            return route
        return route(_Ctx(parts.path, parse_qs(parts.query, keep_blank_values=True), conn))

    @staticmethod
    def _write(conn: _Conn, response: _Response, *, keep_alive: bool) -> bool:
        keep = keep_alive and not response.close
        headers = [("Date", formatdate(usegmt=True)), ("Server", "faultserver/1")]
        if response.content_type is not None:
            headers.append(("Content-Type", response.content_type))
        body = response.body
        if response.status in {204, 304}:
            body = b""
        else:
            length = len(body) if response.content_length is None else response.content_length
            headers.append(("Content-Length", str(length)))
        headers += response.headers
        headers.append(("Connection", "keep-alive" if keep else "close"))
        conn.send(_head(response.status, headers) + body)
        return keep

    # ------------------------------------------------------------------ routes

    def _article_response(self, n: int, canonical: str) -> _Response:
        title, paragraphs = _article_parts(n, self.netloc)
        return _Response(200, _article_html(n, title, paragraphs, canonical).encode())

    def _build_routes(self) -> dict[str, Route]:
        base = self.base_url
        article = self._article_response
        redirect_page = _status_page(302)
        too_short = article(901, self.url("/good/a/901.html")).body
        too_short = too_short.replace(
            b"</body>", b"<!--" + b" " * max(0, 5120 - len(too_short) - 7) + b"--></body>"
        )
        truncated = b"<html><head><title>Truncated story</title></head><body><article><p>"
        truncated += _sentences(random.Random(902), 200).encode()
        truncated = truncated[:500]

        def redirect(location: str) -> _Response:
            return _Response(302, redirect_page, headers=(("Location", location),))

        def feed(title: str, items: list[str], **kwargs: str) -> _Response:
            return _Response(200, _rss(title, base + "/", items, **kwargs).encode(), RSS)

        def items(pairs: list[tuple[int, str]], guid: str | None = None) -> list[str]:
            return [
                _item(
                    title=f"Story {n}",
                    link=link,
                    guid=guid or f"story-{n}",
                    pub_date=_pub_date(i),
                )
                for i, (n, link) in enumerate(pairs)
            ]

        moved = self.robots_moved_to
        return {
            # robots.txt is read at each request: a test may change it between runs
            "/robots.txt": _Response(301, b"", headers=(("Location", moved),))
            if moved
            else lambda _ctx: self._robots(),
            **({moved: lambda _ctx: self._robots()} if moved else {}),
            "/good/feed.xml": self._good_feed,
            "/feed-to": self._feed_to,
            "/feed-of": self._feed_of,
            "/sitemap.xml": _Response(
                200,
                (
                    '<?xml version="1.0" encoding="UTF-8"?>\n'
                    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                    + "".join(
                        f"<url><loc>{base}/pages/{i}.html</loc>"
                        f"<lastmod>{(FEED_T0 - timedelta(minutes=i)).isoformat()}</lastmod></url>\n"
                        for i in range(1, self.pages + 1)
                    )
                    + "</urlset>\n"
                ).encode(),
                "application/xml",
            ),
            "/pages/feed.xml": feed(
                "Pages",
                [
                    _item(
                        title=f"Page story {i}",
                        link=f"{base}/pages/{i}.html",
                        guid=f"pages-{i}",
                        pub_date=_pub_date(i),
                    )
                    for i in range(1, self.pages + 1)
                ],
            ),
            "/x/slow-drip": self._slow_drip,
            "/x/slow-headers": self._slow_headers,
            "/x/endless-chunked": self._endless_chunked,
            "/x/cl-too-long": _Response(200, truncated, content_length=100_000, close=True),
            "/x/cl-too-short": _Response(200, too_short, content_length=50),
            "/x/gzip-bomb": lambda ctx: self._bomb_response(ctx, "gzip"),
            "/x/deflate-bomb": lambda ctx: self._bomb_response(ctx, "deflate"),
            "/x/stacked": self._stacked,
            "/x/redirect-loop": redirect("/x/redirect-loop"),
            "/x/redirect-pingpong-a": redirect("/x/redirect-pingpong-b"),
            "/x/redirect-pingpong-b": redirect("/x/redirect-pingpong-a"),
            "/x/redirect-chain": self._redirect_chain,
            "/x/redirect-to": self._redirect_to,
            "/x/retry-after": self._retry_after,
            "/x/flaky": self._flaky_route,
            "/x/malformed-http": lambda ctx: ctx.conn.send(MALFORMED_HTTP),
            "/x/garbage": lambda ctx: ctx.conn.send(GARBAGE),
            "/x/html-as-feed": _Response(
                200,
                article(701, self.url("/x/html-as-feed")).body,
                "application/rss+xml",
            ),
            "/x/billion-laughs": feed(
                "Billion laughs",
                [
                    _item(
                        title="Laughing &lol9;",
                        link=f"{base}/good/a/801.html",
                        guid="laughs-1",
                        pub_date=_pub_date(1),
                        description="A nested entity bomb.",
                        raw=True,
                    ),
                    *items([(802, f"{base}/good/a/802.html")]),
                ],
                doctype=_billion_laughs_doctype(),
            ),
            "/x/xxe": feed(
                "External entities",
                [
                    _item(
                        title="Local file &xxe;",
                        link=f"{base}/good/a/101.html",
                        guid="xxe-1",
                        pub_date=_pub_date(1),
                        description="Remote: &remote;",
                        raw=True,
                    ),
                    _item(
                        title="Remote entity &remote;",
                        link=f"{base}/good/a/102.html",
                        guid="xxe-2",
                        pub_date=_pub_date(2),
                        description="Local: &xxe;",
                        raw=True,
                    ),
                ],
                doctype=(
                    '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
                    f'<!ENTITY remote SYSTEM "{base}/x/xxe-probe">]>\n'
                ),
            ),
            "/x/xxe-probe": _Response(200, b"probe", "text/plain; charset=utf-8"),
            "/x/big-feed": self._big_feed,
            "/x/encoding-lie-feed": _Response(
                200,
                _rss(
                    "Encoding lie",
                    base + "/",
                    [
                        _item(
                            title=f"{LIE_TITLE} {k}",
                            link=f"{base}/good/a/{n}.html",
                            guid=f"lie-{n}",
                            pub_date=_pub_date(k),
                        )
                        for k, n in enumerate((201, 202), start=1)
                    ],
                    encoding="iso-8859-1",
                ).encode("utf-8"),
                "application/rss+xml; charset=iso-8859-1",
            ),
            "/x/encoding-lie-page": self._encoding_lie_page(),
            "/x/same-guid": feed(
                "Same guid",
                items([(n, f"{base}/good/a/{n}.html") for n in range(401, 406)], guid="same-guid"),
            ),
            "/x/relative-links": feed(
                "Relative links",
                items(
                    [
                        (501, "/good/a/501.html"),
                        (502, "good/a/502.html"),
                        (503, f"//{self.netloc}/good/a/503.html"),
                    ]
                ),
            ),
            "/x/bad-dates": feed(
                "Bad dates",
                [
                    _item(
                        title=f"Story {n}",
                        link=f"{base}/good/a/{n}.html",
                        guid=f"story-{n}",
                        pub_date=date,
                    )
                    for n, date in zip(
                        range(601, 606),
                        (
                            "yesterday",
                            "2026-13-45T99:99:99Z",
                            "Mon, 99 Foo 2026 25:61:00 GMT",
                            "0000-00-00",
                            "Fri, 01 Jan 99999 00:00:00 GMT",
                        ),
                        strict=True,
                    )
                ],
            ),
            "/x/status": self._status,
        }

    def _robots(self) -> _Response:
        if self.robots is None and self.robots_status == 200:  # noqa: PLR2004 - "OK but no file"
            return _Response(404, _status_page(404, "/robots.txt"))
        body = (self.robots or "").encode()
        return _Response(
            self.robots_status, body, "text/plain; charset=utf-8", headers=self.robots_headers
        )

    def _good_feed(self, ctx: _Ctx) -> _Response:
        n = ctx.integer("n", 3, 0, MAX_FEED_ITEMS)
        start = ctx.integer("start", 1, -MAX_FEED_ITEMS, MAX_FEED_ITEMS)
        entries = [
            _item(
                title=f"Good story {i}",
                link=self.url(f"/good/a/{i}.html"),
                guid=f"good-{i}",
                pub_date=_pub_date(i),
            )
            for i in range(start, start + n)
        ]
        return _Response(200, _rss("Good news", self.base_url + "/", entries).encode(), RSS)

    def _feed_to(self, ctx: _Ctx) -> _Response:
        path = ctx.text("path")
        if not path.startswith("/"):
            path = "/" + path
        entry = _item(
            title=f"Feed to {path}", link=self.url(path), guid=path, pub_date=_pub_date(0)
        )
        return _Response(200, _rss("Feed to", self.base_url + "/", [entry]).encode(), RSS)

    def _feed_of(self, ctx: _Ctx) -> _Response:
        base = ctx.text("base").rstrip("/")
        n = ctx.integer("n", self.pages, 1, 100_000)
        together = ctx.integer("together", 1, 1, 100)
        with self._together:  # a barrier: answer once `together` requests have arrived
            self._arrived[base] = self._arrived.get(base, 0) + 1
            self._together.notify_all()
            self._together.wait_for(
                lambda: self._arrived[base] >= together or self._stopping.is_set(), timeout=60
            )
        entries = [
            _item(
                title=f"Page story {i}",
                link=f"{base}/pages/{i}.html",
                guid=f"{base}/{i}",
                pub_date=_pub_date(i),
            )
            for i in range(1, n + 1)
        ]
        return _Response(200, _rss("Feed of", base + "/", entries).encode(), RSS)

    def _slow_drip(self, ctx: _Ctx) -> None:
        every = ctx.seconds("every", 0.5)
        title, paragraphs = _article_parts(1001, self.netloc)
        page = _article_html(1001, title, paragraphs, self.url("/x/slow-drip")).encode()
        body = (page * (SLOW_DRIP_LENGTH // len(page) + 1))[:SLOW_DRIP_LENGTH]
        head = [("Date", formatdate(usegmt=True)), ("Content-Type", HTML)]
        ctx.conn.send(_head(200, [*head, ("Content-Length", str(SLOW_DRIP_LENGTH))]))
        deadline = time.monotonic() + DRIP_LIMIT_S
        for i in range(SLOW_DRIP_LENGTH):
            if time.monotonic() >= deadline or not ctx.conn.pause(every):
                return
            ctx.conn.send(body[i : i + 1])

    def _slow_headers(self, ctx: _Ctx) -> None:
        every = ctx.seconds("every", 0.5)
        ctx.conn.send(b"HTTP/1.1 200 OK\r\n")
        lines = (f"X-Drip-{i}: {'drip' * (i % 4 + 1)}\r\n".encode() for i in itertools.count(1))
        block = b"Content-Type: text/html; charset=utf-8\r\n"
        deadline = time.monotonic() + DRIP_LIMIT_S
        position = 0
        while time.monotonic() < deadline and ctx.conn.pause(every):
            if position == len(block):
                block, position = next(lines), 0
            ctx.conn.send(block[position : position + 1])
            position += 1

    def _endless_chunked(self, ctx: _Ctx) -> None:
        headers = [
            ("Date", formatdate(usegmt=True)),
            ("Content-Type", HTML),
            ("Transfer-Encoding", "chunked"),
        ]
        ctx.conn.send(_head(200, headers))
        deadline = time.monotonic() + DRIP_LIMIT_S
        while not self._stopping.is_set() and time.monotonic() < deadline:
            ctx.conn.send(_ENDLESS_CHUNK)

    def _bomb_response(self, ctx: _Ctx, encoding: str) -> _Response:
        mb = ctx.integer("mb", 1024, 1, MAX_BOMB_MB)
        body = _bomb(encoding, mb, self._stopping)
        return _Response(200, body, headers=(("Content-Encoding", encoding),))

    def _stacked(self, ctx: _Ctx) -> _Response:
        layers = ctx.integer("layers", 3, 1, 32)
        body = self._article_response(1, self.url("/good/a/1.html")).body
        for _ in range(layers):
            body = gzip.compress(body, mtime=0)
        return _Response(200, body, headers=(("Content-Encoding", ", ".join(["gzip"] * layers)),))

    def _redirect_chain(self, ctx: _Ctx) -> _Response:
        n = ctx.integer("n", 10, 0, 1_000_000)
        if n == 0:
            return self._article_response(0, self.url("/good/a/0.html"))
        location = f"/x/redirect-chain?n={n - 1}"
        return _Response(302, _status_page(302), headers=(("Location", location),))

    def _redirect_to(self, ctx: _Ctx) -> _Response:
        to = ctx.text("to")
        if "\r" in to or "\n" in to:
            raise _BadRequestError("to= must not contain CR or LF")
        return _Response(302, _status_page(302), headers=(("Location", to),))

    def _retry_after(self, ctx: _Ctx) -> _Response:
        value = ctx.text("value")
        if "\r" in value or "\n" in value:
            raise _BadRequestError("value= must not contain CR or LF")
        status = ctx.integer("status", 429, 400, 599)
        return _Response(status, _status_page(status), headers=(("Retry-After", value),))

    def _flaky_route(self, ctx: _Ctx) -> _Response:
        key = ctx.text("key")
        fail = ctx.integer("fail", 1, 0, 1_000_000)
        status = ctx.integer("status", 503, 400, 599)
        with self._lock:
            count = self._flaky[key] = self._flaky.get(key, 0) + 1
        if count <= fail:
            return _Response(status, _status_page(status, f"attempt {count} of key {key}"))
        n = zlib.crc32(key.encode())
        return self._article_response(n, self.url(f"/good/a/{n}.html"))

    def _big_feed(self, ctx: _Ctx) -> _Response:
        n = ctx.integer("n", 50_000, 0, MAX_FEED_ITEMS)
        with self._lock:
            body = self._big_feeds.get(n)
        if body is None:
            base = self.base_url
            entries = [
                f"<item><title>Big story {i}</title><link>{base}/good/a/{i}.html</link>"
                f'<guid isPermaLink="false">big-{i}</guid><pubDate>{_pub_date(i)}</pubDate></item>\n'
                for i in range(1, n + 1)
            ]
            body = _rss(f"Big feed of {n}", base + "/", entries).encode()
            with self._lock:
                self._big_feeds[n] = body
        return _Response(200, body, RSS)

    def _encoding_lie_page(self) -> _Response:
        title, paragraphs = _article_parts(301, self.netloc)
        paragraphs[1] += (
            " The mayor said “we will rebuild the café by spring” — and residents cheered."
        )
        paragraphs[2] += " Critics called the plan “naïve” — the vote is due on Friday, she said."
        paragraphs[-1] += " “It’s done,” said the déjà-vu weary clerk — again."  # noqa: RUF001 - typography under test
        page = _article_html(301, title, paragraphs, self.url("/x/encoding-lie-page"))
        return _Response(200, page.encode("cp1252"))

    def _status(self, ctx: _Ctx) -> _Response:
        code = ctx.integer("code", 500, 200, 599)
        return _Response(code, _status_page(code))


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_reason(status)}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")
