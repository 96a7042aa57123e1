"""Engines, transactions, safe database errors, migrations and the one writer lock.

Every read goes through :func:`reading` and every write through :func:`transaction` (or
:func:`locked`, for writers of ``articles`` and the story clusters), so a database error
always leaves the store as a :class:`~ingest.errors.WarehouseError` whose message carries
no row data and no credentials: :class:`~ingest.errors.WarehouseUnavailable` when retrying
may succeed (a dropped connection, a lock held too long).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from ingest.errors import ConfigError, NotAWarehouse, WarehouseError, WarehouseUnavailable
from ingest.store import dialects

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parents[1] / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
_PASSWORD = re.compile(r"(://[^:/@]*):[^@]*@")


def make_engine(url: str, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS) -> Engine:
    """An Engine for a warehouse URL (``sqlite:///...`` or ``postgresql://...``).

    SQLite gets WAL, a busy timeout and eager write locks; ``postgresql://`` URLs use
    psycopg 3. Statement parameters never appear in errors or logs.
    """
    parsed = make_url(url)
    return dialects.for_name(parsed.get_backend_name()).create_engine(
        parsed, busy_timeout_ms=busy_timeout_ms
    )


def one_per_thread(engine: Engine) -> bool:
    """Whether each thread would see a warehouse of its own (SQLite in memory)."""
    return dialects.of(engine).one_per_thread(engine.url)


def open_warehouse(url: str, *, read_only: bool = False) -> Engine:
    """The engine of the warehouse at ``url``, after checking that it is one we can use.

    ``read_only`` (the commands that only look): the warehouse must exist, be ours and be
    at this code's revision, and nothing is created, migrated or converted. Otherwise a
    missing database is fine (the first run creates it), but another application's
    database, or one that a newer news-ingest migrated, is refused before anything is
    written to it. Raises :class:`NotAWarehouse` (a configuration error) with what to do.
    """
    try:
        parsed = make_url(url)
        dialect = dialects.for_name(parsed.get_backend_name())
    except (ArgumentError, ValueError, WarehouseError) as exc:
        shown = _PASSWORD.sub(r"\1:***@", url)
        raise ConfigError(
            f"not a usable warehouse URL {shown!r} ({exc}); "
            "expected sqlite:///PATH or postgresql://USER@HOST[:PORT]/DATABASE"
        ) from None
    absent = dialect.missing(parsed)
    if absent and read_only:
        raise NotAWarehouse(f"{absent}: run `ingest run` (or `ingest db upgrade`) to create it")
    if not absent:
        looker = dialect.create_engine(
            parsed, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, read_only=True
        )
        try:
            _check_revision(looker, parsed.render_as_string(), need_head=read_only)
        finally:
            looker.dispose()
    if read_only:
        return dialect.create_engine(parsed, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS, read_only=True)
    try:
        return make_engine(url)
    except OSError as exc:  # the SQLite file's folder cannot be made
        raise ConfigError(
            f"cannot create the warehouse's folder ({exc.strerror}: {exc.filename}); "
            "set INGEST_HOME or --warehouse to a place you can write"
        ) from None


def _check_revision(engine: Engine, where: str, *, need_head: bool) -> None:
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            revision = (
                conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
                if "alembic_version" in tables
                else None
            )
    except DBAPIError as exc:
        if dialects.of(engine).not_a_database(exc):
            raise NotAWarehouse(f"{where} is not a news-ingest warehouse: {exc.orig}") from None
        raise sanitised(exc, engine.dialect.name) from None
    head = head_revision()
    if not tables:
        if need_head:
            raise NotAWarehouse(f"{where} is empty: run `ingest run` to create the warehouse")
        return
    if revision is None or not {"feeds", "articles"} <= tables:
        sample = ", ".join(sorted(tables)[:5])
        raise NotAWarehouse(
            f"{where} is not a news-ingest warehouse (its tables: {sample}); "
            "point --warehouse or INGEST_WAREHOUSE_URL at another database"
        )
    if not _known_revision(revision):
        raise NotAWarehouse(
            f"{where} is at schema revision {revision}, which a newer news-ingest wrote "
            f"(this one knows up to {head}): upgrade news-ingest"
        )
    if need_head and revision != head:
        raise NotAWarehouse(
            f"{where} is at schema revision {revision}, older than this news-ingest's "
            f"{head}: run `ingest db upgrade`"
        )


def _known_revision(revision: str) -> bool:
    return revision in _revisions()


def url_from_connection(
    conn_type: str,
    host: str | None,
    schema: str | None = None,
    login: str | None = None,
    password: str | None = None,
    port: int | None = None,
) -> str:
    """A SQLAlchemy URL from the fields of a connection (sqlite or postgres)."""
    kind = (conn_type or "").lower()
    try:
        dialect = dialects.for_name({"postgres": "postgresql"}.get(kind, kind))
    except WarehouseError:
        raise WarehouseError(f"unsupported warehouse connection type {conn_type!r}") from None
    return dialect.connection_url(
        host=host or None, database=schema or None, user=login or None,
        password=password or None, port=port or None,
    ).render_as_string(hide_password=False)  # fmt: skip


def sanitised(exc: DBAPIError, backend: str) -> WarehouseError:
    """A database error without row data or credentials, safe to log.

    PostgreSQL's DETAIL ("Failing row contains (...)") and the statement's parameters are
    dropped; the primary message, SQLSTATE and error class stay.
    """
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    primary = getattr(diag, "message_primary", None) or (
        str(orig).splitlines()[0] if orig is not None else ""
    )
    sqlstate = getattr(orig, "sqlstate", None)
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    message = f"{kind}{f' [{sqlstate}]' if sqlstate else ''}: {primary}"[:500]
    transient = exc.connection_invalidated or dialects.for_name(backend).is_transient(
        exc, sqlstate, primary
    )
    return WarehouseUnavailable(message) if transient else WarehouseError(message)


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only connection; errors come out sanitised, like :func:`transaction`'s."""
    try:
        with engine.connect() as conn:
            yield conn
    except DBAPIError as exc:
        raise sanitised(exc, engine.dialect.name) from None


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One write transaction; committed on success, rolled back on any error.

    Database errors come out as :class:`WarehouseError` (or ``WarehouseUnavailable`` when
    the connection failed), with a message that carries no row data.
    """
    try:
        with engine.connect() as conn:
            conn.execution_options(ingest_write=True)
            with conn.begin():
                yield conn
    except DBAPIError as exc:
        raise sanitised(exc, engine.dialect.name) from None


@contextmanager
def locked(engine: Engine) -> Iterator[Connection]:
    """A write transaction holding the writer lock: one at a time, on every backend.

    Loads, clustering and re-keying take it, so each of their decisions sees every
    committed article and two of them never decide at once (an advisory lock on
    PostgreSQL; on SQLite every write transaction already holds the database's lock).
    """
    with transaction(engine) as conn:
        dialects.of(conn).lock_writers(conn)
        yield conn


class _DryRun(Exception):  # noqa: N818 - a signal, not an error
    """Rolls a dry run's one transaction back."""


@contextmanager
def batches(engine: Engine, *, dry_run: bool) -> Iterator[Callable[[], Any]]:
    """Hands out one locked transaction per batch, or one rolled-back one for a dry run.

    A dry run does all of its batches in one transaction under the writer lock and rolls
    it back at the end, so its counts are exact and nothing is written.
    """
    if not dry_run:

        @contextmanager
        def each() -> Iterator[Connection]:
            with locked(engine) as conn:
                yield conn

        yield each
        return
    try:
        with locked(engine) as conn:

            @contextmanager
            def same() -> Iterator[Connection]:
                yield conn

            yield same
            _roll_back()
    except _DryRun:
        pass


def _roll_back() -> None:
    raise _DryRun


def _alembic_config() -> Config:
    from alembic.config import Config  # noqa: PLC0415 - only to migrate: alembic costs a task's start

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


_REVISION_LINE = re.compile(r"^(down_)?revision\b[^=\n]*=\s*(\S+)\s*$", re.MULTILINE)


@functools.cache
def _revisions() -> dict[str, str | None]:
    """Each migration's revision and the one it follows, read from the scripts' text.

    Alembic's own reading of the scripts imports alembic and runs every migration module (a
    quarter of a second); a run whose warehouse is at the head needs two lines of each.
    """
    found: dict[str, str | None] = {}
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        lines = {
            bool(down): None if value == "None" else value.strip("\"'")
            for down, value in _REVISION_LINE.findall(script.read_text())
        }
        if lines.get(False):
            found[str(lines[False])] = lines.get(True)
    return found


def current_revision(engine: Engine) -> str | None:
    """The warehouse's schema revision (None: not created yet)."""
    with reading(engine) as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        revision = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
        return None if revision is None else str(revision)


def head_revision() -> str:
    """The newest migration's revision id (the one no other migration follows)."""
    revisions = _revisions()
    heads = set(revisions) - set(revisions.values())
    if len(heads) != 1:  # pragma: no cover - the package ships one line of migrations
        raise WarehouseError(f"expected one head migration, found {sorted(heads)}")
    return heads.pop()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the Alembic migrations up to ``revision`` (idempotent).

    Under the writer lock, in one transaction: two processes upgrading at once (two first
    runs on a fresh warehouse) take turns, and the second finds nothing left to do. A
    warehouse already at the head is only read (no lock: a run's start does not wait for
    another run's load).
    """
    if revision == "head" and current_revision(engine) == head_revision():
        return
    from alembic import command  # noqa: PLC0415 - only to migrate: alembic costs a task's start

    config = _alembic_config()
    with locked(engine) as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


__all__ = [
    "head_revision", "locked", "make_engine", "one_per_thread", "open_warehouse", "reading",
    "sanitised", "transaction",
    "upgrade", "url_from_connection",
]  # fmt: skip
