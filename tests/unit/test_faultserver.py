"""Self-tests of tools/faultserver.py with raw sockets, http.client and urllib only."""

from __future__ import annotations

import gzip
import html
import http.client
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from email.utils import parsedate_to_datetime

import pytest
from defusedxml.ElementTree import fromstring
from faultserver import GARBAGE, LIE_TITLE, MALFORMED_HTTP, FaultServer

MIB = 1 << 20


@pytest.fixture(scope="module")
def srv():
    with FaultServer() as server:
        yield server


# --------------------------------------------------------------------------- helpers


def request_bytes(srv, path, *, close=True):
    connection = "Connection: close\r\n" if close else ""
    return f"GET {path} HTTP/1.1\r\nHost: {srv.netloc}\r\n{connection}\r\n".encode()


def raw(srv, path, *, timeout=5.0):
    """Everything the server sends for one request, up to its close."""
    with socket.create_connection((srv.host, srv.port), timeout=timeout) as sock:
        sock.sendall(request_bytes(srv, path))
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def split(response):
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return lines[0], headers, body


def get(srv, path, *, timeout=5.0):
    """(status, headers with lower-cased names, body as sent) over http.client (no decoding)."""
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return split(data)


def read_for(sock, seconds):
    """What arrives on sock within `seconds` (stops early at EOF)."""
    deadline = time.monotonic() + seconds
    data = b""
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data


def handler_for(srv, sock):
    host, port = sock.getsockname()[:2]
    name = f"faultserver-{srv.port}-conn-{host}:{port}"
    return [t for t in threading.enumerate() if t.name == name]


def read_to_end(sock, timeout=5.0):
    """Read until EOF (or a reset, which is as final)."""
    sock.settimeout(timeout)
    try:
        while sock.recv(MIB):
            pass
    except ConnectionResetError:
        pass


