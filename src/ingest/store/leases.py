"""Leases: one crawl at a time per host, and one run at a time per page, across processes.

Two runs may overlap: a scheduled run and a backfill, two ``ingest run`` processes, two
Celery workers. They coordinate through the warehouse, not memory:

- **A host lease** (``hosts.lease_owner``/``lease_until``) is held by one crawl from its
  claim to the save of its host's final state. Only its holder requests pages or
  robots.txt from the host, so the host's pace is one sequence of requests whatever the
  number of runs, and the next holder starts from the ``last_request_at`` the last one
  saved. The lease outlasts the longest a crawl can keep requesting (its shard budget,
  one page deadline and a delay); a lease left by a killed crawl is taken over once it
  expires, and its holder's last request is then counted as ending at the expiry, so the
  host's delay still holds.
- **A page lease** (``page_leases``) is held by one run from before the page's fetch to
  that run's load. A page a run fetched and staged is not fetched again by another run
  while it waits for its load; a failed, deferred or re-queued page, or one the crawl
  never reached, is released when its shard ends. A run that never loads (killed) leaves
  its leases to expire after ``page_lease_s``.

A retry of the same run (an Airflow task's next try) holds its run's page leases at once.
Host leases are held by a token ``<family>:<try>`` (:func:`try_token`): the family names
the work (a shard: its run and hosts), the try is new each time. A later try of the same
work takes its family's hosts at once, counting the earlier try's last request as ending
then; anyone else waits for the expiry. An earlier try that was not dead after all (its
worker lost, the task process left running) writes with its own token, which no longer
holds the host: its late saves and releases change nothing of the new try's hosts (page
leases are the run's, though: its end releases the pages it had not staged). Until it
ends, both crawl the host: Airflow fails a task whose heartbeat stopped, and a task
process that outlives its supervisor ends at its next call to Airflow.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, case, delete, false, func, or_, select, update

from ingest.models import EntryState, HostState, PageJob
from ingest.store import dialects
from ingest.store.engine import reading, transaction
from ingest.store.schema import article_staging, feed_entries, hosts, page_leases

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, Select

#: The ``hosts`` columns that are the :class:`HostState` record.
HOST_FIELDS = tuple(f.name for f in dataclasses.fields(HostState))


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a crawl may fetch: its hosts' latest states, and the pages no other run holds."""

    jobs_by_host: dict[str, list[PageJob]]
    states: dict[str, HostState]
    busy_hosts: tuple[str, ...] = ()  # held by another crawl: left for later


def claim(
    engine: Engine,
    run_id: str,
    token: str,
    jobs_by_host: Mapping[str, Sequence[PageJob]],
    *,
    now: datetime,
    host_lease_s: float,
) -> Claimed:
    """Take the hosts no other crawl holds and, on them, the pages no other run holds.

    One transaction; rows are locked hosts first, then pages, each in key order, as
    every writer of both does (:func:`ingest.store.queue.save_pages`), so claimers and
    savers do not deadlock. The page leases last as long as the host lease: a page is
    fetched within it or released. A page no longer pending (another run loaded it since
    the jobs were read) is not taken, and a host left with no page is let go at once.
    """
    names = sorted(jobs_by_host)
    until = now + timedelta(seconds=host_lease_s)
    with transaction(engine) as conn:
        held = _claim_hosts(conn, names, token, now=now, until=until)
        mine = _claim_pages(
            conn,
            run_id,
            sorted({job.canonical_url for name in held for job in jobs_by_host[name]}),
            now=now,
            until=until,
        )
        jobs = {
            name: [job for job in jobs_by_host[name] if job.canonical_url in mine]
            for name in sorted(held)
        }
        idle = [name for name, host_jobs in jobs.items() if not host_jobs]
        for chunk in dialects.chunks(idle):
            conn.execute(
                update(hosts)
                .where(hosts.c.host.in_(list(chunk)), hosts.c.lease_owner == token)
                .values(lease_owner=None, lease_until=None)
            )
    return Claimed(
        {name: host_jobs for name, host_jobs in jobs.items() if host_jobs},
        {name: held[name] for name in jobs if jobs[name]},
        busy_hosts=tuple(name for name in names if name not in held),
    )


