"""Backfills end to end: the demo site's news sitemaps and a CC-NEWS mirror of its pages.

Real HTTP on loopback only: the demo site (sitemaps, pages) and a static server holding a
generated CC-NEWS mirror (``warc.paths.gz`` and WARC files written with warcio), on both
warehouse backends.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ingest import backfill, pipeline
from ingest.backfill import BackfillRequest
from ingest.demosite.ccnews import write_mirror
from ingest.errors import ConfigError
from ingest.store import schema as wh
from ingest.urls import canonical_url
from mirror import base_of, mirror_server

NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 30, 23, 59, 59, tzinfo=UTC))


@pytest.fixture
def registry(tmp_path, demo_site):
    path = tmp_path / "feeds.toml"
    path.write_text(demo_site.feeds_toml())
    return path


@pytest.fixture
def prepared(engine, registry):
    pipeline.prepare(engine, registry)
    return engine


def canonical(url: str) -> str:
    return canonical_url(url, max_length=2048)


def stored(engine) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(conn.execute(select(wh.articles.c.canonical_url)).scalars())


def entries(engine, kind: str) -> list:
    query = select(wh.feed_entries).where(wh.feed_entries.c.source_kind == kind)
    with engine.connect() as conn:
        return conn.execute(query).all()


def landed(engine, kind: str) -> set[str]:
    """The canonical URLs this kind of source listed that ended stored or as a duplicate."""
    return {e.canonical_url for e in entries(engine, kind) if e.state in ("stored", "duplicate")}


# --------------------------------------------------------------------------- sitemaps


def test_a_sitemap_backfill_stores_the_pages_in_range_once_and_a_second_run_nothing(
    prepared, settings, demo_site
):
    engine = prepared
    published = sorted(a.published for a in demo_site.articles)
    since, until = published[3], published[-4]  # some pages on each side are out of range
    wanted = {canonical(a.url) for a in demo_site.articles if since <= a.published <= until}
    request = BackfillRequest(source="sitemaps", since=since, until=until)

    totals, shards, _ = backfill.run_backfill(engine, settings, request)

    assert landed(engine, "sitemap") == wanted  # each page in range, none outside it
    assert set(stored(engine)) <= wanted
    assert max(stored(engine).values()) == 1
    assert totals["inserted"] == len(stored(engine))
    assert totals["inserted"] + totals["duplicates"] == len(wanted)
    assert totals["urls_in_range"] == len(wanted)
    assert totals["urls_out_of_range"] == len(demo_site.articles) - len(wanted)
    # provenance: each entry names the sitemap file that listed it
    assert {e.source_key.rsplit("/", 1)[-1] for e in entries(engine, "sitemap")} == {
        "news.xml.gz", "archive.xml",
    }  # fmt: skip
    # the hostile sitemap is refused with its reason; the other publishers are unharmed
    assert totals["failures"] == {"sitemap_malformed": 1}
    hostile = [m for s in shards for m in s["misses"]]
    assert len(hostile) == 1 and "hostile.xml" in hostile[0], hostile
    # every sitemap and page request is in the fetch log, under the shard's run
    with engine.connect() as conn:
        kinds = Counter(conn.execute(select(wh.fetch_log.c.kind)).scalars())
    assert kinds["sitemap"] == totals["sitemaps_read"] + totals["sitemaps_failed"]
    assert kinds["page"] == len(wanted)

    again, _, _ = backfill.run_backfill(engine, settings, request)
    assert (again["pages_fetched"], again["inserted"], again["updated"]) == (0, 0, 0)
    assert again["entries_new"] == 0
    assert max(stored(engine).values()) == 1


def test_a_dry_run_counts_what_a_sitemap_backfill_would_fetch_and_stores_nothing(
    prepared, settings, demo_site
):
    engine = prepared
    request = BackfillRequest(source="sitemaps", since=NOVEMBER[0], until=NOVEMBER[1],
                              dry_run=True)  # fmt: skip
    totals, _, _ = backfill.run_backfill(engine, settings, request)
    assert totals["would_fetch"] == len({canonical(a.url) for a in demo_site.articles})
    assert totals["pages_fetched"] == 0
    assert stored(engine) == Counter()
    assert entries(engine, "sitemap") == []


def test_a_sitemap_backfill_keeps_to_the_publishers_asked_for(prepared, settings, demo_site):
    engine = prepared
    first = demo_site.publishers[0]
    request = BackfillRequest(
        source="sitemaps", since=NOVEMBER[0], until=NOVEMBER[1], sites=(first.base_url,)
    )
    backfill.run_backfill(engine, settings, request)
    mine = {canonical(a.url) for a in demo_site.articles if a.publisher == first.slug}
    assert landed(engine, "sitemap") == mine
    elsewhere = BackfillRequest(source="sitemaps", since=NOVEMBER[0], until=NOVEMBER[1],
                                sites=("elsewhere.example",))  # fmt: skip
    with pytest.raises(ConfigError, match="no registered publisher has these sites"):
        backfill.publishers(engine, elsewhere)


# --------------------------------------------------------------------------- CC-NEWS


@pytest.fixture
def mirror(tmp_path, demo_site):
    root = tmp_path / "mirror"
    written = write_mirror(root, demo_site.pages(), NOVEMBER[0])
    with mirror_server(root) as server:
        server.written = written
        yield server


def in_november(written) -> set[str]:
    return {canonical(w.url) for w in written if w.registered and w.captured_at >= NOVEMBER[0]}


def test_a_ccnews_backfill_stores_exactly_the_registered_pages_in_range_once(
    prepared, settings, mirror
):
    engine = prepared
    request = BackfillRequest(source="ccnews", since=NOVEMBER[0], until=NOVEMBER[1],
                              base_url=base_of(mirror))  # fmt: skip
    wanted = in_november(mirror.written)

    totals, _, notes = backfill.run_backfill(engine, settings, request)

    assert landed(engine, "ccnews") == wanted
    assert set(stored(engine)) <= wanted and max(stored(engine).values()) == 1
    assert totals["captures"] == len(wanted)
    assert totals["inserted"] + totals["duplicates"] == len(wanted)
    # the listing of December (not published) is a note, not a failure
    assert any("/2026/12/warc.paths.gz" in n and "404" in n for n in notes), notes
    # each article keeps its capture time, and each entry the WARC file that held it
    captured = {canonical(w.url): w for w in mirror.written if w.registered
                and w.captured_at >= NOVEMBER[0]}  # fmt: skip
    with engine.connect() as conn:
        rows = conn.execute(select(wh.articles.c.canonical_url, wh.articles.c.fetched_at)).all()
    for url, fetched_at in rows:
        assert fetched_at == captured[url].captured_at
    assert {e.source_key for e in entries(engine, "ccnews")} <= {w.path for w in mirror.written}

    asked_before = len(mirror.asked)
    again, _, notes = backfill.run_backfill(engine, settings, request)
    assert again["shards"] == 0 and again["inserted"] == 0
    assert any("read and loaded before" in n for n in notes), notes
    assert not [p for _, p in mirror.asked[asked_before:] if p.endswith(".warc.gz")]


def test_a_ccnews_backfill_after_a_sitemap_one_extracts_nothing_stored(
    prepared, settings, mirror, demo_site
):
    engine = prepared
    for source in ("sitemaps", "ccnews"):
        request = BackfillRequest(source=source, since=NOVEMBER[0], until=NOVEMBER[1],
                                  base_url=base_of(mirror))  # fmt: skip
        totals, _, _ = backfill.run_backfill(engine, settings, request)
    assert totals["captures"] == len(in_november(mirror.written))
    assert totals["inserted"] == 0
    assert totals["already_stored"] + totals["duplicates"] == totals["captures"]
    assert max(stored(engine).values()) == 1


def test_a_503_is_retried_at_most_once_a_second_and_a_bounded_number_of_times(
    prepared, settings, mirror
):
    engine = prepared
    listing = "/crawl-data/CC-NEWS/2026/11/warc.paths.gz"
    mirror.status[listing] = [(503, {}), (503, {"Retry-After": "0"}), (200, {})]
    request = BackfillRequest(source="ccnews", since=NOVEMBER[0], until=NOVEMBER[1],
                              base_url=base_of(mirror), dry_run=True)  # fmt: skip
    totals, _, notes = backfill.run_backfill(engine, settings, request)
    times = [at for at, path in mirror.asked if path == listing]
    assert len(times) == 3
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(times)), times
    assert totals["shards"] > 0  # the third answer listed the files

    mirror.asked.clear()
    mirror.status[listing] = [(503, {})] * 20
    _, _, notes = backfill.run_backfill(engine, settings, request)
    assert len([p for _, p in mirror.asked if p == listing]) == backfill.CCNEWS_TRIES
    assert any(listing in n and "http_5xx" in n for n in notes), notes


def hostile_warc(kind: str, url: str, when: datetime) -> bytes:
    """One WARC file with a hostile record, and a good one after it."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)  # gzip after the damage: the damage is in the text
    date = {"WARC-Date": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    html = (b"<html><body><article>" + b"<p>A paragraph of a good story here.</p>" * 30
            + b"</article></body></html>")  # fmt: skip
    if kind == "not_http":  # a response record whose payload is no HTTP response
        payload = b"not an HTTP response at all"
        out.write(
            b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: " + url.encode()
            + b"\r\nWARC-Date: " + date["WARC-Date"].encode()
            + b"\r\nWARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>"
            + b"\r\nContent-Type: text/plain\r\nContent-Length: " + str(len(payload)).encode()
            + b"\r\n\r\n" + payload + b"\r\n\r\n"
        )  # fmt: skip
    if kind == "too_large":
        big = b"<html><body>" + b"x" * (3 * 1024 * 1024) + b"</body></html>"
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            url, "response", payload=io.BytesIO(big), http_headers=headers, warc_headers_dict=date,
        ))  # fmt: skip
    if kind == "empty":  # an HTML page with nothing to extract, at the URL itself
        html = b"<html><head><title>x</title></head><body></body></html>"
        url = url.removesuffix("?good")
    headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(
        url if kind == "empty" else url + "?good", "response", payload=io.BytesIO(html), http_headers=headers,
        warc_headers_dict=date,
    ))  # fmt: skip
    data = out.getvalue()
    if kind == "bogus_length":  # the first record claims more than the file holds
        data = data.replace(b"Content-Length: ", b"Content-Length: 9", 1)
    packed = gzip.compress(data)
    return packed[: len(packed) - 40] if kind == "truncated_gzip" else packed


