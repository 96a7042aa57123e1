"""Where alerts go: a log line always; e-mail and Slack when the settings name them.

- **log**: one line per alert on the task's log (ERROR, WARNING or INFO by its level);
- **email**: ``INGEST_ALERT_EMAIL_TO`` (comma-separated) through the smtp Connection
  ``INGEST_ALERT_SMTP_CONN_ID`` (default ``smtp_default``) and the SMTP provider's hook;
- **slack**: the slackwebhook Connection ``INGEST_ALERT_SLACK_CONN_ID`` through the Slack
  provider's hook (``news-ingest[slack]``).

The providers' notifiers render their fields as Jinja templates; alert text quotes feed
titles and errors, which are hostile, so the hooks are called with finished text instead
(HTML-escaped for e-mail, Slack's ``&<>`` escaped). A channel that cannot deliver raises
:class:`~ingest.errors.AlertUndelivered`; :mod:`ingest.alerts` keeps the alert waiting.
:class:`RunFailedNotifier` is the DAG's ``on_failure_callback``: it tells every channel
that a run failed, with the run's own check.
"""

from __future__ import annotations

import html
import logging
import smtplib
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from ingest.errors import AlertUndelivered, ConfigError, IngestError
from ingest.logs import get_logger
from ingest.models import Alert, AlertLevel

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy import Engine

    from ingest.alerts import Channel
    from ingest.settings import Settings

log = get_logger("ingest.alerts")  # the alerts' own logger, lines kept whole

_LEVELS = {AlertLevel.ERROR: logging.ERROR, AlertLevel.WARNING: logging.WARNING,
           AlertLevel.INFO: logging.INFO}  # fmt: skip
SUBJECT_PREFIX = "[news-ingest]"
DEFAULT_FROM = "news-ingest@localhost"


class LogChannel:
    """One log line per alert; it always delivers."""

    name = "log"

    def send(self, alert: Alert) -> None:
        """Log ``alert`` on one line (its text is already escaped: no line breaks)."""
        log.log(_LEVELS[alert.level], "ALERT %s %s | %s", alert.level.value.upper(),
                alert.subject, " | ".join(alert.body))  # fmt: skip


def email_html(alert: Alert) -> str:
    """The e-mail body: the alert as escaped text, nothing from outside left live."""
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in alert.body)
    return (
        f"<p><strong>{html.escape(alert.subject)}</strong> ({alert.level.value}, since "
        f"{alert.since:%Y-%m-%d %H:%M} UTC)</p><ul>{lines}</ul>"
        "<p>news-ingest: see the News ingest dashboard in Airflow.</p>"
    )


class EmailChannel:
    """E-mail through an smtp Connection (the SMTP provider's hook)."""

    name = "email"

    def __init__(self, to: Sequence[str], conn_id: str, from_email: str | None) -> None:
        self.to = list(to)
        self.conn_id = conn_id
        self.from_email = from_email

    def send(self, alert: Alert) -> None:
        """Send ``alert`` to every recipient in one message."""
        from airflow.providers.smtp.hooks.smtp import SmtpHook
        from airflow.sdk.exceptions import AirflowException

        try:
            with SmtpHook(smtp_conn_id=self.conn_id) as hook:
                hook.send_email_smtp(
                    to=self.to,
                    from_email=self.from_email or hook.from_email or DEFAULT_FROM,
                    subject=f"{SUBJECT_PREFIX} {alert.subject}",
                    html_content=email_html(alert),
                    mime_subtype="alternative",
                )
        except (AirflowException, smtplib.SMTPException, OSError) as exc:
            raise AlertUndelivered(f"smtp Connection {self.conn_id!r}: {exc}") from exc


def slack_text(alert: Alert) -> str:
    """The Slack message: Slack's control characters escaped, so no mention or link forms."""

    def esc(text: str) -> str:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    body = "\n".join(f"• {esc(line)}" for line in alert.body)
    return f"*{esc(SUBJECT_PREFIX)} {esc(alert.subject)}* ({alert.level.value})\n{body}"


class SlackChannel:
    """Slack through a slackwebhook Connection (the Slack provider's hook)."""

    name = "slack"

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id

    def send(self, alert: Alert) -> None:
        """Post ``alert`` to the Connection's webhook."""
        try:
            from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook
        except ImportError as exc:
            raise AlertUndelivered(
                "the Slack provider is not installed: install news-ingest[slack]"
            ) from exc
        from airflow.sdk.exceptions import AirflowException
        from slack_sdk.errors import SlackClientError

        try:
            SlackWebhookHook(slack_webhook_conn_id=self.conn_id).send_text(slack_text(alert))
        except (AirflowException, SlackClientError, OSError) as exc:
            raise AlertUndelivered(f"slackwebhook Connection {self.conn_id!r}: {exc}") from exc


