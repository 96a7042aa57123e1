"""The news-ingest dashboard: a FastAPI app the Airflow plugin mounts at ``/news-ingest``.

Server-rendered HTML (Jinja2, autoescaped; inline SVG charts; no script at all, and a
Content-Security-Policy that allows none), a JSON API and Prometheus metrics, every
number from :mod:`ingest.monitor`, so the pages, the API and ``ingest stats`` agree.

Airflow gives a plugin's app no authentication of its own: every route here depends on
Airflow's ``requires_access_dag("GET")`` for the ``news_ingest`` DAG, which reads the
Bearer token first and then the UI's session cookie (``_token``). An anonymous request
gets 401; an invalid token 403. Request input never builds SQL: windows, pages and page
sizes are bounded numbers, and a reason or run id is only ever a bound parameter.
"""

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from ingest import monitor
from ingest.errors import IngestError
from ingest.models import FeedStatus, Reason
from ingest.textutil import visible
from ingest_airflow import render

if TYPE_CHECKING:  # (no postponed annotations here: FastAPI reads these at run time)
    from sqlalchemy import Engine

    from ingest.settings import Settings

DAG_ID = "news_ingest"
PREFIX = "/news-ingest"
TEMPLATES = Path(__file__).parent / "templates"
#: No script, no frames of others, nothing fetched from elsewhere: page text stays text.
CSP = (
    "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'self'"
)


Hours = Annotated[float, Query(gt=0, le=monitor.MAX_WINDOW_HOURS)]
Page = Annotated[int, Query(alias="page", ge=1, le=1_000_000)]
PerPage = Annotated[int, Query(ge=1, le=monitor.MAX_PAGE_SIZE)]
ReasonQ = Annotated[str | None, Query(max_length=40)]
StatusQ = Annotated[str | None, Query(max_length=20)]
RunId = Annotated[str, Query(min_length=1, max_length=250)]


@functools.cache
def _warehouse() -> "tuple[Settings, Engine]":
    """The settings and a read-only engine on the warehouse (one per API server process).

    A warehouse that is not there yet (or not at this code's revision) raises, and is
    not cached: the next request looks again.
    """
    from ingest.settings import load_settings
    from ingest.store.engine import open_warehouse
    from ingest_airflow import warehouse_url

    settings = load_settings()
    return settings, open_warehouse(warehouse_url(settings), read_only=True)


