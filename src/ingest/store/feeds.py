"""Feed state: the registry synced into ``feeds``, what is due, and what each poll found.

:func:`save_polls` records a shard's poll outcomes in one transaction: each feed's
validators, counters, health and next poll, the entries it queued, and the fetch log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, func, or_, select, update

from ingest.errors import ConfigError
from ingest.models import FeedSpec, PollTarget
from ingest.outcomes import Polled, PollFailed, PollOutcome
from ingest.store import dialects, queue, staging
from ingest.store.engine import locked, reading, transaction
from ingest.store.schema import feed_entries, feeds, registry_syncs

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine


_REGISTRY = "feeds"

#: The ``feeds`` columns the registry owns (the rest is the feed's polling state).
_SPEC_COLUMNS = (
    "url", "title", "site", "enabled", "tags", "language", "interval_minutes",
    "min_interval_minutes", "max_interval_minutes",
)  # fmt: skip


def _spec_values(spec: FeedSpec) -> dict[str, Any]:
    return {
        "url": spec.url, "title": spec.title, "site": spec.site, "enabled": spec.enabled,
        "tags": list(spec.tags), "language": spec.language,
        "interval_minutes": spec.interval_minutes,
        "min_interval_minutes": spec.min_interval_minutes,
        "max_interval_minutes": spec.max_interval_minutes,
    }  # fmt: skip


def synced_count(engine: Engine, digest: str) -> int | None:
    """How many feeds the registry with this digest synced, if it is the last one synced."""
    with reading(engine) as conn:
        row = conn.execute(
            select(registry_syncs.c.digest, registry_syncs.c.feed_count).where(
                registry_syncs.c.name == _REGISTRY
            )
        ).first()
    return row.feed_count if row is not None and row.digest == digest else None


def _remember(conn: Connection, digest: str | None, count: int, now: datetime) -> None:
    """Keep the digest of the registry being synced; none known: forget the last one."""
    if digest is None:
        conn.execute(delete(registry_syncs).where(registry_syncs.c.name == _REGISTRY))
        return
    stmt = (
        dialects.of(conn)
        .insert(registry_syncs)
        .values(name=_REGISTRY, digest=digest, feed_count=count, synced_at=now)
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[registry_syncs.c.name],
            set_={"digest": digest, "feed_count": count, "synced_at": now},
        )
    )


def sync(
    engine: Engine, specs: Sequence[FeedSpec], now: datetime, *, digest: str | None = None
) -> int:
    """Make the ``feeds`` table match the registry; feeds no longer listed are disabled.

    A feed key is a permanent id (entries and articles refer to it): a URL already
    registered under another key is a configuration error, not a silent rename. The
    stored registry columns are read once and compared here, so only new, changed and
    removed feeds are written, each kind in one statement, under the writer lock (two
    runs syncing at once take turns). An unchanged registry is one read and no lock.
    ``digest`` (of the registry file) is remembered with the sync: see :func:`synced_count`.
    """
    wanted = {spec.key: _spec_values(spec) for spec in specs}
    with reading(engine) as conn:
        unchanged = not any(_diff(conn, specs, wanted, now))
    if unchanged and (digest is None or synced_count(engine, digest) == len(specs)):
        return len(specs)
    with locked(engine) as conn:
        _remember(conn, digest, len(specs), now)
        new, changed, removed = _diff(conn, specs, wanted, now)
        if new:
            conn.execute(feeds.insert(), new)
        if changed:
            conn.execute(
                update(feeds)
                .where(feeds.c.feed_key == bindparam("key"))
                .values({n: bindparam(f"v_{n}") for n in (*_SPEC_COLUMNS, "updated_at")}),
                changed,
            )
        for chunk in dialects.chunks(removed):
            conn.execute(
                update(feeds)
                .where(feeds.c.feed_key.in_(list(chunk)))
                .values(enabled=False, last_error="removed from the registry", updated_at=now)
            )
    return len(specs)


def _diff(
    conn: Connection, specs: Sequence[FeedSpec], wanted: dict[str, dict[str, Any]], now: datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
    """The feeds to insert, to update and to disable; ConfigError for a re-keyed URL."""
    columns = [feeds.c[name] for name in _SPEC_COLUMNS]
    stored = {
        row[0]: dict(zip(_SPEC_COLUMNS, row[1:], strict=True))
        for row in conn.execute(select(feeds.c.feed_key, *columns))
    }
    registered = {values["url"]: key for key, values in stored.items()}
    moved = [
        f"{s.url} is registered as {registered[s.url]!r}, not {s.key!r}"
        for s in specs
        if registered.get(s.url, s.key) != s.key
    ]
    if moved:
        raise ConfigError(
            "feed keys are permanent ids; keep the old key (or give the feed a new URL): "
            + "; ".join(moved)
        )
    new = [
        {"feed_key": key, "created_at": now, "updated_at": now, **values}
        for key, values in sorted(wanted.items())
        if key not in stored
    ]
    changed = [
        {"key": key, "v_updated_at": now, **{f"v_{k}": v for k, v in values.items()}}
        for key, values in sorted(wanted.items())
        if key in stored and stored[key] != values
    ]
    removed = sorted(k for k, v in stored.items() if k not in wanted and v["enabled"])
    return new, changed, removed


def _target(row: Any) -> PollTarget:  # noqa: ANN401 - a Row of feeds
    return PollTarget(
        key=row.feed_key,
        url=row.url,
        etag=row.etag,
        last_modified=row.last_modified,
        body_hash=row.body_hash,
        interval_minutes=row.interval_minutes,
        min_interval_minutes=row.min_interval_minutes,
        max_interval_minutes=row.max_interval_minutes,
        poll_interval_s=row.poll_interval_s,
        new_per_hour=row.new_per_hour,
        last_success_at=row.last_success_at,
        consecutive_failures=row.consecutive_failures,
        ttl_minutes=row.ttl_minutes,
        next_due_at=row.next_due_at,
        last_new_at=row.last_new_at,
        new_gap_s=row.new_gap_s,
        last_polled_at=row.last_polled_at,
    )


def due(engine: Engine, at: datetime) -> list[PollTarget]:
    """Enabled feeds whose next due time is at or before ``at``, oldest-due first."""
    query = (
        select(feeds)
        .where(feeds.c.enabled.is_(True))
        .where(or_(feeds.c.next_due_at.is_(None), feeds.c.next_due_at <= at))
        .order_by(feeds.c.next_due_at.nulls_first(), feeds.c.feed_key)
    )
    with reading(engine) as conn:
        return [_target(row) for row in conn.execute(query)]


def enabled(engine: Engine, keys: Sequence[str] | None = None) -> list[PollTarget]:
    """Every enabled feed (of ``keys``, when given), due or not, in key order."""
    query = select(feeds).where(feeds.c.enabled.is_(True)).order_by(feeds.c.feed_key)
    if keys is not None:
        query = query.where(feeds.c.feed_key.in_(list(keys)))
    with reading(engine) as conn:
        return [_target(row) for row in conn.execute(query)]


def sites(
    engine: Engine, keys: Sequence[str] | None = None
) -> list[tuple[str, str, str | None, set[str]]]:
    """Each enabled feed (of ``keys``) as ``(key, url, site, hosts of its stored pages)``.

    What a backfill needs to know a publisher by (:func:`ingest.sources.publisher_hosts`).
    """
    query = (
        select(feeds.c.feed_key, feeds.c.url, feeds.c.site)
        .where(feeds.c.enabled.is_(True))
        .order_by(feeds.c.feed_key)
    )
    if keys is not None:
        query = query.where(feeds.c.feed_key.in_(list(keys)))
    stored = (
        select(feed_entries.c.feed_key, feed_entries.c.host)
        .where(feed_entries.c.article_id.is_not(None))
        .distinct()
    )
    if keys is not None:
        stored = stored.where(feed_entries.c.feed_key.in_(list(keys)))
    with reading(engine) as conn:
        rows = conn.execute(query).all()
        hosts: dict[str, set[str]] = {}
        for key, host in conn.execute(stored):
            hosts.setdefault(key, set()).add(host)
    return [(row.feed_key, row.url, row.site, hosts.get(row.feed_key, set())) for row in rows]


def known_keys(engine: Engine, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` the registry (the ``feeds`` table) has."""
    query = select(feeds.c.feed_key).where(feeds.c.feed_key.in_(list(keys)))
    with reading(engine) as conn:
        return set(conn.execute(query).scalars())