def _connection(conn_id: str, setting: str, kinds: tuple[str, ...]) -> None:
    """Refuse a channel whose Connection is missing or of another type, naming the setting."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(f"{setting}: there is no Airflow Connection {conn_id!r}") from None
    if (conn.conn_type or "").lower() not in kinds:
        raise ConfigError(
            f"{setting}: the Connection {conn_id!r} is of type {conn.conn_type!r}, "
            f"not {' or '.join(kinds)}"
        )


class UnusableChannel:
    """A configured channel that cannot work: every alert waits for it, saying why."""

    def __init__(self, name: str, why: ConfigError) -> None:
        self.name, self.why = name, why

    def send(self, alert: Alert) -> None:
        """Refuse: the alert waits for this channel until its configuration is fixed."""
        del alert
        raise AlertUndelivered(f"not usable: {self.why}")


def _email(settings: Settings) -> Channel:
    _connection(settings.alert_smtp_conn_id, "INGEST_ALERT_SMTP_CONN_ID", ("smtp", "email"))
    return EmailChannel(
        settings.alert_email_to, settings.alert_smtp_conn_id, settings.alert_email_from
    )


def _slack(settings: Settings) -> Channel:
    assert settings.alert_slack_conn_id  # noqa: S101 - the caller checked it is set
    try:
        import airflow.providers.slack  # noqa: F401 - is the provider there?
    except ImportError:
        raise ConfigError(
            "INGEST_ALERT_SLACK_CONN_ID is set but the Slack provider is not installed: "
            "install news-ingest[slack]"
        ) from None
    _connection(settings.alert_slack_conn_id, "INGEST_ALERT_SLACK_CONN_ID", ("slackwebhook",))
    return SlackChannel(settings.alert_slack_conn_id)


def configured(settings: Settings) -> tuple[list[Channel], list[ConfigError]]:
    """The channels the settings ask for, the log first, and what is wrong with any.

    A channel that cannot work (its Connection missing or of another type, the Slack
    provider not installed) comes as an :class:`UnusableChannel`, so the alerts wait for
    it (and reach it once it is fixed) while the others are served.
    """
    out: list[Channel] = [LogChannel()]
    problems: list[ConfigError] = []
    wanted = [("email", _email)] if settings.alert_email_to else []
    wanted += [("slack", _slack)] if settings.alert_slack_conn_id else []
    for name, build in wanted:
        try:
            out.append(build(settings))
        except ConfigError as exc:
            out.append(UnusableChannel(name, exc))
            problems.append(exc)
    return out, problems


def channels(settings: Settings) -> list[Channel]:
    """The channels the settings ask for, the log first; a ConfigError if one cannot work."""
    out, problems = configured(settings)
    if problems:
        raise problems[0]
    return out


def judge_run(engine: Engine, settings: Settings, run_id: str) -> None:
    """The ``check`` task: judge the run, note and send its alerts (:mod:`ingest.alerts`).

    A channel that cannot work does not stop the judging, nor the other channels: the
    alerts wait for it, and the task fails on its configuration once all else is done
    (a run that broke a rule fails on that first).
    """
    from ingest.pipeline import check_run

    outlets, problems = configured(settings)
    for problem in problems:
        log.error("an alert channel cannot work; its alerts wait: %s", problem)
    check_run(engine, settings, run_id, outlets)
    if problems:
        raise problems[0]


class RunFailedNotifier(BaseNotifier):
    """The DAG's failure callback: tells every channel that a run failed, and why.

    Its text is built from the warehouse (the run's check) and the callback's context
    (the reason, the last task to fail); nothing of it is rendered as a template.
    """

    template_fields = ()

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:  # noqa: ANN401
        """Render nothing: no field is a template.

        (``dag.test()`` also hands callbacks a serialized DAG, which has no template
        environment.)
        """

    def notify(self, context: Any) -> None:  # noqa: ANN401 - Airflow's Context
        """Send the run's failure through every channel (each refusal is logged).

        Settings or a Connection that cannot be used (perhaps why the run failed) leave
        the log channel: the failure is told there, with why the others are out.
        """
        from ingest import alerts
        from ingest_airflow import warehouse

        run_id, reason = str(context.get("run_id")), context.get("reason")
        failed_task = getattr(context.get("ti"), "task_id", None)
        try:
            settings, engine = warehouse()
            outlets = channels(settings)
        except IngestError as exc:
            LogChannel().send(alerts.run_failed_unread(run_id, reason, failed_task, exc))
            raise
        try:
            alert = alerts.run_failed(
                engine, settings, run_id, reason=reason, failed_task=failed_task
            )
        finally:
            engine.dispose()
        errors = alerts.send(alert, outlets)
        if errors:
            raise IngestError("run failure not delivered: " + "; ".join(errors))


__all__ = [
    "EmailChannel", "LogChannel", "RunFailedNotifier", "SlackChannel", "UnusableChannel",
    "channels", "configured", "email_html", "judge_run", "slack_text",
]  # fmt: skip
