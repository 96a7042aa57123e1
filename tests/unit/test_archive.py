import pytest

from ingest.archive import RawArchive
from ingest.errors import IngestError
from ingest.textutil import sha256_hex


def test_put_get_round_trip_and_dedupe(tmp_path):
    archive = RawArchive(tmp_path)
    digest = archive.put(b"<html>page</html>")
    assert digest == sha256_hex(b"<html>page</html>")
    assert archive.get(digest) == b"<html>page</html>"
    assert archive.put(b"<html>page</html>") == digest
    assert len(list(tmp_path.rglob("*.gz"))) == 1
    assert not list(tmp_path.rglob(".tmp-*"))


def test_missing_body_is_none(tmp_path):
    assert RawArchive(tmp_path).get("0" * 64) is None


def test_digest_must_be_hex_sha256(tmp_path):
    with pytest.raises(IngestError):
        RawArchive(tmp_path).path_for("../../etc/passwd")
