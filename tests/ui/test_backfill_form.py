"""The news_backfill form, used as an operator uses it: in the browser, as admin.

The form offers the sources, the registry's feeds, two date pickers, the limits and a dry
run; what it sends is the run's conf, which `prepare` turns into the backfill (tested with
real runs in tests/dags/test_news_backfill_run.py). A source the form does not offer is
refused at the REST API with Airflow's message, and no run is made.
"""

from __future__ import annotations

import pytest
from test_trigger import api

from airflow_servers import signed_in
from ui_site import USERS, shot

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG = "news_backfill"


def runs(server) -> list[dict]:
    status, body = api(server, "GET", f"/dags/{DAG}/dagRuns?order_by=-run_after&limit=100")
    assert status == 200, body
    return body["dag_runs"]


@pytest.fixture
def no_new_runs(api_server):
    before = {r["dag_run_id"] for r in runs(api_server)}
    yield before
    for run in runs(api_server):
        if run["dag_run_id"] not in before:
            api(api_server, "DELETE", f"/dags/{DAG}/dagRuns/{run['dag_run_id']}")


def test_the_api_refuses_a_source_the_form_does_not_offer(api_server, no_new_runs):
    conf = {"source": "gopher", "date_from": "2026-11-01", "date_to": "2026-11-30"}
    status, body = api(api_server, "POST", f"/dags/{DAG}/dagRuns",
                       {"logical_date": None, "conf": conf})  # fmt: skip
    assert status == 400, body
    assert "'gopher' is not one of" in body["detail"]
    assert {r["dag_run_id"] for r in runs(api_server)} == no_new_runs


def test_the_form_sends_the_days_and_a_dry_run(browser, api_server, no_new_runs):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    base = api_server.base
    try:
        page.goto(f"{base}/auth/login/?next={base}/dags/{DAG}")
        name, password = USERS["admin"]
        page.get_by_label("Username").fill(name)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(signed_in(f"/dags/{DAG}"), timeout=60_000)
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_text("Run Parameters").wait_for(timeout=60_000)
        labels = {t.replace("*", "").strip()
                  for t in dialog.locator("label[data-part=label]").all_inner_texts()}  # fmt: skip
        assert {"Source", "Feeds", "From (UTC day)", "To (UTC day)", "Dry run",
                "Pages per publisher (sitemaps)", "WARC files (CC-NEWS)",
                "Time per shard (minutes)", "CC-NEWS base URL"} <= labels, labels  # fmt: skip
        dialog.locator("input[type=date]").nth(0).fill("2026-11-01")
        dialog.locator("input[type=date]").nth(1).fill("2026-11-30")
        dialog.locator("#switch\\:element_dry_run").click()
        shot(page, "backfill-form")
        dialog.get_by_role("button", name="Trigger").click()
        page.get_by_text("Dag Run Triggered").first.wait_for(timeout=60_000)
        made = [r for r in runs(api_server) if r["dag_run_id"] not in no_new_runs]
        assert len(made) == 1, made
        conf = made[0]["conf"]
        assert (conf["source"], conf["date_from"], conf["date_to"], conf["dry_run"]) == (
            "sitemaps", "2026-11-01", "2026-11-30", True,
        )  # fmt: skip
        assert conf["max_pages"] == 1000 and conf["feeds"] == []
    finally:
        context.close()