def wait_until(predicate, timeout=3.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def words(fragment):
    return re.sub(r"<[^>]+>", " ", fragment).split()


def rss_items(body):
    root = fromstring(body)
    assert root.tag == "rss" and root.get("version") == "2.0"
    return [
        {child.tag: (child.text or "") for child in item} | {"_guid": item.find("guid")}
        for item in root.iter("item")
    ]


# --------------------------------------------------------------------------- well-behaved


def test_good_article_page_is_realistic_deterministic_and_per_server(srv):
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    conn.request("GET", "/good/a/7.html")
    first = conn.getresponse()
    body = first.read()
    conn.request("GET", "/good/a/8.html")  # same connection: keep-alive
    other = conn.getresponse().read()
    conn.close()
    assert first.status == 200
    assert first.getheader("Content-Type") == "text/html; charset=utf-8"
    assert int(first.getheader("Content-Length")) == len(body)
    assert first.getheader("Connection") == "keep-alive"
    hits = srv.hits("/good/a/7.html") + srv.hits("/good/a/8.html")
    assert len({hit.client for hit in hits}) == 1
    page = body.decode()
    assert '<html lang="en">' in page
    for tag in ("<title>", "<h1>", "<nav>", "<article>", "<footer>"):
        assert tag in page
    assert '<meta name="description" content="' in page
    assert f'<link rel="canonical" href="{srv.url("/good/a/7.html")}">' in page
    assert '<meta property="article:published_time" content="2026-11-20T10:00:00+00:00">' in page
    assert page.count('<a href="') >= 3
    article = page[page.index("<article>") : page.index("</article>")]
    paragraphs = re.findall(r"<p>(.*?)</p>", article, re.DOTALL)
    assert 6 <= len(paragraphs) <= 8
    assert paragraphs[0].startswith(f"Story 7 from {srv.netloc}.")
    for i, paragraph in enumerate(paragraphs):
        lead = 4 if i == 0 else 0  # "Story 7 from host:port." comes on top
        assert 40 <= len(words(paragraph)) - lead <= 80
    assert get(srv, "/good/a/7.html")[2] == body
    assert other != body
    assert get(srv, "/good/a/-3.html")[0] == 200
    with FaultServer("127.0.0.2") as second:
        elsewhere = get(second, "/good/a/7.html")[2].decode()
    assert f"Story 7 from {second.netloc}." in elsewhere
    assert elsewhere != page


def test_pages_alias_and_pages_feed():
    with FaultServer(pages=5) as server:
        status, headers, body = get(server, "/pages/3.html")
        good = get(server, "/good/a/3.html")[2]
        _, feed_headers, feed = get(server, "/pages/feed.xml")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    canonical = server.url("/pages/3.html")
    assert body == good.replace(server.url("/good/a/3.html").encode(), canonical.encode())
    assert feed_headers["content-type"] == "application/rss+xml; charset=utf-8"
    assert [item["link"] for item in rss_items(feed)] == [
        server.url(f"/pages/{i}.html") for i in range(1, 6)
    ]


def test_good_feed_items_links_guids_and_dates(srv):
    status, headers, body = get(srv, "/good/feed.xml?n=3&start=5")
    assert status == 200
    assert headers["content-type"] == "application/rss+xml; charset=utf-8"
    items = rss_items(body)
    assert [item["link"] for item in items] == [srv.url(f"/good/a/{i}.html") for i in (5, 6, 7)]
    assert [item["guid"] for item in items] == ["good-5", "good-6", "good-7"]
    assert all(item["_guid"].get("isPermaLink") == "false" for item in items)
    assert all(item["title"] for item in items)
    for item in items:
        assert parsedate_to_datetime(item["pubDate"]).tzinfo is not None
    assert len(rss_items(get(srv, "/good/feed.xml")[2])) == 3


def test_feed_to_lists_one_item_pointing_at_the_path(srv):
    path = "/x/slow-drip?every=1"
    body = get(srv, "/feed-to?path=" + urllib.parse.quote(path, safe=""))[2]
    [item] = rss_items(body)
    assert item["link"] == srv.url(path)
    assert item["guid"] == path


def test_unknown_paths_are_404_and_routes_are_case_sensitive(srv):
    for path in ("/nope", "/GOOD/a/1.html", "/good/a/one.html", "/X/garbage"):
        status, headers, body = get(srv, path)
        assert status == 404, path
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert b"<html>" in body and len(body) < 1000


def test_robots_txt_variants():
    with FaultServer() as absent, FaultServer(robots="User-agent: *\nDisallow: /x/\n") as given:
        assert get(absent, "/robots.txt")[0] == 404
        status, headers, body = get(given, "/robots.txt")
        assert status == 200 and body == b"User-agent: *\nDisallow: /x/\n"
        assert headers["content-type"].startswith("text/plain")
    with FaultServer(robots_status=503) as failing:
        assert get(failing, "/robots.txt")[0] == 503


def test_latency_is_added_before_every_response():
    with FaultServer(latency_s=0.3) as server:
        started = time.monotonic()
        assert get(server, "/good/a/1.html")[0] == 200
        assert get(server, "/nope")[0] == 404
        assert time.monotonic() - started >= 0.6


def test_request_log_records_path_headers_time_and_client(srv):
    before = time.monotonic()
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(
            b"GET /good/feed.xml?n=1&tag=log HTTP/1.1\r\nHost: h\r\nX-Custom-Header: Yes\r\n"
            b"Connection: close\r\n\r\n"
        )
        while sock.recv(65536):
            pass
        client = "{}:{}".format(*sock.getsockname())
    [logged] = srv.hits("/good/feed.xml?n=1&tag=log")
    assert logged.path == "/good/feed.xml?n=1&tag=log"
    assert logged.headers["x-custom-header"] == "Yes"
    assert logged.headers["host"] == "h"
    assert before <= logged.at <= time.monotonic()
    assert logged.client == client
    assert srv.requests[-1] == logged or logged in srv.requests
    with pytest.raises(AttributeError):
        logged.path = "/other"


def test_other_methods_get_405(srv):
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    conn.request("POST", "/good/a/1.html", body=b"x=1")
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 405 and response.getheader("Allow") == "GET"


# --------------------------------------------------------------------------- slow and endless


def test_slow_drip_sends_headers_then_one_byte_per_interval_until_disconnect(srv):
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(request_bytes(srv, "/x/slow-drip?every=0.2"))
        status, headers, body = read_head(sock)
        assert status == "HTTP/1.1 200 OK"
        assert headers["content-length"] == "100000"
        assert headers["content-type"] == "text/html; charset=utf-8"
        body += read_for(sock, 1.0)
        assert 2 <= len(body) <= 7, body
        assert b"<!DOCTYPE html>".startswith(body[:5])
        handler = handler_for(srv, sock)
        assert handler
    handler[0].join(2.0)
    assert not handler[0].is_alive()


def test_slow_headers_never_finish_the_header_block(srv):
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(request_bytes(srv, "/x/slow-headers?every=0.1"))
        data = read_for(sock, 1.0)
        handler = handler_for(srv, sock)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"\r\n\r\n" not in data
    assert 5 <= len(data) - len(b"HTTP/1.1 200 OK\r\n") <= 12, data
    handler[0].join(2.0)
    assert not handler[0].is_alive()
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=0.5)
    conn.request("GET", "/x/slow-headers?every=2")
    with pytest.raises(TimeoutError):
        conn.getresponse()
    conn.close()


