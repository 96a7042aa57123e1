"""When to poll a feed next: adaptive intervals, publisher hints, back-off, broken flag.

Pure functions over a feed's scheduling state; the warehouse stores the state and the
composer calls these after each poll. The rules (docs/operations.md repeats them):

* **Adaptive interval.** After each successful poll the feed's rate of new items is
  updated (an exponentially weighted mean of new items per hour, weight 0.3 for the
  newest observation). The interval aims at about one new item per poll:
  ``3600 / rate`` seconds, grown at most 2x per poll when a feed goes quiet, shrunk at
  once when it gets busy, and cut to the minimum when a poll (not the first) found only
  new items (the feed may have scrolled items past us). Always within the feed's bounds (default
  5 min to 24 h; per feed ``min_interval_minutes``/``max_interval_minutes``, or a fixed
  ``interval_minutes``).
* **Publisher hints.** RSS ``<ttl>`` and ``Cache-Control: max-age`` push the next poll
  out to at least that long (still within the maximum); a ``Retry-After`` on 429/503
  sets it, capped at ``max_retry_after_s`` (24 h by default), plus the runs' slack.
* **Failures.** A soft failure (timeouts, connection errors, 5xx, 429, malformed HTTP, a
  parse whose worker died) backs off from the current interval, doubling per failure in a
  row. A hard one (404, 410, other 4xx, not a feed, refused address, too large...) backs
  off from one hour, doubling. Both are capped at the maximum interval.
* **Broken.** ``feed_broken_after`` failures in a row flag the feed broken, with its last
  error. A broken feed is still polled, at the maximum interval, and the next success
  clears the flag: nothing is dropped silently.
* **Due by a run.** A run polls the feeds due by its due time plus a little
  (:func:`due_by`): a run starts, and polls, a few seconds after its due time, so a feed
  polled at 20:30:05 every 15 minutes is due at 20:45:05, and the 20:45 run must take it
  rather than leave it to the 21:00 one (which would poll it half as often as asked).
  A Retry-After's wait has the slack added, so it is still honoured to the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ingest.models import PollTarget, Reason, ScheduledPoll

if TYPE_CHECKING:
    from ingest.settings import Settings

RATE_WEIGHT = 0.3
HARD_FAILURE_BASE_S = 3600.0
MAX_GROWTH = 2.0
#: How far past a run's due time a feed still counts as due by that run: at most this,
#: and at most half the shortest interval the settings allow, so that a retried poll
#: task never polls again a feed its first try polled. A Retry-After's wait gets it on
#: top, so that no run polls before the wait is over.
DUE_SLACK_S = 120.0


def due_by(at: datetime, settings: Settings) -> datetime:
    """The horizon a run due at ``at`` polls up to (see "Due by a run" above)."""
    slack = min(DUE_SLACK_S, settings.feed_min_interval_minutes * 60 / 2)
    return at + timedelta(seconds=slack)


@dataclass(frozen=True, slots=True)
class Bounds:
    """A feed's interval bounds in seconds."""

    min_s: float
    max_s: float

    def clamp(self, seconds: float) -> float:
        """``seconds`` within the bounds."""
        return min(max(seconds, self.min_s), self.max_s)

    @classmethod
    def for_feed(
        cls,
        *,
        fixed_minutes: int | None,
        min_minutes: int | None,
        max_minutes: int | None,
        default_min_minutes: int,
        default_max_minutes: int,
    ) -> Bounds:
        """The bounds of one feed: a fixed interval, else its own bounds, else the defaults."""
        if fixed_minutes:
            return cls(fixed_minutes * 60.0, fixed_minutes * 60.0)
        low = float(min_minutes or default_min_minutes)
        high = float(max_minutes or default_max_minutes)
        if low > high:  # a feed's own bound wins over the other default
            if max_minutes and not min_minutes:
                low = high
            else:
                high = low
        return cls(low * 60.0, high * 60.0)


@dataclass(frozen=True, slots=True)
class FeedTiming:
    """What the scheduler remembers of a feed between polls."""

    interval_s: float | None = None
    new_per_hour: float | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    last_new_at: datetime | None = None
    new_gap_s: float | None = None


def new_gap(timing: FeedTiming, *, now: datetime, new_items: int) -> float | None:
    """The feed's usual gap between polls that found new items, after this one.

    A moving average of those gaps, moved only by a poll that found something: unlike
    ``new_per_hour``, it does not decay while a feed says nothing, so a silent feed can be
    told from a slow one (:mod:`ingest.monitor`).
    """
    gap = timing.new_gap_s
    if new_items and timing.last_new_at is not None and now > timing.last_new_at:
        seen = (now - timing.last_new_at).total_seconds()
        gap = seen if gap is None else RATE_WEIGHT * seen + (1 - RATE_WEIGHT) * gap
    return gap


