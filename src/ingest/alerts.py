"""Alerts: what an operator hears about, once per transition (docs/operations.md "Alerts").

The subjects and the states they are judged in:

- each feed, ``feed:<key>``: ``broken``, ``silent``, ``disabled``, or ``ok`` (any other
  status: a failing or degraded feed is on the dashboard, not in anyone's inbox);
- ``freshness``: ``stale`` when the check step found nothing stored for longer than the
  freshness limit although feeds were polled, else ``fresh`` (not judged when the rule
  is off or the run polled nothing).

A change into ``broken``, ``silent`` or ``stale`` is announced, and so is the way back
from one of them (a recovery). A subject first seen in a good state, and any change into
``disabled``, is recorded quietly. An announced alert waits in the warehouse until every
channel has taken it: a channel that fails (the SMTP server down) gets it again at the
next check, and a channel that took it never gets it twice. A state that changes again
before its alert went out replaces that alert: the newest state is what is announced.

A failed run is announced by the run itself (the DAG's failure callback, through
:func:`run_failed`), once per failed run. Channels (a log line always; e-mail and Slack
when configured) are the Airflow adapter's; this module knows them only as
:class:`Channel`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from ingest import monitor
from ingest.errors import AlertUndelivered, InternalError, WarehouseError
from ingest.logs import get_logger
from ingest.models import Alert, AlertLevel, FeedStatus
from ingest.store import alerts as store
from ingest.textutil import visible

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.settings import Settings

log = get_logger(__name__)

#: The states worth someone's attention; leaving one of them is a recovery.
BAD_STATES = frozenset({"broken", "silent", "stale"})
#: How long one sender holds the alerts it claimed (a dead sender's go back after it).
CLAIM_S = 300.0
#: The longest line an alert carries (feed text is hostile: a 100 KB title stays short).
MAX_LINE = 300


class Channel(Protocol):
    """Somewhere alerts go: a log, a mailbox, a Slack channel."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver ``alert``; raise :class:`~ingest.errors.AlertUndelivered` if it did not go."""


def _line(text: object) -> str:
    shown = visible(text)
    return shown if len(shown) <= MAX_LINE else shown[: MAX_LINE - 3] + "..."


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "never"


def _feed_state(status: FeedStatus) -> str:
    if status in (FeedStatus.BROKEN, FeedStatus.SILENT, FeedStatus.DISABLED):
        return status.value
    return "ok"


def feed_alert(health: monitor.FeedHealth, previous: str | None, now: datetime) -> Alert:
    """The alert for one feed's current state (``previous``: the state last announced)."""
    state = _feed_state(health.status)
    key = health.feed_key
    if state == "broken":
        level, subject = AlertLevel.ERROR, f"feed {key} is broken"
    elif state == "silent":
        level, subject = AlertLevel.WARNING, f"feed {key} is silent"
    elif previous in BAD_STATES:
        level, subject = AlertLevel.INFO, f"feed {key} recovered (was {previous})"
    else:
        level, subject = AlertLevel.INFO, f"feed {key} is {health.status.value}"
    body = (
        f"status: {health.status.value}: {_line(health.why)}",
        f"feed: {_line(health.url)}",
        f"last success: {_when(health.last_success_at)}; last poll: "
        f"{_when(health.last_polled_at)}; next poll: {_when(health.next_due_at)}",
    )
    return Alert(f"feed:{key}", state, level, _line(subject), body, now)


def freshness_alert(check: monitor.RunCheck, previous: str | None) -> Alert | None:
    """The freshness subject's alert, when the check judged freshness at all."""
    if check.stale is None:
        return None
    newest = f"newest article stored: {_when(check.last_stored_at)}"
    if check.stale:
        why = next((p for p in check.problems if p.startswith("nothing stored")), "")
        return Alert(
            "freshness", "stale", AlertLevel.ERROR, "nothing has landed for too long",
            (_line(why), newest, f"run: {_line(check.run.run_id)}"), check.checked_at,
        )  # fmt: skip
    subject = "articles are landing again" if previous == "stale" else "articles are landing"
    return Alert("freshness", "fresh", AlertLevel.INFO, subject, (newest,), check.checked_at)


def announced(previous: str | None, alert: Alert) -> bool:
    """Whether a change from ``previous`` to the alert's state is told (else kept quietly)."""
    return alert.state in BAD_STATES or (previous in BAD_STATES and alert.state != "disabled")


