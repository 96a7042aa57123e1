"""robots.txt for article pages (RFC 9309): fetched once per host and TTL, parsed by protego.

What an answer means:

* **2xx**: the rules apply (the first 512 KiB, as RFC 9309 allows); ``Crawl-delay`` raises
  the host's politeness delay, up to ``max_crawl_delay_s``.
* **4xx** (404, 410, 401, 403...), a redirect loop, an over-long or refused robots.txt:
  "unavailable", so every page may be fetched.
* **5xx, 429, timeouts, connection errors**: "unreachable", so no page of the host is
  fetched now: the host waits ``robots_retry_s`` and its pages stay pending.

The fetched text, status and expiry are kept in the host's :class:`HostState`
(``hosts`` table), so each host's robots.txt is fetched at most once per ``robots_ttl_s``.
Feeds are not checked: a feed URL is one the operator chose to subscribe to. Hosts are
keyed by name: a host serving different robots.txt files on different ports gets the rules
of the port its first queued page uses. A 429 or 503 on robots.txt with ``Retry-After``
makes the host wait that long (if longer than ``robots_retry_s``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from protego import Protego

from ingest.logs import get_logger
from ingest.models import Fetched, FetchFailure, HostState

log = get_logger(__name__)

MAX_ROBOTS_BYTES = 512 * 1024
UNREACHABLE = 0  # robots_status for "no HTTP answer at all"


def robots_url(page_url: str) -> str:
    """The robots.txt URL governing ``page_url`` (same scheme, host and port)."""
    parts = urlsplit(page_url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


def is_fresh(state: HostState, now: datetime) -> bool:
    """Whether the stored robots.txt answer can still be used."""
    return state.robots_expires_at is not None and state.robots_expires_at > now


def remember(
    state: HostState,
    result: Fetched | FetchFailure,
    *,
    now: datetime,
    ttl_s: float,
    retry_s: float,
) -> HostState:
    """The host's state after fetching its robots.txt with ``result``."""
    if isinstance(result, Fetched):
        text = result.body[:MAX_ROBOTS_BYTES].decode("utf-8", errors="replace")
        return dataclasses.replace(
            state,
            robots_status=result.status,
            robots_txt=text,
            robots_fetched_at=now,
            robots_expires_at=now + timedelta(seconds=ttl_s),
        )
    if result.reason.retryable:  # 5xx, 429, network trouble: unreachable, so wait
        return dataclasses.replace(
            state,
            robots_status=result.status or UNREACHABLE,
            robots_txt=None,
            robots_fetched_at=now,
            robots_expires_at=now + timedelta(seconds=retry_s),
            next_eligible_at=max(state.next_eligible_at or now, now + timedelta(seconds=retry_s)),
        )
    return dataclasses.replace(  # 4xx and the like: unavailable, so everything is allowed
        state,
        robots_status=result.status or 400,
        robots_txt=None,
        robots_fetched_at=now,
        robots_expires_at=now + timedelta(seconds=ttl_s),
    )


@dataclass(frozen=True, slots=True)
class Rules:
    """The robots.txt rules of one host, as they apply to our user agent."""

    reachable: bool
    parser: Protego | None
    user_agent: str

    @classmethod
    def of(cls, state: HostState, user_agent: str) -> Rules:
        """Rules from a stored state (fetch it first when it is not fresh)."""
        status = state.robots_status
        reachable = status is not None and status not in (UNREACHABLE, 429) and status < 500  # noqa: PLR2004 - HTTP status class
        parser = None
        if reachable and state.robots_txt and status is not None and status < 300:  # noqa: PLR2004 - HTTP status class
            try:
                parser = Protego.parse(state.robots_txt)
            except Exception as exc:  # noqa: BLE001 - an unparseable file imposes no rule
                log.warning("robots.txt of %s unparseable (%s): no rules", state.host, exc)
        return cls(reachable=reachable, parser=parser, user_agent=user_agent)

    def allows(self, url: str) -> bool:
        """Whether ``url`` may be fetched (an unreachable robots.txt allows nothing)."""
        if not self.reachable:
            return False
        if self.parser is None:
            return True
        return bool(self.parser.can_fetch(url, self.user_agent))

    def crawl_delay(self) -> float | None:
        """The host's ``Crawl-delay`` for us, if it states one."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(self.user_agent)
        return float(delay) if delay is not None else None
