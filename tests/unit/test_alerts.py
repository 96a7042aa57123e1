"""Alerts (ingest.alerts): once per transition, at least once per channel, on both backends.

The feeds' states come from polls saved through the store's own write paths; channels are
plain recorders here (the real e-mail and Slack channels are tested against a real SMTP
server and webhook in tests/dags/test_alert_channels.py).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from helpers import article, entry, failed_poll, load, polled
from ingest import alerts, monitor
from ingest.errors import AlertUndelivered, InternalError
from ingest.models import Alert, AlertLevel, FeedSpec
from ingest.store import alerts as store
from ingest.store import feeds as store_feeds

T = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)


class Recorder:
    """A channel that keeps what it was given, or refuses while ``down``."""

    def __init__(self, name: str, *, down: bool = False) -> None:
        self.name = name
        self.down = down
        self.got: list[Alert] = []

    def send(self, alert: Alert) -> None:
        if self.down:
            raise AlertUndelivered("connection refused")
        self.got.append(alert)


def check(engine, run_id, now, freshness_s=0.0):
    return monitor.check_run(engine, run_id, monitor.CheckRule(freshness_s=freshness_s), now=now)


@pytest.fixture
def feeds(engine, settings):
    """Two feeds read once; the alert states noted (quietly: both are fine)."""
    specs = [FeedSpec(key=k, url=f"https://{k}.example/feed") for k in ("a", "b")]
    store_feeds.sync(engine, specs, T - 10 * H)
    store_feeds.save_polls(
        engine, [polled(engine, k, T - 2 * H, [entry(k, f"https://{k}.example/1", T)]) for k in "ab"],
        "r0",
    )  # fmt: skip
    assert alerts.note(engine, settings, check(engine, "r0", T - 2 * H)) == []
    assert store.states(engine) == {"feed:a": "ok", "feed:b": "ok"}
    return engine


def test_a_feed_turning_broken_is_announced_once_then_its_recovery(feeds, settings):
    log = Recorder("log")
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r1")
    (alert,) = alerts.note(feeds, settings, check(feeds, "r1", T - H))
    assert (alert.key, alert.state, alert.level) == ("feed:a", "broken", AlertLevel.ERROR)
    assert alert.subject == "feed a is broken"
    assert any("http_5xx" in line for line in alert.body)  # why, from the feed's health
    assert alerts.deliver(feeds, [log], now=T - H).sent == [alert]
    assert log.got == [alert]

    # still broken in the next runs: nothing new to tell, nothing sent again
    store_feeds.save_polls(feeds, [failed_poll("a", T - 30 * M, broken=True)], "r2")
    assert alerts.note(feeds, settings, check(feeds, "r2", T - 30 * M)) == []
    assert alerts.deliver(feeds, [log], now=T - 30 * M).sent == []
    assert len(log.got) == 1

    store_feeds.save_polls(feeds, [polled(feeds, "a", T)], "r3")
    (back,) = alerts.note(feeds, settings, check(feeds, "r3", T))
    assert (back.state, back.level, back.subject) == (
        "ok",
        AlertLevel.INFO,
        "feed a recovered (was broken)",
    )
    alerts.deliver(feeds, [log], now=T)
    assert [a.state for a in log.got] == ["broken", "ok"]


def test_a_failing_feed_is_not_news_and_disabling_a_broken_feed_is_quiet(feeds, settings):
    store_feeds.save_polls(feeds, [failed_poll("b", T - H)], "r1")  # failing, not broken
    assert alerts.note(feeds, settings, check(feeds, "r1", T - H)) == []
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r2")
    assert [a.key for a in alerts.note(feeds, settings, check(feeds, "r2", T - H))] == ["feed:a"]
    specs = [FeedSpec(key="a", url="https://a.example/feed", enabled=False),
             FeedSpec(key="b", url="https://b.example/feed")]  # fmt: skip
    store_feeds.sync(feeds, specs, T)
    assert alerts.note(feeds, settings, check(feeds, "r2", T)) == []
    assert store.states(feeds)["feed:a"] == "disabled"


def test_a_silent_feed_is_announced_as_a_warning(engine, settings):
    store_feeds.sync(engine, [FeedSpec(key="s", url="https://s.example/feed")], T - 30 * H)
    for n in range(3):  # a new item every hour: the usual gap is 1 h, silent after 6 h
        item = entry("s", f"https://s.example/{n}", T)
        store_feeds.save_polls(engine, [polled(engine, "s", T - 20 * H + n * H, [item])], f"p{n}")
    assert alerts.note(engine, settings, check(engine, "p2", T - 18 * H)) == []
    store_feeds.save_polls(engine, [polled(engine, "s", T - 18 * H + 6 * H + M)], "quiet")
    (alert,) = alerts.note(engine, settings, check(engine, "quiet", T - 12 * H))
    assert (alert.state, alert.level, alert.subject) == (
        "silent",
        AlertLevel.WARNING,
        "feed s is silent",
    )
    assert "nothing new for 6 h" in alert.body[0]


def listed_and_loaded(engine, run_id, url, body, *, now):
    """An article as a live run stores it: a feed listed it, then its page was loaded."""
    from ingest.store import queue
    from ingest.store.engine import transaction

    with transaction(engine) as conn:
        queue.insert_entries(conn, "a", [entry("a", url, now)], run_id=run_id, now=now)
    load(engine, run_id, [article(url, body, feed="a")], now=now)


def test_freshness_lost_and_regained_is_announced_once_each(feeds, settings):
    log = Recorder("log")
    listed_and_loaded(feeds, "l0", "https://a.example/1", "A story.", now=T - 3 * H)
    store_feeds.save_polls(feeds, [polled(feeds, "a", T - H)], "r1")
    (stale,) = alerts.note(feeds, settings, check(feeds, "r1", T - H, freshness_s=3600))
    assert (stale.key, stale.state, stale.subject) == (
        "freshness",
        "stale",
        "nothing has landed for too long",
    )
    assert stale.body[0].startswith("nothing stored for 2 h")
    alerts.deliver(feeds, [log], now=T - H)
    store_feeds.save_polls(feeds, [polled(feeds, "a", T - 30 * M)], "r2")  # still stale
    assert alerts.note(feeds, settings, check(feeds, "r2", T - 30 * M, freshness_s=3600)) == []
    # the rule off, or a run that polled nothing: freshness is not judged, nothing changes
    assert alerts.note(feeds, settings, check(feeds, "r2", T - 20 * M)) == []
    assert alerts.note(feeds, settings, check(feeds, "l0", T - 20 * M, freshness_s=3600)) == []
    listed_and_loaded(feeds, "l1", "https://a.example/2", "Another story.", now=T - 10 * M)
    store_feeds.save_polls(feeds, [polled(feeds, "a", T)], "r3")
    (fresh,) = alerts.note(feeds, settings, check(feeds, "r3", T, freshness_s=3600))
    assert (fresh.state, fresh.subject) == ("fresh", "articles are landing again")
    alerts.deliver(feeds, [log], now=T)
    assert [a.state for a in log.got] == ["stale", "fresh"]  # each once


def test_a_channel_that_fails_gets_the_alert_again_and_the_others_do_not(feeds, settings):
    log, mail = Recorder("log"), Recorder("email", down=True)
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r1")
    alerts.note(feeds, settings, check(feeds, "r1", T - H))
    first = alerts.deliver(feeds, [log, mail], now=T - H)
    assert first.sent == [] and first.waiting[0][1] == "email: connection refused"
    (waiting,) = store.waiting(feeds)
    assert (waiting.delivered, waiting.attempts) == (frozenset({"log"}), 1)
    assert "connection refused" in waiting.last_error

    mail.down = False
    second = alerts.deliver(feeds, [log, mail], now=T - 50 * M)
    assert [a.key for a in second.sent] == ["feed:a"]
    assert (len(log.got), len(mail.got)) == (1, 1)  # the log was not told twice
    assert store.waiting(feeds) == []
    assert alerts.deliver(feeds, [log, mail], now=T).sent == []


def test_a_newer_state_replaces_an_alert_still_waiting(feeds, settings):
    mail = Recorder("email", down=True)
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r1")
    alerts.note(feeds, settings, check(feeds, "r1", T - H))
    alerts.deliver(feeds, [mail], now=T - H)
    store_feeds.save_polls(feeds, [polled(feeds, "a", T)], "r2")
    alerts.note(feeds, settings, check(feeds, "r2", T))
    mail.down = False
    alerts.deliver(feeds, [mail], now=T)
    assert [(a.key, a.state) for a in mail.got] == [("feed:a", "ok")]


def test_two_senders_at_once_send_each_alert_once(feeds, settings):
    store_feeds.save_polls(
        feeds, [failed_poll(k, T - H, broken=True) for k in "ab"], "r1"
    )  # fmt: skip
    alerts.note(feeds, settings, check(feeds, "r1", T - H))
    got: list[Alert] = []
    lock = threading.Lock()

    class Slow:
        name = "log"

        def send(self, alert):
            with lock:
                got.append(alert)

    barrier = threading.Barrier(2)

    def sender():
        barrier.wait()
        alerts.deliver(feeds, [Slow()], now=T)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a.key for a in got) == ["feed:a", "feed:b"]


def test_a_claim_left_by_a_dead_sender_is_taken_up_after_its_lease(feeds, settings):
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r1")
    alerts.note(feeds, settings, check(feeds, "r1", T - H))
    claimed = store.claim(feeds, "dead-sender", T, alerts.CLAIM_S)  # then it dies
    assert [w.alert.key for w in claimed] == ["feed:a"]
    log = Recorder("log")
    assert alerts.deliver(feeds, [log], now=T + timedelta(seconds=alerts.CLAIM_S - 1)).sent == []
    assert (
        len(alerts.deliver(feeds, [log], now=T + timedelta(seconds=alerts.CLAIM_S + 1)).sent) == 1
    )


def test_a_failed_run_alert_carries_the_reason_and_the_runs_own_check(feeds, settings):
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r1")
    alert = alerts.run_failed(feeds, settings, "r1", reason="task_failure", failed_task="check",
                              now=T)  # fmt: skip
    assert (alert.key, alert.state, alert.subject) == ("run:r1", "failed", "run r1 failed")
    assert alert.body[0] == "reason: task_failure; the last task to fail: check"
    assert any("feed a turned broken in this run" in line for line in alert.body)


def test_hostile_feed_text_stays_on_its_line_and_short(engine, settings):
    store_feeds.sync(engine, [FeedSpec(key="h", url="https://h.example/feed")], T - H)
    store_feeds.save_polls(engine, [failed_poll("h", T - 30 * M, broken=True)], "r1")
    health = monitor.feeds_health(engine)[0]
    hostile = health.__class__(**{**{f: getattr(health, f) for f in health.__slots__},
                                  "why": "evil\r\nBcc: x@y.org\x1b[31m" + "A" * 100_000})  # fmt: skip
    alert = alerts.feed_alert(hostile, None, T)
    assert all("\n" not in line and "\r" not in line and "\x1b" not in line for line in alert.body)
    assert max(len(line) for line in alert.body) <= alerts.MAX_LINE + 20


class Buggy:
    """A channel with a bug of ours (or a provider's): not an outage."""

    name = "slack"

    def __init__(self) -> None:
        self.calls = 0

    def send(self, alert: Alert) -> None:
        del alert
        self.calls += 1
        raise RuntimeError("a bug in the channel")


def test_a_channel_with_a_bug_fails_the_round_but_the_others_are_told_once(feeds, settings):
    log, mail, buggy = Recorder("log"), Recorder("email"), Buggy()
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r1")
    alerts.note(feeds, settings, check(feeds, "r1", T - H))
    for moment in (T - H, T - 50 * M, T - 40 * M):  # three checks, the bug still there
        with pytest.raises(InternalError, match="channel slack: RuntimeError"):
            alerts.deliver(feeds, [log, mail, buggy], now=moment)
    assert (len(log.got), len(mail.got), buggy.calls) == (1, 1, 3)  # never told twice
    (waiting,) = store.waiting(feeds)
    assert waiting.delivered == frozenset({"log", "email"}) and waiting.attempts == 3


def test_a_state_that_flaps_during_a_round_keeps_its_newer_alert_waiting(feeds, settings):
    """Sender A holds "broken since t1"; meanwhile the feed recovers and breaks again (t3).
    A's round must not mark the t3 alert as sent: it was never told."""
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r1")
    alerts.note(feeds, settings, check(feeds, "r1", T - H), now=T - H)
    (held,) = store.claim(feeds, "sender-a", T - H, alerts.CLAIM_S)
    store_feeds.save_polls(feeds, [polled(feeds, "a", T - 50 * M)], "r2")
    alerts.note(feeds, settings, check(feeds, "r2", T - 50 * M), now=T - 50 * M)
    store_feeds.save_polls(feeds, [failed_poll("a", T - 40 * M, broken=True)], "r3")
    alerts.note(feeds, settings, check(feeds, "r3", T - 40 * M), now=T - 40 * M)
    assert not store.renew(feeds, held.alert, "sender-a", T - 40 * M, alerts.CLAIM_S)
    store.took(feeds, held.alert, "sender-a", frozenset({"log"}))
    store.settle(feeds, held.alert, "sender-a", None, T - 40 * M)
    (waiting,) = store.waiting(feeds)  # the newer break, untouched, still to be told
    assert (waiting.alert.state, waiting.alert.since, waiting.delivered) == (
        "broken", T - 40 * M, frozenset(),
    )  # fmt: skip
    log = Recorder("log")
    alerts.deliver(feeds, [log], now=T)
    assert [(a.state, a.since) for a in log.got] == [("broken", T - 40 * M)]


def test_a_sender_whose_lease_ran_out_stops_and_the_new_holder_goes_on(feeds, settings):
    store_feeds.save_polls(feeds, [failed_poll("a", T - H, broken=True)], "r1")
    alerts.note(feeds, settings, check(feeds, "r1", T - H))
    (slow,) = store.claim(feeds, "slow-sender", T - H, alerts.CLAIM_S)
    late = T - H + timedelta(seconds=alerts.CLAIM_S + 1)
    (fast,) = store.claim(feeds, "fast-sender", late, alerts.CLAIM_S)  # the lease ran out
    assert not store.renew(feeds, slow.alert, "slow-sender", late, alerts.CLAIM_S)
    assert store.renew(feeds, fast.alert, "fast-sender", late, alerts.CLAIM_S)
