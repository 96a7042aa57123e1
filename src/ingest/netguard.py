"""SSRF protection: which addresses the fetcher may connect to, checked at connect time.

A URL's host is resolved here, each address is checked, and the socket is opened to the
address that passed: the address checked is the address connected. So a redirect to an
internal host, a hostname that resolves inside the network, and DNS rebinding (a name
that answers differently the second time) are all refused the same way, for every hop.

Refused by default: loopback, private ranges, link-local (169.254.169.254 included),
CGNAT (100.64.0.0/10), multicast, reserved and documentation ranges, unspecified
addresses, IPv6 unique-local, IPv4-mapped IPv6 and the IPv6 forms that embed an IPv4
address (NAT64, 6to4, Teredo). ``allow_loopback`` admits 127.0.0.0/8 and ::1 only, for
local sites (the demo, the tests, the benchmarks).
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

#: The only IPv6 addresses the web is on: global unicast (RFC 4291); the rest (IPv4-
#: compatible ::/96, IPv4-translated ::ffff:0:0:0/96, site-local fec0::/10...) is refused.
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
#: IPv6 prefixes that carry an IPv4 address inside: refused rather than unwrapped.
_EMBEDDED_V4 = tuple(
    ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32")
)


class AddressBlocked(Exception):  # noqa: N818 - reads as what happened
    """Every address of a host is one we refuse to connect to."""

    def __init__(self, host: str, reasons: Iterable[str]) -> None:
        self.host = host
        self.reasons = tuple(reasons)
        super().__init__(f"{host}: {'; '.join(self.reasons)}")


def address_problem(address: IPAddress, *, allow_loopback: bool) -> str | None:  # noqa: PLR0911 - a checklist
    """Why ``address`` is refused, or None when it may be connected to."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return f"{address} is an IPv4-mapped address"
        if any(address in net for net in _EMBEDDED_V4):
            return f"{address} embeds an IPv4 address (NAT64/6to4/Teredo)"
        if address not in _GLOBAL_UNICAST_V6 and not address.is_loopback:
            return f"{address} is not a global unicast IPv6 address"
    if address.is_unspecified:
        return f"{address} is unspecified"
    if address.is_loopback:
        return None if allow_loopback else f"{address} is loopback"
    if address.is_multicast:
        return f"{address} is multicast"
    if address.is_link_local:
        return f"{address} is link-local"
    if not address.is_global:
        return f"{address} is not a public address (private, CGNAT, reserved or unique-local)"
    return None


