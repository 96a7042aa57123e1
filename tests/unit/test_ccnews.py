"""CC-NEWS: month listings, files chosen by their names' times, and captures streamed."""

from __future__ import annotations

import gzip
import io
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from ingest.models import Miss, Reason
from ingest.sources.ccnews import (
    DEFAULT_MARGIN,
    WarcFile,
    captures,
    choose,
    listing_urls,
    parse_paths,
)

SINCE, UNTIL = datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 20, tzinfo=UTC)


def test_the_months_listed_cover_the_range_and_its_margin():
    assert listing_urls("https://mirror.example/cc/", SINCE, UNTIL, DEFAULT_MARGIN) == [
        "https://mirror.example/cc/crawl-data/CC-NEWS/2026/11/warc.paths.gz"
    ]
    first_day = datetime(2026, 11, 1, 6, tzinfo=UTC)  # the margin reaches back into October
    assert listing_urls("https://m.example", first_day, UNTIL, DEFAULT_MARGIN)[0].endswith(
        "/2026/10/warc.paths.gz"
    )
    late = datetime(2026, 12, 31, 12, tzinfo=UTC)  # the margin reaches into January
    assert listing_urls("https://m.example", datetime(2026, 11, 30, tzinfo=UTC), late,
                        DEFAULT_MARGIN) == [
        f"https://m.example/crawl-data/CC-NEWS/{ym}/warc.paths.gz"
        for ym in ("2026/11", "2026/12", "2027/01")
    ]  # fmt: skip


def path(stamp: str, serial: int) -> str:
    return f"crawl-data/CC-NEWS/{stamp[:4]}/{stamp[4:6]}/CC-NEWS-{stamp}-{serial:05d}.warc.gz"


def test_files_are_chosen_by_the_time_in_their_names_with_a_margin():
    names = [
        path("20261108235900", 0),  # more than the margin before the range
        path("20261109235900", 1),  # within the margin before it: may hold its start
        path("20261110000100", 2),
        path("20261120230000", 3),  # after the range, within the margin: may hold its end
        path("20261122000000", 4),  # past the margin
        "crawl-data/CC-NEWS/2026/11/not-a-warc.txt",
        path("20261131000000", 5),  # no such day
    ]
    listing = parse_paths(gzip.compress("\n".join(reversed(names)).encode()))
    assert isinstance(listing, list)
    assert [f.serial for f in listing] == [0, 1, 2, 3, 4]  # in time order, bad lines dropped
    chosen = choose(listing, SINCE, UNTIL, timedelta(hours=24))
    assert [f.serial for f in chosen] == [1, 2, 3]
    assert chosen[1] == WarcFile(names[2], datetime(2026, 11, 10, 0, 1, tzinfo=UTC), 2)
    bomb = gzip.compress(b"x" * 20_000_000)
    assert isinstance(parse_paths(bomb), Miss)
    assert parse_paths(bomb).reason is Reason.TOO_LARGE


def warc(records: list[tuple[str, datetime, bytes]]) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for url, when, body in records:
        date = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        writer.write_record(writer.create_warc_record(
            url, "request", payload=io.BytesIO(b"GET / HTTP/1.1\r\n\r\n"),
            warc_headers_dict={"WARC-Date": date}))  # fmt: skip
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")],
                                   protocol="HTTP/1.1")  # fmt: skip
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(body), http_headers=headers,
            warc_headers_dict={"WARC-Date": date}))  # fmt: skip
    return out.getvalue()


def test_only_responses_on_a_publishers_host_in_the_range_are_kept(httpserver):
    inside = SINCE + timedelta(days=1)
    body = warc([
        ("https://www.news.example/a", inside, b"<html>A</html>"),
        ("https://news.example/b", inside, b"<html>B</html>"),  # another host: not exact
        ("https://other.example/c", inside, b"<html>C</html>"),
        ("https://www.news.example/old", SINCE - timedelta(days=1), b"<html>old</html>"),
        ("https://www.news.example/d", UNTIL, b"<html>D</html>"),
    ])  # fmt: skip
    httpserver.expect_request("/f.warc.gz").respond_with_data(body)
    with urllib.request.urlopen(httpserver.url_for("/f.warc.gz"), timeout=5) as stream:
        kept = list(captures(stream, "f.warc.gz", {"www.news.example"}, SINCE, UNTIL))
    assert [(c.url, c.body, c.status) for c in kept] == [
        ("https://www.news.example/a", b"<html>A</html>", 200),
        ("https://www.news.example/d", b"<html>D</html>", 200),
    ]
    assert kept[0].captured_at == inside
    assert ("Content-Type", "text/html; charset=utf-8") in kept[0].headers
    assert (kept[0].source.kind, kept[0].source.key) == ("ccnews", "f.warc.gz")
    assert 0 < kept[0].offset < kept[1].offset < len(body)


