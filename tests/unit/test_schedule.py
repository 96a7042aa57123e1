import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.models import Reason
from ingest.schedule import DUE_SLACK_S, Bounds, FeedTiming, after_failure, after_success, new_gap

T0 = datetime(2026, 11, 25, 12, tzinfo=UTC)
BOUNDS = Bounds(5 * 60.0, 24 * 3600.0)
DEFAULT = 15 * 60.0


def succeed(timing, *, new=0, entries=20, hours=1.0, **hints):
    now = (timing.last_success_at or T0) + timedelta(hours=hours)
    plan = after_success(
        timing, BOUNDS, now=now, new_items=new, entries=entries, default_s=DEFAULT, **hints
    )
    return plan, FeedTiming(plan.interval_s, plan.new_per_hour, now, 0)


def test_first_poll_keeps_the_default_interval():
    # every entry of a first poll is new: that says nothing about the feed's pace
    plan = after_success(FeedTiming(), BOUNDS, now=T0, new_items=20, entries=20, default_s=DEFAULT)
    assert plan.interval_s == DEFAULT
    assert plan.due_at == T0 + timedelta(seconds=DEFAULT)


def test_a_busy_feed_is_polled_about_once_per_new_item():
    timing = FeedTiming(DEFAULT, None, T0, 0)
    for _ in range(10):
        plan, timing = succeed(timing, new=6, hours=1.0)  # 6 new per hour
    assert plan.new_per_hour == pytest.approx(6.0)
    assert plan.interval_s == pytest.approx(600.0)  # 3600 / 6


def test_a_quiet_feed_backs_off_to_the_maximum_gradually():
    timing = FeedTiming(DEFAULT, 4.0, T0, 0)
    intervals = []
    for _ in range(20):
        plan, timing = succeed(timing, new=0, hours=timing.interval_s / 3600)
        intervals.append(plan.interval_s)
    assert intervals == sorted(intervals)
    assert all(b <= 2 * a for a, b in itertools.pairwise(intervals))
    assert intervals[-1] == BOUNDS.max_s


def test_a_poll_with_only_new_items_drops_to_the_minimum():
    plan, _ = succeed(FeedTiming(3600.0, 1.0, T0, 0), new=20, entries=20)
    assert plan.interval_s == BOUNDS.min_s


def test_ttl_and_max_age_push_the_next_poll_out_within_the_maximum():
    timing = FeedTiming(DEFAULT, 6.0, T0, 0)
    plan, _ = succeed(timing, new=6, ttl_s=7200.0)
    assert plan.due_at - (T0 + timedelta(hours=1)) == timedelta(hours=2)
    plan, _ = succeed(timing, new=6, max_age_s=3 * 86400.0)  # absurd: capped at 24 h
    assert plan.due_at - (T0 + timedelta(hours=1)) == timedelta(hours=24)
    assert plan.interval_s < 7200  # hints delay one poll; they do not change the rate


def test_a_fixed_interval_is_kept():
    bounds = Bounds.for_feed(
        fixed_minutes=30, min_minutes=None, max_minutes=None,
        default_min_minutes=5, default_max_minutes=1440,
    )  # fmt: skip
    plan = after_success(
        FeedTiming(1800.0, 50.0, T0, 0), bounds, now=T0 + timedelta(hours=1), new_items=100,
        entries=100, default_s=DEFAULT,
    )  # fmt: skip
    assert plan.interval_s == 1800.0


def test_per_feed_bounds_override_the_defaults():
    bounds = Bounds.for_feed(
        fixed_minutes=None, min_minutes=60, max_minutes=120,
        default_min_minutes=5, default_max_minutes=1440,
    )  # fmt: skip
    assert (bounds.min_s, bounds.max_s) == (3600.0, 7200.0)


