"""The news-ingest plugin: the dashboard app at /news-ingest and its places in the UI.

Thin on purpose: the app, its access checks and its pages are
:mod:`ingest_airflow.web`; the numbers are :mod:`ingest.monitor`'s.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from ingest_airflow.web import DAG_ID, PREFIX, create_app


class NewsIngestPlugin(AirflowPlugin):
    """A "News ingest" page in the navigation, a tab on the DAG, a view of each run."""

    name = "news_ingest"
    fastapi_apps = [{"app": create_app(), "url_prefix": PREFIX, "name": "News ingest"}]  # noqa: RUF012 - Airflow's API
    external_views = [  # noqa: RUF012 - Airflow's API
        {
            "name": "News ingest",
            "href": f"{PREFIX.lstrip('/')}/",
            "destination": "nav",
            "url_route": "news-ingest",
            "category": "browse",
        },
        {
            "name": "News ingest",
            "href": f"{PREFIX.lstrip('/')}/dag?dag_id={{DAG_ID}}",
            "destination": "dag",
            "url_route": "news-ingest-dag",
        },
        {
            "name": "News ingest",
            "href": f"{PREFIX.lstrip('/')}/run?run_id={{RUN_ID}}",
            "destination": "dag_run",
            "url_route": "news-ingest-run",
        },
    ]


__all__ = ["DAG_ID", "NewsIngestPlugin"]
