"""Plain records shared by every stage: frozen, slotted dataclasses and reason codes.

Third-party shapes (feedparser dicts, trafilatura documents, httpx responses) are
converted into these at the edge of the stage that met them and never travel further.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why an item (a feed poll or a page) did not produce an article. Stored as text."""

    NOT_FOUND = "http_404"
    GONE = "http_410"
    CLIENT_ERROR = "http_4xx"
    SERVER_ERROR = "http_5xx"
    THROTTLED = "http_429"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"
    CONNECT_TIMEOUT = "connect_timeout"
    BLOCKED_ADDRESS = "blocked_address"  # SSRF guard: private, loopback, link-local...
    ROBOTS_DISALLOWED = "robots_disallowed"
    REDIRECTED_OFFSITE = "redirected_offsite"  # re-queued under the host it redirects to
    PROTOCOL_ERROR = "protocol_error"
    TOO_LARGE = "too_large"
    TOO_MANY_REDIRECTS = "too_many_redirects"
    BAD_URL = "bad_url"
    BAD_SCHEME = "bad_scheme"
    URL_TOO_LONG = "url_too_long"
    BAD_ENCODING = "bad_content_encoding"
    FEED_MALFORMED = "feed_malformed"
    NOT_HTML = "not_html"
    UNDECODABLE = "undecodable"
    EMPTY_EXTRACTION = "empty_extraction"
    EXTRACT_ERROR = "extract_error"
    # Warnings on a feed that was still read (fetch_log.reason of a successful poll):
    FEED_RECOVERED = "feed_recovered"  # not well-formed; entries recovered anyway
    FEED_TRUNCATED = "feed_truncated"  # more entries than INGEST_MAX_ENTRIES_PER_FEED
    DUPLICATE_GUIDS = "duplicate_guids"  # one guid on entries with different links
    BAD_DATES = "bad_dates"  # entry dates that could not be read (left empty)
    ENCODING_MISMATCH = "encoding_mismatch"  # declared a single-byte charset, was UTF-8
    TIME_BUDGET = "time_budget"  # parsing or extraction overran; its worker was killed
    WORKER_CRASHED = "worker_crashed"  # the worker died (memory limit, crash, a signal)
    INTERNAL_ERROR = "internal_error"  # a bug of ours met this item (logged with its trace)
    ARCHIVE_MISSING = "archive_missing"  # a backfill found no archived copy of the page
    SITEMAP_MALFORMED = "sitemap_malformed"  # not a sitemap, or one we refuse to read
    WARC_MALFORMED = "warc_malformed"  # a WARC file cut short or not a WARC: read again later

    @property
    def retryable(self) -> bool:
        """Whether a later run may succeed where this one failed (soft failure)."""
        return self in _RETRYABLE

    @property
    def spends_attempt(self) -> bool:
        """Whether this failure uses one of the item's attempts.

        A bug of ours (``internal_error``) does not: the item waits, untouched, for the
        run after the fix, however many runs the bug lasts.
        """
        return self is not Reason.INTERNAL_ERROR


_RETRYABLE = frozenset(
    {
        Reason.SERVER_ERROR,
        Reason.THROTTLED,
        Reason.TIMEOUT,
        Reason.CONNECT_ERROR,
        Reason.CONNECT_TIMEOUT,
        Reason.PROTOCOL_ERROR,
        Reason.INTERNAL_ERROR,
        # A worker also dies of what is no fault of the item: the task stopped (Airflow
        # signals its process group), the OOM killer. The item is tried again, using an
        # attempt, so one that kills its worker every time ends failed all the same.
        Reason.WORKER_CRASHED,
    }
)


class DuplicateKind(StrEnum):
    """Which identity made a candidate a copy of an article already stored or staged."""

    CANONICAL_URL = "canonical_url"
    CONTENT_HASH = "content_hash"


class FeedStatus(StrEnum):
    """A feed's health (:mod:`ingest.monitor`), worst first: the order views sort by."""

    BROKEN = "broken"  # failed so often in a row that it is polled only rarely
    FAILING = "failing"  # its last poll failed; retried with back-off
    SILENT = "silent"  # answers, but has listed nothing new for far longer than usual
    DEGRADED = "degraded"  # read, but with warnings (malformed XML recovered, truncated...)
    NEVER_POLLED = "never_polled"  # enabled, not polled yet
    OK = "ok"
    DISABLED = "disabled"  # switched off in the registry

    @property
    def rank(self) -> int:
        """Position in the worst-first order."""
        return _STATUS_RANK[self]