def create_app() -> FastAPI:  # noqa: C901 - the routes are one flat list
    """The app: pages, JSON API and metrics, all behind Airflow's DAG read permission."""
    from airflow.api_fastapi.core_api.security import requires_access_dag

    app = FastAPI(
        title="news-ingest",
        dependencies=[Depends(requires_access_dag("GET", param_dag_id=DAG_ID))],
        docs_url=None, redoc_url=None, openapi_url=None,  # nothing unauthenticated
    )  # fmt: skip

    @app.exception_handler(IngestError)
    async def unavailable(request: Request, exc: IngestError) -> Response:
        # A missing or unmigrated warehouse, bad settings: say what, not a trace.
        del request
        return PlainTextResponse(f"news-ingest: {visible(str(exc))[:500]}", status_code=503)

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Response:  # noqa: ANN401 - Starlette's
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cache-Control"] = "no-store"
        return response

    def engine() -> "Engine":
        return _warehouse()[1]

    def rule() -> monitor.SilenceRule:
        return monitor.SilenceRule.of(_warehouse()[0])

    def known_reason(reason: str | None) -> str | None:
        if reason is None or reason == "":
            return None
        if reason not in {r.value for r in Reason}:
            raise HTTPException(422, "unknown failure reason")
        return reason

    def page(template: str, request: Request, **values: Any) -> HTMLResponse:  # noqa: ANN401
        return HTMLResponse(render.page(template, base=_base(request), **values))

    @app.get("/", response_class=HTMLResponse)
    def dashboard(request: Request, hours: Hours = 24) -> HTMLResponse:
        health = monitor.feeds_health(engine(), rule())
        summary = monitor.summary(engine(), hours, health=health)
        day = summary if hours == 24 else monitor.summary(engine(), 24, health=health)  # noqa: PLR2004
        last_hour = monitor.summary(engine(), 1, health=health)
        recent = monitor.failures(engine(), hours, per_page=20)
        return page(
            "dashboard.html", request, s=summary, day=day, hour=last_hour,
            unhealthy=[h for h in health if h.status not in (FeedStatus.OK, FeedStatus.DISABLED)],
            recent=recent, charts=render.charts(summary),
            latest=monitor.latest_articles(engine(), 10),
        )  # fmt: skip

    @app.get("/feeds", response_class=HTMLResponse)
    def feeds(request: Request, status: StatusQ = None) -> HTMLResponse:
        health = monitor.feeds_health(engine(), rule())
        if status and status not in {s.value for s in FeedStatus}:
            raise HTTPException(422, "unknown feed status")
        shown = [h for h in health if not status or h.status.value == status]
        return page("feeds.html", request, feeds=shown, counts=monitor.status_counts(health),
                    status=status)  # fmt: skip

    @app.get("/failures", response_class=HTMLResponse)
    def failures(
        request: Request, hours: Hours = 24, page_no: Page = 1,
        per_page: PerPage = 50, reason: ReasonQ = None,
    ) -> HTMLResponse:  # fmt: skip
        found = monitor.failures(engine(), hours, page=page_no, per_page=per_page,
                                 reason=known_reason(reason))  # fmt: skip
        return page("failures.html", request, f=found, reason=reason or "")

    @app.get("/dag", response_class=HTMLResponse)
    def dag_tab(request: Request, hours: Hours = 24) -> HTMLResponse:
        summary = monitor.summary(engine(), hours, rule=rule())
        return page("dag.html", request, s=summary, runs=monitor.recent_runs(engine(), 25))

    @app.get("/run", response_class=HTMLResponse)
    def run_page(request: Request, run_id: RunId) -> HTMLResponse:
        return page("run.html", request, r=monitor.run_view(engine(), run_id))

    @app.get("/api/health")
    def api_health() -> JSONResponse:
        health = monitor.feeds_health(engine(), rule())
        return JSONResponse({"counts": monitor.status_counts(health),
                             "feeds": [h.as_dict() for h in health]})  # fmt: skip

    @app.get("/api/summary")
    def api_summary(hours: Hours = 24) -> JSONResponse:
        return JSONResponse(monitor.summary(engine(), hours, rule=rule()).as_dict())

    @app.get("/api/failures")
    def api_failures(
        hours: Hours = 24, page_no: Page = 1,
        per_page: PerPage = 50, reason: ReasonQ = None,
    ) -> JSONResponse:  # fmt: skip
        found = monitor.failures(engine(), hours, page=page_no, per_page=per_page,
                                 reason=known_reason(reason))  # fmt: skip
        return JSONResponse(found.as_dict())

    @app.get("/api/runs/{run_id}")
    def api_run(run_id: str) -> JSONResponse:
        view = monitor.run_view(engine(), run_id[:250])
        if not view.found:
            raise HTTPException(404, "no such run in the warehouse")
        return JSONResponse(view.as_dict())

    @app.get("/metrics", response_class=PlainTextResponse)
    def metrics() -> Response:
        health = monitor.feeds_health(engine(), rule())
        text, content_type = render.prometheus(
            monitor.summary(engine(), 1, health=health),
            monitor.summary(engine(), 24, health=health),
        )
        return Response(text, media_type=content_type)

    return app


def _base(request: Request) -> str:
    """The app's own root as the browser sees it (behind Airflow's mount and any proxy)."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return root or PREFIX


__all__ = ["DAG_ID", "PREFIX", "create_app"]