def after_success(
    timing: FeedTiming,
    bounds: Bounds,
    *,
    now: datetime,
    new_items: int,
    entries: int,
    default_s: float,
    ttl_s: float | None = None,
    max_age_s: float | None = None,
) -> ScheduledPoll:
    """Schedule the next poll of a feed that just answered (a 304 counts: 0 new items)."""
    previous = bounds.clamp(timing.interval_s or default_s)
    rate = timing.new_per_hour
    if timing.last_success_at is not None and now > timing.last_success_at:
        hours = (now - timing.last_success_at).total_seconds() / 3600
        observed = new_items / hours
        rate = observed if rate is None else RATE_WEIGHT * observed + (1 - RATE_WEIGHT) * rate
    if timing.last_success_at is not None and entries and new_items >= entries:
        interval = bounds.min_s  # every item new since last time: some may have scrolled past
    elif rate:
        interval = min(3600.0 / rate, previous * MAX_GROWTH)
    elif rate is None:
        interval = previous  # nothing to go on yet
    else:
        interval = previous * MAX_GROWTH
    interval = bounds.clamp(interval)
    wait = max(interval, min(max(ttl_s or 0, max_age_s or 0), bounds.max_s))
    return ScheduledPoll(
        due_at=now + timedelta(seconds=wait),
        interval_s=interval,
        new_per_hour=rate,
        new_gap_s=new_gap(timing, now=now, new_items=new_items),
    )


def after_failure(
    timing: FeedTiming,
    bounds: Bounds,
    *,
    now: datetime,
    reason: Reason,
    default_s: float,
    broken_after: int,
    retry_after_s: float | None = None,
    max_retry_after_s: float = 86400.0,
) -> ScheduledPoll:
    """Schedule the next poll of a feed whose poll failed, and say whether it is broken."""
    failures = timing.consecutive_failures + 1
    interval = bounds.clamp(timing.interval_s or default_s)
    soft = reason.retryable
    base = interval if soft else max(interval, HARD_FAILURE_BASE_S)
    wait = min(base * 2 ** min(failures - 1, 20), bounds.max_s)
    broken = failures >= broken_after
    if broken:
        wait = bounds.max_s
    if retry_after_s is not None:  # kept to the end, whatever a run's slack (due_by)
        wait = max(wait, min(retry_after_s, max_retry_after_s) + DUE_SLACK_S)
    return ScheduledPoll(
        due_at=now + timedelta(seconds=wait),
        interval_s=interval,
        new_per_hour=timing.new_per_hour,
        consecutive_failures=failures,
        broken=broken,
        failure_kind="soft" if soft else "hard",
        new_gap_s=timing.new_gap_s,
    )


@dataclass(frozen=True, slots=True)
class Policy:
    """The schedule of every feed: the defaults its own bounds fall back on."""

    default_s: float  # the interval of a feed with nothing to go on yet
    min_minutes: int
    max_minutes: int
    broken_after: int
    max_retry_after_s: float = 86400.0

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        """The policy the settings describe."""
        return cls(
            default_s=settings.poll_interval_minutes * 60.0,
            min_minutes=settings.feed_min_interval_minutes,
            max_minutes=settings.feed_max_interval_minutes,
            broken_after=settings.feed_broken_after,
            max_retry_after_s=settings.max_retry_after_s,
        )

    def _state(self, target: PollTarget) -> tuple[FeedTiming, Bounds]:
        bounds = Bounds.for_feed(
            fixed_minutes=target.interval_minutes,
            min_minutes=target.min_interval_minutes,
            max_minutes=target.max_interval_minutes,
            default_min_minutes=self.min_minutes,
            default_max_minutes=self.max_minutes,
        )
        timing = FeedTiming(
            interval_s=target.poll_interval_s,
            new_per_hour=target.new_per_hour,
            last_success_at=target.last_success_at,
            consecutive_failures=target.consecutive_failures,
            last_new_at=target.last_new_at,
            new_gap_s=target.new_gap_s,
        )
        return timing, bounds

    def after_success(
        self,
        target: PollTarget,
        *,
        now: datetime,
        new_items: int,
        entries: int,
        ttl_minutes: int | None = None,
        max_age_s: float | None = None,
    ) -> ScheduledPoll:
        """:func:`after_success` for one feed."""
        timing, bounds = self._state(target)
        return after_success(
            timing, bounds, now=now, new_items=new_items, entries=entries,
            default_s=self.default_s, ttl_s=ttl_minutes * 60.0 if ttl_minutes else None,
            max_age_s=max_age_s,
        )  # fmt: skip

    def after_failure(
        self, target: PollTarget, *, now: datetime, reason: Reason, retry_after_s: float | None
    ) -> ScheduledPoll:
        """:func:`after_failure` for one feed."""
        timing, bounds = self._state(target)
        return after_failure(
            timing, bounds, now=now, reason=reason, default_s=self.default_s,
            broken_after=self.broken_after, retry_after_s=retry_after_s,
            max_retry_after_s=self.max_retry_after_s,
        )  # fmt: skip