def claim_hosts(
    engine: Engine, token: str, names: Sequence[str], *, now: datetime, host_lease_s: float
) -> dict[str, HostState]:
    """Take the hosts among ``names`` no other crawl holds, for requests other than pages.

    What a sitemap walk holds while it reads a publisher's sitemaps, so its requests and
    every crawl's are one paced sequence per host. Returns the held hosts' latest states;
    free them with their final states through :func:`ingest.store.queue.save_pages`
    (``hosts_done`` and this ``lease`` token), as a crawl does.
    """
    until = now + timedelta(seconds=host_lease_s)
    with transaction(engine) as conn:
        return _claim_hosts(conn, sorted(set(names)), token, now=now, until=until)


def try_token(family: str) -> str:
    """A new lease token for one try of the work ``family`` names (no ``:`` in it)."""
    if not family or ":" in family:
        raise ValueError(f"a lease family is a non-empty name without ':', not {family!r}")
    return f"{family}:{uuid.uuid4().hex[:12]}"


def _kin(token: str) -> ColumnElement[bool]:
    """A host held by another try of ``token``'s work (a retry's killed predecessor)."""
    family, colon, _ = token.rpartition(":")
    if not colon or not family:
        return false()
    return and_(
        hosts.c.lease_owner != token,
        hosts.c.lease_owner.startswith(f"{family}:", autoescape=True),
    )


def _claim_hosts(
    conn: Connection, names: Sequence[str], token: str, *, now: datetime, until: datetime
) -> dict[str, HostState]:
    """Lease the free hosts among ``names`` (in key order) to ``token``; their states."""
    dialect = dialects.of(conn)
    kin = _kin(token)
    if names:
        conn.execute(
            dialect.insert(hosts).on_conflict_do_nothing(index_elements=[hosts.c.host]),
            [{"host": name, "updated_at": now} for name in names],
        )
    held: dict[str, HostState] = {}
    for chunk in dialects.chunks(names):
        conn.execute(  # row locks in key order (PostgreSQL; SQLite holds the database)
            select(hosts.c.host)
            .where(hosts.c.host.in_(list(chunk)))
            .order_by(hosts.c.host)
            .with_for_update()
        )
        conn.execute(
            update(hosts)
            .where(
                hosts.c.host.in_(list(chunk)),
                or_(
                    hosts.c.lease_owner.is_(None),
                    hosts.c.lease_until < now,
                    hosts.c.lease_owner == token,
                    kin,  # an earlier try of this work (killed): the retry takes it back
                ),
            )
            .values(
                last_request_at=case(
                    # its own work's, from a try that was killed: its last request ended by now
                    # (or later, as that try's clock said: kept)
                    (
                        or_(hosts.c.lease_owner == token, kin),
                        case(
                            (
                                or_(
                                    hosts.c.last_request_at.is_(None),
                                    hosts.c.last_request_at < now,
                                ),
                                now,
                            ),
                            else_=hosts.c.last_request_at,
                        ),
                    ),
                    # a lease left behind: its holder's requests all ended by its expiry
                    (
                        and_(
                            hosts.c.lease_owner.is_not(None),
                            or_(
                                hosts.c.last_request_at.is_(None),
                                hosts.c.last_request_at < hosts.c.lease_until,
                            ),
                        ),
                        hosts.c.lease_until,
                    ),
                    else_=hosts.c.last_request_at,
                ),
                lease_owner=token,
                lease_until=until,
            )
        )
        for row in conn.execute(
            select(hosts).where(hosts.c.host.in_(list(chunk)), hosts.c.lease_owner == token)
        ):
            held[row.host] = HostState(**{f: getattr(row, f) for f in HOST_FIELDS})
    return held


def _claim_pages(
    conn: Connection, run_id: str, urls: Sequence[str], *, now: datetime, until: datetime
) -> set[str]:
    """Lease the pending pages that are free, expired or already this run's; return them.

    A page this run holds keeps the later of its two expiries (one it staged stays held
    until its load, even when a retry of the run claims it again).
    """
    if not urls:
        return set()
    stmt = dialects.of(conn).insert(page_leases)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[page_leases.c.canonical_url],
            set_={
                "run_id": stmt.excluded.run_id,
                "leased_until": case(
                    (
                        and_(
                            page_leases.c.run_id == stmt.excluded.run_id,
                            page_leases.c.leased_until > stmt.excluded.leased_until,
                        ),
                        page_leases.c.leased_until,
                    ),
                    else_=stmt.excluded.leased_until,
                ),
            },
            where=or_(page_leases.c.leased_until < now, page_leases.c.run_id == run_id),
        ),
        [{"canonical_url": url, "run_id": run_id, "leased_until": until} for url in urls],
    )
    pending = select(feed_entries.c.canonical_url).where(
        feed_entries.c.state == EntryState.PENDING.value
    )
    mine: set[str] = set()
    for chunk in dialects.chunks(list(urls)):
        mine.update(
            conn.execute(
                select(page_leases.c.canonical_url).where(
                    page_leases.c.canonical_url.in_(list(chunk)),
                    page_leases.c.run_id == run_id,
                    page_leases.c.canonical_url.in_(pending),
                )
            ).scalars()
        )
    return mine


