"""Host and page leases in the warehouse (ingest.store.leases), on SQLite and PostgreSQL.

Times are given, not waited for: a lease's expiry is a row's ``lease_until``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from helpers import article, load
from ingest.models import FeedEntry, FeedSpec, HostState, Reason
from ingest.outcomes import FetchRecord, PageExtracted, PageFailed, QueuedEntry
from ingest.store import engine as db
from ingest.store import feeds as store_feeds
from ingest.store import leases, queue
from ingest.store import schema as wh
from ingest.urls import entry_id_for

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LEASE_S = 100.0
HOST = "a.example"
URLS = [f"https://a.example/{n}" for n in range(1, 4)]


def queue_pages(engine):
    store_feeds.sync(engine, [FeedSpec(key="a", url="https://a.example/feed")], T0)
    entries = [
        QueuedEntry(FeedEntry(guid=url, link=url, title=url, published=T0), url,
                    entry_id_for("a", url, url))
        for url in URLS
    ]  # fmt: skip
    with db.transaction(engine) as conn:
        queue.insert_entries(conn, "a", entries, run_id="poll", now=T0)


def jobs(engine, run_id, now=T0):
    found = queue.pending_jobs(engine, limit=10, max_attempts=3, run_id=run_id, now=now)
    return {HOST: found} if found else {}


def claim(engine, run_id, token, now=T0):
    return leases.claim(engine, run_id, token, jobs(engine, run_id, now), now=now,
                        host_lease_s=LEASE_S)  # fmt: skip


def host_row(engine):
    with engine.connect() as conn:
        return conn.execute(select(wh.hosts).where(wh.hosts.c.host == HOST)).one()


def lease_rows(engine):
    with engine.connect() as conn:
        return dict(
            conn.execute(select(wh.page_leases.c.canonical_url, wh.page_leases.c.run_id)).all()
        )


def test_one_crawl_holds_a_host_and_the_next_starts_from_its_last_request(engine):
    queue_pages(engine)
    first = claim(engine, "run-a", "crawl-a")
    assert sorted(j.canonical_url for j in first.jobs_by_host[HOST]) == URLS
    assert first.busy_hosts == ()
    # while it holds the host, another run gets neither the host nor its pages
    other = leases.claim(engine, "run-b", "crawl-b", {HOST: first.jobs_by_host[HOST]},
                         now=T0 + timedelta(seconds=1), host_lease_s=LEASE_S)  # fmt: skip
    assert (other.jobs_by_host, other.busy_hosts) == ({}, (HOST,))
    assert jobs(engine, "run-b", T0 + timedelta(seconds=1)) == {}  # its pages are run-a's
    # run-a's crawl ends: every page failed softly, the host's state is saved and freed
    ended = T0 + timedelta(seconds=5)
    failed = [PageFailed(j, Reason.TIMEOUT, "slow") for j in first.jobs_by_host[HOST]]
    queue.save_pages(
        engine, "run-a", failed, max_attempts=3, now=ended, lease="crawl-a", page_lease_s=LEASE_S,
        hosts_done=[HostState(host=HOST, last_request_at=ended)],
    )  # fmt: skip
    assert host_row(engine).lease_owner is None
    assert lease_rows(engine) == {}  # failed pages are free for the next run
    later = T0 + timedelta(seconds=6)
    second = leases.claim(engine, "run-b", "crawl-b", jobs(engine, "run-b", later), now=later,
                          host_lease_s=LEASE_S)  # fmt: skip
    assert len(second.jobs_by_host[HOST]) == len(URLS)
    assert second.states[HOST].last_request_at == ended  # its pace goes on from there


def test_a_lease_a_killed_crawl_left_expires_and_counts_its_last_request_at_the_expiry(engine):
    queue_pages(engine)
    claim(engine, "run-a", "crawl-a")  # then killed: nothing saved, nothing released
    before = T0 + timedelta(seconds=LEASE_S - 1)
    assert claim(engine, "run-b", "crawl-b", before).jobs_by_host == {}
    after = T0 + timedelta(seconds=LEASE_S + 1)
    taken = claim(engine, "run-b", "crawl-b", after)
    assert len(taken.jobs_by_host[HOST]) == len(URLS)
    # run-a may have been requesting until its lease ended: the delay runs from there
    assert taken.states[HOST].last_request_at == T0 + timedelta(seconds=LEASE_S)
    assert host_row(engine).lease_owner == "crawl-b"
    assert set(lease_rows(engine).values()) == {"run-b"}


def test_a_staged_page_stays_its_runs_until_the_load_and_the_rest_is_released(engine):
    queue_pages(engine)
    held = claim(engine, "run-a", "crawl-a").jobs_by_host[HOST]
    done = T0 + timedelta(seconds=2)
    staged = PageExtracted(held[0], FetchRecord("page", held[0].link, done), article(URLS[0]))
    queue.save_pages(
        engine, "run-a", [staged], max_attempts=3, now=done, lease="crawl-a",
        page_lease_s=3600, hosts_done=[HostState(host=HOST, last_request_at=done)],
    )  # fmt: skip
    # the shard ends before the other two pages were reached: they are let go
    leases.release_crawl(engine, "run-a", "crawl-a", [j.canonical_url for j in held], now=done)
    assert lease_rows(engine) == {URLS[0]: "run-a"}
    soon = T0 + timedelta(seconds=30)
    assert sorted(j.canonical_url for j in jobs(engine, "run-b", soon)[HOST]) == URLS[1:]
    assert leases.pages_held_elsewhere(engine, "run-b", [HOST], soon) == 1
    # run-a's load stores it and lets go of everything it held
    load(engine, "run-a", [article(URLS[0])], now=soon)
    assert lease_rows(engine) == {}


def test_a_page_staged_by_a_run_that_never_loads_is_fetched_again_after_its_lease(engine):
    queue_pages(engine)
    held = claim(engine, "run-a", "crawl-a").jobs_by_host[HOST]
    staged = PageExtracted(held[0], FetchRecord("page", held[0].link, T0), article(URLS[0]))
    queue.save_pages(
        engine, "run-a", [staged], max_attempts=3, now=T0, lease="crawl-a", page_lease_s=600,
        hosts_done=[HostState(host=HOST, last_request_at=T0)],
    )  # fmt: skip
    assert URLS[0] not in {
        j.canonical_url for j in jobs(engine, "run-b", T0 + timedelta(seconds=599))[HOST]
    }
    late = T0 + timedelta(seconds=601)
    assert URLS[0] in {j.canonical_url for j in jobs(engine, "run-b", late)[HOST]}
    assert URLS[0] in {
        j.canonical_url for j in claim(engine, "run-b", "crawl-b", late).jobs_by_host[HOST]
    }


def test_another_crawl_of_the_same_run_keeps_its_pages_but_waits_for_a_killed_crawls_host(
    engine,
):
    queue_pages(engine)
    claim(engine, "run-a", "crawl-a")  # killed
    other = claim(engine, "run-a", "crawl-a2", T0 + timedelta(seconds=10))
    assert other.busy_hosts == (HOST,)  # not its lease: the killed crawl may be mid-request
    assert len(jobs(engine, "run-a", T0 + timedelta(seconds=10))[HOST]) == len(URLS)  # its own
    assert set(lease_rows(engine).values()) == {"run-a"}


def test_a_later_try_of_the_same_work_takes_its_hosts_at_once_and_the_earlier_loses_them(
    engine,
):
    queue_pages(engine)
    first, retry = leases.try_token("crawl-s"), leases.try_token("crawl-s")
    assert first != retry and first.startswith("crawl-s:")
    claim(engine, "run-a", first)  # then its worker is lost; its task process lives on
    at = T0 + timedelta(seconds=10)
    taken = claim(engine, "run-a", retry, at)
    assert taken.busy_hosts == () and len(taken.jobs_by_host[HOST]) == len(URLS)
    assert taken.states[HOST].last_request_at == at  # the earlier try's request ended by now
    for other in (leases.try_token("crawl-t"), "crawl-s", "crawl-s:x:y"):  # not its family
        got = leases.claim(engine, "run-b", other, {HOST: taken.jobs_by_host[HOST]}, now=at,
                           host_lease_s=LEASE_S)  # fmt: skip
        assert got.busy_hosts == (HOST,), other
    # the earlier try's late save and release, under its own token, leave the retry's host
    queue.save_pages(
        engine, "run-a", [], max_attempts=3, now=at, lease=first, page_lease_s=LEASE_S,
        hosts_done=[HostState(host=HOST, last_request_at=T0, throttled_count=5)],
    )  # fmt: skip
    leases.release_crawl(engine, "run-a", first, [], now=at)
    row = host_row(engine)
    assert (row.lease_owner, row.throttled_count) == (retry, 0)


def test_a_lease_family_is_a_name_without_a_colon():
    for bad in ("", "a:b"):
        with pytest.raises(ValueError, match="lease family"):
            leases.try_token(bad)


def test_a_crawl_whose_lease_was_taken_over_does_not_overwrite_the_new_holders_state(engine):
    queue_pages(engine)
    claim(engine, "run-a", "crawl-a")
    after = T0 + timedelta(seconds=LEASE_S + 1)
    claim(engine, "run-b", "crawl-b", after)
    # run-a was not dead after all: its late save must not free or rewrite run-b's host
    queue.save_pages(
        engine, "run-a", [], max_attempts=3, now=after, lease="crawl-a", page_lease_s=LEASE_S,
        hosts_done=[HostState(host=HOST, last_request_at=T0, throttled_count=7)],
    )  # fmt: skip
    row = host_row(engine)
    assert (row.lease_owner, row.throttled_count) == ("crawl-b", 0)
    assert row.last_request_at == T0 + timedelta(seconds=LEASE_S)


def test_a_late_save_of_a_lease_taken_over_and_freed_since_changes_nothing(engine):
    queue_pages(engine)
    claim(engine, "run-a", "crawl-a")
    after = T0 + timedelta(seconds=LEASE_S + 1)
    claim(engine, "run-b", "crawl-b", after)
    b_ended = after + timedelta(seconds=30)
    queue.save_pages(
        engine, "run-b", [], max_attempts=3, now=b_ended, lease="crawl-b", page_lease_s=LEASE_S,
        hosts_done=[HostState(host=HOST, last_request_at=b_ended)],
    )  # fmt: skip
    assert host_row(engine).lease_owner is None
    queue.save_pages(  # run-a was only slow: its save comes now, with its old state
        engine, "run-a", [], max_attempts=3, now=b_ended, lease="crawl-a", page_lease_s=LEASE_S,
        hosts_done=[HostState(host=HOST, last_request_at=T0 + timedelta(seconds=5))],
    )  # fmt: skip
    assert host_row(engine).last_request_at == b_ended  # the next holder paces from b's


def test_a_page_its_run_staged_stays_held_through_a_retry_that_fails_it(engine):
    queue_pages(engine)
    held = claim(engine, "run-a", "crawl-a").jobs_by_host[HOST]
    staged = PageExtracted(held[0], FetchRecord("page", held[0].link, T0), article(URLS[0]))
    queue.save_pages(
        engine, "run-a", [staged], max_attempts=3, now=T0, lease="crawl-a", page_lease_s=3600,
        hosts_done=[HostState(host=HOST, last_request_at=T0)],
    )  # fmt: skip
    retry_at = T0 + timedelta(seconds=10)
    assert URLS[0] not in {j.canonical_url for j in jobs(engine, "run-a", retry_at)[HOST]}
    # a retry that claims it anyway (it had it in hand) and fails it keeps it held
    retry = leases.claim(engine, "run-a", "crawl-a2", {HOST: held}, now=retry_at,
                         host_lease_s=LEASE_S)  # fmt: skip
    failed = [PageFailed(j, Reason.TIMEOUT, "slow") for j in retry.jobs_by_host[HOST]]
    queue.save_pages(
        engine, "run-a", failed, max_attempts=3, now=retry_at, lease="crawl-a2",
        page_lease_s=3600, hosts_done=[HostState(host=HOST, last_request_at=retry_at)],
    )  # fmt: skip
    assert lease_rows(engine) == {URLS[0]: "run-a"}
    with engine.connect() as conn:
        until = conn.execute(select(wh.page_leases.c.leased_until)).scalar_one()
    assert until >= T0 + timedelta(seconds=3600)
    assert URLS[0] not in {j.canonical_url for j in jobs(engine, "run-b", retry_at)[HOST]}


def test_a_crawl_whose_final_save_failed_frees_its_host_paced_from_its_end(engine):
    queue_pages(engine)
    claim(engine, "run-a", "crawl-a")
    ended = T0 + timedelta(seconds=40)  # its host state was in the batch that failed
    leases.release_crawl(engine, "run-a", "crawl-a", URLS, now=ended)
    row = host_row(engine)
    assert (row.lease_owner, row.last_request_at) == (None, ended)
    assert lease_rows(engine) == {}
    nxt = claim(engine, "run-b", "crawl-b", ended + timedelta(seconds=1))
    assert nxt.states[HOST].last_request_at == ended


def test_a_host_left_with_no_page_to_fetch_is_not_held(engine):
    queue_pages(engine)
    mine = claim(engine, "run-a", "crawl-a").jobs_by_host[HOST]
    leases.release_crawl(engine, "run-a", "crawl-a", [], now=T0)  # host free, pages still a's
    # run-b wins the host, but every page on it is run-a's: it must not sit on the host
    taken = leases.claim(engine, "run-b", "crawl-b", {HOST: mine},
                         now=T0 + timedelta(seconds=1), host_lease_s=LEASE_S)  # fmt: skip
    assert taken.jobs_by_host == {}
    assert host_row(engine).lease_owner is None
