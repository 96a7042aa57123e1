"""The check step: judge a run by the health rules, and send the alerts it gives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ingest import alerts, monitor
from ingest.errors import RunUnhealthy
from ingest.logs import get_logger

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.alerts import Channel
    from ingest.monitor import RunCheck
    from ingest.settings import Settings

log = get_logger(__name__)


def check_run(
    engine: Engine, settings: Settings, run_id: str, channels: Sequence[Channel] | None = None
) -> RunCheck:
    """The check step: log the run's one-screen summary; raise if it broke a health rule.

    With ``channels``, it also notes each feed's and the freshness rule's state and sends
    the transitions (and any alert still waiting) through them (:mod:`ingest.alerts`).
    Raises :class:`~ingest.errors.RunUnhealthy` (the run shows red) listing each rule broken.
    """
    result = monitor.check_run(engine, run_id, monitor.CheckRule.of(settings))
    for line in result.lines():
        (log.info if result.healthy else log.warning)("%s", line)
    if channels is not None:
        noted = alerts.note(engine, settings, result)
        delivery = alerts.deliver(engine, channels)
        if noted or delivery.sent or delivery.waiting:
            log.info(
                "alerts: %d new transition(s), %d sent, %d waiting for a channel",
                len(noted), len(delivery.sent), len(delivery.waiting),
            )  # fmt: skip
    if not result.healthy:
        raise RunUnhealthy(f"run {run_id}: " + "; ".join(result.problems))
    return result


__all__ = ["check_run"]
