"""Alert channels against real peers: a local SMTP server (aiosmtpd) and a local webhook.

The e-mail goes through the SMTP provider's hook and an smtp Connection; Slack through the
Slack provider's hook and a slackwebhook Connection whose URL is a local HTTP server.
Feed text is hostile: it arrives as text, never as markup, a mention or a header.
What the DAG sends, and when, is tested in tests/dags/test_check_step.py.
"""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest
from werkzeug import Response

import ingest_airflow.alerts  # noqa: F401 - Airflow sets up its logging on import: before caplog
from ingest.errors import AlertUndelivered
from ingest.models import Alert, AlertLevel
from ingest.settings import load_settings

pytestmark = [pytest.mark.airflow]

HOSTILE = Alert(
    key="feed:x", state="broken", level=AlertLevel.ERROR,
    subject="feed x is broken <script>alert(1)</script>",
    body=("status: broken: <img src=x onerror=alert(1)> & <!channel> {{ 7*7 }}",
          "feed: https://x.example/feed"),
    since=datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
)  # fmt: skip


def test_an_alert_reaches_a_real_smtp_server_as_inert_text(smtp_inbox):
    from ingest_airflow.alerts import EmailChannel

    EmailChannel(["ops@news-ingest.test", "oncall@news-ingest.test"], "news_smtp", None).send(
        HOSTILE
    )
    (message,) = smtp_inbox.messages
    assert message["Subject"] == "[news-ingest] feed x is broken <script>alert(1)</script>"
    assert message["From"] == "alerts@news-ingest.test"  # the Connection's from_email
    assert message["X-Envelope-To"] == "ops@news-ingest.test, oncall@news-ingest.test"
    html = smtp_inbox.text(message)
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &lt;!channel&gt;" in html
    assert "<img" not in html and "<script" not in html
    assert "{{ 7*7 }}" in html  # not rendered as a template: no 49


def test_an_smtp_server_that_is_down_leaves_the_alert_undelivered_with_why(monkeypatch):
    from ingest_airflow.alerts import EmailChannel

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once closed
    monkeypatch.setenv(
        "AIRFLOW_CONN_DEAD_SMTP",
        json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                    "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0}}),
    )  # fmt: skip
    with pytest.raises(AlertUndelivered, match="smtp Connection 'dead_smtp'"):
        EmailChannel(["ops@news-ingest.test"], "dead_smtp", "a@b.test").send(HOSTILE)
    with pytest.raises(AlertUndelivered, match="'no_such_conn'"):
        EmailChannel(["ops@news-ingest.test"], "no_such_conn", "a@b.test").send(HOSTILE)


@pytest.fixture
def webhook(httpserver, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_NEWS_SLACK",
        json.dumps({"conn_type": "slackwebhook", "password": httpserver.url_for("/hook/T0/B0/x")}),
    )
    return httpserver


def test_an_alert_reaches_a_slack_webhook_with_slacks_markup_escaped(webhook):
    from ingest_airflow.alerts import SlackChannel

    webhook.expect_oneshot_request("/hook/T0/B0/x", method="POST").respond_with_data("ok")
    SlackChannel("news_slack").send(HOSTILE)
    webhook.check_assertions()
    ((request, _),) = webhook.log
    text = json.loads(request.data)["text"]
    assert text.startswith("*[news-ingest] feed x is broken &lt;script&gt;")
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text  # no @channel mention
    assert "&amp;" in text


def test_a_webhook_that_answers_500_leaves_the_alert_undelivered(webhook):
    from ingest_airflow.alerts import SlackChannel

    webhook.expect_request("/hook/T0/B0/x").respond_with_response(Response("down", status=500))
    with pytest.raises(AlertUndelivered, match="slackwebhook Connection 'news_slack'"):
        SlackChannel("news_slack").send(HOSTILE)


def test_the_settings_choose_the_channels_and_the_log_is_always_one(
    tmp_path, caplog, smtp_inbox, webhook
):
    from ingest_airflow.alerts import EmailChannel, LogChannel, SlackChannel, channels

    plain = channels(load_settings(home=tmp_path))
    assert [type(c) for c in plain] == [LogChannel]
    full = channels(
        load_settings(home=tmp_path, alert_email_to="a@x.test, b@x.test",
                      alert_smtp_conn_id="news_smtp", alert_slack_conn_id="news_slack")
    )  # fmt: skip
    assert [type(c) for c in full] == [LogChannel, EmailChannel, SlackChannel]
    assert full[1].to == ["a@x.test", "b@x.test"] and full[1].conn_id == "news_smtp"
    caplog.set_level("INFO", logger="ingest.alerts")
    LogChannel().send(HOSTILE)
    (record,) = [r for r in caplog.records if r.name == "ingest.alerts"]
    assert record.levelname == "ERROR" and "ALERT ERROR feed x is broken" in record.getMessage()


