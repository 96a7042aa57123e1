"""The dashboard as its users meet it: through a real Airflow API server, logged in.

Access first (every route refuses an anonymous or forged request), then the numbers (the
JSON, the metrics and the pages show what the warehouse holds, counted independently
here), then the pages in Debian's chromium after logging in on Airflow's own login form:
the numbers on screen, the hostile feed's text inert, the views inside Airflow's UI.
Set ``UI_SCREENSHOTS=<dir>`` to keep a screenshot of each page (docs/images has them).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from airflow_servers import signed_in
from ingest import monitor
from ingest.store import engine as db
from ingest.store.schema import articles, fetch_log
from ui_site import LONG_PATH, MARKUP_HEADER, SCRIPT_TITLE, USERS
from ui_site import shot as _shot

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

APP = "/news-ingest"
ROUTES = ["/", "/feeds", "/failures", "/dag", "/run?run_id=x", "/api/health", "/api/summary",
          "/api/failures", "/api/runs/x", "/metrics"]  # fmt: skip


def get(url: str, *, token: str | None = None, cookie: str | None = None):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if cookie is not None:
        headers["Cookie"] = f"_token={cookie}"
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture(scope="module")
def warehouse(ui_warehouse):
    engine = db.open_warehouse(ui_warehouse.url, read_only=True)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def viewer(api_server):
    return api_server.token("viewer")


# --------------------------------------------------------------------------- access


def _forged(token: str) -> str:
    """The same claims, signed with another key: a token Airflow must not accept."""
    head, claims, _ = token.split(".")
    return f"{head}.{claims}." + base64.urlsafe_b64encode(b"x" * 32).decode().rstrip("=")


@pytest.mark.parametrize("route", ROUTES)
def test_no_route_answers_an_anonymous_or_forged_request(api_server, viewer, route):
    url = f"{api_server.base}{APP}{route}"
    status, _, body = get(url)
    assert status == 401, (route, body[:200])
    for bad in ("not-a-token", _forged(viewer)):
        status, _, body = get(url, token=bad)
        assert status in (401, 403), (route, status)
        assert b"127.0.0" not in body  # nothing of the warehouse leaks
        assert get(url, cookie=bad)[0] in (401, 403)


@pytest.mark.parametrize("route", ROUTES)
def test_a_viewer_reads_every_route_by_token_or_session_cookie(api_server, viewer, route):
    url = f"{api_server.base}{APP}{route}"
    expected = 404 if route == "/api/runs/x" else 200  # no such run: said so
    for auth in ({"token": viewer}, {"cookie": viewer}):
        status, headers, _ = get(url, **auth)
        assert status == expected, (route, auth.keys())
        assert "script-src" not in headers["Content-Security-Policy"]  # no script at all
        assert headers["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.parametrize(
    "query",
    ["/?hours=0", "/?hours=100000", "/?hours=abc", "/failures?page=0",
     "/failures?per_page=100000", "/failures?reason=no_such_reason", "/feeds?status=nope",
     "/api/failures?reason=%27%3B%20DROP%20TABLE%20articles%3B--", "/run"],
)  # fmt: skip
def test_bad_parameters_are_refused_with_422(api_server, viewer, query):
    status, _, body = get(f"{api_server.base}{APP}{query}", token=viewer)
    assert status == 422, (query, body[:300])


# --------------------------------------------------------------------------- numbers


def test_the_api_numbers_are_the_warehouses(api_server, viewer, warehouse):
    status, _, body = get(f"{api_server.base}{APP}/api/summary?hours=24", token=viewer)
    assert status == 200
    shown = json.loads(body)
    with warehouse.connect() as conn:  # counted here, not by the code under test
        stored = conn.execute(select(func.count()).select_from(articles)).scalar()
        lines = conn.execute(
            select(fetch_log.c.reason, func.count())
            .where(fetch_log.c.reason.is_not(None), fetch_log.c.reason != "feed_recovered")
            .group_by(fetch_log.c.reason)
        ).all()
    assert shown["stored"] == stored > 0
    assert shown["failed_by_reason"] == dict(lines)
    assert shown["failed"] == sum(n for _, n in lines)
    reasons = {r for r, _ in lines}
    assert {"bad_scheme", "bad_content_encoding", "http_404", "http_5xx"} <= reasons, reasons
    assert shown["feeds"]["broken"] == 2  # the bad-encoding feed and the demo's malformed one
    assert sum(shown["stored_by_source"].values()) == stored
    library = monitor.summary(warehouse, 24).as_dict()
    for key in ("stored", "stored_by_source", "failed_by_reason", "dedupe", "feeds", "lag_seen"):
        assert shown[key] == library[key], key
    status, _, body = get(f"{api_server.base}{APP}/api/failures?per_page=500", token=viewer)
    failures = json.loads(body)
    assert failures["total"] == shown["failed"] == len(failures["items"])


def test_the_metrics_are_the_summarys(api_server, viewer, warehouse):
    status, headers, body = get(f"{api_server.base}{APP}/metrics", token=viewer)
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    day = monitor.summary(warehouse, 24)
    assert (
        samples[("news_ingest_articles_stored", (("source", ""), ("window", "24h")))] == day.stored
    )
    assert samples[("news_ingest_feeds", (("status", "broken"),))] == 2
    for reason, n in day.failed_by_reason.items():
        assert samples[("news_ingest_failures", (("reason", reason), ("window", "24h")))] == n


# --------------------------------------------------------------------------- in a browser


@pytest.fixture(scope="module")
def session(browser, api_server):
    """A browser context logged in as the viewer on Airflow's own login form."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.goto(f"{api_server.base}/auth/login/?next={api_server.base}{APP}/")
    name, password = USERS["viewer"]
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(signed_in(f"{APP}/"), timeout=60_000)
    assert any(c["name"] == "_token" for c in context.cookies())
    page.close()
    yield context
    context.close()