_STATUS_RANK = {status: n for n, status in enumerate(FeedStatus)}


class AlertLevel(StrEnum):
    """How loud an alert is: an error wants action, a warning attention, info is news."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing an operator hears about once (:mod:`ingest.alerts`).

    ``key`` names what it is about (``feed:<key>``, ``freshness``, ``run:<run_id>``) and
    ``state`` the state it announces there; ``subject`` is one line, ``body`` plain-text
    lines. Every text may quote feed or page text: a channel renders it inert.
    """

    key: str
    state: str
    level: AlertLevel
    subject: str
    body: tuple[str, ...]
    since: datetime


class SourceKind(StrEnum):
    """What kind of source listed a queued entry (``feed_entries.source_kind``)."""

    FEED = "feed"  # the feed's own listing (source_key: the feed key)
    SITEMAP = "sitemap"  # a publisher's news sitemap (source_key: the sitemap file's URL)
    CCNEWS = "ccnews"  # a capture in a CC-NEWS WARC file (source_key: the file's path)


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Where a queued entry came from: a kind of source, and which one of that kind."""

    kind: SourceKind
    key: str


class EntryState(StrEnum):
    """Where a feed entry stands in the page queue (``feed_entries.state``)."""

    PENDING = "pending"  # waiting for its page to be fetched
    STORED = "stored"  # its page became a stored article
    DUPLICATE = "duplicate"  # its page is a copy of another stored article
    FAILED = "failed"  # a hard failure, or soft ones past their attempts; not retried
    KNOWN = "known"  # its URL was already an article when the entry was first seen


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed as declared in the registry file (or imported from OPML)."""

    key: str
    url: str
    title: str | None = None
    site: str | None = None
    enabled: bool = True
    tags: tuple[str, ...] = ()
    language: str | None = None
    interval_minutes: int | None = None
    min_interval_minutes: int | None = None
    max_interval_minutes: int | None = None


@dataclass(frozen=True, slots=True)
class PollTarget:
    """A feed due for polling: validators of its last fetch and its scheduling state."""

    key: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    interval_minutes: int | None = None
    min_interval_minutes: int | None = None
    max_interval_minutes: int | None = None
    poll_interval_s: float | None = None
    new_per_hour: float | None = None
    last_success_at: datetime | None = None
    consecutive_failures: int = 0
    ttl_minutes: int | None = None  # the feed's RSS ttl, as last read
    next_due_at: datetime | None = None
    last_new_at: datetime | None = None  # the last poll that found new items
    new_gap_s: float | None = None  # the usual gap between polls that found new items
    last_polled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class ScheduledPoll:
    """The scheduler's decision after one poll of a feed (see :mod:`ingest.schedule`)."""

    due_at: datetime
    interval_s: float
    new_per_hour: float | None
    consecutive_failures: int = 0
    broken: bool = False
    failure_kind: str | None = None  # "soft" or "hard" after a failure
    new_gap_s: float | None = None  # the feed's usual gap between new items, so far


@dataclass(frozen=True, slots=True)
class HostState:
    """What we remember of a host between runs: politeness and its robots.txt."""

    host: str
    next_eligible_at: datetime | None = None  # no request before this (Retry-After, robots 5xx)
    last_request_at: datetime | None = None
    crawl_delay_s: float | None = None
    robots_status: int | None = None  # None: never fetched; 0: unreachable
    robots_txt: str | None = None
    robots_fetched_at: datetime | None = None
    robots_expires_at: datetime | None = None
    throttled_count: int = 0
    last_throttle: str | None = None


@dataclass(frozen=True, slots=True)
class RawRef:
    """Where the raw archive keeps one page: its WARC response record (one gzip member)."""

    digest: str  # the body's SHA-256 (``articles.raw_hash``)
    file: str  # the WARC file, under the archive root
    offset: int  # of the record's gzip member in the file
    length: int  # of that member, in bytes
    url: str
    captured_at: datetime