@pytest.mark.parametrize(
    ("min_minutes", "max_minutes", "expected"),
    [(None, 2, (120.0, 120.0)), (2000, None, (120000.0, 120000.0)), (None, None, (300.0, 86400.0))],
)
def test_a_feeds_own_bound_wins_over_the_other_default(min_minutes, max_minutes, expected):
    bounds = Bounds.for_feed(
        fixed_minutes=None, min_minutes=min_minutes, max_minutes=max_minutes,
        default_min_minutes=5, default_max_minutes=1440,
    )  # fmt: skip
    assert (bounds.min_s, bounds.max_s) == expected


def fail(timing, reason, **kw):
    return after_failure(
        timing, BOUNDS, now=T0, reason=reason, default_s=DEFAULT, broken_after=5, **kw
    )


def test_soft_failures_back_off_from_the_interval_and_hard_ones_from_an_hour():
    timing = FeedTiming(DEFAULT, 1.0, T0, 0)
    soft = [fail(FeedTiming(DEFAULT, 1.0, T0, n), Reason.TIMEOUT) for n in range(3)]
    assert [p.due_at - T0 for p in soft] == [timedelta(minutes=m) for m in (15, 30, 60)]
    assert {p.failure_kind for p in soft} == {"soft"}
    hard = fail(timing, Reason.NOT_FOUND)
    assert (hard.due_at - T0, hard.failure_kind) == (timedelta(hours=1), "hard")


def test_a_failure_keeps_what_the_feed_has_learnt():
    """A failed poll says nothing about how often the feed publishes: once it answers again
    it is polled at the interval and rate it had before, not from the default."""
    learnt = FeedTiming(40 * 60.0, 2.5, T0 - timedelta(hours=3), 2)
    for reason in (Reason.TIMEOUT, Reason.NOT_FOUND):
        plan = fail(learnt, reason)
        assert (plan.interval_s, plan.new_per_hour) == (40 * 60.0, 2.5), reason


def test_retry_after_is_honoured_and_capped():
    """Honoured to the end: a run takes feeds due up to DUE_SLACK_S after its due time
    (schedule.due_by), so the wait a Retry-After sets has that slack on top."""
    from ingest.schedule import due_by
    from ingest.settings import load_settings

    settings = load_settings()
    slack = timedelta(seconds=DUE_SLACK_S)
    timing = FeedTiming(DEFAULT, 1.0, T0, 0)
    plan = fail(timing, Reason.THROTTLED, retry_after_s=7200)
    assert plan.due_at == T0 + timedelta(hours=2) + slack
    # the last run that may take it is due at or after the Retry-After's end
    assert (
        due_by(T0 + timedelta(hours=2), settings)
        >= plan.due_at
        > due_by(T0 + timedelta(hours=2) - slack / 2, settings)
    )
    huge = fail(timing, Reason.THROTTLED, retry_after_s=88 * 3600, max_retry_after_s=86400)
    assert huge.due_at == T0 + timedelta(hours=24) + slack
    short = fail(timing, Reason.THROTTLED, retry_after_s=1)  # never sooner than the back-off
    assert short.due_at == T0 + timedelta(minutes=15)


def test_the_fifth_failure_in_a_row_flags_the_feed_broken_and_it_is_still_polled():
    plans = [fail(FeedTiming(DEFAULT, None, T0, n), Reason.SERVER_ERROR) for n in range(7)]
    assert [p.broken for p in plans] == [False] * 4 + [True] * 3
    assert [p.consecutive_failures for p in plans] == list(range(1, 8))
    assert plans[-1].due_at == T0 + timedelta(hours=24)  # at the maximum interval, not dropped


@given(
    interval=st.none() | st.floats(1, 10**7),
    rate=st.none() | st.floats(0, 10**6),
    hours=st.floats(0.001, 1000),
    new=st.integers(0, 5000),
    entries=st.integers(0, 5000),
    ttl=st.none() | st.floats(0, 10**8),
    max_age=st.none() | st.floats(0, 10**8),
)
def test_the_next_poll_is_always_within_the_bounds(
    interval, rate, hours, new, entries, ttl, max_age
):
    plan = after_success(
        FeedTiming(interval, rate, T0, 0), BOUNDS, now=T0 + timedelta(hours=hours),
        new_items=new, entries=entries, default_s=DEFAULT, ttl_s=ttl, max_age_s=max_age,
    )  # fmt: skip
    wait = (plan.due_at - (T0 + timedelta(hours=hours))).total_seconds()
    assert BOUNDS.min_s <= plan.interval_s <= BOUNDS.max_s
    assert BOUNDS.min_s <= wait <= BOUNDS.max_s + 1e-6