@pytest.fixture
def page(session):
    page = session.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    yield page
    assert dialogs == []  # no script of the feed's ever ran
    page.close()


def metric(page, name: str) -> str:
    return page.locator(f"[data-metric='{name}']").first.inner_text().strip()


def test_the_dashboard_shows_the_warehouses_numbers(api_server, page, warehouse):
    page.goto(f"{api_server.base}{APP}/")
    s = monitor.summary(warehouse, 24)
    assert metric(page, "stored") == str(s.stored)
    assert metric(page, "failed") == str(s.failed)
    assert metric(page, "dedupe-exact") == str(s.dedupe["exact"])
    assert metric(page, "pending") == str(s.queue["pending"])
    assert "2 broken" in page.get_by_test_id("feed-counts").inner_text()
    rows = page.get_by_test_id("unhealthy-feeds").locator("tr[data-feed]")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.feed)")) == [
        "bad-encoding", "coastline-daily-breaking",
    ]  # fmt: skip
    by_reason = page.get_by_test_id("by-reason").inner_text()
    for reason, n in s.failed_by_reason.items():
        assert f"{reason}\t{n}" in by_reason
    assert page.get_by_test_id("latest-articles").locator("tr[data-article]").count() == 10
    assert page.get_by_test_id("chart-stored").locator("rect").count() >= 1
    _shot(page, "dashboard")


