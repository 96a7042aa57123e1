"""The raw archive's index (``archive_records``): where each body's WARC record is.

Written with the page outcomes that archived them (:func:`ingest.store.queue.save_pages`),
read by re-extraction (:func:`ingest.store.queue.captured_between`). A body archived again
(the same bytes fetched twice) keeps its first record: a file already closed, whose
records every worker can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ingest.models import RawRef
from ingest.store import dialects
from ingest.store.schema import archive_records

if TYPE_CHECKING:
    from sqlalchemy import Connection


def index(conn: Connection, refs: Sequence[RawRef]) -> None:
    """Index these records (in digest order: one key order for every writer)."""
    rows = {
        ref.digest: {
            "digest": ref.digest, "file": ref.file[:512], "record_offset": ref.offset,
            "record_length": ref.length, "url": ref.url, "captured_at": ref.captured_at,
        }
        for ref in refs
    }  # fmt: skip
    if not rows:
        return
    stmt = (
        dialects.of(conn).insert(archive_records).on_conflict_do_nothing(index_elements=["digest"])
    )
    conn.execute(stmt, [rows[digest] for digest in sorted(rows)])


def ref_of(row: object) -> RawRef | None:
    """The record a row joined with ``archive_records`` names (None: not indexed)."""
    file = getattr(row, "archive_file", None)
    if file is None:
        return None
    return RawRef(
        digest=getattr(row, "raw_hash"), file=file, offset=getattr(row, "record_offset"),  # noqa: B009 - a Row
        length=getattr(row, "record_length"), url=getattr(row, "archive_url"),  # noqa: B009
        captured_at=getattr(row, "archive_captured_at"),  # noqa: B009
    )  # fmt: skip


__all__ = ["index", "ref_of"]
