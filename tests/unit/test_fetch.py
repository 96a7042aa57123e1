import gzip
import random
import re
import socket
import time
import zlib

import pytest
from werkzeug import Response

from ingest.fetch import Fetcher, Limits
from ingest.models import Fetched, FetchFailure, Reason, Validators
from ingest.textutil import sha256_hex

LIMITS = Limits(deadline_s=3.0, max_bytes=64 * 1024, connect_timeout_s=2.0)


@pytest.fixture
def fetcher():
    with Fetcher("news-ingest-tests/1", allow_loopback=True) as f:
        yield f


def ok(result) -> Fetched:
    assert isinstance(result, Fetched), result
    return result


def failed(result, reason: Reason) -> FetchFailure:
    assert isinstance(result, FetchFailure), result
    assert result.reason is reason, result
    return result


def test_plain_body_with_hash_and_validators(httpserver, fetcher):
    httpserver.expect_request("/a").respond_with_data(
        b"hello", content_type="text/html", headers={"ETag": '"v1"', "Last-Modified": "x"}
    )
    result = ok(fetcher.get(httpserver.url_for("/a"), LIMITS))
    assert result.body == b"hello"
    assert result.body_hash == sha256_hex(b"hello")
    assert result.etag == '"v1"'
    assert result.status == 200
    assert result.content_type == "text/html"


def test_sends_user_agent_and_accept_encoding(httpserver, fetcher):
    httpserver.expect_request(
        "/ua", headers={"User-Agent": "news-ingest-tests/1", "Accept-Encoding": "gzip, deflate"}
    ).respond_with_data(b"ok")
    ok(fetcher.get(httpserver.url_for("/ua"), LIMITS))
    (request, _), *_ = httpserver.log
    assert request.headers["Accept"] == LIMITS.accept
    assert {name.lower() for name in request.headers.keys()} == {  # noqa: SIM118 - pairs otherwise
        "host", "user-agent", "accept", "accept-encoding", "connection",
    }  # nothing else: every header we send is one we mean to  # fmt: skip


def test_a_conditional_get_sends_both_validators(httpserver, fetcher):
    stamp = "Wed, 21 Oct 2015 07:28:00 GMT"
    httpserver.expect_request(
        "/feed", headers={"If-None-Match": '"v1"', "If-Modified-Since": stamp}
    ).respond_with_data("", 304)
    result = fetcher.get(httpserver.url_for("/feed"), LIMITS, Validators('"v1"', stamp))
    assert ok(result).not_modified  # the server answers 304 only to both headers


def test_gzip_body_is_inflated(httpserver, fetcher):
    payload = b"<p>news</p>" * 100
    httpserver.expect_request("/gz").respond_with_data(
        gzip.compress(payload), headers={"Content-Encoding": "gzip"}
    )
    result = ok(fetcher.get(httpserver.url_for("/gz"), LIMITS))
    assert result.body == payload
    assert result.wire_bytes < len(payload)


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_wrapped_and_raw(httpserver, fetcher, wbits):
    payload = b"deflated " * 50
    comp = zlib.compressobj(wbits=wbits)
    data = comp.compress(payload) + comp.flush()
    httpserver.expect_request("/d").respond_with_data(data, headers={"Content-Encoding": "deflate"})
    assert ok(fetcher.get(httpserver.url_for("/d"), LIMITS)).body == payload


def test_gzip_bomb_stops_at_the_cap(httpserver, fetcher):
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))  # 50 MiB of zeros, ~50 KiB on the wire
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    started = time.monotonic()
    failed(fetcher.get(httpserver.url_for("/bomb"), LIMITS), Reason.TOO_LARGE)
    assert time.monotonic() - started < 2.0


def test_plain_body_over_the_cap(httpserver, fetcher):
    httpserver.expect_request("/big").respond_with_data(b"x" * (LIMITS.max_bytes + 1))
    failed(fetcher.get(httpserver.url_for("/big"), LIMITS), Reason.TOO_LARGE)


def test_unknown_content_encoding_is_refused(httpserver, fetcher):
    httpserver.expect_request("/br").respond_with_data(b"??", headers={"Content-Encoding": "br"})
    failed(fetcher.get(httpserver.url_for("/br"), LIMITS), Reason.BAD_ENCODING)