@pytest.mark.parametrize(
    ("kind", "reason", "done"),
    [
        ("truncated_gzip", "warc_malformed", False),
        ("bogus_length", "warc_malformed", False),
        ("too_large", None, True),
        ("not_http", None, True),
    ],
)
def test_a_hostile_warc_file_gets_a_reason_and_the_backfill_carries_on(
    prepared, tmp_path, mirror, kind, reason, done
):
    from ingest.settings import load_settings

    engine = prepared
    settings = load_settings(home=tmp_path / "v", allow_loopback=True, politeness_delay_s=0.0,
                             page_max_bytes=1024 * 1024)  # fmt: skip
    month = mirror.root / "crawl-data/CC-NEWS/2026/11"
    listing = month / "warc.paths.gz"
    paths = gzip.decompress(listing.read_bytes()).decode().split()
    bad = "crawl-data/CC-NEWS/2026/11/CC-NEWS-20261101000100-00900.warc.gz"  # read first
    page = next(w.url for w in mirror.written if w.registered)
    (mirror.root / bad).write_bytes(
        hostile_warc(kind, page.rsplit("/", 1)[0] + "/hostile", datetime(2026, 11, 1, tzinfo=UTC))
    )
    listing.write_bytes(gzip.compress(("\n".join([bad, *paths]) + "\n").encode()))
    request = BackfillRequest(source="ccnews", since=NOVEMBER[0], until=NOVEMBER[1],
                              base_url=base_of(mirror))  # fmt: skip

    totals, shards, _ = backfill.run_backfill(engine, settings, request)

    first = next(s for s in shards if s["label"] == bad.rsplit("/", 1)[-1])
    assert first["files_read"] == int(done)
    if reason:
        assert first["failures"] == {reason: 1}
        assert reason in first["misses"][0]
    else:
        skipped = first["skipped_too_large"] + first["skipped_not_http"]
        assert skipped == 1 and first["failures"] == {}
    # the rest of the mirror is read and stored all the same
    assert in_november(mirror.written) <= landed(engine, "ccnews")
    assert totals["files_read"] == len(shards) - (0 if done else 1)


