from datetime import UTC, datetime, timedelta

import pytest

from ingest.models import Fetched, FetchFailure, HostState, Reason
from ingest.robots import Rules, is_fresh, remember, robots_url

NOW = datetime(2026, 11, 25, 12, tzinfo=UTC)
TTL, RETRY = 86400.0, 600.0
ROBOTS = b"""
User-agent: *
Disallow: /private/

User-agent: news-ingest
Disallow: /drafts/
Allow: /drafts/published-
Crawl-delay: 7
"""


def fetched(body: bytes, status: int = 200) -> Fetched:
    return Fetched("u", "u", status, "text/plain", body, "h", None, None, 0.01)


def after(result) -> HostState:
    return remember(HostState("news.example"), result, now=NOW, ttl_s=TTL, retry_s=RETRY)


def test_robots_url_keeps_scheme_host_and_port():
    assert (
        robots_url("https://News.example:8443/a/b?c=1#d") == "https://News.example:8443/robots.txt"
    )


def test_our_group_applies_with_its_crawl_delay():
    state = after(fetched(ROBOTS))
    rules = Rules.of(state, "news-ingest")
    assert rules.allows("https://news.example/news/1")
    assert rules.allows("https://news.example/private/1")  # only the * group says so
    assert not rules.allows("https://news.example/drafts/1")
    assert rules.allows("https://news.example/drafts/published-1")
    assert rules.crawl_delay() == 7
    assert Rules.of(state, "otherbot").allows("https://news.example/drafts/1")
    assert not Rules.of(state, "otherbot").allows("https://news.example/private/1")
    assert state.robots_expires_at == NOW + timedelta(seconds=TTL)
    assert is_fresh(state, NOW + timedelta(hours=23))
    assert not is_fresh(state, NOW + timedelta(hours=25))


@pytest.mark.parametrize(
    ("reason", "status"),
    [(Reason.NOT_FOUND, 404), (Reason.GONE, 410), (Reason.CLIENT_ERROR, 403),
     (Reason.CLIENT_ERROR, 401), (Reason.TOO_MANY_REDIRECTS, None), (Reason.TOO_LARGE, None),
     (Reason.BLOCKED_ADDRESS, None)],
)  # fmt: skip
def test_4xx_and_unusable_answers_mean_no_rules(reason, status):
    state = after(FetchFailure("u", reason, "x", status))
    rules = Rules.of(state, "news-ingest")
    assert rules.reachable
    assert rules.allows("https://news.example/anything")
    assert state.next_eligible_at is None
    assert state.robots_expires_at == NOW + timedelta(seconds=TTL)


@pytest.mark.parametrize(
    ("reason", "status"),
    [(Reason.SERVER_ERROR, 500), (Reason.SERVER_ERROR, 503), (Reason.THROTTLED, 429),
     (Reason.TIMEOUT, None), (Reason.CONNECT_ERROR, None), (Reason.CONNECT_TIMEOUT, None)],
)  # fmt: skip
def test_5xx_and_network_trouble_mean_the_host_waits(reason, status):
    state = after(FetchFailure("u", reason, "x", status))
    rules = Rules.of(state, "news-ingest")
    assert not rules.reachable
    assert not rules.allows("https://news.example/anything")
    assert state.next_eligible_at == NOW + timedelta(seconds=RETRY)
    assert state.robots_expires_at == NOW + timedelta(seconds=RETRY)  # asked again after that


def test_garbage_and_huge_robots_files_do_not_break_anything():
    noise = bytes(range(256)) * 50 + b"\nUser-agent: *\nDisallow: /x\n" + b"\xff" * 10
    rules = Rules.of(after(fetched(noise)), "news-ingest")
    assert rules.allows("https://news.example/a")
    huge = b"User-agent: *\n" + b"Disallow: /p\n" * 200_000  # 2.6 MB: only 512 KiB is read
    state = after(fetched(huge))
    assert len(state.robots_txt) <= 512 * 1024
    assert not Rules.of(state, "news-ingest").allows("https://news.example/p1")


def test_a_never_fetched_host_is_not_fresh():
    assert not is_fresh(HostState("h"), NOW)


def test_what_each_kind_of_answer_leaves_in_the_hosts_state():
    ok = after(fetched(b"User-agent: *\nDisallow: /x\n"))
    assert (ok.robots_status, ok.robots_fetched_at, ok.robots_expires_at) == (
        200, NOW, NOW + timedelta(seconds=TTL),
    )  # fmt: skip
    assert ok.robots_txt == "User-agent: *\nDisallow: /x\n" and ok.next_eligible_at is None
    down = after(FetchFailure("u", Reason.SERVER_ERROR, status=503))
    assert (down.robots_status, down.robots_txt, down.robots_fetched_at) == (503, None, NOW)
    assert down.robots_expires_at == down.next_eligible_at == NOW + timedelta(seconds=RETRY)
    dead = after(FetchFailure("u", Reason.CONNECT_ERROR))
    assert dead.robots_status == 0  # no answer at all: unreachable
    gone = after(FetchFailure("u", Reason.NOT_FOUND, status=404))
    assert (gone.robots_status, gone.robots_txt, gone.robots_fetched_at) == (404, None, NOW)
    assert gone.next_eligible_at is None
    refused = after(FetchFailure("u", Reason.TOO_MANY_REDIRECTS))
    assert refused.robots_status == 400  # unavailable, with no status: everything allowed
    assert Rules.of(refused, "news-ingest").allows("https://news.example/x")


def test_robots_txt_bytes_that_are_not_utf8_are_read_not_refused():
    state = after(fetched(b"User-agent: *\nDisallow: /caf\xe9/\n"))
    assert state.robots_txt == "User-agent: *\nDisallow: /caf\ufffd/\n"


@pytest.mark.parametrize("status", [301, 304, 399])
def test_rules_apply_only_from_a_2xx_answer(status):
    state = HostState("h", robots_status=status, robots_txt="User-agent: *\nDisallow: /\n")
    rules = Rules.of(state, "news-ingest")
    assert rules.reachable and rules.parser is None and rules.allows("https://h/x")


def test_no_crawl_delay_is_none_not_an_error():
    rules = Rules.of(after(fetched(b"User-agent: *\nDisallow: /x\n")), "news-ingest")
    assert rules.crawl_delay() is None


def test_an_answer_is_fresh_until_it_expires():
    state = HostState("h", robots_expires_at=NOW)
    assert not is_fresh(state, NOW)
    assert is_fresh(state, NOW - timedelta(seconds=1))