@dataclass(frozen=True, slots=True)
class SignatureRecord:
    """An article's near-duplicate signature as stored (see :mod:`ingest.neardup`)."""

    data: bytes | None  # the MinHash values; None when the body was too short
    shingle_count: int
    title_key: int | None  # set for short bodies: matched on the title instead
    bands: tuple[tuple[int, int], ...]  # (band, key) pairs of the LSH index
    min_shared: int = 1  # bands a stored signature must share with it to be a candidate


@dataclass(frozen=True, slots=True)
class Unclustered:
    """An article the clustering pass is to sign, and to place in a story (unless re-signed)."""

    article_id: str
    title: str | None
    body: str
    cluster_id: str
    at: datetime  # publication time, else first seen
    resign: bool = False  # signed under an older signature version: re-signed, stays put
    # re-deciding (`ingest recluster`): the id it takes if it matches nothing while its
    # cluster is already taken by an article decided before it (it splits off)
    fresh_id: str | None = None
    # its signature made ahead (by the fetch's worker, ingest.neardup.to_json), if any
    signed: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """An article signed by the clustering pass, and the story cluster it is in now."""

    article_id: str
    record: SignatureRecord
    cluster_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class ClusterMerge:
    """Two story clusters found to be one: ``old`` is folded into ``new``."""

    old: str
    new: str
    article_id: str  # the article whose evidence linked them