def _staged_by(run_id: str) -> Select[tuple[str]]:
    return select(article_staging.c.queue_url).where(article_staging.c.run_id == run_id)


def keep_staged(conn: Connection, run_id: str, *, now: datetime, lease_s: float) -> None:
    """Hold every page this run has staged for ``lease_s`` more (its load lets go sooner).

    Called at each save of the run's outcomes, so a run whose shards take long (one after
    another in ``ingest run``, or queued in Airflow) keeps its earliest pages; a lease is
    renewed once half of it is spent, so each save rewrites few rows.
    """
    conn.execute(
        update(page_leases)
        .where(
            page_leases.c.run_id == run_id,
            page_leases.c.canonical_url.in_(_staged_by(run_id)),
            page_leases.c.leased_until < now + timedelta(seconds=lease_s / 2),
        )
        .values(leased_until=now + timedelta(seconds=lease_s))
    )


def release_pages(conn: Connection, run_id: str, urls: Sequence[str]) -> None:
    """Let other runs have these pages (failed, deferred, re-queued), unless staged."""
    for chunk in dialects.chunks(sorted(urls)):
        conn.execute(
            delete(page_leases).where(
                page_leases.c.canonical_url.in_(list(chunk)),
                page_leases.c.run_id == run_id,
                page_leases.c.canonical_url.not_in(_staged_by(run_id)),
            )
        )


def release_loaded(conn: Connection, run_id: str) -> None:
    """A run's load is done: every page it held is stored, or free again."""
    conn.execute(delete(page_leases).where(page_leases.c.run_id == run_id))


def release_crawl(
    engine: Engine, run_id: str, token: str, urls: Sequence[str], *, now: datetime
) -> None:
    """A crawl ended (its threads are done): free its hosts still held, and its pages.

    Its hosts are normally freed already, with their final states
    (:func:`ingest.store.queue.save_pages`). One still held lost its final state (a save
    failed): its last request ended by ``now`` at the latest, which is what it keeps, so
    the next holder still waits a delay. Pages not staged are let go.
    """
    with transaction(engine) as conn:
        conn.execute(
            update(hosts)
            .where(hosts.c.lease_owner == token)
            .values(
                lease_owner=None,
                lease_until=None,
                last_request_at=case(
                    (
                        or_(hosts.c.last_request_at.is_(None), hosts.c.last_request_at < now),
                        now,
                    ),
                    else_=hosts.c.last_request_at,
                ),
            )
        )
        release_pages(conn, run_id, urls)


def pages_held_elsewhere(engine: Engine, run_id: str, names: Sequence[str], now: datetime) -> int:
    """How many pending pages on these hosts other runs hold (for the shard's log line)."""
    entries = feed_entries.c
    query = select(func.count(entries.canonical_url.distinct())).where(
        entries.state == EntryState.PENDING.value,
        entries.host.in_(list(names)),
        entries.canonical_url.in_(held_by_others(run_id, now)),
    )
    with reading(engine) as conn:
        return int(conn.execute(query).scalar_one()) if names else 0


def held_by_others(run_id: str, now: datetime) -> Select[tuple[str]]:
    """A SQL condition: the canonical URL is leased, unexpired, by another run."""
    return select(page_leases.c.canonical_url).where(
        page_leases.c.run_id != run_id, page_leases.c.leased_until >= now
    )


__all__ = [
    "HOST_FIELDS", "Claimed", "claim", "claim_hosts", "held_by_others", "keep_staged",
    "pages_held_elsewhere", "release_crawl", "release_loaded", "release_pages",
]  # fmt: skip
