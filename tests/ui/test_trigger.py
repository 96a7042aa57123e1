"""The trigger form of news_ingest, used as an operator uses it: in the browser, as admin.

The form offers the registry's feeds as a multi-select and the two switches; what it
sends is the run's conf; bad conf typed in its JSON editor is refused with Airflow's
message and no run is made. The same refusal at the REST API, with no browser.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from airflow_servers import signed_in
from ui_site import USERS, shot

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def api(server, method: str, path: str, body: object | None = None):
    request = urllib.request.Request(
        f"{server.base}/api/v2{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {server.token('admin')}",
                 "Content-Type": "application/json"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def runs(server) -> list[dict]:
    status, body = api(server, "GET", "/dags/news_ingest/dagRuns?order_by=-run_after&limit=100")
    assert status == 200, body
    return body["dag_runs"]


@pytest.fixture
def no_new_runs(api_server):
    """Runs this test triggers are deleted after it (no scheduler runs them here)."""
    before = {r["dag_run_id"] for r in runs(api_server)}
    yield before
    for run in runs(api_server):
        if run["dag_run_id"] not in before:
            api(api_server, "DELETE", f"/dags/news_ingest/dagRuns/{run['dag_run_id']}")


@pytest.mark.parametrize(
    ("conf", "named"),
    [({"feeds": ["nope"]}, "'nope' is not one of"), ({"poll_now": "yes"}, "'yes' is not of type")],
)
def test_the_api_refuses_bad_conf_and_makes_no_run(api_server, no_new_runs, conf, named):
    status, body = api(api_server, "POST", "/dags/news_ingest/dagRuns",
                       {"logical_date": None, "conf": conf})  # fmt: skip
    assert status == 400, body
    assert named in body["detail"]
    assert {r["dag_run_id"] for r in runs(api_server)} == no_new_runs


@pytest.fixture
def form(browser, api_server):
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    base = api_server.base
    page.goto(f"{base}/auth/login/?next={base}/dags/news_ingest")
    name, password = USERS["admin"]
    page.get_by_label("Username").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(signed_in("/dags/news_ingest"), timeout=60_000)
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Run Parameters").wait_for(timeout=60_000)
    yield page, dialog
    context.close()


def test_the_form_sends_the_chosen_feeds_and_switches(api_server, form, no_new_runs):
    page, dialog = form
    labels = dialog.locator("label[data-part=label]").all_inner_texts()
    assert {"Feeds", "Poll now", "Retry failed pages now"} <= {
        t.replace("*", "").strip() for t in labels
    }, labels
    picker = dialog.get_by_role("combobox", name="Select one or multiple values")
    picker.click()
    offered = page.get_by_role("option").all_inner_texts()
    assert "valley-ledger-news: Valley Ledger news" in offered or any(
        o.startswith("valley-ledger-news: ") for o in offered
    ), offered
    picker.fill("valley-ledger")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")  # out of the picker (Escape would close the dialog)
    dialog.locator("#switch\\:element_poll_now").click()
    shot(page, "trigger-form")
    dialog.get_by_role("button", name="Trigger").click()
    page.get_by_text("Dag Run Triggered").first.wait_for(timeout=60_000)  # then the run's page
    made = [r for r in runs(api_server) if r["dag_run_id"] not in no_new_runs]
    assert len(made) == 1, made
    assert made[0]["conf"] == {
        "feeds": ["valley-ledger-news"], "poll_now": True, "retry_failed": False,
    }  # fmt: skip


def test_the_forms_defaults_trigger_a_run_for_every_feed(api_server, form, no_new_runs):
    page, dialog = form
    dialog.get_by_role("button", name="Trigger").click()
    page.get_by_text("Dag Run Triggered").first.wait_for(timeout=60_000)
    made = [r for r in runs(api_server) if r["dag_run_id"] not in no_new_runs]
    assert [r["conf"] for r in made] == [{"feeds": [], "poll_now": False, "retry_failed": False}]


def test_bad_conf_in_the_form_is_refused_with_a_message(api_server, form, no_new_runs):
    page, dialog = form
    dialog.get_by_text("Advanced Options").click()
    dialog.locator("[role=code]").click()  # the Monaco JSON editor of the run's conf
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(json.dumps({"feeds": ["no-such-feed"]}))
    dialog.get_by_role("button", name="Trigger").click()
    refusal = page.get_by_text("is not one of", exact=False).first  # Airflow's 400, shown
    refusal.wait_for(timeout=60_000)
    assert "no-such-feed" in refusal.inner_text()
    shot(page, "trigger-refused")
    assert {r["dag_run_id"] for r in runs(api_server)} == no_new_runs