def test_endless_chunked_streams_64k_chunks_until_disconnect(srv):
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(request_bytes(srv, "/x/endless-chunked"))
        status, headers, data = read_head(sock)
        while len(data) < 4 * MIB:
            chunk = sock.recv(MIB)
            assert chunk
            data += chunk
        handler = handler_for(srv, sock)
    assert status == "HTTP/1.1 200 OK"
    assert headers["transfer-encoding"] == "chunked"
    assert headers["content-type"].startswith("text/html")
    assert "content-length" not in headers
    size_line, _, rest = data.partition(b"\r\n")
    assert int(size_line, 16) == 64 * 1024
    assert rest.startswith(b"<p>spam</p><p>spam</p>")
    assert data.count(b"\r\n10000\r\n") >= 60
    handler[0].join(2.0)
    assert not handler[0].is_alive()


# --------------------------------------------------------------------------- lying lengths


def test_cl_too_long_sends_500_bytes_of_100000_then_closes(srv):
    status, headers, body = split(raw(srv, "/x/cl-too-long"))
    assert status == "HTTP/1.1 200 OK"
    assert headers["content-length"] == "100000"
    assert len(body) == 500 and body.startswith(b"<html>")
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    conn.request("GET", "/x/cl-too-long")
    with pytest.raises(http.client.IncompleteRead) as caught:
        conn.getresponse().read()
    conn.close()
    assert len(caught.value.partial) == 500


def test_cl_too_short_leaves_the_surplus_before_the_next_response(srv):
    with socket.create_connection((srv.host, srv.port), timeout=5) as sock:
        sock.sendall(request_bytes(srv, "/x/cl-too-short", close=False))
        status, headers, data = read_head(sock)
        assert headers["content-length"] == "50"
        assert headers["connection"] == "keep-alive"
        data += read_for(sock, 0.3)
        assert len(data) > 4000  # the whole page went out despite Content-Length: 50
        sock.sendall(request_bytes(srv, "/good/a/1.html", close=True))
        while chunk := sock.recv(65536):
            data += chunk
    assert status == "HTTP/1.1 200 OK"
    surplus, marker, _ = data[50:].partition(b"HTTP/1.1 200 OK\r\n")
    assert marker and len(surplus) > 4000 and surplus.rstrip().endswith(b"</html>")
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=5)
    conn.request("GET", "/x/cl-too-short")
    assert len(conn.getresponse().read()) == 50  # a client that trusts the header stops here
    conn.close()


# --------------------------------------------------------------------------- compression


def inflate_all(body, wbits):
    """Streamed inflate: (total size, first bytes, whether only spaces followed)."""
    inflater = zlib.decompressobj(wbits)
    total, first, spaces_only, data = 0, b"", True, body
    while True:
        out = inflater.decompress(data, MIB)
        data = inflater.unconsumed_tail
        if not first:
            first, out = out[:12], out[12:]
            total += 12
        spaces_only = spaces_only and not out.strip(b" ")
        total += len(out)
        if not out and not data:
            break
    assert inflater.eof and not inflater.unused_data
    return total, first, spaces_only