def test_redirects_are_followed_by_hand_and_recorded(httpserver, fetcher):
    httpserver.expect_request("/r1").respond_with_data("", 301, headers={"Location": "/r2"})
    httpserver.expect_request("/r2").respond_with_data("", 302, headers={"Location": "/end"})
    httpserver.expect_request("/end").respond_with_data(b"done")
    result = ok(fetcher.get(httpserver.url_for("/r1"), LIMITS))
    assert result.final_url == httpserver.url_for("/end")
    assert result.redirects == (httpserver.url_for("/r2"), httpserver.url_for("/end"))


def test_more_than_five_redirects_fail(httpserver, fetcher):
    for i in range(7):
        httpserver.expect_request(f"/hop{i}").respond_with_data(
            "", 302, headers={"Location": f"/hop{i + 1}"}
        )
    failed(fetcher.get(httpserver.url_for("/hop0"), LIMITS), Reason.TOO_MANY_REDIRECTS)


def test_redirect_loop_fails(httpserver, fetcher):
    httpserver.expect_request("/loop").respond_with_data("", 302, headers={"Location": "/loop"})
    failed(fetcher.get(httpserver.url_for("/loop"), LIMITS), Reason.TOO_MANY_REDIRECTS)


def test_redirect_to_another_scheme_is_refused(httpserver, fetcher):
    httpserver.expect_request("/ftp").respond_with_data(
        "", 302, headers={"Location": "ftp://example.org/x"}
    )
    failed(fetcher.get(httpserver.url_for("/ftp"), LIMITS), Reason.BAD_SCHEME)


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (400, Reason.CLIENT_ERROR),  # the first status of the class
        (404, Reason.NOT_FOUND),
        (410, Reason.GONE),
        (403, Reason.CLIENT_ERROR),
        (429, Reason.THROTTLED),
        (503, Reason.SERVER_ERROR),
    ],
)
def test_http_errors_become_reasons(httpserver, fetcher, status, reason):
    httpserver.expect_request("/e").respond_with_data("no", status)
    result = failed(fetcher.get(httpserver.url_for("/e"), LIMITS), reason)
    assert result.status == status


def test_soft_and_hard_reasons():
    assert Reason.SERVER_ERROR.retryable
    assert Reason.TIMEOUT.retryable
    assert not Reason.NOT_FOUND.retryable
    assert not Reason.NOT_HTML.retryable


def test_conditional_get_returns_not_modified(httpserver, fetcher):
    httpserver.expect_request("/feed", headers={"If-None-Match": '"abc"'}).respond_with_data(
        "", 304, content_type="text/html"
    )
    result = ok(fetcher.get(httpserver.url_for("/feed"), LIMITS, Validators(etag='"abc"')))
    assert result.not_modified
    assert (result.body, result.wire_bytes, result.content_type) == (b"", 0, None)


def test_slow_drip_is_cut_at_the_deadline(httpserver, fetcher):
    def drip(_request):
        def body():
            for _ in range(100):
                yield b"x"
                time.sleep(0.1)

        return Response(body(), content_type="text/html")

    httpserver.expect_request("/slow").respond_with_handler(drip)
    limits = Limits(deadline_s=1.0, max_bytes=1024)
    started = time.monotonic()
    result = failed(fetcher.get(httpserver.url_for("/slow"), limits), Reason.TIMEOUT)
    assert time.monotonic() - started < 1.8
    assert 1.0 <= result.elapsed_s < 1.8  # how long it took is reported
    assert DEADLINE_DETAIL.fullmatch(result.detail), result.detail


# what a request cut at its deadline says: the deadline, and what the cut surfaced as (an
# httpx or OS error, or one of our reasons), never an internal name
DEADLINE_DETAIL = re.compile(
    r"deadline of 1s reached( \(([A-Z]\w*(Error|Exception|Timeout)|[a-z_]+)\))?"
)