def test_a_ccnews_backfill_killed_in_the_middle_of_a_warc_resumes_after_what_it_loaded(
    tmp_path, warehouse_url, registry, mirror
):
    """A real ``ingest backfill ccnews`` SIGKILLed mid-file; the next run reads the rest."""
    listing = gzip.decompress(
        (mirror.root / "crawl-data/CC-NEWS/2026/11/warc.paths.gz").read_bytes()
    ).decode().split()  # fmt: skip
    stall = "/" + listing[3]
    mirror.stall.add(stall)
    env = {
        **os.environ, "INGEST_HOME": str(tmp_path / "home"), "INGEST_WAREHOUSE_URL": warehouse_url,
        "INGEST_ALLOW_LOOPBACK": "true", "INGEST_WORKERS": "1",
    }  # fmt: skip
    command = [
        sys.executable, "-m", "ingest.cli", "backfill", "ccnews", "--no-progress", "--feeds",
        str(registry), "--from", "2026-11-01", "--to", "2026-11-30", "--base-url", base_of(mirror),
    ]  # fmt: skip
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert mirror.stalled.wait(120), proc.communicate(timeout=5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    mirror.release.set()
    mirror.stall.clear()

    from ingest.store import engine as db

    engine = db.make_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            done = set(conn.execute(select(wh.backfill_files.c.path)).scalars())
        chosen = [p for p in listing if p.split("/")[3] == "11"]  # November's files
        assert done == set(chosen[: chosen.index(stall.lstrip("/"))])
        asked_before = len(mirror.asked)
        finished = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert finished.returncode == 0, finished.stderr
        read_again = {p for _, p in mirror.asked[asked_before:] if p.endswith(".warc.gz")}
        assert read_again == {"/" + p for p in chosen if p not in done}
        assert landed(engine, "ccnews") == in_november(mirror.written)
        assert max(stored(engine).values()) == 1
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(wh.backfill_files)).scalar_one() \
                == len([p for p in listing if "/2026/11/" in p or "/2026/10/" in p])  # fmt: skip
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- publishers