def test_gzip_bomb_inflates_to_mb_mebibytes(srv):
    status, headers, body = get(srv, "/x/gzip-bomb?mb=64")
    assert status == 200
    assert headers["content-encoding"] == "gzip"
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert int(headers["content-length"]) == len(body) < 64 * MIB // 500
    assert inflate_all(body, 31) == (64 * MIB, b"<html><body>", True)
    started = time.monotonic()
    _, headers, big = get(srv, "/x/gzip-bomb?mb=1024")
    assert time.monotonic() - started < 5.0  # built fast (about 0.3 s), not by deflating 1 GiB
    assert big[:2] == b"\x1f\x8b" and len(big) < 1.2 * MIB
    assert int.from_bytes(big[-4:], "little") == (1024 * MIB) & 0xFFFFFFFF  # gzip ISIZE
    assert zlib.decompressobj(31).decompress(big, 64) == b"<html><body>" + b" " * 52
    assert get(srv, "/x/gzip-bomb?mb=1024")[2] == big  # cached


def test_deflate_bomb_is_zlib_wrapped(srv):
    status, headers, body = get(srv, "/x/deflate-bomb?mb=16")
    assert status == 200
    assert headers["content-encoding"] == "deflate"
    assert int(headers["content-length"]) == len(body)
    assert body[0] & 0x0F == 8 and int.from_bytes(body[:2], "big") % 31 == 0  # zlib header
    assert inflate_all(body, 15) == (16 * MIB, b"<html><body>", True)


def test_stacked_gzip_layers(srv):
    status, headers, body = get(srv, "/x/stacked?layers=3")
    assert status == 200
    assert headers["content-encoding"] == "gzip, gzip, gzip"
    for _ in range(3):
        body = gzip.decompress(body)
    assert body == get(srv, "/good/a/1.html")[2]
    assert get(srv, "/x/stacked?layers=2")[1]["content-encoding"] == "gzip, gzip"


# --------------------------------------------------------------------------- redirects


def test_redirect_loop_points_at_itself(srv):
    status, headers, _ = get(srv, "/x/redirect-loop")
    assert status == 302 and headers["location"] == "/x/redirect-loop"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(srv.url("/x/redirect-loop"), timeout=5)
    assert caught.value.code == 302
    caught.value.close()


def test_redirect_pingpong(srv):
    status, headers, _ = get(srv, "/x/redirect-pingpong-a")
    assert status == 302 and headers["location"] == "/x/redirect-pingpong-b"
    status, headers, _ = get(srv, "/x/redirect-pingpong-b")
    assert status == 302 and headers["location"] == "/x/redirect-pingpong-a"


def test_redirect_chain_counts_down_to_the_article(srv):
    status, headers, _ = get(srv, "/x/redirect-chain?n=10")
    assert status == 302 and headers["location"] == "/x/redirect-chain?n=9"
    before = len(srv.hits("/x/redirect-chain"))
    with urllib.request.urlopen(srv.url("/x/redirect-chain?n=4"), timeout=5) as response:
        assert response.status == 200
        assert response.read() == get(srv, "/good/a/0.html")[2]
    assert len(srv.hits("/x/redirect-chain")) - before == 5


def test_redirect_to_sends_location_verbatim(srv):
    targets = [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        f"http://[::ffff:127.0.0.1]:{srv.port}/good/a/1.html",
        f"http://localhost:{srv.port}/good/a/1.html",
    ]
    for target in targets:
        path = "/x/redirect-to?to=" + urllib.parse.quote(target, safe="")
        status, headers, _ = get(srv, path)
        assert status == 302 and headers["location"] == target


def test_retry_after_value_and_status(srv):
    for value in ("120", "Wed, 21 Oct 2026 07:28:00 GMT", "soon", "316800"):
        query = urllib.parse.urlencode({"value": value})
        status, headers, body = get(srv, f"/x/retry-after?{query}")
        assert status == 429 and headers["retry-after"] == value
        assert b"<html>" in body
    status, headers, _ = get(srv, "/x/retry-after?value=7&status=503")
    assert status == 503 and headers["retry-after"] == "7"