def note(
    engine: Engine, settings: Settings, check: monitor.RunCheck, *, now: datetime | None = None
) -> list[Alert]:
    """Save each subject's state after the check; return the transitions now waiting."""
    now = now or check.checked_at
    known = store.states(engine)
    current = [
        feed_alert(h, known.get(f"feed:{h.feed_key}"), now)
        for h in monitor.feeds_health(engine, monitor.SilenceRule.of(settings))
    ]
    fresh = freshness_alert(check, known.get("freshness"))
    if fresh is not None:
        current.append(fresh)
    return store.update_states(engine, current, announced, now)


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one delivery round did."""

    sent: list[Alert] = field(default_factory=list)  # every channel took it
    waiting: list[tuple[Alert, str]] = field(default_factory=list)  # with why not


def _offer(alert: Alert, channel: Channel, bugs: list[str]) -> str | None:
    """Hand ``alert`` to ``channel``: None when it took it, else why not.

    A channel that cannot deliver says so (:class:`AlertUndelivered`: an outage, one
    line). Anything else is a bug of ours or of a provider: logged with its trace and
    counted in ``bugs``, so that the step fails once the round is recorded.
    """
    try:
        channel.send(alert)
    except AlertUndelivered as exc:
        # an outage, not a bug: one line, no trace; the alert waits for the next round
        log.error("alert %r not delivered by %s: %s", alert.subject, channel.name, exc)  # noqa: TRY400
        return f"{channel.name}: {exc}"
    except Exception as exc:  # recorded here, then raised as InternalError after the round
        log.exception("alert %r met a bug in channel %s", alert.subject, channel.name)
        bugs.append(f"channel {channel.name}: {type(exc).__name__}: {exc}")
        return f"{channel.name}: {type(exc).__name__} (a bug; see the log)"
    return None


def send(alert: Alert, channels: Sequence[Channel]) -> list[str]:
    """Hand ``alert`` to every channel at once (no state: a failed run's alert); the errors.

    Raises :class:`~ingest.errors.InternalError` after the round when a channel met a bug.
    """
    bugs: list[str] = []
    errors = [e for channel in channels if (e := _offer(alert, channel, bugs)) is not None]
    if bugs:
        raise InternalError("alert channels met a bug: " + "; ".join(bugs))
    return errors


def deliver(
    engine: Engine, channels: Sequence[Channel], *, now: datetime | None = None
) -> Delivery:
    """Send every waiting alert no other sender holds; record each channel that took one.

    Each channel's taking is recorded as soon as it happens, so a channel is told once
    even when another fails, the round is cut short or the sender dies afterwards (only a
    death between a send and its record can repeat that one message: at least once). The
    lease is renewed before each send; an alert whose lease was lost (another sender took
    it over) or whose subject changed state meanwhile is left to its new holder. A channel
    that met a bug fails the step (:class:`~ingest.errors.InternalError`) once every
    alert of the round is recorded.
    """

    def clock() -> datetime:
        return now or datetime.now(UTC)

    token, out = uuid.uuid4().hex, Delivery()
    bugs: list[str] = []
    for item in store.claim(engine, token, clock(), CLAIM_S):
        done, errors = set(item.delivered), []
        for channel in channels:
            if channel.name in done:
                continue
            if not store.renew(engine, item.alert, token, clock(), CLAIM_S):
                break  # not ours any more: its new holder (or its newer state) goes on
            error = _offer(item.alert, channel, bugs)
            if error is None:
                done.add(channel.name)
                store.took(engine, item.alert, token, frozenset(done))
            else:
                errors.append(error)
        else:
            store.settle(engine, item.alert, token, "; ".join(errors) or None, clock())
            if errors:
                out.waiting.append((item.alert, "; ".join(errors)))
            else:
                out.sent.append(item.alert)
    if bugs:
        raise InternalError("alert channels met a bug: " + "; ".join(bugs))
    return out


def run_failed(
    engine: Engine, settings: Settings, run_id: str, *, reason: str | None,
    failed_task: str | None, now: datetime | None = None,
) -> Alert:  # fmt: skip
    """The alert a failed run sends: why, which task, and the run's own check.

    A warehouse that cannot be read (perhaps why the run failed) leaves the check out
    and says so; the alert still goes.
    """
    now = now or datetime.now(UTC)
    body = [
        f"reason: {_line(reason or 'unknown')}"
        + (f"; the last task to fail: {_line(failed_task)}" if failed_task else "")
    ]
    try:
        check = monitor.check_run(engine, run_id, monitor.CheckRule.of(settings), now=now)
    except WarehouseError as exc:
        body.append(f"the warehouse could not be read: {_line(exc)}")
    else:
        body += [_line(line.strip()) for line in check.lines()[1:]]
    return Alert(
        f"run:{run_id}", "failed", AlertLevel.ERROR, _line(f"run {run_id} failed"),
        tuple(body), now,
    )  # fmt: skip


def run_failed_unread(
    run_id: str, reason: str | None, failed_task: str | None, why: Exception
) -> Alert:
    """A failed run's alert when the settings or the channels could not even be read."""
    body = (
        f"reason: {_line(reason or 'unknown')}"
        + (f"; the last task to fail: {_line(failed_task)}" if failed_task else ""),
        f"only this log line tells it: {_line(why)}",
    )
    return Alert(
        f"run:{run_id}", "failed", AlertLevel.ERROR, _line(f"run {run_id} failed"), body,
        datetime.now(UTC),
    )  # fmt: skip


__all__ = [
    "BAD_STATES", "Channel", "Delivery", "announced", "deliver", "feed_alert",
    "freshness_alert", "note", "run_failed", "run_failed_unread", "send",
]  # fmt: skip