def test_a_publisher_without_a_site_is_known_by_its_feed_host_and_its_stored_pages(
    engine, tmp_path
):
    from ingest.models import FeedEntry
    from ingest.store import queue
    from ingest.store.engine import transaction
    from ingest.urls import queued_entries

    path = tmp_path / "feeds.toml"
    path.write_text(
        '[[feeds]]\nkey = "a"\nurl = "https://feeds.example.com/rss"\n\n'
        '[[feeds]]\nkey = "b"\nurl = "https://b.example.org/rss"\nsite = "https://www.b.example.org/"\n'
    )
    pipeline.prepare(engine, path)
    queued, _ = queued_entries("a", [FeedEntry(guid="1", link="https://www.example.com/s/1")],
                               max_length=2048)  # fmt: skip
    with transaction(engine) as conn:
        queue.insert_entries(conn, "a", queued, run_id="r", now=NOVEMBER[0])
        conn.execute(wh.feed_entries.update().values(article_id="x", state="stored"))
    found = backfill.publishers(engine, BackfillRequest(source="ccnews", since=NOVEMBER[0],
                                                        until=NOVEMBER[1]))  # fmt: skip
    by_feed = {p.feed_key: p for p in found}
    assert by_feed["a"].hosts == ("feeds.example.com", "www.example.com")
    assert by_feed["a"].root == "https://feeds.example.com/"
    assert by_feed["b"].hosts == ("www.b.example.org",)
    assert by_feed["b"].root == "https://www.b.example.org/"


