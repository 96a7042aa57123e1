"""The poll stage: one feed fetched, parsed and scheduled, ending in a poll outcome.

A feed that answers 304, or with the very body it gave last time (some servers send no
validators, or the same ETag for a changed feed), is not parsed again. Otherwise its
bytes are parsed in the sandbox (:mod:`ingest.parse`), each entry's link is
canonicalised (a link we refuse is kept as a failed entry, with its reason), and the
next poll is planned from how many entries were new (:mod:`ingest.schedule`).

Nothing a feed does makes :meth:`Poller.poll` raise. A bug of ours is an outcome too:
``internal_error``, logged with its trace, which leaves the feed due and uncounted; the
composer fails its task once the shard's other outcomes are saved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ingest import fetch, parse, schedule
from ingest.errors import WarehouseError
from ingest.logs import get_logger
from ingest.models import Fetched, FetchFailure, Miss, PollTarget, Reason, Validators
from ingest.outcomes import FetchRecord, Polled, PollFailed, PollOutcome, QueuedEntry
from ingest.urls import queued_entries

if TYPE_CHECKING:
    from ingest.models import FeedEntry
    from ingest.sandbox import Sandbox
    from ingest.settings import Settings

log = get_logger(__name__)

#: Which of these entry ids are queued already (the store answers).
KnownEntries = Callable[[Sequence[str]], set[str]]


def _now() -> datetime:
    return datetime.now(UTC)


class Poller:
    """Polls feeds one at a time with one HTTP client and a sandbox.

    The poll step gives each of its hosts a poller of its own.
    """

    def __init__(
        self, settings: Settings, fetcher: fetch.Fetcher, box: Sandbox, known: KnownEntries
    ) -> None:
        self.settings, self.fetcher, self.box, self.known = settings, fetcher, box, known
        self.limits = fetch.Limits.for_kind(settings, "feed")
        self.policy = schedule.Policy.of(settings)

    def poll(self, target: PollTarget) -> PollOutcome:
        """Poll one feed; the outcome says what happened, whatever the feed did."""
        try:
            return self._poll(target)
        except WarehouseError:
            raise  # the store is down: the task fails and Airflow retries it
        except Exception as exc:
            log.exception("feed %s: a bug of ours met this feed; it stays due", target.key)
            detail = f"{type(exc).__name__}: {exc}"[:300]
            return PollFailed(target.key, _now(), Reason.INTERNAL_ERROR, detail)

    def _poll(self, target: PollTarget) -> PollOutcome:
        validators = Validators(target.etag, target.last_modified, target.body_hash)
        result = self.fetcher.get(target.url, self.limits, validators)
        now = _now()
        if isinstance(result, FetchFailure):
            return self._failed(
                target, now, result.reason, result.detail, status=result.status,
                fetch=FetchRecord.of("feed", result, now), retry_after_s=result.retry_after_s,
            )  # fmt: skip
        if result.not_modified or result.body_hash == target.body_hash:
            return self._polled(target, now, result, FetchRecord.of("feed", result, now))
        parsed = self.box.run(
            self.settings.parse_budget_s, parse.parse_feed, result.body, result.final_url,
            result.content_type, max_entries=self.settings.max_entries_per_feed,
        )  # fmt: skip
        if isinstance(parsed, Miss):
            record = FetchRecord.of("feed", result, now, reason=parsed.reason, detail=parsed.detail)
            return self._failed(
                target, now, parsed.reason, parsed.detail, status=result.status, fetch=record
            )
        if parsed.warnings:
            log.warning("feed %s read with warnings: %s", target.key, parsed.warning)
        record = FetchRecord.of(
            "feed", result, now, reason=parsed.warnings[0] if parsed.warnings else None,
            detail=parsed.warning or "",
        )  # fmt: skip
        queued, refused = self._entries(target.key, parsed.entries)
        known = self.known([q.entry_id for q in queued])
        new = sum(q.entry_id not in known for q in queued)
        log.debug("feed %s: %d entries, %d new", target.key, len(parsed.entries), new)
        return self._polled(
            target, now, result, record, entries=queued, refused=refused, new=new,
            seen=len(parsed.entries), ttl_minutes=parsed.ttl_minutes, warning=parsed.warning,
        )  # fmt: skip

    def _entries(
        self, feed_key: str, entries: Sequence[FeedEntry]
    ) -> tuple[tuple[QueuedEntry, ...], tuple[tuple[FeedEntry, str], ...]]:
        """Entries with their queue identity; the ones whose link we refuse, with why."""
        return queued_entries(feed_key, entries, max_length=self.settings.max_url_length)

    def _polled(
        self,
        target: PollTarget,
        now: datetime,
        result: Fetched,
        record: FetchRecord,
        *,
        entries: tuple[QueuedEntry, ...] = (),
        refused: tuple[tuple[FeedEntry, str], ...] = (),
        new: int = 0,
        seen: int | None = None,
        ttl_minutes: int | None = None,
        warning: str | None = None,
    ) -> Polled:
        unchanged = seen is None
        # A 304 (or the same body again) carries no ttl: the one read last time still holds.
        ttl = target.ttl_minutes if unchanged else ttl_minutes
        plan = self.policy.after_success(
            target, now=now, new_items=new, entries=seen or 0, ttl_minutes=ttl,
            max_age_s=result.max_age_s,
        )  # fmt: skip
        return Polled(
            feed_key=target.key, at=now, fetch=record, status=result.status,
            etag=result.etag or target.etag,
            last_modified=result.last_modified or target.last_modified,
            body_hash=target.body_hash if result.not_modified else result.body_hash,
            ttl_minutes=ttl, plan=plan, unchanged=unchanged, entries=entries,
            refused=refused, seen=seen or 0, new=new, warning=warning,
        )  # fmt: skip

    def _failed(
        self,
        target: PollTarget,
        now: datetime,
        reason: Reason,
        detail: str,
        *,
        status: int | None,
        fetch: FetchRecord,
        retry_after_s: float | None = None,
    ) -> PollFailed:
        if reason is Reason.INTERNAL_ERROR:  # the parser's worker met a bug of ours
            return PollFailed(target.key, now, reason, detail, fetch=fetch, status=status)
        plan = self.policy.after_failure(
            target, now=now, reason=reason, retry_after_s=retry_after_s
        )
        log.warning(
            "feed %s failed (%s, %s, %d in a row%s; next poll %s): %s",
            target.key, reason, plan.failure_kind, plan.consecutive_failures,
            ", BROKEN" if plan.broken else "", plan.due_at.isoformat(), detail,
        )  # fmt: skip
        return PollFailed(target.key, now, reason, detail, fetch=fetch, status=status, plan=plan)


__all__ = ["KnownEntries", "Poller"]
