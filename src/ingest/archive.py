"""The raw archive: every fetched page body, gzip-compressed and keyed by its SHA-256.

Content-addressed, so storing the same bytes twice costs nothing and a re-run can
re-extract a page without fetching it again. Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
from pathlib import Path

from ingest.errors import IngestError


class RawArchive:
    """A directory of ``ab/abcdef....gz`` files, one per distinct body."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, digest: str) -> Path:
        """Where the body with this SHA-256 lives."""
        if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):  # noqa: PLR2004 - hex SHA-256
            raise IngestError(f"not a SHA-256 hex digest: {digest!r}")
        return self.root / digest[:2] / f"{digest}.gz"

    def put(self, body: bytes, digest: str | None = None) -> str:
        """Store ``body`` (if not already there); return its digest."""
        digest = digest or hashlib.sha256(body).hexdigest()
        path = self.path_for(digest)
        if path.exists():
            return digest
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
                gz.write(body)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes | None:
        """The stored body, or None when it is not in the archive."""
        path = self.path_for(digest)
        try:
            with gzip.open(path, "rb") as gz:
                return gz.read()
        except FileNotFoundError:
            return None