def test_a_backfill_request_refuses_what_cannot_be_meant():
    with pytest.raises(ConfigError, match="range is empty"):
        BackfillRequest.of_dates("sitemaps", "2026-11-30", "2026-11-01")
    with pytest.raises(ConfigError, match="YYYY-MM-DD"):
        BackfillRequest.of_dates("sitemaps", "30/11/2026", "2026-11-01")
    with pytest.raises(ConfigError, match="max_pages"):
        BackfillRequest.of_dates("sitemaps", "2026-11-01", "2026-11-02", max_pages=0)
    with pytest.raises(ConfigError, match="unknown backfill source"):
        BackfillRequest.of_dates("gopher", "2026-11-01", "2026-11-02")
    for budget in (0.0, -1.0, float("inf"), float("nan"), 1e11):  # a deadline to keep
        with pytest.raises(ConfigError, match="time budget must be positive and under"):
            BackfillRequest.of_dates("ccnews", "2026-11-01", "2026-11-02", budget_s=budget)
    whole = BackfillRequest.of_dates("ccnews", "2026-11-01", "2026-11-01")
    assert whole.until - whole.since == timedelta(days=1) - timedelta(microseconds=1)
    assert BackfillRequest.of_dict(whole.as_dict()) == whole


# --------------------------------------------------------------------------- beside a live run


