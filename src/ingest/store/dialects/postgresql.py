"""PostgreSQL: psycopg 3, an advisory writer lock, array parameters and COPY.

New articles are COPYed straight into ``articles`` (the writer lock is held and their
keys were just checked absent); changed ones go through a temporary table and one
``INSERT ... ON CONFLICT DO UPDATE``. Lookups by key send one array parameter instead of
IN lists, and entry links are one set-based UPDATE from arrays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ARRAY,
    JSON,
    Column,
    Connection,
    Engine,
    Float,
    Row,
    Select,
    String,
    Table,
    bindparam,
    cast,
    create_engine,
    func,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.sql import column as sa_column
from sqlalchemy.sql import table as sa_table

from ingest.models import EntryState
from ingest.store import dialects
from ingest.store.dialects import Link
from ingest.store.rows import upsert_articles
from ingest.store.schema import articles

#: "news": the advisory lock every writer of articles and clusters takes.
WRITER_LOCK_KEY = 0x6E657773
_JSON_COLUMNS = frozenset(c.name for c in articles.c if isinstance(c.type, JSON))

_LINK_ENTRIES = text(
    "UPDATE feed_entries f SET state = v.state, article_id = v.article_id,"
    " duplicate_kind = v.kind, last_error = v.error, last_error_detail = v.detail,"
    " last_run_id = :run_id"
    " FROM unnest(CAST(:q AS text[]), CAST(:s AS text[]), CAST(:a AS text[]),"
    " CAST(:k AS text[]), CAST(:e AS text[]), CAST(:d AS text[]))"
    " AS v(queue_url, state, article_id, kind, error, detail)"
    " WHERE f.canonical_url = v.queue_url AND f.state = :pending"
)


class PostgreSQL:
    """The warehouse at scale."""

    name = "postgresql"

    def seconds_between(self, later: Any, earlier: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """The epoch of the interval between them, as a float (not numeric: cheaper to read)."""
        return cast(func.extract("epoch", later - earlier), Float)

    def hour_bucket(self, moment: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """The hour in UTC, whatever the session's time zone (``date_trunc``: cheap per row)."""
        return func.date_trunc("hour", func.timezone("UTC", moment))

    def hour_label(self, bucket: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """``to_char`` (dear per row: it runs on the grouped rows only)."""
        return func.to_char(bucket, "YYYY-MM-DD HH24")

    def create_engine(self, url: URL, *, busy_timeout_ms: int, read_only: bool = False) -> Engine:
        """An engine on psycopg 3 (for ``postgresql://`` too), connections checked before use.

        Read-only, every transaction is ``READ ONLY``: the server refuses any write. Its
        reads are the monitoring windows (short, indexed); JIT compiling them cost more
        than running them (100-300 ms a query, measured in bench/bench_monitor.py).
        """
        del busy_timeout_ms  # SQLite's; PostgreSQL waits on row locks
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        read_only_options = "-c default_transaction_read_only=on -c jit=off"
        options = {"options": read_only_options} if read_only else {}
        return create_engine(url, hide_parameters=True, pool_pre_ping=True, connect_args=options)

    def missing(self, url: URL) -> str | None:
        """Never certain before connecting: a server that lacks the database says so."""
        del url
        return None

    def not_a_database(self, exc: DBAPIError) -> bool:
        """A server always holds databases: its errors are errors."""
        del exc
        return False

    def one_per_thread(self, url: URL) -> bool:
        """Every connection reaches the same server."""
        del url
        return False

    def connection_url(
        self,
        *,
        host: str | None,
        database: str | None,
        user: str | None,
        password: str | None,
        port: int | None,
    ) -> URL:
        """A psycopg 3 URL."""
        return URL.create(
            "postgresql+psycopg", username=user, password=password, host=host, port=port,
            database=database,
        )  # fmt: skip

    def is_transient(self, exc: DBAPIError, sqlstate: str | None, primary: str) -> bool:
        """Connection exceptions, shutdowns, serialization failures and deadlocks."""
        if sqlstate:
            return sqlstate.startswith(("08", "57P", "40"))
        # psycopg before a connection exists (refused, unreachable)
        return isinstance(exc, OperationalError) and "connect" in primary

    def insert(self, table: Table) -> Any:  # noqa: ANN401 - PostgreSQL's Insert
        """PostgreSQL's INSERT (with ``ON CONFLICT``)."""
        return postgresql.insert(table)

    def lock_writers(self, conn: Connection) -> None:
        """The advisory writer lock, held to the end of the transaction.

        Every lookup a writer makes is by key; after a big load autovacuum's statistics
        lag and the planner would scan whole tables instead (seen: 10x slower loads).
        """
        conn.execute(select(func.pg_advisory_xact_lock(WRITER_LOCK_KEY)))
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")

    def rows_where_in(
        self, conn: Connection, query: Select[Any], column: Column[Any], values: Sequence[Any]
    ) -> list[Row[Any]]:
        """One ``= ANY(:array)`` parameter, however many values."""
        array = bindparam("values", type_=ARRAY(String))
        return list(conn.execute(query.where(column == func.any(array)), {"values": list(values)}))

    def write_articles(
        self,
        conn: Connection,
        new: Sequence[Mapping[str, Any]],
        changed: Sequence[Mapping[str, Any]],
    ) -> None:
        """COPY the new rows in; changed rows through a temporary table and an upsert."""
        if new:
            _copy_rows(conn, "articles", new)
        if not changed:
            return
        columns = list(changed[0])
        conn.exec_driver_sql(
            "CREATE TEMPORARY TABLE articles_load (LIKE articles INCLUDING DEFAULTS) ON COMMIT DROP"
        )
        _copy_rows(conn, "articles_load", changed)
        staged = sa_table("articles_load", *(sa_column(c) for c in columns))
        conn.execute(
            upsert_articles(
                postgresql.insert(articles).from_select(
                    columns, select(*(staged.c[c] for c in columns)).order_by(staged.c.article_id)
                ),
                columns,
            )
        )

    def link_entries(self, conn: Connection, links: Sequence[Link], run_id: str) -> None:
        """One UPDATE joined to the links as arrays."""
        if not links:
            return
        queue_urls, states, ids, kinds, errors = (list(c) for c in zip(*links, strict=True))
        conn.execute(
            _LINK_ENTRIES,
            {
                "run_id": run_id, "pending": EntryState.PENDING.value, "q": queue_urls,
                "s": states, "a": ids, "k": kinds,
                "e": [e.split(":", 1)[0] if e else None for e in errors], "d": errors,
            },
        )  # fmt: skip


def _copy_rows(conn: Connection, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """COPY rows into a table, one statement per slice of :func:`dialects.write_chunks`."""
    columns = list(rows[0])
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    copy_sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    for chunk in dialects.write_chunks(rows):
        with cursor.copy(copy_sql) as copy:
            for row in chunk:
                copy.write_row(
                    [json.dumps(row[c]) if c in _JSON_COLUMNS else row[c] for c in columns]
                )