def test_a_forward_only_stream_skips_ahead_and_refuses_to_go_back():
    import pytest

    from ingest.sources.ccnews import ForwardOnly

    class OneWay(io.RawIOBase):  # an HTTP body: no seek, no tell
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            chunk = self.data.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    stream = ForwardOnly(OneWay(bytes(range(100))))
    assert stream.read(3) == b"\x00\x01\x02"
    assert stream.seek(10) == 10
    assert stream.seek(5, io.SEEK_CUR) == 15
    assert stream.read(2) == b"\x0f\x10"
    with pytest.raises(io.UnsupportedOperation):
        stream.seek(0)
    assert stream.seek(1000) == 100  # past the end: stops at it


def test_bytes_that_are_not_a_warc_raise_a_typed_error_not_a_panic():
    import pytest

    with pytest.raises(OSError, match="Invalid WARC header"):
        list(captures(io.BytesIO(b"not a warc" * 100), "f", {"x.example"}, SINCE, UNTIL))


def test_a_local_mirror_of_the_demo_site_yields_exactly_the_captures_in_range(httpserver, tmp_path):
    import re
    from urllib.parse import urlsplit

    from werkzeug import Response

    from ingest.demosite import build_site
    from ingest.demosite.ccnews import write_mirror

    site, _ = build_site([f"http://127.0.0.{i}:9999" for i in range(1, 5)])
    pages = dict(sorted(site.pages().items())[:12])
    written = write_mirror(tmp_path, pages, datetime(2026, 11, 1, tzinfo=UTC))

    def serve(request):
        target = tmp_path / request.path.lstrip("/")
        if not target.is_file():
            return Response("", status=404)
        return Response(target.read_bytes(), content_type="application/octet-stream")

    httpserver.expect_request(re.compile(r"/.*")).respond_with_handler(serve)
    since, until = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    hosts = {urlsplit(u).hostname for u in pages}
    kept, missing = [], []
    for listing in listing_urls(httpserver.url_for("/"), since, until, DEFAULT_MARGIN):
        try:
            with urllib.request.urlopen(listing, timeout=5) as resp:
                files = parse_paths(resp.read())
        except urllib.error.HTTPError as exc:  # December (in the margin) is not listed yet
            missing.append((exc.code, listing.rsplit("/", 3)[-3:]))
            continue
        assert isinstance(files, list)
        for chosen in choose(files, since, until, DEFAULT_MARGIN):
            with urllib.request.urlopen(httpserver.url_for("/" + chosen.path), timeout=5) as s:
                kept += [
                    (c.url, c.captured_at) for c in captures(s, chosen.path, hosts, since, until)
                ]
    expected = [(w.url, w.captured_at) for w in written
                if w.registered and since <= w.captured_at <= until]  # fmt: skip
    assert sorted(kept) == sorted(expected)
    assert missing == [(404, ["2026", "12", "warc.paths.gz"])]
    assert len(expected) == len(pages)  # each page once: not the stranger's, not last month's
    assert any(not w.registered for w in written)
    assert any(w.captured_at < since for w in written)


def test_a_cut_record_raises_so_the_file_is_not_taken_as_read_and_big_bodies_are_skipped():
    import pytest

    from ingest.sources.ccnews import Skipped, WarcTruncated

    inside = SINCE + timedelta(days=1)
    import os

    first = warc([("https://www.news.example/a", inside, os.urandom(100_000))])
    whole = first + warc([("https://www.news.example/b", inside, os.urandom(100_000))])
    hosts = {"www.news.example"}
    with pytest.raises(WarcTruncated, match="ends after"):  # cut inside the second record
        list(captures(io.BytesIO(whole[: len(whole) - 50_000]), "f", hosts, SINCE, UNTIL))
    assert len(list(captures(io.BytesIO(first), "f", hosts, SINCE, UNTIL))) == 1  # looks whole
    with pytest.raises(WarcTruncated, match="ended after"):  # but the sender said more
        list(captures(io.BytesIO(first), "f", hosts, SINCE, UNTIL, expected_bytes=len(whole)))
    skipped = Skipped()
    kept = list(captures(io.BytesIO(whole), "f", {"www.news.example"}, SINCE, UNTIL,
                         max_body=50_000, skipped=skipped))  # fmt: skip
    assert (kept, skipped.too_large) == ([], 2)