def targets(engine: Engine, keys: Sequence[str]) -> list[PollTarget]:
    """Poll targets for the given feed keys (in key order)."""
    query = select(feeds).where(feeds.c.feed_key.in_(list(keys))).order_by(feeds.c.feed_key)
    with reading(engine) as conn:
        return [_target(row) for row in conn.execute(query)]


def save_polls(engine: Engine, outcomes: Sequence[PollOutcome], run_id: str) -> None:
    """Record polls in one transaction: feed state, queued entries, fetch-log lines."""
    if not outcomes:
        return
    with transaction(engine) as conn:
        for outcome in sorted(outcomes, key=lambda o: o.feed_key):
            if isinstance(outcome, Polled):
                _save_success(conn, outcome, run_id)
            else:
                _save_failure(conn, outcome)
        staging.append_fetches(
            conn, run_id, [(o.fetch, o.feed_key) for o in outcomes if o.fetch is not None]
        )


def _save_success(conn: Connection, polled: Polled, run_id: str) -> None:
    plan = polled.plan
    conn.execute(
        update(feeds)
        .where(feeds.c.feed_key == polled.feed_key)
        .values(
            etag=polled.etag,
            last_modified=polled.last_modified,
            body_hash=polled.body_hash,
            last_status=polled.status,
            last_polled_at=polled.at,
            last_success_at=polled.at,
            consecutive_failures=0,
            failure_kind=None,
            broken=False,
            broken_since=None,
            last_error=None,
            next_due_at=plan.due_at,
            ttl_minutes=polled.ttl_minutes,
            poll_interval_s=round(plan.interval_s),
            new_per_hour=plan.new_per_hour,
            items_seen=feeds.c.items_seen + polled.seen,
            items_new=feeds.c.items_new + polled.new,
            updated_at=polled.at,
            **_news(polled),
        )
    )
    queue.insert_entries(conn, polled.feed_key, polled.entries, run_id=run_id, now=polled.at)
    queue.insert_refused(conn, polled.feed_key, polled.refused, run_id=run_id, now=polled.at)


