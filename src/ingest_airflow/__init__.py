"""The one place news-ingest meets Airflow: the adapter between a task and the library.

A task's Connection becomes an Engine, its context becomes plain arguments, and a load's
result becomes the ``news_articles`` Asset event.
``dags/`` uses this package (and so will ``plugins/``); :mod:`ingest` never imports Airflow. Call
these from inside a task (they read the running task's context), never at parse time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Asset
    from sqlalchemy import Engine

    from ingest.request import RunRequest
    from ingest.settings import Settings

WAREHOUSE_CONN_ID = "news_warehouse"


def warehouse_url(settings: Settings, conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """The warehouse's SQLAlchemy URL: the Connection ``conn_id``, else the settings'.

    A postgres Connection goes through the postgres provider's hook (its
    ``sqlalchemy_scheme`` and ``sqlalchemy_query`` extras, IAM tokens); its other extras
    (``sslmode``, ``options``...) are libpq parameters, as the hook's own connections take
    them, so a Connection asking for TLS gets TLS (the hook's own ``sqlalchemy_url``
    drops them). A sqlite Connection names the file in its host (or schema) field; the
    sqlite provider's hook is not used: its URL for an absolute path has five slashes.
    """
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    from ingest.store.engine import url_from_connection

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return settings.resolved_warehouse_url
    if (conn.conn_type or "").lower() in ("postgres", "postgresql"):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from ingest.errors import ConfigError

        hook = PostgresHook(postgres_conn_id=conn_id)
        url = hook.sqlalchemy_url
        if url.drivername not in ("postgresql", "postgresql+psycopg"):
            raise ConfigError(
                f"Connection {conn_id!r} asks for the driver {url.drivername!r}; the warehouse "
                "loads through psycopg 3 (COPY): leave sqlalchemy_scheme unset or postgresql+psycopg"
            )
        libpq = {
            k: ("1" if v else "0") if isinstance(v, bool) else str(v)
            for k, v in conn.extra_dejson.items()
            if k not in PostgresHook.ignored_extra_options and k not in url.query
        }
        url = url.set(drivername="postgresql+psycopg").update_query_dict(libpq)
        return url.render_as_string(hide_password=False)
    return url_from_connection(
        conn.conn_type or "", conn.host, conn.schema, conn.login, conn.password, conn.port
    )


def warehouse(conn_id: str = WAREHOUSE_CONN_ID) -> tuple[Settings, Engine]:
    """The settings (``INGEST_*``) and an engine on the warehouse."""
    from ingest.settings import load_settings
    from ingest.store.engine import make_engine

    settings = load_settings()
    return settings, make_engine(warehouse_url(settings, conn_id))


@dataclass(frozen=True, slots=True)
class RunContext:
    """What a task needs to know of its DAG run, as plain values."""

    run_id: str
    run_type: str  # "scheduled", "manual", "backfill", "asset_triggered"
    interval: tuple[datetime | None, datetime | None]
    due_at: datetime  # the moment the run's work is due: its interval's end
    params: Mapping[str, Any] = field(default_factory=dict)
    requested_at: datetime | None = None  # when the run was asked for (run_after)

    @property
    def is_backfill(self) -> bool:
        """A run of ``airflow backfill create`` (or the UI's backfill form)."""
        return self.run_type == "backfill"

    @property
    def request(self) -> RunRequest:
        """What the trigger asked for (:mod:`ingest_airflow.params`); a ConfigError if bad."""
        from ingest_airflow.params import run_request

        return run_request(dict(self.params))

    def poll_window(self) -> dict[str, datetime | None]:
        """``poll_shard``'s guard against polling a feed twice in one run.

        Due at the run's end; for a run that polls now, not polled since it was asked for.
        """
        if self.request.poll_now:
            return {"unpolled_since": self.requested_at or self.due_at}
        return {"due_at": self.due_at}


def run_context() -> RunContext:
    """The running task's DAG run.

    A run triggered without a logical date (Airflow 3 allows it) has no data interval;
    its work is what is due when it was asked to run (``run_after``).
    """
    from airflow.sdk import get_current_context

    context = get_current_context()
    run = context["dag_run"]
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return RunContext(
        run_id=str(context["run_id"]),
        run_type=str(getattr(run.run_type, "value", run.run_type)),
        interval=(start, end),
        due_at=end or context.get("logical_date") or run.run_after,
        params=dict(context.get("params") or {}),
        requested_at=run.run_after,
    )


@contextmanager
def counted_even_if_it_fails() -> Iterator[None]:
    """Let a step that fails on a bug of ours still hand its counts to the run's load.

    The step saved its other items before raising :class:`~ingest.errors.InternalError`;
    its counts become the task's XCom (as a return value would), so the ``load`` task,
    which runs anyway, puts them in the run's ledger. The task still fails.
    """
    from airflow.sdk import get_current_context

    from ingest.errors import InternalError

    try:
        yield
    except InternalError as exc:
        get_current_context()["ti"].xcom_push(key="return_value", value=exc.counts)
        raise


def publish(asset: Asset, summary: Mapping[str, Any] | None) -> None:
    """Emit the ``asset`` event (its extra: the load's counts) only if articles changed.

    A load that inserted and updated nothing (or did not run) skips the task, and a
    skipped task emits no event: downstream DAGs scheduled on the asset do not run for
    nothing.
    """
    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowSkipException

    if not summary or not (summary.get("inserted") or summary.get("updated")):
        raise AirflowSkipException("no article inserted or updated: no news_articles event")
    get_current_context()["outlet_events"][asset].extra = dict(summary)


__all__ = [
    "WAREHOUSE_CONN_ID",
    "RunContext",
    "counted_even_if_it_fails",
    "publish",
    "run_context",
    "warehouse",
    "warehouse_url",
]