def test_flaky_fails_then_serves_a_stable_article(srv):
    statuses = [get(srv, "/x/flaky?key=test-flaky&fail=2")[0] for _ in range(2)]
    status, _, body = get(srv, "/x/flaky?key=test-flaky&fail=2")
    again = get(srv, "/x/flaky?key=test-flaky&fail=2")[2]
    assert statuses == [503, 503]
    assert status == 200 and body == again
    n = zlib.crc32(b"test-flaky")
    assert f"Story {n} from {srv.netloc}.".encode() in body
    assert get(srv, "/x/flaky?key=other-key&status=500")[0] == 500
    assert get(srv, "/x/flaky?key=other-key&status=500")[0] == 200


# --------------------------------------------------------------------------- broken HTTP


def test_malformed_http_bytes_then_close(srv):
    assert raw(srv, "/x/malformed-http") == MALFORMED_HTTP


def test_garbage_is_2k_of_seeded_bytes_without_a_status_line(srv):
    data = raw(srv, "/x/garbage")
    assert data == GARBAGE and len(data) == 2048
    assert not data.startswith(b"HTTP/")
    assert raw(srv, "/x/garbage") == data


# --------------------------------------------------------------------------- hostile feeds


def test_html_as_feed_is_html_labelled_as_rss(srv):
    status, headers, body = get(srv, "/x/html-as-feed")
    assert status == 200
    assert headers["content-type"] == "application/rss+xml"
    assert body.startswith(b"<!DOCTYPE html>") and b"<article>" in body


def test_billion_laughs_has_the_nested_entity_bomb(srv):
    status, headers, body = get(srv, "/x/billion-laughs")
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("application/rss+xml")
    assert '<!ENTITY lol "lol">' in text
    for level in range(1, 10):
        previous = f"lol{level - 1}" if level > 1 else "lol"
        assert f'<!ENTITY lol{level} "{f"&{previous};" * 10}">' in text
    titles = re.findall(r"<title>(.*?)</title>", text)
    assert any("&lol9;" in title for title in titles)
    assert text.count("<item>") == 2
    assert len(body) < 4096  # small on the wire


def test_xxe_declares_external_entities_and_the_probe_stays_unrequested(srv):
    status, headers, body = get(srv, "/x/xxe")
    text = body.decode()
    assert status == 200 and headers["content-type"].startswith("application/rss+xml")
    assert (
        '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">'
        f'<!ENTITY remote SYSTEM "{srv.url("/x/xxe-probe")}">]>' in text
    )
    assert "&xxe;" in text and "&remote;" in text
    links = re.findall(r"<link>(.*?)</link>", text)
    assert srv.url("/good/a/101.html") in links and srv.url("/good/a/102.html") in links
    assert srv.hits("/x/xxe-probe") == []
    status, _, body = get(srv, "/x/xxe-probe")
    assert (status, body) == (200, b"probe")


def test_big_feed_has_n_distinct_items_and_is_cached(srv):
    started = time.monotonic()
    status, headers, body = get(srv, "/x/big-feed?n=50000")
    assert time.monotonic() - started < 5.0
    assert status == 200 and headers["content-type"].startswith("application/rss+xml")
    items = rss_items(body)
    assert len(items) == 50000
    assert len({item["guid"] for item in items}) == 50000
    assert items[-1]["link"] == srv.url("/good/a/50000.html")
    parsedate_to_datetime(items[-1]["pubDate"])
    assert get(srv, "/x/big-feed?n=50000")[2] == body


def test_encoding_lie_feed_claims_latin1_but_is_utf8(srv):
    status, headers, body = get(srv, "/x/encoding-lie-feed")
    assert status == 200
    assert headers["content-type"] == "application/rss+xml; charset=iso-8859-1"
    assert body.startswith(b'<?xml version="1.0" encoding="iso-8859-1"?>')
    text = body.decode("utf-8")
    titles = re.findall(r"<item><title>(.*?)</title>", text)
    assert titles == [f"{LIE_TITLE} 1", f"{LIE_TITLE} 2"]
    assert LIE_TITLE == "Café – “quoted” naïve"  # noqa: RUF001 - typography under test
    parsed = [item["title"] for item in rss_items(body)]  # trusts the XML declaration
    assert all(title.startswith("CafÃ© â\x80\x93 â\x80\x9cquoted") for title in parsed), parsed
    links = re.findall(r"<link>(.*?)</link>", text)
    assert srv.url("/good/a/201.html") in links and srv.url("/good/a/202.html") in links