def test_a_deadline_spent_before_the_request_fails_without_a_request(httpserver, fetcher):
    httpserver.expect_request("/never").respond_with_data(b"late")
    result = failed(
        fetcher.get(httpserver.url_for("/never"), Limits(deadline_s=1e-9, max_bytes=1024)),
        Reason.TIMEOUT,
    )
    assert result.detail == "deadline of 1e-09s reached"
    assert httpserver.log == []


def test_dead_port_is_a_connect_error(fetcher):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    result = failed(fetcher.get(f"http://127.0.0.1:{port}/", LIMITS), Reason.CONNECT_ERROR)
    assert "refused" in result.detail.lower(), result.detail  # the OS's words, not ours


@pytest.mark.parametrize("host", ["\u2488.example", "a\u200d.example", "\u0661\u0662.example"])
def test_a_host_name_httpx_cannot_encode_is_a_bad_url_naming_why(fetcher, host):
    result = failed(fetcher.get(f"http://{host}/", LIMITS), Reason.BAD_URL)
    assert result.detail.startswith("InvalidURL: Invalid IDNA hostname"), result.detail


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/", Reason.BAD_SCHEME),
        ("http://example.org/" + "a" * 3000, Reason.URL_TOO_LONG),
        ("http:///nohost", Reason.BAD_URL),
    ],
)
def test_urls_refused_before_any_request(fetcher, url, reason):
    failed(fetcher.get(url, LIMITS), reason)


def test_multi_member_gzip_is_read_whole(httpserver, fetcher):
    data = gzip.compress(b"first member. ") + gzip.compress(b"second member.")
    httpserver.expect_request("/mm").respond_with_data(data, headers={"Content-Encoding": "gzip"})
    assert (
        ok(fetcher.get(httpserver.url_for("/mm"), LIMITS)).body == b"first member. second member."
    )


def test_truncating_a_multi_member_gzip_keeps_the_earlier_members(httpserver, fetcher):
    """The cut falls inside a later member: what the earlier ones gave is kept in front of it."""
    first, second = b"User-agent: *\n", b"Disallow: /p\n" * 20000
    data = gzip.compress(first) + gzip.compress(second)
    httpserver.expect_request("/mm").respond_with_data(data, headers={"Content-Encoding": "gzip"})
    limits = Limits(deadline_s=3.0, max_bytes=10_000, truncate=True)
    assert ok(fetcher.get(httpserver.url_for("/mm"), limits)).body == (first + second)[:10_000]


def test_deflate_that_is_neither_zlib_nor_raw_is_a_bad_encoding(httpserver, fetcher):
    """The raw-deflate fallback is tried once: a body that fails both ways is refused."""
    httpserver.expect_request("/d").respond_with_data(
        b"\xff" * 64, headers={"Content-Encoding": "deflate"}
    )
    result = failed(fetcher.get(httpserver.url_for("/d"), LIMITS), Reason.BAD_ENCODING)
    assert "invalid block type" in result.detail


def test_a_layers_cap_counts_its_whole_stream_not_each_chunk():
    """Each layer of a stacked encoding stops at the cap, so no intermediate layer can grow
    without bound while the last one is still under it."""
    from ingest.fetch import _Failed, _Inflater

    stream = gzip.compress(random.Random(0).randbytes(10_000))  # incompressible: ~10 KB
    inflater = _Inflater("gzip", 5_000, truncate=False)
    chunks = [stream[at : at + 500] for at in range(0, len(stream), 500)]
    given = 0

    def feed_all() -> None:
        nonlocal given
        for chunk in chunks:
            given += len(inflater.feed(chunk))

    with pytest.raises(_Failed) as caught:
        feed_all()
    assert caught.value.reason is Reason.TOO_LARGE
    assert given <= 5_000


