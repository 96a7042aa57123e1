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

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

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


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``getaddrinfo`` gives for a host, in its order, without repeats."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync network backend, connecting only to addresses that pass the check."""

    def __init__(self, *, allow_loopback: bool, resolve: Resolver = system_resolver) -> None:
        self._allow_loopback = allow_loopback
        self._resolve = resolve
        self._inner = httpcore.SyncBackend()

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
                    ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolve(host, port)
                ]
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host!r}: {exc}") from exc
        refused: list[str] = []
        error: Exception | None = None
        for address in candidates:
            problem = address_problem(address, allow_loopback=self._allow_loopback)
            if problem:
                refused.append(problem)
                continue
            try:
                return self._inner.connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        if error is not None:
            raise error
        raise AddressBlocked(host, refused or ["no address"])

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
        super().__init__(limits=limits, trust_env=False, verify=verify)
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_loopback=allow_loopback, resolve=resolve),
        )