def test_hostile_text_stays_text_on_every_page(api_server, page):
    for route in ("/", "/feeds", "/failures?per_page=500"):
        page.goto(f"{api_server.base}{APP}{route}")
        assert page.title() != "owned"
        assert page.locator("script, img, iframe, object, embed").count() == 0
        assert page.locator("a[href^='javascript'], a[href^='data']").count() == 0
        assert page.locator("[onerror], [onload], [onclick]").count() == 0
    page.goto(f"{api_server.base}{APP}/feeds")
    row = page.locator("tr[data-feed='hostile']")
    assert SCRIPT_TITLE in row.inner_text()  # shown, literally
    assert MARKUP_HEADER in page.locator("tr[data-feed='bad-encoding']").inner_text()
    _shot(page, "feeds")
    page.goto(f"{api_server.base}{APP}/failures?per_page=500")
    text = page.get_by_test_id("failures").inner_text()
    assert "javascript:alert(document.cookie)" in text  # named, not linked
    long_link = page.locator(f"a[href$='{LONG_PATH}']")
    assert long_link.count() == 1
    assert len(long_link.inner_text()) <= 200  # the whole URL in the link, a clip on screen
    _shot(page, "failures")
    page.goto(f"{api_server.base}{APP}/")
    story = page.get_by_test_id("latest-articles").locator("a", has_text="document.title")
    assert story.count() == 1
    assert len(story.inner_text()) <= 160  # a 100 KB title, clipped
    assert story.inner_text().startswith("<script>")


def test_a_run_page_counts_what_the_run_did(api_server, page, warehouse):
    runs = monitor.recent_runs(warehouse, 5)
    assert len(runs) == 2  # the demo site's, then the hostile feeds'
    run = runs[-1]  # the demo site's: it stored most
    view = monitor.run_view(warehouse, run["run_id"])
    page.goto(f"{api_server.base}{APP}/dag")
    page.locator(f"tr[data-run='{run['run_id']}'] a").click()
    assert metric(page, "stored") == str(view.stored) == str(run["inserted"] + run["updated"])
    assert metric(page, "duplicates") == str(view.duplicates)
    failed_rows = page.get_by_test_id("failures").locator("tr[data-testid='failure-row']")
    assert failed_rows.count() == sum(view.failed_by_reason.values()) > 0
    _shot(page, "run")


def test_the_views_live_inside_airflows_ui(api_server, page, warehouse):
    page.goto(f"{api_server.base}/plugin/news-ingest")
    frame = page.frame_locator("iframe")
    stored = frame.locator("[data-metric='stored']").first
    stored.wait_for(timeout=60_000)
    assert stored.inner_text().strip() == str(monitor.summary(warehouse, 24).stored)
    _shot(page, "in-airflow")
    page.goto(f"{api_server.base}/dags/news_ingest/plugin/news-ingest-dag")
    runs = page.frame_locator("iframe").get_by_test_id("runs")
    runs.wait_for(timeout=60_000)
    assert runs.locator("tr[data-run]").count() == len(monitor.recent_runs(warehouse, 25))
    _shot(page, "dag-tab")


def test_the_dags_docs_draw_the_flow_and_its_schedule_reads_in_words(api_server, page, viewer):
    """The doc_md's flow renders as a block of lines (not one line of inline code), whole
    within the docs window; the schedule says itself in words when pointed at."""
    page.goto(f"{api_server.base}/dags/news_ingest")
    page.locator("button[aria-label='Dag Docs']").click()
    dialog = page.get_by_role("dialog")
    code = dialog.locator("code").filter(has_text="plan_feeds").first
    code.wait_for(timeout=60_000)
    lines = code.inner_text().splitlines()
    assert lines[0].startswith("prepare ─► plan_feeds") and len(lines) >= 5, lines
    # the code block's box (the code is inline in it) grows with its longest line
    box, window = code.locator("xpath=..").bounding_box(), dialog.bounding_box()
    fits = box["x"] + box["width"] <= window["x"] + window["width"]
    assert fits, "the flow is wider than the docs window"
    _shot(page, "dag-docs")
    status, _, body = get(f"{api_server.base}/api/v2/dags/news_ingest/details", token=viewer)
    assert status == 200
    assert json.loads(body)["timetable_description"] == "Every 15 minutes"
    page.keyboard.press("Escape")
    page.get_by_text("*/15 * * * *").first.hover(force=True)  # the schedule's tooltip
    page.get_by_text("Every 15 minutes").first.wait_for(timeout=30_000)
