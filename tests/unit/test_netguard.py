import ipaddress
import ssl
import time

import httpx
import pytest

from ingest.fetch import Fetcher, Limits
from ingest.models import Fetched, FetchFailure, Reason
from ingest.netguard import GuardedTransport, address_problem

LIMITS = Limits(deadline_s=3.0, max_bytes=64 * 1024, connect_timeout_s=1.0)

REFUSED = [
    "10.0.0.1", "172.16.5.4", "192.168.1.1",  # private
    "127.0.0.1", "127.9.9.9", "::1",  # loopback (unless allowed)
    "169.254.169.254", "fe80::1",  # link-local, the cloud metadata address among them
    "100.64.0.1", "100.127.255.254",  # CGNAT
    "224.0.0.1", "239.255.255.250", "ff02::1",  # multicast
    "fd00::1", "fc12:3456::1",  # IPv6 unique-local
    "::ffff:8.8.8.8", "::ffff:127.0.0.1", "::ffff:10.0.0.1",  # IPv4-mapped
    "64:ff9b::a00:1", "2002:a00:1::1",  # NAT64 / 6to4 embedding an IPv4 address
    "::a9fe:a9fe", "::7f00:1", "::ffff:0:a9fe:a9fe",  # IPv4-compatible, IPv4-translated
    "fec0::1", "100::1", "2001:db8::1",  # site-local, discard-only, documentation
    "0.0.0.0", "::",  # unspecified  # noqa: S104 - addresses to refuse, not to bind
    "192.0.2.1", "198.51.100.1", "203.0.113.9", "240.0.0.1",  # documentation, reserved
]  # fmt: skip
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450::1"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_are_refused(address):
    assert address_problem(ipaddress.ip_address(address), allow_loopback=False)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert address_problem(ipaddress.ip_address(address), allow_loopback=False) is None


def test_allow_loopback_admits_loopback_and_nothing_else():
    allowed = {
        a for a in REFUSED if not address_problem(ipaddress.ip_address(a), allow_loopback=True)
    }
    assert allowed == {"127.0.0.1", "127.9.9.9", "::1"}


def blocked(result, fragment):
    assert isinstance(result, FetchFailure), result
    assert result.reason is Reason.BLOCKED_ADDRESS, result
    assert fragment in result.detail, result.detail


def test_loopback_is_refused_by_default_by_name_and_by_address(httpserver):
    httpserver.expect_request("/a").respond_with_data("secret")
    with Fetcher("t") as fetcher:
        blocked(fetcher.get(httpserver.url_for("/a"), LIMITS), "loopback")
        port = httpserver.port
        blocked(fetcher.get(f"http://127.0.0.1:{port}/a", LIMITS), "loopback")
        blocked(fetcher.get(f"http://[::ffff:127.0.0.1]:{port}/a", LIMITS), "IPv4-mapped")
    assert httpserver.log == []  # nothing ever reached the server


def test_metadata_and_private_addresses_are_refused_without_a_connection_attempt():
    started = time.monotonic()
    with Fetcher("t", allow_loopback=True) as fetcher:
        for url in ("http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/",
                    "http://[fd00::1]/", "http://100.64.0.1/", "http://0.0.0.0:80/"):  # fmt: skip
            blocked(fetcher.get(url, LIMITS), "")
    assert time.monotonic() - started < 0.5  # refused before connect, not timed out


def test_a_redirect_into_the_network_is_refused_at_its_hop(httpserver):
    httpserver.expect_request("/go").respond_with_data(
        "", status=302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}
    )
    with Fetcher("t", allow_loopback=True) as fetcher:
        result = fetcher.get(httpserver.url_for("/go"), LIMITS)
    blocked(result, "link-local")
    assert result.final_url == "http://169.254.169.254/latest/meta-data/"


