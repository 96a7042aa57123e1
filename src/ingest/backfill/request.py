"""What a backfill is asked for: the source, the publishers, the range and the limits."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from ingest.errors import ConfigError
from ingest.logs import get_logger
from ingest.sources import ccnews, publisher_hosts, site_root
from ingest.store import feeds
from ingest.urls import host_of

if TYPE_CHECKING:
    from sqlalchemy import Engine

#: A backfill's time budget at most: a week (a deadline the watchdog can keep).
MAX_BUDGET_S = 7 * 24 * 3600.0


log = get_logger(__name__)


Source = Literal["sitemaps", "ccnews", "archive"]
SOURCES: tuple[Source, ...] = ("sitemaps", "ccnews", "archive")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    """What to backfill: the source, the publishers, the range and the limits.

    ``since``/``until``: the range of publication (sitemaps) or capture (CC-NEWS,
    archive) times, both included. ``feeds``: the publishers, by any of their feed keys
    (none: every enabled feed's). ``sites``: sitemaps of these sites only (each must be a
    chosen publisher's). ``max_pages``: pages fetched per publisher (sitemaps);
    ``max_files``: WARC files read per backfill (CC-NEWS); ``budget_s``: the time of
    each shard. ``dry_run``: count what would be fetched or read, change nothing.
    """

    source: Source
    since: datetime
    until: datetime
    feeds: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    base_url: str = ccnews.DEFAULT_BASE_URL
    max_pages: int = 1000
    max_files: int = 50
    max_sitemaps: int = 200
    budget_s: float = 3600.0
    dry_run: bool = False

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ConfigError(f"unknown backfill source {self.source!r}: one of {SOURCES}")
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ConfigError("the backfill range needs UTC times")
        if self.since > self.until:
            raise ConfigError(
                f"the backfill range is empty: from {self.since:%Y-%m-%d} is after "
                f"to {self.until:%Y-%m-%d}"
            )
        for name in ("max_pages", "max_files", "max_sitemaps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, not {getattr(self, name)}")
        if not 0 < self.budget_s < MAX_BUDGET_S:  # NaN fails this too
            raise ConfigError(
                f"the time budget must be positive and under {MAX_BUDGET_S:g}s (a week), "
                f"not {self.budget_s}"
            )
        if self.source == "ccnews" and not self.base_url.startswith(("http://", "https://")):
            raise ConfigError(f"the CC-NEWS base URL must be http(s): {self.base_url!r}")

    @classmethod
    def of_dates(cls, source: Source, first: str, last: str, **rest: Any) -> BackfillRequest:  # noqa: ANN401 - the fields
        """From ``YYYY-MM-DD`` dates: ``first`` from its midnight, ``last`` to its end (UTC)."""
        try:
            since = datetime.fromisoformat(first).replace(tzinfo=UTC)
            until = datetime.fromisoformat(last).replace(tzinfo=UTC)
        except ValueError as exc:
            raise ConfigError(f"a date must be YYYY-MM-DD: {exc}") from None
        if len(last) <= 10:  # noqa: PLR2004 - a bare date: all of its day
            until += timedelta(days=1) - timedelta(microseconds=1)
        return cls(source=source, since=since, until=until, **rest)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (for XCom), :meth:`of_dict` reads them back."""
        out = dataclasses.asdict(self)
        out.update(since=self.since.isoformat(), until=self.until.isoformat())
        out.update(feeds=list(self.feeds), sites=list(self.sites))
        return out

    @classmethod
    def of_dict(cls, data: dict[str, Any]) -> BackfillRequest:
        """The request :meth:`as_dict` gave."""
        values = dict(data)
        values.update(
            since=datetime.fromisoformat(values["since"]),
            until=datetime.fromisoformat(values["until"]),
            feeds=tuple(values.get("feeds") or ()), sites=tuple(values.get("sites") or ()),
        )  # fmt: skip
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Publisher:
    """A publisher to backfill: its home, the hosts of its pages and its feeds."""

    root: str  # where its robots.txt and sitemaps are
    hosts: tuple[str, ...]
    feeds: tuple[str, ...]

    @property
    def feed_key(self) -> str:
        """The feed its history is queued under (its first)."""
        return self.feeds[0]


def publishers(engine: Engine, request: BackfillRequest) -> list[Publisher]:
    """The chosen publishers, one per site (feeds of one site are one publisher).

    An unknown feed key, or a ``sites`` entry no chosen publisher has, is a ConfigError
    naming it.
    """
    rows = feeds.sites(engine, request.feeds or None)
    if request.feeds:
        missing = sorted(set(request.feeds) - {key for key, *_ in rows})
        if missing:
            raise ConfigError(f"no enabled feed with these keys in the registry: {missing}")
    grouped: dict[str, tuple[list[str], set[str]]] = {}
    for key, url, site, stored in rows:
        keys, hosts = grouped.setdefault(site_root(url, site), ([], set()))
        keys.append(key)
        hosts.update(publisher_hosts(url, site, stored))
    found = [
        Publisher(root, tuple(sorted(hosts)), tuple(sorted(keys)))
        for root, (keys, hosts) in sorted(grouped.items())
    ]
    if request.sites:
        wanted = {host_of(site_root("http://x/", s)): s for s in request.sites}
        chosen = [p for p in found if host_of(p.root) in wanted or set(p.hosts) & set(wanted)]
        known = {host_of(p.root) for p in chosen} | {h for p in chosen for h in p.hosts}
        unknown = sorted(site for host, site in wanted.items() if host not in known)
        if unknown:
            raise ConfigError(f"no registered publisher has these sites: {unknown}")
        found = chosen
    return found
