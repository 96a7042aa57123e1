"""Alert states: what each subject was last announced as, and the alerts waiting to go out.

:func:`update_states` saves the current states and turns the transitions the caller's
policy wants announced into waiting alerts, under the writer lock, so that two checks at
once announce a transition once. :func:`claim` leases waiting alerts to one sender, which
:func:`renew` s its lease before each send, records each channel that took one at once
(:func:`took`) and :func:`settle` s the round. Every write names the transition (subject,
state and since) and the sender, so a sender whose lease ran out, or whose alert a newer
state replaced, changes nothing. The policy lives in :mod:`ingest.alerts`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, insert, or_, select, update

from ingest.models import Alert, AlertLevel
from ingest.store.engine import locked, reading, transaction
from ingest.store.schema import alert_states

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Engine

#: Channel names are kept as one comma-separated column.
_SEP = ","


@dataclass(frozen=True, slots=True)
class Waiting:
    """An alert waiting for delivery, and the channels that have taken it already."""

    alert: Alert
    delivered: frozenset[str]
    attempts: int
    last_error: str | None


def _values(alert: Alert, now: datetime, *, announce: bool) -> dict[str, object]:
    return {
        "state": alert.state, "level": alert.level.value, "since": alert.since,
        "subject": alert.subject, "body": "\n".join(alert.body),
        # a quiet change is settled at once; an announced one waits for its channels
        "notified_at": None if announce else now, "delivered": "", "claimed_by": None,
        "claimed_until": None, "attempts": 0, "last_error": None,
    }  # fmt: skip


def update_states(
    engine: Engine,
    current: Sequence[Alert],
    announce: Callable[[str | None, Alert], bool],
    now: datetime,
) -> list[Alert]:
    """Save each subject's current state; the changes ``announce`` picks wait for delivery.

    ``announce(previous_state, alert)`` sees the state last saved (``None``: a subject
    never seen). A subject whose state is unchanged is left as it is, waiting alert
    included. Returns the alerts that now wait.
    """
    if not current:
        return []
    keys = [a.key for a in current]
    out: list[Alert] = []
    with locked(engine) as conn:
        stored = dict(
            conn.execute(
                select(alert_states.c.alert_key, alert_states.c.state).where(
                    alert_states.c.alert_key.in_(keys)
                )
            ).all()
        )
        for alert in current:
            previous = stored.get(alert.key)
            if previous == alert.state:
                continue
            loud = announce(previous, alert)
            values = _values(alert, now, announce=loud)
            if previous is None:
                conn.execute(insert(alert_states).values(alert_key=alert.key, **values))
            else:
                conn.execute(
                    update(alert_states).where(alert_states.c.alert_key == alert.key).values(values)
                )
            if loud:
                out.append(alert)
    return out


def _waiting(row: object) -> Waiting:
    alert = Alert(
        key=row.alert_key, state=row.state, level=AlertLevel(row.level),  # type: ignore[attr-defined]
        subject=row.subject, body=tuple(row.body.split("\n")) if row.body else (),  # type: ignore[attr-defined]
        since=row.since,  # type: ignore[attr-defined]
    )  # fmt: skip
    delivered = frozenset(filter(None, row.delivered.split(_SEP)))  # type: ignore[attr-defined]
    return Waiting(alert, delivered, row.attempts, row.last_error)  # type: ignore[attr-defined]


def waiting(engine: Engine) -> list[Waiting]:
    """Every alert waiting for delivery, oldest transition first (claimed or not)."""
    with reading(engine) as conn:
        rows = conn.execute(
            select(alert_states)
            .where(alert_states.c.notified_at.is_(None))
            .order_by(alert_states.c.since, alert_states.c.alert_key)
        ).all()
    return [_waiting(row) for row in rows]


def _held(alert: Alert, token: str) -> ColumnElement[bool]:
    """The row of ``alert`` (this very transition), waiting, and held by ``token``."""
    c = alert_states.c
    return and_(
        c.alert_key == alert.key, c.state == alert.state, c.since == alert.since,
        c.claimed_by == token, c.notified_at.is_(None),
    )  # fmt: skip


def claim(engine: Engine, token: str, now: datetime, lease_s: float) -> list[Waiting]:
    """Lease the waiting alerts no other sender holds to the sender ``token``.

    A sender that dies holding some lets them go when the lease ends; the next claim
    takes them up again. A sender renews its lease before each send (:func:`renew`).
    """
    free = and_(
        alert_states.c.notified_at.is_(None),
        or_(alert_states.c.claimed_until.is_(None), alert_states.c.claimed_until < now),
    )
    with transaction(engine) as conn:
        rows = conn.execute(
            select(alert_states)
            .where(free)
            .order_by(alert_states.c.since, alert_states.c.alert_key)
        ).all()
        until = now + timedelta(seconds=lease_s)
        taken = []
        for row in rows:
            won = conn.execute(
                update(alert_states)
                .where(alert_states.c.alert_key == row.alert_key, alert_states.c.since == row.since)
                .where(free)
                .values(claimed_by=token, claimed_until=until)
            ).rowcount
            if won:
                taken.append(_waiting(row))
    return taken


def renew(engine: Engine, alert: Alert, token: str, now: datetime, lease_s: float) -> bool:
    """Extend the sender's lease on ``alert``; False when it is not the sender's any more.

    It is not when the lease ran out and another sender took it, or when the subject's
    state changed meanwhile (a newer alert replaced this one).
    """
    with transaction(engine) as conn:
        return bool(
            conn.execute(
                update(alert_states)
                .where(_held(alert, token))
                .values(claimed_until=now + timedelta(seconds=lease_s))
            ).rowcount
        )


def took(engine: Engine, alert: Alert, token: str, delivered: frozenset[str]) -> None:
    """Record at once that the channels ``delivered`` have taken ``alert``."""
    with transaction(engine) as conn:
        conn.execute(
            update(alert_states)
            .where(_held(alert, token))
            .values(delivered=_SEP.join(sorted(delivered)))
        )


def settle(engine: Engine, alert: Alert, token: str, error: str | None, now: datetime) -> None:
    """End a delivery round: ``alert`` is done when ``error`` is None, else it waits.

    Only the sender holding this very transition settles it: a subject whose state moved
    on meanwhile is not touched (its newer alert waits).
    """
    values: dict[str, object] = {"claimed_by": None, "claimed_until": None}
    if error is None:
        values["notified_at"] = now
    else:
        values["last_error"] = error[:1000]
        values["attempts"] = alert_states.c.attempts + 1
    with transaction(engine) as conn:
        conn.execute(update(alert_states).where(_held(alert, token)).values(values))


def states(engine: Engine) -> dict[str, str]:
    """Every subject's last saved state."""
    with reading(engine) as conn:
        return dict(conn.execute(select(alert_states.c.alert_key, alert_states.c.state)).all())


__all__ = ["Waiting", "claim", "renew", "settle", "states", "took", "update_states", "waiting"]