@dataclass(frozen=True, slots=True)
class Placement:
    """What a clustering pass decided: each article's cluster, and the merges it made."""

    placed: list[Placed]
    merges: tuple[ClusterMerge, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterResult:
    """What one clustering pass did."""

    signed: int = 0  # articles that got a signature
    joined: int = 0  # of those, articles that joined an existing story cluster
    merged: int = 0  # clusters folded into another (``cluster_merges``)


@dataclass(frozen=True, slots=True)
class ReclusterResult:
    """What re-deciding every stored article's cluster did (``ingest recluster``)."""

    signed: int = 0  # articles signed or re-signed with the current signature version
    decided: int = 0  # articles whose cluster the current rules decided again
    moved: int = 0  # of those, articles that changed cluster
    merges: int = 0  # clusters folded whole into another (``cluster_merges`` kind merge)
    splits: int = 0  # articles that left a cluster others stayed in (kind split)
    clusters_before: int = 0
    clusters_after: int = 0


@dataclass(frozen=True, slots=True)
class RekeyResult:
    """What applying new URL rules to stored rows did (``ingest rekey``)."""

    articles_checked: int = 0  # stale rows looked at
    articles_moved: int = 0  # got a new key (canonical URL changed)
    articles_merged: int = 0  # folded into another article with the same new key
    articles_rejected: int = 0  # the new rules refuse their URL: left as they were
    clusters_merged: int = 0  # story clusters joined because two of their articles merged
    entries_checked: int = 0
    entries_moved: int = 0
    entries_merged: int = 0
    entries_known: int = 0  # pending entries whose new URL is already an article
    entries_rejected: int = 0


@dataclass(frozen=True, slots=True)
class Validators:
    """Conditional-GET validators and the body hash we saw last time."""

    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Fetched:
    """A completed HTTP exchange: the decompressed body and what we need from the headers."""

    url: str
    final_url: str
    status: int
    content_type: str | None
    body: bytes
    body_hash: str
    etag: str | None
    last_modified: str | None
    elapsed_s: float
    redirects: tuple[str, ...] = ()
    wire_bytes: int = 0
    max_age_s: int | None = None  # Cache-Control: max-age, when the server sent one
    # what the raw archive keeps of the exchange (WARC request and response records)
    headers: tuple[tuple[str, str], ...] = ()  # the response's, as sent
    request_headers: tuple[tuple[str, str], ...] = ()  # what we sent, on the last hop

    @property
    def not_modified(self) -> bool:
        """The server answered 304 to our conditional GET."""
        return self.status == 304  # noqa: PLR2004 - HTTP status


@dataclass(frozen=True, slots=True)
class FetchFailure:
    """A fetch that ended without a usable body, with its reason."""

    url: str
    reason: Reason
    detail: str = ""
    status: int | None = None
    elapsed_s: float = 0.0
    final_url: str | None = None
    retry_after_s: float | None = None  # from a 429/503's Retry-After, capped; None: absent


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One entry of a parsed feed: absolute link, UTC times."""

    guid: str
    link: str
    title: str | None = None
    published: datetime | None = None
    updated: datetime | None = None
    summary: str | None = None
    author: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its own title and link plus its entries."""

    title: str | None
    link: str | None
    entries: tuple[FeedEntry, ...]
    warning: str | None = None  # what was wrong with a feed that was still read
    ttl_minutes: int | None = None
    warnings: tuple[Reason, ...] = ()  # typed: feed_recovered, feed_truncated, ...


@dataclass(frozen=True, slots=True)
class Extracted:
    """What extraction found in one page, before normalisation."""

    body: str
    title: str | None = None
    authors: tuple[str, ...] = ()
    published: datetime | None = None
    updated: datetime | None = None
    language: str | None = None
    site_name: str | None = None
    tags: tuple[str, ...] = ()
    image_url: str | None = None
    description: str | None = None
    page_url: str | None = None  # rel=canonical / og:url as the page declares it
    date_guess: datetime | None = None  # a date-only guess when the page states no time
    extractor: str = ""


@dataclass(frozen=True, slots=True)
class Miss:
    """An item (feed or page) that produced nothing usable, with its reason."""

    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PageJob:
    """A page to fetch, as the queue (``feed_entries``) hands it out."""

    entry_id: str
    feed_key: str
    guid: str
    link: str
    canonical_url: str
    title: str | None = None
    published: datetime | None = None
    updated: datetime | None = None


#: Field metadata marking a column whose change is a change of the article's content: a
#: stored row is rewritten only when one of these differs (``Article.content_fields``).
CONTENT = {"content": True}


@dataclass(frozen=True, slots=True)
class Article:
    """One normalised article, ready to be deduplicated and loaded: a row of ``articles``.

    Every field is a column of the same name (docs/schema.md); the store builds the row,
    the staged payload and the "did it change" comparison from these fields, so a new
    column is a new field here (with a default, so older staged payloads still load),
    plus its migration and its line in the docs.
    """

    article_id: str
    canonical_url: str
    url: str
    final_url: str
    source: str
    body: str = field(metadata=CONTENT)
    word_count: int
    content_hash: str = field(metadata=CONTENT)
    fetched_at: datetime
    extracted_at: datetime
    extractor_version: str = field(metadata=CONTENT)
    pipeline_version: str
    url_rules_version: int
    feed_key: str | None = None
    guid: str | None = None
    title: str | None = field(default=None, metadata=CONTENT)
    description: str | None = field(default=None, metadata=CONTENT)
    authors: tuple[str, ...] = field(default=(), metadata=CONTENT)
    language: str | None = field(default=None, metadata=CONTENT)
    published_at: datetime | None = field(default=None, metadata=CONTENT)
    updated_at: datetime | None = field(default=None, metadata=CONTENT)
    site_name: str | None = field(default=None, metadata=CONTENT)
    tags: tuple[str, ...] = field(default=(), metadata=CONTENT)
    image_url: str | None = field(default=None, metadata=CONTENT)
    raw_hash: str | None = None
    raw_content_type: str | None = None

    @staticmethod
    def content_fields() -> tuple[str, ...]:
        """The fields marked :data:`CONTENT`, in declaration order."""
        return tuple(f.name for f in fields(Article) if f.metadata.get("content"))


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A candidate dropped by dedupe, and the article it duplicates."""

    article: Article
    kind: DuplicateKind
    of_article_id: str


@dataclass(frozen=True, slots=True)
class DedupeResult:
    """Dedupe's verdict on a batch: what to load and what was a copy."""

    unique: tuple[Article, ...]
    duplicates: tuple[Duplicate, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one load wrote (also kept as a row of ``load_ledger``)."""

    run_id: str
    rows_in: int
    inserted: int
    updated: int
    skipped: int
    already_loaded: bool = False
    duplicates: int = 0
    failures: Mapping[str, int] = field(default_factory=dict)  # the run's, by reason
    rejected: int = 0  # rows refused at the load (rows_in = the four above + rejected)

    def summary(self) -> dict[str, Any]:
        """The load in plain JSON terms: the ``news_articles`` Asset event's extra."""
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.skipped,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rows_in": self.rows_in,
            "failures": dict(sorted(self.failures.items())),
        }
