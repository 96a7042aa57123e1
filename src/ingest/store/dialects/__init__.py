"""One module per database: everything that differs between SQLite and PostgreSQL.

The rest of the store never asks which database it is on: it asks :func:`of` for the
connection's :class:`Dialect` and calls it. Adding a database is adding a module here
that implements :class:`Dialect`, and a line in ``_DIALECTS``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ingest.errors import WarehouseError

if TYPE_CHECKING:
    from sqlalchemy import Column, Connection, Engine, Row, Select, Table
    from sqlalchemy.engine import URL
    from sqlalchemy.exc import DBAPIError

#: Rows per write statement (and per IN list where a database has no array parameters).
WRITE_CHUNK = 500


def write_chunks(rows: Sequence[Any]) -> Iterator[Sequence[Any]]:
    """``rows`` in slices of :data:`WRITE_CHUNK`: every bulk write of articles goes here.

    Each dialect writes a load's articles one slice per statement, so a crash or a lost
    connection between two slices (what the crash tests inject here) leaves a
    transaction with part of its rows written, to be rolled back.
    """
    for start in range(0, len(rows), WRITE_CHUNK):
        yield rows[start : start + WRITE_CHUNK]


def chunks(items: Sequence[Any], size: int = WRITE_CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of ``size`` (for reads)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


#: One entry link: (queue URL, state, article id, duplicate kind, error).
Link = tuple[str, str, str | None, str | None, str | None]


class Dialect(Protocol):
    """What the store needs from a database."""

    name: str

    def create_engine(self, url: URL, *, busy_timeout_ms: int, read_only: bool = False) -> Engine:
        """An engine configured for the store (pragmas, drivers, pool).

        ``read_only``: one that cannot write, create or convert the database, for the
        commands that only look.
        """

    def missing(self, url: URL) -> str | None:
        """Why there is certainly no database at ``url`` (a file that is not there), if so."""

    def not_a_database(self, exc: DBAPIError) -> bool:
        """Whether ``exc`` says that what the URL names is no database at all (random bytes)."""

    def one_per_thread(self, url: URL) -> bool:
        """Whether each thread sees a database of its own at ``url`` (SQLite in memory)."""

    def connection_url(
        self,
        *,
        host: str | None,
        database: str | None,
        user: str | None,
        password: str | None,
        port: int | None,
    ) -> URL:
        """The URL of a connection given by its fields (an Airflow Connection's)."""

    def is_transient(self, exc: DBAPIError, sqlstate: str | None, primary: str) -> bool:
        """Whether retrying the transaction that failed with ``exc`` may succeed."""

    def insert(self, table: Table) -> Any:  # noqa: ANN401 - the dialect's own Insert
        """An INSERT that supports ``on_conflict_do_update`` / ``on_conflict_do_nothing``."""

    def lock_writers(self, conn: Connection) -> None:
        """Take the lock every writer of articles and clusters holds (for this transaction)."""

    def rows_where_in(
        self, conn: Connection, query: Select[Any], column: Column[Any], values: Sequence[Any]
    ) -> list[Row[Any]]:
        """The rows of ``query`` whose ``column`` is one of ``values`` (any number of them).

        The values may be looked up in chunks, but all rows of one value come back together,
        and ``query``'s ORDER BY holds among them.
        """

    def write_articles(
        self,
        conn: Connection,
        new: Sequence[Mapping[str, Any]],
        changed: Sequence[Mapping[str, Any]],
    ) -> None:
        """Insert ``new`` rows (keys known absent, writer lock held); rewrite ``changed``."""

    def link_entries(self, conn: Connection, links: Sequence[Link], run_id: str) -> None:
        """Point the pending feed entries of each queue URL at their article (or failure)."""

    def seconds_between(self, later: Any, earlier: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """A SQL expression: the seconds from ``earlier`` to ``later`` (two timestamps)."""

    def hour_bucket(self, moment: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """A SQL expression: the UTC hour of a timestamp, cheap to group by (any type)."""

    def hour_label(self, bucket: Any) -> Any:  # noqa: ANN401 - SQL expressions
        """A SQL expression: an ``hour_bucket`` as text ``YYYY-MM-DD HH`` (UTC)."""


def _registry() -> dict[str, Dialect]:
    from ingest.store.dialects.postgresql import PostgreSQL  # noqa: PLC0415 - no import cycle
    from ingest.store.dialects.sqlite import SQLite  # noqa: PLC0415 - no import cycle

    return {"sqlite": SQLite(), "postgresql": PostgreSQL()}


_DIALECTS: dict[str, Dialect] = {}


def for_name(backend: str) -> Dialect:
    """The dialect of a SQLAlchemy backend name (``sqlite``, ``postgresql``)."""
    if not _DIALECTS:
        _DIALECTS.update(_registry())
    try:
        return _DIALECTS[backend]
    except KeyError:
        raise WarehouseError(
            f"unsupported warehouse database {backend!r} (supported: sqlite, postgresql)"
        ) from None


def of(conn: Connection | Engine) -> Dialect:
    """The dialect of a connection or engine."""
    return for_name(conn.dialect.name)


__all__ = ["WRITE_CHUNK", "Dialect", "Link", "chunks", "for_name", "of", "write_chunks"]