@pytest.fixture
def header_drip():
    """A raw server that sends a status line, then one header line every 0.2 s for 20 s."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            server.settimeout(0.5)
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.sendall(b"HTTP/1.1 200 OK\r\n")
                    for i in range(100):
                        if stop.is_set():
                            break
                        conn.sendall(f"X-Drip-{i}: x\r\n".encode())
                        time.sleep(0.2)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/"
    stop.set()
    server.close()
    thread.join(timeout=5)


def test_dripping_headers_are_cut_at_the_total_deadline(header_drip, fetcher, httpserver):
    started = time.monotonic()
    result = failed(
        fetcher.get(header_drip, Limits(deadline_s=1.0, max_bytes=1024)), Reason.TIMEOUT
    )
    assert time.monotonic() - started < 1.8
    assert DEADLINE_DETAIL.fullmatch(result.detail), result.detail
    httpserver.expect_request("/after").respond_with_data(b"fine")
    assert ok(fetcher.get(httpserver.url_for("/after"), LIMITS)).body == b"fine"  # still usable


def test_truncate_keeps_the_first_bytes_instead_of_failing(httpserver, fetcher):
    """robots.txt: RFC 9309 reads the first 500 KiB of a bigger file, it does not drop it."""
    big = b"User-agent: *\n" + b"Disallow: /p\n" * 20000  # 260 KB
    httpserver.expect_request("/plain").respond_with_data(big, content_type="text/plain")
    httpserver.expect_request("/gz").respond_with_data(
        gzip.compress(big), content_type="text/plain", headers={"Content-Encoding": "gzip"}
    )
    limits = Limits(deadline_s=3.0, max_bytes=10_000, truncate=True)
    for path in ("/plain", "/gz"):
        result = ok(fetcher.get(httpserver.url_for(path), limits))
        assert result.body == big[:10_000], path
    strict = Limits(deadline_s=3.0, max_bytes=10_000)
    failed(fetcher.get(httpserver.url_for("/plain"), strict), Reason.TOO_LARGE)


def test_x_gzip_is_gzip(httpserver, fetcher):
    payload = b"<p>old servers say x-gzip</p>" * 50
    httpserver.expect_request("/xgz").respond_with_data(
        gzip.compress(payload), headers={"Content-Encoding": "x-gzip"}
    )
    assert ok(fetcher.get(httpserver.url_for("/xgz"), LIMITS)).body == payload


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_a_corrupt_compressed_body_is_a_bad_encoding_not_a_hang(httpserver, fetcher, encoding):
    good = gzip.compress(b"news " * 100) if encoding == "gzip" else zlib.compress(b"news " * 100)
    broken = good[:12] + b"\x00garbage\xff" * 20
    httpserver.expect_request("/bad").respond_with_data(
        broken, headers={"Content-Encoding": encoding}
    )
    started = time.monotonic()
    result = failed(fetcher.get(httpserver.url_for("/bad"), LIMITS), Reason.BAD_ENCODING)
    assert result.detail.startswith(f"{encoding}: ")
    assert time.monotonic() - started < 2.5


def test_a_body_of_exactly_the_cap_is_read_and_one_byte_more_is_too_large(httpserver, fetcher):
    cap = LIMITS.max_bytes
    for size, path in ((cap, "/exact"), (cap + 1, "/over")):
        httpserver.expect_request(path).respond_with_data(
            gzip.compress(b"x" * size), headers={"Content-Encoding": "gzip"}
        )
    assert len(ok(fetcher.get(httpserver.url_for("/exact"), LIMITS)).body) == cap
    failed(fetcher.get(httpserver.url_for("/over"), LIMITS), Reason.TOO_LARGE)


def test_gzip_with_trailing_nul_padding_is_read(httpserver, fetcher):
    """Some servers pad a gzip stream with NUL bytes: the end of the data, not a member."""
    data = gzip.compress(b"padded body") + b"\0" * 16
    httpserver.expect_request("/pad").respond_with_data(data, headers={"Content-Encoding": "gzip"})
    assert ok(fetcher.get(httpserver.url_for("/pad"), LIMITS)).body == b"padded body"


def test_an_unreadable_retry_after_is_said_so_after_the_status(httpserver, fetcher):
    httpserver.expect_request("/busy").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "soon"}
    )
    result = failed(fetcher.get(httpserver.url_for("/busy"), LIMITS), Reason.THROTTLED)
    assert result.detail == "HTTP 429; unreadable Retry-After 'soon'"
    assert result.retry_after_s is None


def test_a_redirect_without_location_is_a_protocol_error(httpserver, fetcher):
    httpserver.expect_request("/nowhere").respond_with_data("", status=302)
    result = failed(fetcher.get(httpserver.url_for("/nowhere"), LIMITS), Reason.PROTOCOL_ERROR)
    assert result.detail == "HTTP 302 without Location"


def test_a_redirect_to_a_broken_url_is_a_bad_url(fetcher):
    from urllib.parse import quote

    from faultserver import FaultServer

    with FaultServer("127.0.0.3") as server:  # werkzeug will not send such a Location
        url = server.url("/x/redirect-to?to=" + quote("http://[oops/x", safe=""))
        result = failed(fetcher.get(url, LIMITS), Reason.BAD_URL)
    assert result.detail.startswith("redirect to 'http://[oops/x'")


def test_a_validator_up_to_1024_characters_is_sent_and_a_longer_one_is_not(httpserver, fetcher):
    for size in (1024, 1025):
        etag = '"' + "e" * (size - 2) + '"'
        httpserver.clear()
        httpserver.expect_request("/v").respond_with_data("", status=304)
        fetcher.get(httpserver.url_for("/v"), LIMITS, Validators(etag=etag))
        sent = httpserver.log[-1][0].headers.get("If-None-Match")
        assert sent == (etag if size == 1024 else None), size


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("Fri, 20 Nov 2026 13:00:00 GMT", 3600.0),
        ("Fri, 20 Nov 2026 13:00:00 -0000", 3600.0),  # "-0000": a zone-less date, read as GMT
        ("Fri, 20 Nov 2026 11:00:00 GMT", 0.0),  # in the past: no wait, not a negative one
        ("soon", None),
        ("", None),
    ],
)
def test_retry_after_in_seconds_or_as_an_http_date(value, expected):
    from datetime import UTC, datetime

    from ingest.fetch import retry_after_seconds

    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert retry_after_seconds(value, now) == expected


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None), ("", None), ("max-age=300", 300), ("public, max-age=300", 300),
        ('max-age="60"', 60), ("MAX-AGE=90, must-revalidate", 90), ("no-cache", 0),
        ("public, No-Store", 0), ("private", None), ("s-maxage=10", None),
    ],
)  # fmt: skip
def test_max_age_of_a_cache_control_header(header, seconds):
    from ingest.fetch import max_age_seconds

    assert max_age_seconds(header) == seconds


@pytest.mark.parametrize(
    ("encoding", "problem"),
    [
        ("gzip, identity", None), ("GZIP", None), ("identity", None), ("gzip, gzip", None),
        ("gzip, gzip, gzip", "3 stacked content encodings"),
        ("br", "unsupported content-encoding 'br'"),
    ],
)  # fmt: skip
def test_content_encodings_we_undo_and_the_ones_we_refuse(encoding, problem):
    from ingest.fetch import _decoders, _Failed

    if problem is None:
        layers = [e for e in encoding.lower().replace(" ", "").split(",") if e != "identity"]
        assert [d.encoding for d in _decoders(encoding, 1000, truncate=False)] == list(
            reversed(layers)
        )
        return
    with pytest.raises(_Failed) as info:
        _decoders(encoding, 1000, truncate=False)
    assert (info.value.reason, info.value.detail) == (Reason.BAD_ENCODING, problem)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, Reason.CLIENT_ERROR), (499, Reason.CLIENT_ERROR), (500, Reason.SERVER_ERROR),
     (599, Reason.SERVER_ERROR)],
)  # fmt: skip
def test_the_status_class_decides_client_or_server_error(status, reason):
    import httpx

    from ingest.fetch import _status_failure

    failure = _status_failure(status, httpx.Headers())
    assert (failure.reason, failure.detail, failure.status) == (reason, f"HTTP {status}", status)


def test_a_503_with_retry_after_says_how_long():
    import httpx

    from ingest.fetch import _status_failure

    failure = _status_failure(503, httpx.Headers({"Retry-After": "120"}))
    assert (failure.retry_after_s, failure.detail) == (120.0, "HTTP 503; Retry-After 120s")
    assert _status_failure(500, httpx.Headers({"Retry-After": "120"})).retry_after_s is None


@pytest.mark.parametrize(
    ("url", "reason", "detail"),
    [
        ("ftp://example.org/", Reason.BAD_SCHEME, "scheme 'ftp'"),
        ("HTTP://example.org/", None, None),
        ("https://example.org:8443/", None, None),
        ("http://example.org:99999/", Reason.BAD_URL, None),
        ("http:///nohost", Reason.BAD_URL, "no host"),
        ("http://example.org/" + "a" * 100, Reason.URL_TOO_LONG, "119 characters"),
        ("http://example.org/" + "a" * 81, None, None),  # exactly the limit (100) passes
        ("http://example.org/" + "a" * 82, Reason.URL_TOO_LONG, "101 characters"),
        ("http://[::1/", Reason.BAD_URL, "Invalid IPv6 URL"),
    ],
)
def test_check_url(url, reason, detail):
    from ingest.fetch import _Failed, check_url

    if reason is None:
        check_url(url, 100)  # accepted
        return
    with pytest.raises(_Failed) as info:
        check_url(url, 100)
    assert info.value.reason is reason
    if detail:
        assert info.value.detail == detail


@pytest.mark.parametrize(("hops", "followed"), [(5, True), (6, False)])
def test_exactly_max_redirects_are_followed(httpserver, fetcher, hops, followed):
    for i in range(hops):
        httpserver.expect_request(f"/h{i}").respond_with_data(
            "", 302, headers={"Location": f"/h{i + 1}"}
        )
    httpserver.expect_request(f"/h{hops}").respond_with_data(b"arrived")
    result = fetcher.get(httpserver.url_for("/h0"), LIMITS)
    if followed:
        assert ok(result).body == b"arrived" and len(result.redirects) == 5
    else:
        assert failed(result, Reason.TOO_MANY_REDIRECTS).detail == "more than 5"


def test_what_a_fetch_reports_of_the_answer(httpserver, fetcher):
    httpserver.expect_request("/f").respond_with_data(
        b"body", headers={"ETag": '"e"', "Last-Modified": "Fri, 20 Nov 2026 06:30:00 GMT",
                          "Cache-Control": "max-age=600"},
    )  # fmt: skip
    url = httpserver.url_for("/f")
    result = ok(fetcher.get(url, LIMITS))
    assert (result.url, result.final_url, result.etag) == (url, url, '"e"')
    assert (result.last_modified, result.max_age_s) == ("Fri, 20 Nov 2026 06:30:00 GMT", 600)
    assert 0 <= result.elapsed_s < 3
    httpserver.expect_request("/busy").respond_with_data("", 429, headers={"Retry-After": "30"})
    busy = failed(fetcher.get(httpserver.url_for("/busy"), LIMITS), Reason.THROTTLED)
    assert (busy.url, busy.retry_after_s, busy.status) == (httpserver.url_for("/busy"), 30.0, 429)
    assert 0 <= busy.elapsed_s < 3


def test_proxy_settings_in_the_environment_are_ignored(httpserver, monkeypatch):
    """The SSRF guard checks the address it connects to: no proxy may stand in between."""
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    httpserver.expect_request("/direct").respond_with_data(b"direct")
    with Fetcher("news-ingest-tests/1", allow_loopback=True) as direct:
        assert ok(direct.get(httpserver.url_for("/direct"), LIMITS)).body == b"direct"


def test_limits_for_feeds_and_pages_come_from_the_settings(tmp_path):
    from ingest.fetch import FEED_ACCEPT, PAGE_ACCEPT
    from ingest.settings import load_settings

    s = load_settings(home=tmp_path, feed_deadline_s=7, page_deadline_s=9, feed_max_bytes=100,
                      page_max_bytes=200, connect_timeout_s=3, max_redirects=4, max_url_length=999)  # fmt: skip
    feed, page = Limits.for_kind(s, "feed"), Limits.for_kind(s, "page")
    assert (feed.deadline_s, feed.max_bytes, feed.accept) == (7, 100, FEED_ACCEPT)
    assert (page.deadline_s, page.max_bytes, page.accept) == (9, 200, PAGE_ACCEPT)
    assert {(x.connect_timeout_s, x.max_redirects, x.max_url_length) for x in (feed, page)} == {
        (3, 4, 999)
    }


# --------------------------------------------------------------------------- mutation survivors
# Each test below kills mutants of fetch.py that survived the full selection (issue 12).


@pytest.fixture
def raw_server():
    """A raw HTTP server answering each connection with the bytes a test gives, then holding
    the connection open (as a server that declares more than it sends)."""
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    answer: list[bytes] = [b""]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            server.settimeout(0.2)
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            with conn:
                try:
                    conn.recv(65536)
                    conn.sendall(answer[0])
                    stop.wait(10)  # hold it: no more body comes
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/", answer
    stop.set()
    server.close()
    thread.join(timeout=5)


def test_a_declared_content_length_over_the_cap_fails_before_any_body_is_read(raw_server, fetcher):
    url, answer = raw_server
    answer[0] = f"HTTP/1.1 200 OK\r\nContent-Length: {LIMITS.max_bytes + 1}\r\n\r\n".encode()
    started = time.monotonic()
    result = failed(fetcher.get(url, LIMITS), Reason.TOO_LARGE)
    assert time.monotonic() - started < LIMITS.deadline_s / 2  # no wait for a body
    assert result.detail == f"Content-Length {LIMITS.max_bytes + 1} > {LIMITS.max_bytes}"


def test_a_plain_body_declared_and_sent_at_exactly_the_cap_is_read(httpserver, fetcher):
    body = b"y" * LIMITS.max_bytes
    httpserver.expect_request("/exact").respond_with_data(body)  # with its Content-Length
    assert ok(fetcher.get(httpserver.url_for("/exact"), LIMITS)).body == body


def test_wire_bytes_are_the_bytes_read_off_the_wire(httpserver, fetcher):
    """Bodies of many reads: every chunk counts, not the last one."""
    payload = random.Random(2).randbytes(400_000)
    packed = gzip.compress(payload + b"<p>news</p>" * 30_000)
    httpserver.expect_request("/gz").respond_with_data(packed, headers={"Content-Encoding": "gzip"})
    httpserver.expect_request("/plain").respond_with_data(payload)
    limits = Limits(deadline_s=5.0, max_bytes=2_000_000, connect_timeout_s=2.0)
    assert ok(fetcher.get(httpserver.url_for("/gz"), limits)).wire_bytes == len(packed)
    assert ok(fetcher.get(httpserver.url_for("/plain"), limits)).wire_bytes == len(payload)


def test_the_cap_counts_wire_bytes_too(httpserver, fetcher):
    """Incompressible data grows when gzipped: its wire bytes can pass the cap while its
    decompressed bytes do not. No more than the cap is ever read off the wire."""
    payload = random.Random(1).randbytes(20_000)
    packed = gzip.compress(payload)
    assert len(packed) > len(payload)
    httpserver.expect_request("/rand").respond_with_data(
        packed, headers={"Content-Encoding": "gzip"}
    )
    url = httpserver.url_for("/rand")
    exact = Limits(deadline_s=3.0, max_bytes=len(packed), connect_timeout_s=2.0)
    assert ok(fetcher.get(url, exact)).body == payload
    under = Limits(deadline_s=3.0, max_bytes=len(packed) - 1, connect_timeout_s=2.0)
    result = failed(fetcher.get(url, under), Reason.TOO_LARGE)
    assert result.detail == f"body exceeds {len(packed) - 1} bytes on the wire"


def test_a_truncated_read_still_counts_its_wire_bytes(httpserver, fetcher):
    big = b"User-agent: *\n" + b"Disallow: /p\n" * 20000
    httpserver.expect_request("/robots.txt").respond_with_data(big, content_type="text/plain")
    limits = Limits(deadline_s=3.0, max_bytes=10_000, truncate=True)
    result = ok(fetcher.get(httpserver.url_for("/robots.txt"), limits))
    assert len(result.body) == 10_000
    assert 10_000 <= result.wire_bytes <= len(big)  # what was read, not 0


def test_a_malformed_answer_is_a_protocol_error_naming_what_httpx_saw(raw_server, fetcher):
    url, answer = raw_server
    answer[0] = b"NOT HTTP AT ALL\r\n\r\n"
    result = failed(fetcher.get(url, LIMITS), Reason.PROTOCOL_ERROR)
    assert re.match(r"[A-Z]\w*Error: \S", result.detail), result.detail
