"""URL canonicalisation: one URL per article, whatever tracking or variant it came with.

The rules are versioned (:data:`RULES_VERSION`, stored on every row) so that a change of
rules can be applied to stored rows deliberately: :mod:`ingest.rekey` re-keys rows stored
under an older version (``ingest rekey``; also run before every poll and load).

Versions (bump :data:`RULES_VERSION` with any change that can alter a canonical URL):

1. the first rules;
2. more tracking parameters: Yahoo's ``guccounter``/``guce_*``, the NYT's ``smid``/``smtyp``,
   ``ncid``, Facebook's ``fb_action_*``/``fb_source``/``fb_ref``, Comscore's ``ns_*``
   (BBC), Webtrends' ``wt.mc_id``, ``__twitter_impression``, ``_openstat``.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ingest.errors import UrlRejected
from ingest.outcomes import QueuedEntry

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ingest.models import FeedEntry, SourceRef

RULES_VERSION = 2

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HOST_LENGTH = 253  # DNS

#: Query parameters that identify a campaign or a click, never a document.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
        "ref_url",
        "cmpid",
        "ocid",
        "ito",
        "at_medium",
        "at_campaign",
        "at_custom1",
        "at_custom2",
        "at_custom3",
        "at_custom4",
        "soc_src",
        "soc_trk",
        "s_cid",
        "sr_share",
        "spm",
        "vero_id",
        "oly_enc_id",
        "oly_anon_id",
        "rss",
        "utm",
        "xtor",
        "amp",
        # added in rules version 2
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "smid",
        "smtyp",
        "ncid",
        "fb_action_ids",
        "fb_action_types",
        "fb_source",
        "fb_ref",
        "ns_campaign",
        "ns_mchannel",
        "ns_source",
        "ns_linkname",
        "ns_fee",
        "wt.mc_id",
        "__twitter_impression",
        "_openstat",
    }
)
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")

_PCT = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_AMP_PATH = re.compile(r"(?:/amp/?|\.amp)$", re.IGNORECASE)


def _is_tracking(name: str) -> bool:
    lower = name.lower()
    return lower in TRACKING_PARAMS or lower.startswith(TRACKING_PREFIXES)


def _normalise_escapes(part: str) -> str:
    """Upper-case percent escapes and decode those that stand for unreserved characters."""

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in _UNRESERVED else f"%{match.group(1).upper()}"

    return _PCT.sub(fix, part)


def _host(netloc_host: str, url: str) -> str:
    host = netloc_host.rstrip(".").lower()
    if not host or len(host) > MAX_HOST_LENGTH:
        raise UrlRejected("bad_url", url)
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UrlRejected("bad_url", url) from None
        if len(host) > MAX_HOST_LENGTH:
            raise UrlRejected("bad_url", url)
    return host


def canonical_url(url: str, *, max_length: int = 2048) -> str:
    """Return the canonical form of an http(s) URL, or raise :class:`UrlRejected`.

    Removes tracking parameters, the fragment, host case, a trailing dot, default ports
    and AMP variants; sorts the remaining query; normalises percent-escapes. Idempotent.
    """
    raw = url.strip()
    if len(raw) > max_length:
        raise UrlRejected("url_too_long", raw)
    try:
        parts = urlsplit(raw)
        port = parts.port
        hostname = parts.hostname or ""
    except ValueError:
        raise UrlRejected("bad_url", raw) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlRejected("bad_scheme", raw)
    host = _host(hostname, raw)
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = _normalise_escapes(parts.path) or "/"
    while _AMP_PATH.search(path):
        path = _AMP_PATH.sub("", path) or "/"
    query_pairs = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)
    ]
    query = urlencode(sorted(query_pairs), doseq=False)
    result = urlunsplit((scheme, netloc, path, query, ""))
    # Re-check: percent-encoding can grow a URL; indexes limit bytes, not characters.
    if len(result.encode("utf-8")) > max_length:
        raise UrlRejected("url_too_long", raw)
    return result


def article_id_for(canonical: str) -> str:
    """Stable article key: the first 32 hex digits of the canonical URL's SHA-256."""
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def entry_id_for(feed_key: str, guid: str, url: str) -> str:
    """Stable key of a feed entry: its feed, its guid and its canonical URL."""
    return article_id_for(f"{feed_key}\n{guid}\n{url}")


def queued_entries(
    feed_key: str,
    entries: Sequence[FeedEntry],
    *,
    max_length: int,
    source: SourceRef | None = None,
) -> tuple[tuple[QueuedEntry, ...], tuple[tuple[FeedEntry, str], ...]]:
    """Entries with their queue identity (by entry id); the ones whose link we refuse, with why.

    ``source``: what listed them, when not the feed ``feed_key`` itself.
    """
    queued: dict[str, QueuedEntry] = {}
    refused: list[tuple[FeedEntry, str]] = []
    for entry in entries:
        try:
            url = canonical_url(entry.link, max_length=max_length)
        except UrlRejected as exc:
            refused.append((entry, exc.reason))
            continue
        entry_id = entry_id_for(feed_key, entry.guid, url)
        queued[entry_id] = QueuedEntry(entry, url, entry_id, source)
    return tuple(queued[k] for k in sorted(queued)), tuple(refused)


def host_of(url: str) -> str:
    """The host of a URL as the queue and the crawler key it (empty when it has none).

    The form :func:`canonical_url` gives it: lower case, no trailing dot, an international
    name in IDNA (punycode). So a raw link and its canonical URL name the same host, and
    ``example.com.`` is paced as ``example.com``.
    """
    try:
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""
    if not host.isascii():
        # a name IDNA cannot encode stays as it is: such a URL is never canonical, never fetched
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    return host