def _news(polled: Polled) -> dict[str, Any]:
    """The monitoring columns a successful poll sets (:mod:`ingest.monitor` reads them).

    An unchanged feed (a 304, the same body) keeps its last read's warnings; a poll that
    found new items moves ``last_new_at`` (the plan carries the usual gap it folded in).
    """
    values: dict[str, Any] = {"new_gap_s": polled.plan.new_gap_s}
    if not polled.unchanged:
        values["last_warning"] = polled.warning
    if polled.new:
        values["last_new_at"] = polled.at
    return values


def _save_failure(conn: Connection, failed: PollFailed) -> None:
    error = f"{failed.reason.value}: {failed.detail}"[:500]
    common = {"last_status": failed.status, "last_polled_at": failed.at, "last_error": error,
              "updated_at": failed.at}  # fmt: skip
    plan = failed.plan
    if plan is None:  # a bug of ours: noted, but the feed stays due and is not counted
        conn.execute(update(feeds).where(feeds.c.feed_key == failed.feed_key).values(**common))
        return
    conn.execute(
        update(feeds)
        .where(feeds.c.feed_key == failed.feed_key)
        .values(
            **common,
            consecutive_failures=plan.consecutive_failures,
            failure_kind=plan.failure_kind,
            broken=plan.broken,
            broken_since=func.coalesce(feeds.c.broken_since, failed.at) if plan.broken else None,
            next_due_at=plan.due_at,
        )
    )


__all__ = ["due", "enabled", "known_keys", "save_polls", "sites", "sync", "targets"]