def test_a_sitemap_backfill_beside_a_live_run_fetches_each_page_once_within_the_delay(
    tmp_path, warehouse_url
):
    """A real ``ingest run`` and ``ingest backfill sitemaps`` at once, on one publisher.

    The feed lists 8 of the host's pages; its sitemap lists those and 4 older ones. Every
    request to the host (robots.txt, sitemap probes, pages) from either process keeps the
    delay after the one before, and each page is fetched and stored once.
    """
    from faultserver import FaultServer

    from concurrency import DELAY, assert_stored_once_and_nothing_held, finish, ingest_env

    robots = "User-agent: *\nAllow: /\n"
    with FaultServer("127.0.0.31", robots=robots, pages=12) as site, FaultServer(
        "127.0.0.32"
    ) as feeds:  # fmt: skip
        registry = tmp_path / "feeds.toml"
        feed_url = feeds.url(f"/feed-of?base={site.base_url}&n=8")
        registry.write_text(
            f'[[feeds]]\nkey = "f0"\nurl = "{feed_url}"\nsite = "{site.base_url}/"\n'
        )
        env = ingest_env(tmp_path, warehouse_url)
        subprocess.run(  # one schema first: the two processes then start their work at once
            [sys.executable, "-m", "ingest.cli", "db", "upgrade"], env=env, check=True,
            capture_output=True,
        )  # fmt: skip
        common = ["--no-progress", "--feeds", str(registry)]
        live = [sys.executable, "-m", "ingest.cli", "-v", "run", *common]
        back = [sys.executable, "-m", "ingest.cli", "-v", "backfill", "sitemaps", *common,
                "--from", "2026-11-19", "--to", "2026-11-20"]  # fmt: skip
        procs = [
            subprocess.Popen(
                cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for cmd in (live, back)
        ]
        logs = [finish(proc) for proc in procs]
        asked = sorted(site.requests, key=lambda r: r.at)
        pages = Counter(r.path for r in asked if r.path.startswith("/pages/"))
        assert pages == {f"/pages/{i}.html": 1 for i in range(1, 13)}, "\n".join(logs)
        assert Counter(r.path for r in asked)["/robots.txt"] == 1
        assert "/sitemap.xml" in {r.path for r in asked}
        gaps = [later.at - earlier.at for earlier, later in itertools.pairwise(asked)]
        assert min(gaps) >= DELAY, (gaps, [r.path for r in asked])
    assert_stored_once_and_nothing_held(warehouse_url, 12)
    from ingest.store import engine as db

    engine = db.make_engine(warehouse_url)
    try:  # they met: the live run fetched pages too, or found the host held by the backfill
        query = select(wh.fetch_log.c.run_id).where(wh.fetch_log.c.kind == "page")
        with engine.connect() as conn:
            runs = Counter(r.split("__")[0] for r in conn.execute(query).scalars())
    finally:
        engine.dispose()
    assert runs.total() == 12, runs
    assert runs["cli"] > 0 or "left to the runs holding them" in logs[0], (runs, logs[0])


# --------------------------------------------------------------------------- live and history


def test_a_page_a_feed_lists_after_a_sitemap_did_is_the_feeds_to_fetch(engine, tmp_path):
    from ingest.models import FeedEntry, SourceKind, SourceRef
    from ingest.store import queue
    from ingest.store.engine import transaction
    from ingest.urls import queued_entries

    path = tmp_path / "feeds.toml"
    path.write_text('[[feeds]]\nkey = "a"\nurl = "https://a.example/rss"\n')
    pipeline.prepare(engine, path)
    page = FeedEntry(guid="https://a.example/s/1", link="https://a.example/s/1")
    lead, _ = queued_entries("a", [page], max_length=2048,
                             source=SourceRef(SourceKind.SITEMAP, "https://a.example/sm.xml"))  # fmt: skip
    listed, _ = queued_entries("a", [page], max_length=2048)
    assert lead[0].entry_id == listed[0].entry_id  # the same entry, by guid and URL
    with transaction(engine) as conn:
        queue.insert_entries(conn, "a", lead, run_id="backfill", now=NOVEMBER[0])
        # the backfill's fetch of it failed for good (a consent page, say)
        conn.execute(wh.feed_entries.update().values(state="failed", attempts=3,
                                                     last_error="empty_extraction"))  # fmt: skip
    assert queue.pending_hosts(engine, max_attempts=3) == []  # a backfill's lead: not live
    listed_at = NOVEMBER[0] + timedelta(days=2)
    with transaction(engine) as conn:
        queue.insert_entries(conn, "a", listed, run_id="live", now=listed_at)
    assert queue.pending_hosts(engine, max_attempts=3) == [("a.example", 1)]
    (taken,) = entries(engine, "feed")
    assert (taken.source_kind, taken.source_key, taken.state, taken.attempts,
            taken.last_error) == ("feed", "a", "pending", 0, None)  # fmt: skip
    assert taken.first_seen_at == listed_at  # listed by the feed now: the lag counts from here
    with transaction(engine) as conn:  # listed again: nothing more changes
        queue.insert_entries(conn, "a", listed, run_id="live", now=listed_at + timedelta(hours=1))
    assert entries(engine, "feed")[0].first_seen_at == listed_at


def test_a_walk_retried_after_a_kill_takes_its_own_lease_back_and_no_one_elses(
    prepared, settings, demo_site
):
    import hashlib

    from ingest.store.engine import transaction

    engine = prepared
    first = demo_site.publishers[0]
    host = first.base_url.split("//")[1].split(":")[0]
    request = BackfillRequest(source="sitemaps", since=NOVEMBER[0], until=NOVEMBER[1],
                              sites=(first.base_url,), budget_s=3.0, dry_run=True)  # fmt: skip
    (shard,) = backfill.plan(engine, settings, request)["shards"]
    later = datetime.now(UTC) + timedelta(hours=1)
    mine = "walk-" + hashlib.sha256(b"run/0000").hexdigest()[:27] + ":killed"
    with transaction(engine) as conn:  # a killed try's lease, an hour left on it
        conn.execute(wh.hosts.insert().values(host=host, lease_owner=mine, lease_until=later,
                                              updated_at=datetime.now(UTC)))  # fmt: skip
    again = backfill.run_shard(engine, settings, request, shard, "run/0000")
    assert again["sitemaps_read"] == 3  # its own: taken back at once
    with transaction(engine) as conn:  # another crawl's lease
        conn.execute(wh.hosts.update().values(lease_owner="someone-else", lease_until=later))
    other = backfill.run_shard(engine, settings, request, shard, "run/0001")
    assert other["failures"] == {"host_busy": 1} and "held by another crawl" in other["misses"][0]


def test_history_stays_out_of_the_live_queue_lag_and_freshness(prepared, settings, demo_site):
    from ingest.store import metrics
    from ingest.store.engine import reading

    engine = prepared
    request = BackfillRequest(source="sitemaps", since=NOVEMBER[0], until=NOVEMBER[1],
                              max_pages=3)  # fmt: skip
    totals, _, _ = backfill.run_backfill(engine, settings, request)
    assert totals["inserted"] > 0 and totals["pages_fetched"] <= 3 * len(demo_site.publishers)
    left = [e for e in entries(engine, "sitemap") if e.state == "pending"]
    assert left  # the rest wait for the next backfill
    with reading(engine) as conn:
        assert metrics.pending_totals(conn)[0] == 0  # not the live queue's
        assert metrics.last_stored_at(conn) is None  # no feed listed any of them
        assert metrics.lag_seconds(conn, NOVEMBER[0]) == ([], [])
    again, _, _ = backfill.run_backfill(engine, settings, request)  # the next one goes on
    assert again["inserted"] > 0 and len(stored(engine)) > totals["inserted"]


def test_a_host_that_asked_us_to_wait_is_not_walked(prepared, settings, demo_site):
    from ingest.store.engine import transaction

    engine = prepared
    first = demo_site.publishers[0]
    host = first.base_url.split("//")[1].split(":")[0]
    with transaction(engine) as conn:
        conn.execute(wh.hosts.insert().values(
            host=host, next_eligible_at=datetime.now(UTC) + timedelta(hours=1),
            updated_at=datetime.now(UTC), throttled_count=1,
        ))  # fmt: skip
    request = BackfillRequest(source="sitemaps", since=NOVEMBER[0], until=NOVEMBER[1],
                              sites=(first.base_url,))  # fmt: skip
    totals, shards, _ = backfill.run_backfill(engine, settings, request)
    assert totals.get("sitemaps_read", 0) == 0 and totals["failures"] == {"http_429": 1}
    assert "asked us to wait" in shards[0]["misses"][0]
    with engine.connect() as conn:
        asked = conn.execute(select(func.count()).select_from(wh.fetch_log)).scalar_one()
    assert asked == 0  # not even its robots.txt


def test_an_archive_backfill_keeps_to_the_publishers_asked_for(prepared, settings, demo_site):
    engine = prepared
    backfill.run_backfill(engine, settings, BackfillRequest(
        source="sitemaps", since=NOVEMBER[0], until=NOVEMBER[1]))  # fmt: skip
    first = demo_site.publishers[0]
    now = datetime.now(UTC)
    window = {"since": now - timedelta(hours=1), "until": now + timedelta(hours=1)}
    mine = BackfillRequest(source="archive", sites=(first.base_url,), **window)
    everyone = BackfillRequest(source="archive", dry_run=True, **window)
    totals, _, _ = backfill.run_backfill(engine, settings, mine)
    theirs = {canonical(a.url) for a in demo_site.articles if a.publisher == first.slug}
    assert 0 < totals["pages_fetched"] <= len(theirs)
    assert totals["unchanged"] == totals["rows_in"]  # the same extractor: nothing changed
    every, _, _ = backfill.run_backfill(engine, settings, everyone)
    assert every["would_read"] == len(stored(engine)) > totals["pages_fetched"]


@pytest.mark.parametrize("killed", [False, True], ids=["bad page", "worker killed"])
def test_a_capture_that_fails_fails_its_own_entry_not_the_feeds(prepared, settings, mirror,
                                                                 demo_site, monkeypatch, killed):  # fmt: skip
    """Even when the failure is soft (its worker killed): only a new read of the file could
    try the capture again, and the file is done."""
    import sandbox_tasks
    from ingest import pagework
    from ingest.models import FeedEntry
    from ingest.store import queue
    from ingest.store.engine import transaction
    from ingest.urls import queued_entries

    if killed:
        monkeypatch.setattr(pagework, "work_page", sandbox_tasks.work_page_killing_its_worker)
    engine = prepared
    first = demo_site.publishers[0]
    url = first.base_url + "/news/empty-page"
    feed_key = next(f.key for f in demo_site.feeds if f.site == first.slug and not f.malformed)
    listed, _ = queued_entries(feed_key, [FeedEntry(guid="live-1", link=url)], max_length=2048)
    with transaction(engine) as conn:
        queue.insert_entries(conn, feed_key, listed, run_id="live", now=NOVEMBER[0])
    empty = hostile_warc("empty", url, datetime(2026, 11, 2, tzinfo=UTC))
    month = mirror.root / "crawl-data/CC-NEWS/2026/11"
    path = "crawl-data/CC-NEWS/2026/11/CC-NEWS-20261102010000-00901.warc.gz"
    (mirror.root / path).write_bytes(empty)
    (month / "warc.paths.gz").write_bytes(gzip.compress((path + "\n").encode()))
    request = BackfillRequest(source="ccnews", since=NOVEMBER[0], until=NOVEMBER[1],
                              base_url=base_of(mirror))  # fmt: skip
    totals, _, _ = backfill.run_backfill(engine, settings, request)
    assert totals["pages_failed"] >= 1, totals
    (live,) = entries(engine, "feed")
    assert live.state == "pending"  # a capture's failure says nothing of the live page
    captured = [e for e in entries(engine, "ccnews") if e.canonical_url == live.canonical_url]
    assert {e.state for e in captured} == {"failed"}
    if killed:
        assert {e.last_error for e in captured} == {"worker_crashed"}


def test_a_plan_never_maps_more_shards_than_max_shards(prepared, settings, mirror):
    """A shard per WARC file or publisher, and Airflow maps a task at most 1024 times."""
    engine = prepared
    request = BackfillRequest(source="ccnews", since=NOVEMBER[0], until=NOVEMBER[1],
                              base_url=base_of(mirror))  # fmt: skip
    every = backfill.plan(engine, settings, request)["shards"]
    assert len(every) > 1
    capped = settings.model_copy(update={"max_shards": 1})
    planned = backfill.plan(engine, capped, request)
    assert [s["path"] for s in planned["shards"]] == [every[0]["path"]]
    assert any(f"{len(every) - 1} more files left for a later backfill (INGEST_MAX_SHARDS 1"
               in n for n in planned["notes"]), planned["notes"]  # fmt: skip
    sitemaps = BackfillRequest(source="sitemaps", since=NOVEMBER[0], until=NOVEMBER[1])
    with pytest.raises(ConfigError, match="more shards than INGEST_MAX_SHARDS"):
        backfill.plan(engine, capped, sitemaps)