def test_encoding_lie_page_is_cp1252_while_claiming_utf8(srv):
    status, headers, body = get(srv, "/x/encoding-lie-page")
    assert status == 200
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert b'<meta charset="utf-8">' in body
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    text = body.decode("cp1252")
    for char in ("“", "”", "é", "—"):
        assert char in text
    paragraphs = re.findall(r"<p>(.*?)</p>", text, re.DOTALL)
    assert any("“" in p for p in paragraphs) and any("é" in p for p in paragraphs)
    assert paragraphs[0].startswith(f"Story 301 from {srv.netloc}.")


def test_same_guid_on_every_item(srv):
    items = rss_items(get(srv, "/x/same-guid")[2])
    assert [item["guid"] for item in items] == ["same-guid"] * 5
    assert [item["link"] for item in items] == [
        srv.url(f"/good/a/{n}.html") for n in range(401, 406)
    ]


def test_relative_links(srv):
    items = rss_items(get(srv, "/x/relative-links")[2])
    assert [item["link"] for item in items] == [
        "/good/a/501.html",
        "good/a/502.html",
        f"//{srv.netloc}/good/a/503.html",
    ]
    feed_url = srv.url("/x/relative-links")
    assert urllib.parse.urljoin(feed_url, items[2]["link"]) == srv.url("/good/a/503.html")


def test_bad_dates(srv):
    items = rss_items(get(srv, "/x/bad-dates")[2])
    assert [item["pubDate"] for item in items] == [
        "yesterday",
        "2026-13-45T99:99:99Z",
        "Mon, 99 Foo 2026 25:61:00 GMT",
        "0000-00-00",
        "Fri, 01 Jan 99999 00:00:00 GMT",
    ]
    assert [item["link"] for item in items] == [
        srv.url(f"/good/a/{n}.html") for n in range(601, 606)
    ]


def test_status_route(srv):
    for code in (500, 404, 410, 418, 502):
        status, headers, body = get(srv, f"/x/status?code={code}")
        assert status == code
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert html.escape(str(code)).encode() in body and len(body) < 1000
    assert get(srv, "/x/status?code=banana")[0] == 400


# --------------------------------------------------------------------------- lifecycle


def test_blackhole_connect_times_out(srv):
    parts = urllib.parse.urlsplit(srv.blackhole_url)
    assert parts.hostname == srv.host and parts.port != srv.port
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        socket.create_connection((parts.hostname, parts.port), timeout=1)
    assert time.monotonic() - started >= 0.9


def test_stop_closes_every_socket_and_joins_every_thread():
    server = FaultServer().start()
    prefix = f"faultserver-{server.port}-"
    idle = http.client.HTTPConnection(server.host, server.port, timeout=5)
    idle.request("GET", "/good/a/1.html")
    idle.getresponse().read()  # now an idle keep-alive connection
    clients = []
    for path in ("/x/slow-drip?every=0.5", "/x/slow-headers", "/x/endless-chunked"):
        sock = socket.create_connection((server.host, server.port), timeout=5)
        sock.sendall(request_bytes(server, path))
        clients.append(sock)
    assert wait_until(lambda: server.active_connections == 4)
    time.sleep(0.3)  # the endless stream fills the socket buffers: its thread blocks in send
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.5
    assert [t.name for t in threading.enumerate() if t.name.startswith(prefix)] == []
    assert server.active_connections == 0
    for port in (server.port, urllib.parse.urlsplit(server.blackhole_url).port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((server.host, port), timeout=1)
    for sock in clients:
        read_to_end(sock)  # a TimeoutError here would mean the server still holds the socket
        sock.close()
    idle.close()
    server.stop()  # idempotent