@given(failures=st.integers(0, 10**6), reason=st.sampled_from(list(Reason)),
       retry_after=st.none() | st.floats(0, 10**9))  # fmt: skip
def test_back_off_is_always_bounded(failures, reason, retry_after):
    plan = fail(FeedTiming(DEFAULT, None, T0, failures), reason, retry_after_s=retry_after)
    assert timedelta(0) < plan.due_at - T0 <= timedelta(hours=24, minutes=2)  # + the slack


def test_the_policy_caps_a_feeds_retry_after_at_the_setting():
    from ingest.models import PollTarget
    from ingest.schedule import Policy

    policy = Policy(default_s=900, min_minutes=5, max_minutes=1440, broken_after=5,
                    max_retry_after_s=600)  # fmt: skip
    target = PollTarget(key="f", url="https://f.example/feed")
    plan = policy.after_failure(target, now=T0, reason=Reason.THROTTLED, retry_after_s=7200)
    assert plan.due_at - T0 == timedelta(seconds=900)  # its back-off, not the 2 hours asked


def test_the_policy_reads_the_feeds_own_state():
    from ingest.models import PollTarget
    from ingest.schedule import Policy

    policy = Policy(default_s=900, min_minutes=5, max_minutes=1440, broken_after=5)
    fixed = PollTarget(key="f", url="u", interval_minutes=45)
    assert policy.after_success(fixed, now=T0, new_items=0, entries=3).interval_s == 45 * 60
    bounded = PollTarget(key="b", url="u", min_interval_minutes=120, max_interval_minutes=180)
    assert policy.after_success(bounded, now=T0, new_items=0, entries=3).interval_s == 120 * 60
    capped = PollTarget(key="c", url="u", max_interval_minutes=10)
    assert policy.after_success(capped, now=T0, new_items=0, entries=3).interval_s == 10 * 60
    known = PollTarget(
        key="k", url="u", poll_interval_s=3600.0, new_per_hour=2.0,
        last_success_at=T0 - timedelta(hours=1), consecutive_failures=4,
    )  # fmt: skip
    plan = policy.after_success(known, now=T0, new_items=2, entries=10)
    assert plan.new_per_hour == pytest.approx(2.0)  # 0.3 * 2/h + 0.7 * 2/h
    assert plan.interval_s == 1800.0  # one new item per poll at 2 an hour
    failed = policy.after_failure(known, now=T0, reason=Reason.TIMEOUT, retry_after_s=None)
    assert (failed.consecutive_failures, failed.broken) == (5, True)
    hinted = policy.after_failure(known, now=T0, reason=Reason.THROTTLED, retry_after_s=90000)
    assert hinted.due_at - T0 == timedelta(days=1, minutes=2)  # the cap of Retry-After + slack


def test_ttl_and_max_age_of_zero_change_nothing():
    bounds = Bounds(300.0, 86400.0)
    plain = after_success(FeedTiming(), bounds, now=T0, new_items=0, entries=3, default_s=900)
    for ttl, age in ((None, None), (0, None), (None, 0)):
        hinted = after_success(FeedTiming(), bounds, now=T0, new_items=0, entries=3,
                               default_s=900, ttl_s=ttl, max_age_s=age)  # fmt: skip
        assert hinted.due_at == plain.due_at


def test_a_rate_is_observed_over_the_time_since_the_last_success():
    timing = FeedTiming(interval_s=3600.0, last_success_at=T0 - timedelta(hours=2))
    plan = after_success(timing, Bounds(300.0, 86400.0), now=T0, new_items=4, entries=10,
                         default_s=900)  # fmt: skip
    assert plan.new_per_hour == pytest.approx(2.0)  # 4 new items in 2 hours
    quiet = FeedTiming(interval_s=3600.0, new_per_hour=0.0, last_success_at=T0 - timedelta(hours=1))
    grown = after_success(quiet, Bounds(300.0, 86400.0), now=T0, new_items=0, entries=10,
                          default_s=900)  # fmt: skip
    assert grown.interval_s == 7200.0  # nothing new: twice the previous interval