def test_the_address_connected_is_the_address_checked(httpserver):
    """The guard resolves a name once and connects to the very address it approved, so a
    name that resolves to an inside address (or changes its answer: DNS rebinding) cannot
    slip past a check made on an earlier lookup."""
    httpserver.expect_request("/a").respond_with_data("hello")
    answers = {"public.example": ["127.0.0.1"], "inside.example": ["10.0.0.7"]}
    calls = []

    def resolve(host, port):
        calls.append(host)
        return answers[host]

    with Fetcher("t", allow_loopback=True, resolve=resolve) as fetcher:
        ok = fetcher.get(f"http://public.example:{httpserver.port}/a", LIMITS)
        answers["public.example"] = ["10.0.0.7"]  # the name now points inside
        again = Fetcher("t", allow_loopback=True, resolve=resolve).get(
            f"http://public.example:{httpserver.port}/a", LIMITS
        )
        inside = fetcher.get(f"http://inside.example:{httpserver.port}/a", LIMITS)
    assert isinstance(ok, Fetched) and ok.body == b"hello"
    assert httpserver.log[0][0].headers["Host"] == f"public.example:{httpserver.port}"
    blocked(again, "10.0.0.7")
    blocked(inside, "10.0.0.7")
    assert calls == ["public.example", "public.example", "inside.example"]
    assert len(httpserver.log) == 1


def test_a_host_with_some_inside_addresses_is_reached_on_a_public_one_only(httpserver):
    httpserver.expect_request("/a").respond_with_data("hello")
    with Fetcher(
        "t", allow_loopback=True, resolve=lambda _h, _p: ["10.0.0.7", "169.254.1.1", "127.0.0.1"]
    ) as fetcher:
        result = fetcher.get(f"http://mixed.example:{httpserver.port}/a", LIMITS)
    assert isinstance(result, Fetched) and result.body == b"hello"


def test_the_deadline_bounds_slow_dns_and_many_dead_addresses():
    """A name with several addresses that never answer, or a resolver that hangs, must not
    stretch a request past its total deadline (each attempt gets only what is left)."""
    from faultserver import FaultServer

    limits = Limits(deadline_s=1.0, max_bytes=1024, connect_timeout_s=1.0)
    with FaultServer("127.0.0.1") as server:
        port = int(server.blackhole_url.rsplit(":", 1)[1].strip("/"))
        with Fetcher("t", allow_loopback=True, resolve=lambda _h, _p: ["127.0.0.1"] * 6) as f:
            started = time.monotonic()
            result = f.get(f"http://many.example:{port}/", limits)
        elapsed = time.monotonic() - started
        assert isinstance(result, FetchFailure), result
        assert result.reason in (Reason.CONNECT_TIMEOUT, Reason.TIMEOUT), result
        assert elapsed < 2.5, (elapsed, result)  # six attempts of 1 s each would be 6 s

    def stuck_resolver(_host, _port):
        time.sleep(5)
        return ["127.0.0.1"]

    with Fetcher("t", allow_loopback=True, resolve=stuck_resolver) as fetcher:
        started = time.monotonic()
        result = fetcher.get("http://slow-dns.example/", limits)
    elapsed = time.monotonic() - started
    assert isinstance(result, FetchFailure) and result.reason is Reason.CONNECT_TIMEOUT, result
    assert elapsed < 2.5, (elapsed, result)  # the resolver alone takes 5 s


def test_a_fetcher_keeps_working_after_its_watchdog_fired(httpserver):
    from werkzeug import Response

    def drip(_request):
        def body():
            for _ in range(50):
                yield b"x"
                time.sleep(0.1)

        return Response(body(), content_type="text/html")

    httpserver.expect_request("/slow").respond_with_handler(drip)
    httpserver.expect_request("/fine").respond_with_data("fine")
    limits = Limits(deadline_s=0.5, max_bytes=1024)
    with Fetcher("t", allow_loopback=True) as fetcher:
        for _ in range(3):
            slow = fetcher.get(httpserver.url_for("/slow"), limits)
            assert isinstance(slow, FetchFailure) and slow.reason is Reason.TIMEOUT, slow
            fine = fetcher.get(httpserver.url_for("/fine"), LIMITS)
            assert isinstance(fine, Fetched) and fine.body == b"fine", fine


def test_every_client_verifies_with_one_shared_tls_context():
    limits = httpx.Limits(max_connections=1)
    first = GuardedTransport(allow_loopback=False, limits=limits)
    second = GuardedTransport(allow_loopback=False, limits=limits)
    context = first._pool._ssl_context
    assert context is second._pool._ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    unverified = GuardedTransport(allow_loopback=False, limits=limits, verify=False)
    assert unverified._pool._ssl_context is not context
