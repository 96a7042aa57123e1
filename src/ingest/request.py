"""What an operator asks of one run: only some feeds, poll them now, retry failed pages.

A manual trigger's form (the DAG's params) and ``ingest run``'s options both become a
:class:`RunRequest`; a scheduled run's is the default one, which asks for nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ingest.errors import ConfigError

#: The most feed keys a request may name (a form's multi-select, a CLI's options).
MAX_FEEDS = 1000
_FIELDS = ("feeds", "poll_now", "retry_failed")


@dataclass(frozen=True, slots=True)
class RunRequest:
    """A run's options.

    ``feeds``: only these feeds are polled and only their pages fetched (empty: every
    feed). ``poll_now``: poll them whether or not they are due. ``retry_failed``: put
    their failed pages back in the queue before pages are planned (a host that asked us
    to wait still waits: a request never overrides a Retry-After or robots.txt).
    """

    feeds: tuple[str, ...] = ()
    poll_now: bool = False
    retry_failed: bool = False

    @classmethod
    def of(cls, values: Mapping[str, Any] | None) -> RunRequest:
        """A request from a trigger's params; a wrong type is a :class:`ConfigError`."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"unknown run option(s) {', '.join(map(repr, unknown))}")
        feeds = values.get("feeds") or []
        if not isinstance(feeds, list | tuple) or not all(isinstance(k, str) for k in feeds):
            raise ConfigError(f"feeds must be a list of feed keys, not {feeds!r:.200}")
        if len(feeds) > MAX_FEEDS:
            raise ConfigError(f"feeds names {len(feeds)} feeds; at most {MAX_FEEDS}")
        flags = {}
        for name in ("poll_now", "retry_failed"):
            flag = values.get(name, False)
            if not isinstance(flag, bool):
                raise ConfigError(f"{name} must be true or false, not {flag!r:.200}")
            flags[name] = flag
        return cls(feeds=tuple(dict.fromkeys(k.strip() for k in feeds)), **flags)

    def check_feeds(self, known: Collection[str]) -> None:
        """Refuse feed keys the warehouse does not know, naming them."""
        missing = [k for k in self.feeds if k not in known]
        if missing:
            shown = ", ".join(map(repr, missing[:10])) + (" ..." if len(missing) > 10 else "")  # noqa: PLR2004
            raise ConfigError(f"no such feed(s) in the registry: {shown}")

    @property
    def only(self) -> tuple[str, ...] | None:
        """The feed keys to keep to, or None for every feed."""
        return self.feeds or None

    def describe(self) -> str:
        """One line for the logs: what was asked."""
        parts = [f"feeds {', '.join(self.feeds)}" if self.feeds else "every feed"]
        parts += [
            name.replace("_", " ") for name in ("poll_now", "retry_failed") if getattr(self, name)
        ]
        return "; ".join(parts)


__all__ = ["MAX_FEEDS", "RunRequest"]