def literal_problem(host: str, *, allow_loopback: bool) -> str | None:
    """Why an IP-literal host is refused (None for a name, or an allowed address)."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None
    return address_problem(address, allow_loopback=allow_loopback)


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for a host, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync network backend, connecting only to addresses that pass the check.

    It also holds the current request's deadline (:meth:`begin`): name resolution and
    every connection attempt get only what is left of it, nothing connects after it, and
    :meth:`expire` shuts down the backend's sockets (pooled keep-alive ones included: the
    request may be running on one), so a read stuck on a dripping server ends at once.
    One request at a time per backend (one per fetcher).
    """

    def __init__(self, *, allow_loopback: bool, resolve: Resolver = system_resolver) -> None:
        self._allow_loopback = allow_loopback
        self._resolve = resolve
        self._inner = httpcore.SyncBackend()
        self._lock = threading.Lock()
        self._token = 0
        self._deadline: float | None = None
        self._expired = False
        self._sockets: list[socket.socket] = []

    def begin(self, deadline: float) -> int:
        """A request starts, to end by ``deadline`` (``time.monotonic()``); its token."""
        with self._lock:
            self._token += 1
            self._deadline, self._expired = deadline, False
            self._sockets = [s for s in self._sockets if s.fileno() != -1]  # drop closed ones
            return self._token

    def finish(self, token: int) -> None:
        """Request ``token`` is over: a watchdog firing late must not touch the next one."""
        with self._lock:
            if token == self._token:
                self._token += 1
                self._deadline = None

    def expire(self, token: int) -> None:
        """The deadline of request ``token`` passed: shut its sockets (a late call is a no-op)."""
        with self._lock:
            if token != self._token:
                return
            self._expired = True
            sockets, self._sockets = self._sockets, []  # an expired socket is never reused
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _remaining(self, host: str) -> float | None:
        if self._deadline is None:
            return None
        left = self._deadline - time.monotonic()
        if left <= 0 or self._expired:
            raise httpcore.ConnectTimeout(f"deadline reached before connecting to {host!r}")
        return left

    def _lookup(self, host: str, port: int) -> list[str]:
        """Resolve in a helper thread, so a stuck resolver cannot outlast the deadline."""
        left = self._remaining(host)
        if left is None:
            return self._resolve(host, port)
        answer: list[list[str] | BaseException] = []

        def work() -> None:
            try:
                answer.append(self._resolve(host, port))
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                answer.append(exc)

        worker = threading.Thread(target=work, name=f"resolve-{host}", daemon=True)
        worker.start()
        worker.join(left)
        if not answer:
            raise httpcore.ConnectTimeout(f"no DNS answer for {host!r} before the deadline")
        if isinstance(answer[0], BaseException):
            raise answer[0]
        return answer[0]

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        """Resolve ``host``, refuse blocked addresses, connect to the first that works."""
        try:
            candidates = [ipaddress.ip_address(host.strip("[]"))]
        except ValueError:
            try:
                candidates = [
                    ipaddress.ip_address(a.split("%", 1)[0]) for a in self._lookup(host, port)
                ]
            except (OSError, UnicodeError, ValueError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        refused: list[str] = []
        error: Exception | None = None
        for address in candidates:
            problem = address_problem(address, allow_loopback=self._allow_loopback)
            if problem:
                refused.append(problem)
                continue
            left = self._remaining(host)
            budget = timeout if left is None else min(timeout or left, left)
            try:
                stream = self._inner.connect_tcp(
                    str(address), port, budget, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
                continue
            self._track(stream, host)
            return stream
        if error is not None:
            raise error
        raise AddressBlocked(host, refused or ["no address"])

    def _track(self, stream: httpcore.NetworkStream, host: str) -> None:
        sock = stream.get_extra_info("socket")
        with self._lock:
            if not self._expired:
                if isinstance(sock, socket.socket):
                    self._sockets.append(sock)
                return
        stream.close()  # connected just as the deadline passed
        raise httpcore.ConnectTimeout(f"deadline reached while connecting to {host!r}")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ARG002 - httpcore's signature
        socket_options: Iterable[Any] | None = None,  # noqa: ARG002 - httpcore's signature
    ) -> httpcore.NetworkStream:
        """Never: the fetcher speaks to web hosts only."""
        raise AddressBlocked(path, ["unix sockets are not allowed"])

    def sleep(self, seconds: float) -> None:
        """As httpcore's own backend."""
        self._inner.sleep(seconds)


@functools.cache
def verifying_context() -> ssl.SSLContext:
    """The TLS context every client verifies with (httpx's default: certifi's CAs).

    Loading the CA bundle costs about 15 ms of CPU under the GIL, and a crawl opens one
    client per host: made once per process, it is shared (a context is safe to share
    between threads; each connection gets its own TLS state from it).
    """
    return httpx.create_ssl_context(verify=True, trust_env=False)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a :class:`GuardedBackend` (no proxies, no environment).

    httpx builds its httpcore pool in ``__init__`` without a way to pass a network
    backend, so the pool is rebuilt here with the same settings and the guarded backend.
    ``tests/unit/test_netguard.py`` fails if a new httpx changes that.
    """

    def __init__(
        self,
        *,
        allow_loopback: bool,
        limits: httpx.Limits,
        resolve: Resolver = system_resolver,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if verify is True:  # one verifying context for every client: see verifying_context
            verify = verifying_context()
        super().__init__(limits=limits, trust_env=False, verify=verify)
        self.backend = GuardedBackend(allow_loopback=allow_loopback, resolve=resolve)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self.backend,
        )
