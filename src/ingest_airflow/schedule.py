"""``news_ingest``'s schedule, from ``INGEST_SCHEDULE``: a cron interval, or continuous.

* A cron expression (the default, every quarter hour) gives a data-interval timetable:
  runs cover ``[start, end)`` intervals, which ``airflow backfill create`` can name and
  re-extract from the raw archive.
* ``@continuous`` starts a new run as soon as the last one ends (one at a time), so feeds
  are polled as they fall due and a story is stored within a run of being seen. Airflow
  refuses backfills of a continuous DAG: re-extract history with ``news_backfill``'s
  archive source (or ``ingest backfill archive``) instead. docs/operations.md compares the
  two (and docs/benchmarks.md measures the lag).

This runs at DAG parse time: it reads the environment only. A bad value is a
:class:`~ingest.errors.ConfigError` naming the variable, which Airflow shows as the DAG
file's import error.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.errors import ConfigError
from ingest.settings import CONTINUOUS, load_settings

if TYPE_CHECKING:
    from airflow.sdk.bases.timetable import BaseTimetable


def ingest_schedule() -> BaseTimetable | str:
    """The timetable ``INGEST_SCHEDULE`` names (``"@continuous"`` is Airflow's own)."""
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.sdk.exceptions import AirflowTimetableInvalid

    expression = load_settings().schedule
    if expression == CONTINUOUS:
        return CONTINUOUS
    # A cron one, so that the UI describes it ("Every 15 minutes"); UTC, like the warehouse.
    timetable = CronDataIntervalTimetable(expression, timezone="UTC")
    try:
        timetable.validate()
    except AirflowTimetableInvalid as exc:
        raise ConfigError(f"INGEST_SCHEDULE={expression!r}: {exc}") from None
    return timetable