def test_a_feeds_own_minimum_equal_to_the_default_maximum_is_kept():
    assert Bounds.for_feed(fixed_minutes=None, min_minutes=60, max_minutes=None,
                           default_min_minutes=5, default_max_minutes=60) == Bounds(3600.0, 3600.0)  # fmt: skip
    assert Bounds.for_feed(fixed_minutes=None, min_minutes=None, max_minutes=3,
                           default_min_minutes=5, default_max_minutes=60) == Bounds(180.0, 180.0)  # fmt: skip


def test_the_policy_takes_its_defaults_from_the_settings(tmp_path):
    from ingest.schedule import Policy
    from ingest.settings import load_settings

    s = load_settings(home=tmp_path, poll_interval_minutes=20, feed_min_interval_minutes=7,
                      feed_max_interval_minutes=600, feed_broken_after=3, max_retry_after_s=900)  # fmt: skip
    assert Policy.of(s) == Policy(default_s=1200.0, min_minutes=7, max_minutes=600,
                                  broken_after=3, max_retry_after_s=900.0)  # fmt: skip


def test_the_policy_passes_every_part_of_a_feeds_state_and_hints_on():
    """Each of the feed's stored values changes the plan, and the policy hands each one on."""
    import dataclasses

    from ingest.models import PollTarget
    from ingest.schedule import Policy

    policy = Policy(default_s=900, min_minutes=5, max_minutes=1440, broken_after=5,
                    max_retry_after_s=7200)  # fmt: skip
    known = PollTarget(
        key="k", url="u", poll_interval_s=300.0, new_per_hour=6.0,
        last_success_at=T0 - timedelta(hours=2), consecutive_failures=2,
    )  # fmt: skip
    bounds = Bounds(300.0, 86400.0)

    def direct(target, **hints):
        timing = FeedTiming(target.poll_interval_s, target.new_per_hour,
                            target.last_success_at, target.consecutive_failures)  # fmt: skip
        return after_success(timing, bounds, now=T0, new_items=2, entries=10, default_s=900,
                             **hints)  # fmt: skip

    plan = policy.after_success(known, now=T0, new_items=2, entries=10)
    assert plan == direct(known)
    for name in ("poll_interval_s", "new_per_hour", "last_success_at"):
        assert direct(dataclasses.replace(known, **{name: None})) != plan, name  # it matters
    for hints, direct_hints in (
        ({"ttl_minutes": 600}, {"ttl_s": 36000.0}),
        ({"max_age_s": 20000.0}, {"max_age_s": 20000.0}),
    ):
        hinted = policy.after_success(known, now=T0, new_items=2, entries=10, **hints)
        assert hinted == direct(known, **direct_hints) != plan
    hinted = policy.after_failure(known, now=T0, reason=Reason.THROTTLED, retry_after_s=5000)
    plain = policy.after_failure(known, now=T0, reason=Reason.THROTTLED, retry_after_s=None)
    assert hinted.due_at - T0 == timedelta(seconds=5000 + DUE_SLACK_S) != plain.due_at - T0


def test_the_usual_gap_moves_only_on_polls_that_found_news():
    at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    first = FeedTiming(last_new_at=None, new_gap_s=None)
    assert new_gap(first, now=at, new_items=3) is None  # nothing to measure from yet
    once = FeedTiming(last_new_at=at - timedelta(hours=1), new_gap_s=None)
    assert new_gap(once, now=at, new_items=1) == 3600.0
    known = FeedTiming(last_new_at=at - timedelta(hours=2), new_gap_s=3600.0)
    assert new_gap(known, now=at, new_items=0) == 3600.0  # silence does not move it
    assert new_gap(known, now=at, new_items=2) == pytest.approx(0.3 * 7200 + 0.7 * 3600)
