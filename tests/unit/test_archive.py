"""The raw archive: WARC records any WARC tool reads, found again by their index entry."""

from __future__ import annotations

import gzip
import threading
from datetime import UTC, datetime

import pytest
from warcio.archiveiterator import ArchiveIterator

from ingest.archive import RawArchive
from ingest.errors import IngestError
from ingest.models import Fetched
from ingest.textutil import sha256_hex

WHEN = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)


def fetched(body: bytes, url: str = "https://news.example/a?x=1") -> Fetched:
    return Fetched(
        url=url, final_url=url, status=200, content_type="text/html; charset=utf-8", body=body,
        body_hash=sha256_hex(body), etag='"e1"', last_modified=None, elapsed_s=0.1,
        headers=(("Content-Type", "text/html; charset=utf-8"), ("Content-Encoding", "gzip"),
                 ("Content-Length", "12"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")),
        request_headers=(("User-Agent", "news-ingest/test"), ("Accept", "text/html")),
    )  # fmt: skip


def test_a_page_is_a_request_and_a_response_record_that_warcio_reads(tmp_path):
    body = "<html><body><p>Crème brûlée</p></body></html>".encode()
    with RawArchive(tmp_path) as archive:
        ref = archive.put(fetched(body), WHEN)
    (path,) = tmp_path.rglob("*.warc.gz")
    assert path.relative_to(tmp_path).as_posix() == ref.file
    assert ref.file.startswith("2026/11/20/news-ingest-")
    with path.open("rb") as stream:
        records = list(ArchiveIterator(stream))
    assert [r.rec_type for r in records] == ["request", "response"]
    # warcio reads from the start; our index points straight at the response
    with path.open("rb") as stream:
        records = [(r.rec_type, r.format, r.http_headers, r.rec_headers, r.content_stream().read())
                   for r in ArchiveIterator(stream)]  # fmt: skip
    (_, fmt, request, _, _), (_, _, response, warc, payload) = records
    assert fmt == "warc"
    assert (request.protocol, request.statusline) == ("GET", "/a?x=1 HTTP/1.1")
    assert request.get_header("User-Agent") == "news-ingest/test"
    assert request.get_header("Host") == "news.example"
    assert response.get_statuscode() == "200"
    assert payload == body
    # the body is kept decoded: no Content-Encoding, its own Content-Length
    assert response.get_header("Content-Encoding") is None
    assert response.get_header("Content-Length") == str(len(body))
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert warc.get_header("WARC-Target-URI") == "https://news.example/a?x=1"
    assert warc.get_header("WARC-Date") == "2026-11-20T08:30:00.000000Z"
    assert warc.get_header("WARC-Payload-Digest")


def test_a_record_is_read_back_alone_from_its_offset_and_length(tmp_path):
    with RawArchive(tmp_path) as archive:
        refs = [archive.put(fetched(f"<p>page {n}</p>".encode() * 50), WHEN) for n in range(5)]
    assert len({r.file for r in refs}) == 1
    assert [r.offset for r in refs] == sorted(r.offset for r in refs)
    reader = RawArchive(tmp_path)
    for n, ref in enumerate(refs):
        assert reader.get(ref.digest, ref) == f"<p>page {n}</p>".encode() * 50
    raw = (tmp_path / refs[2].file).read_bytes()
    member = raw[refs[2].offset : refs[2].offset + refs[2].length]
    text = gzip.decompress(member)  # one whole gzip member: one record
    assert text.startswith(b"WARC/1.1\r\n") and b"\r\nWARC-Type: response\r\n" in text
    assert text.count(b"WARC/1.1\r\n") == 1


def test_files_rotate_and_concurrent_writers_keep_their_records_whole(tmp_path):
    archive = RawArchive(tmp_path, max_file_bytes=4096)
    refs = []
    lock = threading.Lock()

    def write(worker: int) -> None:
        for n in range(20):
            ref = archive.put(fetched(f"<p>{worker}-{n}</p>".encode() * 40), WHEN)
            with lock:
                refs.append((worker, n, ref))

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    archive.close()
    assert len(list(tmp_path.rglob("*.warc.gz"))) > 1
    for worker, n, ref in refs:
        assert archive.get(ref.digest, ref) == f"<p>{worker}-{n}</p>".encode() * 40


def test_a_body_archived_by_an_older_version_is_still_read(tmp_path):
    body = b"<html>kept the old way</html>"
    digest = sha256_hex(body)
    old = tmp_path / digest[:2] / f"{digest}.gz"
    old.parent.mkdir(parents=True)
    old.write_bytes(gzip.compress(body))
    assert RawArchive(tmp_path).get(digest) == body
    assert RawArchive(tmp_path).get("0" * 64) is None


def test_an_archive_on_another_filesystem_is_written_and_read_through_fsspec():
    """``memory://`` stands for object storage: the same code path as s3:// or gs://."""
    root = f"memory://archive-{threading.get_ident()}"
    with RawArchive(root) as archive:
        ref = archive.put(fetched(b"<p>in memory</p>"), WHEN)
    assert RawArchive(root).get(ref.digest, ref) == b"<p>in memory</p>"


def test_a_digest_must_be_hex_sha256(tmp_path):
    with pytest.raises(IngestError):
        RawArchive(tmp_path).legacy_path("../../etc/passwd")


def test_a_page_with_non_ascii_in_its_url_or_headers_is_archived_not_refused(tmp_path):
    page = Fetched(
        url="https://news.example/café?q=été", final_url="https://news.example/café?q=été",
        status=200, content_type="text/html; charset=utf-8", body=b"<p>caf\xc3\xa9</p>",
        body_hash=sha256_hex(b"<p>caf\xc3\xa9</p>"), etag=None, last_modified=None,
        elapsed_s=0.0, headers=(("X-\u00e9t\u00e9", "1"), ("X-Title", "Crème\x07"), ("Bad Name", "x")),
    )  # fmt: skip
    with RawArchive(tmp_path) as archive:
        ref = archive.put(page, WHEN)
    assert archive.get(ref.digest, ref) == page.body
    (path,) = tmp_path.rglob("*.warc.gz")
    with path.open("rb") as stream:
        records = [(r.rec_type, r.http_headers) for r in ArchiveIterator(stream)]
    (_, request), (_, response) = records
    assert request.statusline == "/caf%C3%A9?q=%C3%A9t%C3%A9 HTTP/1.1"
    assert response.get_header("X-Title") == "Cr%C3%A8me"
    assert [k for k, _ in response.headers if k.startswith(("X-", "Bad"))] == ["X-Title"]


def test_a_damaged_or_misplaced_record_is_not_taken_for_the_body(tmp_path):
    import dataclasses

    with RawArchive(tmp_path) as archive:
        first = archive.put(fetched(b"<p>first</p>"), WHEN)
        second = archive.put(fetched(b"<p>second</p>"), WHEN)
    misplaced = dataclasses.replace(first, offset=second.offset, length=second.length)
    assert archive.get(first.digest, misplaced) is None  # another body: refused by its digest
    cut = dataclasses.replace(first, length=first.length // 2)
    assert archive.get(first.digest, cut) is None  # a truncated member: missing, no crash
    assert archive.get(first.digest, first) == b"<p>first</p>"


def test_each_record_is_one_gzip_member_written_at_our_level_not_warcios_slowest(tmp_path):
    body = b"<html><body>" + b"<p>The council met on Tuesday.</p>" * 2000 + b"</body></html>"
    with RawArchive(tmp_path) as archive:
        ref = archive.put(fetched(body), WHEN)
    data = next(tmp_path.rglob("*.warc.gz")).read_bytes()
    member = data[ref.offset : ref.offset + ref.length]
    record = gzip.decompress(member)
    assert record.startswith(b"WARC/1.1\r\n") and b"\r\nWARC-Type: response\r\n" in record
    assert record.endswith(body + b"\r\n\r\n")
    assert b"\r\nWARC-Type: request\r\n" in gzip.decompress(data[: ref.offset])
    # the gzip header's XFL byte: 2 is zlib's slowest level (9), warcio's own choice
    assert member[:3] == b"\x1f\x8b\x08"
    assert member[8] != 2