@pytest.mark.parametrize(
    ("settings", "conns", "named"),
    [
        ({"alert_email_to": "a@x.test", "alert_smtp_conn_id": "nope"}, {},
         "INGEST_ALERT_SMTP_CONN_ID: there is no Airflow Connection 'nope'"),
        ({"alert_slack_conn_id": "news_slack"},
         {"AIRFLOW_CONN_NEWS_SLACK": {"conn_type": "smtp", "host": "x"}},
         "INGEST_ALERT_SLACK_CONN_ID: the Connection 'news_slack' is of type 'smtp'"),
    ],
)  # fmt: skip
def test_a_channel_that_cannot_work_is_a_config_error_at_once(
    tmp_path, monkeypatch, settings, conns, named
):
    from ingest.errors import ConfigError
    from ingest_airflow.alerts import channels

    for name, value in conns.items():
        monkeypatch.setenv(name, json.dumps(value))
    with pytest.raises(ConfigError, match=named):
        channels(load_settings(home=tmp_path, **settings))


def test_a_webhook_url_slack_cannot_use_leaves_the_alert_undelivered(monkeypatch):
    from ingest_airflow.alerts import SlackChannel

    monkeypatch.setenv(
        "AIRFLOW_CONN_ODD_SLACK",
        json.dumps({"conn_type": "slackwebhook", "password": "ftp://127.0.0.1/hook"}),
    )
    with pytest.raises(AlertUndelivered, match="slackwebhook Connection 'odd_slack'"):
        SlackChannel("odd_slack").send(HOSTILE)


def test_a_failed_run_is_still_told_on_the_log_when_the_settings_are_broken(monkeypatch, caplog):
    from ingest.errors import ConfigError
    from ingest_airflow.alerts import RunFailedNotifier

    monkeypatch.setenv("INGEST_ALERT_EMAIL_TO", "Ops <ops@x.test>")
    caplog.set_level("INFO", logger="ingest.alerts")
    with pytest.raises(ConfigError):
        RunFailedNotifier().notify({"run_id": "manual__1", "reason": "task_failure"})
    (record,) = [r for r in caplog.records if r.name == "ingest.alerts"]
    text = record.getMessage()
    assert record.levelname == "ERROR" and "run manual__1 failed" in text
    assert "INGEST_ALERT_EMAIL_TO" in text  # and why the other channels are out


def test_a_channel_that_cannot_work_leaves_the_check_and_the_others_working(
    engine, tmp_path, smtp_inbox, caplog
):
    """The check still judges the run and the log still tells; the e-mail waits for its
    Connection, and goes out once it exists."""
    from datetime import timedelta

    from helpers import failed_poll
    from ingest.errors import ConfigError, RunUnhealthy
    from ingest.models import FeedSpec
    from ingest.store import alerts as store
    from ingest.store import feeds as store_feeds
    from ingest_airflow.alerts import judge_run

    now = datetime.now(UTC)
    store_feeds.sync(engine, [FeedSpec(key="a", url="https://a.example/feed")], now)
    store_feeds.save_polls(engine, [failed_poll("a", now, broken=True)], "r1")
    broken_conn = load_settings(home=tmp_path, alert_email_to="ops@x.test",
                                alert_smtp_conn_id="missing_smtp")  # fmt: skip
    caplog.set_level("INFO")
    with pytest.raises(RunUnhealthy):  # the run's own verdict comes first
        judge_run(engine, broken_conn, "r1")
    assert "ALERT ERROR feed a is broken" in caplog.text  # the log told it
    assert "INGEST_ALERT_SMTP_CONN_ID: there is no Airflow Connection 'missing_smtp'" in (
        caplog.text
    )
    (waiting,) = store.waiting(engine)
    assert waiting.delivered == frozenset({"log"}) and "not usable" in waiting.last_error

    store_feeds.save_polls(
        engine, [failed_poll("a", now + timedelta(minutes=1), broken=True)], "r2"
    )
    with pytest.raises(ConfigError):  # a healthy run: red on the configuration alone
        judge_run(engine, broken_conn, "r2")
    assert smtp_inbox.messages == []
    fixed = load_settings(home=tmp_path, alert_email_to="ops@x.test",
                          alert_smtp_conn_id="news_smtp")  # fmt: skip
    judge_run(engine, fixed, "r2")
    assert smtp_inbox.subjects() == ["[news-ingest] feed a is broken"]
    assert store.waiting(engine) == []
