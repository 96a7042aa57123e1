"""SQLite: WAL and a busy timeout, write transactions that lock at BEGIN, IN-list chunks.

Every write transaction starts with ``BEGIN IMMEDIATE``, so it holds the database's one
write lock from its first statement: two writers queue on the busy timeout instead of
failing to upgrade a read lock ("database is locked"), and that lock is also the writer
lock of :func:`ingest.store.engine.locked`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Row,
    Select,
    Table,
    bindparam,
    create_engine,
    event,
    func,
    update,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError

from ingest.models import EntryState
from ingest.store import dialects
from ingest.store.dialects import Link
from ingest.store.rows import upsert_articles
from ingest.store.schema import articles, feed_entries


def _pragmas(dbapi_conn: Any, busy_timeout_ms: int) -> None:  # noqa: ANN401 - DB-API object
    cursor = dbapi_conn.cursor()
    _wal(cursor, busy_timeout_ms)
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _wal(cursor: Any, busy_timeout_ms: int) -> None:  # noqa: ANN401 - DB-API object
    """WAL mode, waiting as the busy timeout would for another connection's lock.

    Switching a new file to WAL takes its exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, while another process holds a lock: two
    first runs on one new warehouse met that (one in 25 here). So it is asked again,
    backing off, until the busy timeout has passed.
    """
    deadline = time.monotonic() + busy_timeout_ms / 1000
    pause = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
        else:
            return


def _read_pragmas(dbapi_conn: Any, busy_timeout_ms: int) -> None:  # noqa: ANN401 - DB-API object
    cursor = dbapi_conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


def _begin(conn: Connection) -> None:
    mode = "IMMEDIATE" if conn.get_execution_options().get("ingest_write") else "DEFERRED"
    conn.exec_driver_sql(f"BEGIN {mode}")


class SQLite:
    """The embedded default: one file, one writer at a time."""

    name = "sqlite"

    def seconds_between(self, later: Any, earlier: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """From julian days: timestamps are stored as UTC text (``YYYY-MM-DD HH:MM:SS``)."""
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0

    def hour_bucket(self, moment: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """The first 13 characters of the stored UTC text (already the label)."""
        return func.substr(moment, 1, 13)

    def hour_label(self, bucket: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """The bucket itself."""
        return bucket

    def create_engine(self, url: URL, *, busy_timeout_ms: int, read_only: bool = False) -> Engine:
        """An engine with WAL, the busy timeout and eager write locks.

        Read-only, the file is opened with ``mode=ro``: nothing creates it, its folder or
        a journal mode, and a write fails.
        """
        if read_only:
            path = Path(url.database or "").expanduser().resolve()
            engine = create_engine(
                "sqlite://",
                hide_parameters=True,
                creator=lambda: sqlite3.connect(
                    f"{path.as_uri()}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000,
                    isolation_level=None, check_same_thread=False,
                ),
            )  # fmt: skip
            event.listen(engine, "connect", lambda conn, _rec: _read_pragmas(conn, busy_timeout_ms))
            event.listen(engine, "begin", _begin)
            return engine
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args={"timeout": busy_timeout_ms / 1000, "isolation_level": None},
        )
        event.listen(engine, "connect", lambda conn, _rec: _pragmas(conn, busy_timeout_ms))
        event.listen(engine, "begin", _begin)
        return engine

    def one_per_thread(self, url: URL) -> bool:
        """An in-memory database is one per connection, and SQLAlchemy's is one per thread."""
        return not url.database or url.database == ":memory:" or url.query.get("mode") == "memory"

    def missing(self, url: URL) -> str | None:
        """No file at the path (an in-memory database is never missing)."""
        if not url.database or url.database == ":memory:":
            return None
        path = Path(url.database).expanduser()
        return None if path.is_file() else f"no warehouse at {path}"

    def not_a_database(self, exc: DBAPIError) -> bool:
        """SQLite's "file is not a database" (a DatabaseError, not an OperationalError)."""
        return not isinstance(exc, OperationalError)

    def connection_url(
        self,
        *,
        host: str | None,
        database: str | None,
        user: str | None,
        password: str | None,
        port: int | None,
    ) -> URL:
        """The file named by the host field (or the schema field); none: in memory."""
        del user, password, port
        return URL.create("sqlite", database=host or database or None)

    def is_transient(self, exc: DBAPIError, sqlstate: str | None, primary: str) -> bool:
        """A lock held past the busy timeout."""
        del sqlstate
        return isinstance(exc, OperationalError) and ("locked" in primary or "busy" in primary)

    def insert(self, table: Table) -> Any:  # noqa: ANN401 - SQLite's Insert
        """SQLite's INSERT (with ``ON CONFLICT``)."""
        return sqlite.insert(table)

    def lock_writers(self, conn: Connection) -> None:
        """Nothing to take: the transaction began IMMEDIATE, holding the write lock."""
        del conn

    def rows_where_in(
        self, conn: Connection, query: Select[Any], column: Column[Any], values: Sequence[Any]
    ) -> list[Row[Any]]:
        """IN lists of at most :data:`~ingest.store.dialects.WRITE_CHUNK` values."""
        found: list[Row[Any]] = []
        for chunk in dialects.chunks(list(values)):
            found.extend(conn.execute(query.where(column.in_(chunk))).all())
        return found

    def write_articles(
        self,
        conn: Connection,
        new: Sequence[Mapping[str, Any]],
        changed: Sequence[Mapping[str, Any]],
    ) -> None:
        """One upsert statement, executed for chunks of rows in key order."""
        rows = sorted([*new, *changed], key=lambda r: r["article_id"])
        if not rows:
            return
        upsert = upsert_articles(sqlite.insert(articles), list(rows[0]))
        for chunk in dialects.write_chunks(rows):
            conn.execute(upsert, list(chunk))  # executemany: compiled once

    def link_entries(self, conn: Connection, links: Sequence[Link], run_id: str) -> None:
        """One UPDATE, executed for chunks of links."""
        stmt = (
            update(feed_entries)
            .where(
                feed_entries.c.canonical_url == bindparam("b_queue_url"),
                feed_entries.c.state == EntryState.PENDING.value,
            )
            .values(
                state=bindparam("b_state"),
                article_id=bindparam("b_article_id"),
                duplicate_kind=bindparam("b_kind"),
                last_error=bindparam("b_error"),
                last_error_detail=bindparam("b_detail"),
                last_run_id=run_id,
            )
        )
        params = [
            {
                "b_queue_url": queue_url, "b_state": state, "b_article_id": article_id,
                "b_kind": kind, "b_error": error.split(":", 1)[0] if error else None,
                "b_detail": error,
            }
            for queue_url, state, article_id, kind, error in links
        ]  # fmt: skip
        for chunk in dialects.chunks(params):
            conn.execute(stmt, list(chunk))
