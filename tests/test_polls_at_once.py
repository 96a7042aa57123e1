"""A poll shard's hosts are polled at once, each host's feeds one after another.

Each host has its own HTTP client: one host's request running out of time must not touch
another host's request in flight. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import select as selectors_
import socket
import threading
import time

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select
from werkzeug import Request, Response

from ingest import pipeline
from ingest.errors import WarehouseError
from ingest.models import FeedSpec
from ingest.store import feeds as store_feeds
from ingest.store import schema as wh

WAIT_S = 10.0  # what a handler waits for another's event at most (the test fails then)


def rss(host: str, names: list[str]) -> str:
    items = "".join(
        f"<item><title>{n}</title><link>http://{host}/{n}</link><guid>{n}</guid></item>"
        for n in names
    )
    return f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>'


@pytest.fixture
def hosts():
    """Three local servers, each on a loopback address of its own (three hosts)."""
    servers = [HTTPServer(host=f"127.0.0.{n}", port=0) for n in (2, 3, 4)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.clear()
        server.stop()


def feed_rows(engine):
    with engine.connect() as conn:
        return {r.feed_key: r for r in conn.execute(select(wh.feeds))}


def queued(engine, key):
    with engine.connect() as conn:
        return (
            conn.execute(select(wh.feed_entries.c.guid).where(wh.feed_entries.c.feed_key == key))
            .scalars()
            .all()
        )


def test_one_hosts_timeout_leaves_another_hosts_request_in_flight_whole(
    hosts, engine, settings, now
):
    slow, other, _ = hosts
    settings = settings.model_copy(update={"feed_deadline_s": 2.0})
    cut = threading.Event()  # the slow host's client has gone (its deadline passed)

    def never_ends(request: Request) -> Response:
        sock = request.environ["werkzeug.socket"]

        def body():
            yield b'<rss version="2.0"><channel><title>T</title>'
            # then silence: only the client's own deadline can end its read; the server
            # sees the connection go (EOF) without writing a byte more
            ready, _, _ = selectors_.select([sock], [], [], WAIT_S)
            if ready and not sock.recv(1, socket.MSG_PEEK):
                cut.set()

        return Response(body(), content_type="application/rss+xml")

    whole = rss(other.host, [f"b{i}" for i in range(6)]).encode()

    def halves(_request: Request) -> Response:
        def body():
            yield whole[: len(whole) // 2]
            cut.wait(WAIT_S)  # the slow host's request ends while this one is half read
            yield whole[len(whole) // 2 :]

        return Response(body(), content_type="application/rss+xml")

    def first(_request: Request) -> Response:
        time.sleep(1.0)  # the host's second feed starts a second after the slow one
        return Response(rss(other.host, ["a0"]), content_type="application/rss+xml")

    slow.expect_request("/feed.xml").respond_with_handler(never_ends)
    other.expect_request("/first.xml").respond_with_handler(first)
    other.expect_request("/second.xml").respond_with_handler(halves)
    store_feeds.sync(engine, [
        FeedSpec(key="slow", url=slow.url_for("/feed.xml")),
        FeedSpec(key="first", url=other.url_for("/first.xml")),
        FeedSpec(key="second", url=other.url_for("/second.xml")),
    ], now)  # fmt: skip
    stats = pipeline.poll_shard(engine, settings, ["slow", "first", "second"], "r")
    assert cut.is_set()
    rows = feed_rows(engine)
    assert rows["slow"].last_error.startswith("timeout")
    assert rows["second"].last_error is None and rows["second"].last_success_at is not None
    assert sorted(queued(engine, "second")) == [f"b{i}" for i in range(6)]  # all of it
    assert (stats["feeds_polled"], stats["feeds_failed"]) == (3, 1)


def test_hosts_are_polled_at_once_and_a_hosts_feeds_one_after_another(hosts, engine, settings, now):
    a, b, c = hosts
    arrived = {name: threading.Event() for name in ("a", "b")}
    in_flight = {"c": 0, "most": 0}
    lock = threading.Lock()

    def meets(me: str, other: str, server: HTTPServer):
        def handler(_request: Request) -> Response:
            arrived[me].set()
            met = arrived[other].wait(WAIT_S)  # polled one after the other: never met
            status = 200 if met else 503
            return Response(rss(server.host, [me]), status=status,
                            content_type="application/rss+xml")  # fmt: skip

        return handler

    def one_at_a_time(request: Request) -> Response:
        with lock:
            in_flight["c"] += 1
            in_flight["most"] = max(in_flight["most"], in_flight["c"])
        time.sleep(0.3)
        with lock:
            in_flight["c"] -= 1
        name = request.path.strip("/").removesuffix(".xml")
        return Response(rss(c.host, [name]), content_type="application/rss+xml")

    a.expect_request("/feed.xml").respond_with_handler(meets("a", "b", a))
    b.expect_request("/feed.xml").respond_with_handler(meets("b", "a", b))
    specs = [FeedSpec(key="a", url=a.url_for("/feed.xml")),
             FeedSpec(key="b", url=b.url_for("/feed.xml"))]  # fmt: skip
    for n in range(4):
        c.expect_request(f"/c{n}.xml").respond_with_handler(one_at_a_time)
        specs.append(FeedSpec(key=f"c{n}", url=c.url_for(f"/c{n}.xml")))
    store_feeds.sync(engine, specs, now)
    stats = pipeline.poll_shard(engine, settings, [s.key for s in specs], "r")
    assert (stats["feeds_polled"], stats["feeds_failed"]) == (6, 0)  # a and b met: at once
    assert in_flight["most"] == 1  # never two requests to one host at a time
    assert all(queued(engine, s.key) for s in specs)


def test_a_hosts_failure_stops_the_step_after_the_other_hosts_outcomes_are_saved(
    hosts, engine, settings, now, monkeypatch
):
    from ingest.poll import Poller

    a, b, _ = hosts
    asked = threading.Event()

    def slow_feed(_request: Request) -> Response:
        asked.set()
        time.sleep(0.5)  # in hand when the other host's poll fails
        return Response(rss(b.host, ["kept"]), content_type="application/rss+xml")

    b.expect_request("/feed.xml").respond_with_handler(slow_feed)
    store_feeds.sync(engine, [FeedSpec(key="down", url=a.url_for("/feed.xml")),
                              FeedSpec(key="kept", url=b.url_for("/feed.xml"))], now)  # fmt: skip
    real = Poller.poll

    def poll(self, target):
        if target.key == "down":
            assert asked.wait(WAIT_S)
            raise WarehouseError("the warehouse went away")
        return real(self, target)

    monkeypatch.setattr(Poller, "poll", poll)
    with pytest.raises(WarehouseError, match="went away"):
        pipeline.poll_shard(engine, settings, ["down", "kept"], "r")
    assert feed_rows(engine)["kept"].last_success_at is not None  # saved before the raise
    assert queued(engine, "kept") == ["kept"]


def test_the_hosts_polls_in_hand_are_saved_when_the_step_stops_taking_them(
    hosts, engine, settings, now, monkeypatch
):
    from ingest.stats import StepStats

    all_asked = threading.Barrier(len(hosts), timeout=WAIT_S)  # every host's poll in hand

    def handler(server: HTTPServer):
        def respond(_request: Request) -> Response:
            all_asked.wait()
            return Response(rss(server.host, ["x"]), content_type="application/rss+xml")

        return respond

    specs = []
    for n, server in enumerate(hosts):
        server.expect_request("/feed.xml").respond_with_handler(handler(server))
        specs.append(FeedSpec(key=f"f{n}", url=server.url_for("/feed.xml")))
    store_feeds.sync(engine, specs, now)
    real = StepStats.add_poll

    def add_poll_then_fail(self, outcome):
        real(self, outcome)
        raise RuntimeError("the step failed on its first outcome")

    monkeypatch.setattr(StepStats, "add_poll", add_poll_then_fail)
    with pytest.raises(RuntimeError, match="first outcome"):
        pipeline.poll_shard(engine, settings, [s.key for s in specs], "r")
    rows = feed_rows(engine)
    assert all(rows[s.key].last_success_at is not None for s in specs)  # none polled twice


def test_an_in_memory_sqlite_warehouse_is_polled_from_one_thread():
    """Each thread would see an in-memory SQLite database of its own."""
    from ingest.store import engine as db

    for url, alone in (("sqlite://", True), ("sqlite:///:memory:", True),
                       ("sqlite:////tmp/w.db", False)):  # fmt: skip
        engine = db.make_engine(url)
        assert db.one_per_thread(engine) is alone, url
        engine.dispose()
