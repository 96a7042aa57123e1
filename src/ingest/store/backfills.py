"""What a backfill has done: the source files it read and loaded, so it resumes after them.

A file is marked done in the transaction of the load that stored its captures
(:func:`mark_done` as the load's ``then``): a backfill killed before that load reads the
file again, and one killed after it skips the file. Files are kept per *scope* (the
publishers, by their feed keys, and the range read for): a backfill for other publishers, or another
range, reads them again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import select

from ingest.store import dialects
from ingest.store.engine import reading
from ingest.store.schema import backfill_files

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine


def scope(publishers: Iterable[str], since: datetime, until: datetime) -> str:
    """The key of what a backfill reads files for: its publishers (feed keys) and range."""
    what = {"feeds": sorted(set(publishers)), "since": since.isoformat(),
            "until": until.isoformat()}  # fmt: skip
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:32]


def done_paths(engine: Engine, kind: str, scope_key: str) -> set[str]:
    """The files of this kind and scope already read and loaded."""
    query = select(backfill_files.c.path).where(
        backfill_files.c.source_kind == kind, backfill_files.c.scope == scope_key
    )
    with reading(engine) as conn:
        return set(conn.execute(query).scalars())


def mark_done(
    kind: str, scope_key: str, path: str, *, run_id: str, records: int, captures: int,
    now: datetime,
) -> Callable[[Connection], None]:  # fmt: skip
    """What marks ``path`` done, to run in the transaction of the load that stored it."""

    def write(conn: Connection) -> None:
        stmt = dialects.of(conn).insert(backfill_files).values(
            source_kind=kind, scope=scope_key, path=path[:512], run_id=run_id,
            records=records, captures=captures, done_at=now,
        )  # fmt: skip
        conn.execute(stmt.on_conflict_do_nothing(index_elements=["source_kind", "scope", "path"]))

    return write


__all__ = ["done_paths", "mark_done", "scope"]
