"""The ``news_ingest`` trigger form: its Params, and the run request they become.

The form offers the registry's feeds as a multi-select (read at parse time from
``INGEST_FEEDS_FILE``, at most :data:`PICK_LIMIT` of them; a larger registry gets a plain
list of keys, checked when the run plans its feeds). Airflow validates a trigger's
``conf`` against these schemas, in the form and at the REST API alike: a key that is
not a registry feed, a flag that is not a boolean, or an option the form does not have
is refused with a message before any run is created.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import Param

    from ingest.backfill import BackfillRequest
    from ingest.request import RunRequest

#: The most feeds the form lists; more would make an unusable picker (and a heavy DAG).
PICK_LIMIT = 500
#: A registry file larger than this is not read at parse time (500 feeds take ~100 KB).
MAX_REGISTRY_BYTES = 512 * 1024


def _registry_feeds() -> dict[str, str]:
    """The registry's enabled feeds, key to label; empty when it cannot be read cheaply.

    This runs at DAG parse time, so it reads the TOML only (no validation: ``prepare``
    reports a bad registry, and a run refuses a key the warehouse does not know), and
    not at all past :data:`MAX_REGISTRY_BYTES`.
    """
    import tomllib

    from ingest.settings import load_settings

    try:
        path = load_settings().feeds_file
        if path is None or Path(path).stat().st_size > MAX_REGISTRY_BYTES:
            return {}
        feeds = tomllib.loads(Path(path).read_text(encoding="utf-8-sig")).get("feeds", [])
    except Exception:  # noqa: BLE001 - a form without a pick list; never a broken DAG
        return {}
    out: dict[str, str] = {}
    for feed in feeds if isinstance(feeds, list) else []:
        key = feed.get("key") if isinstance(feed, dict) else None
        if isinstance(key, str) and key and feed.get("enabled", True) is not False:
            out[key] = f"{key}: {feed.get('title') or feed.get('url') or ''}"[:120]
    return out


def trigger_params() -> dict[str, Param]:
    """The DAG's params: which feeds, poll now, retry failed pages now."""
    from airflow.sdk import Param

    return {
        "feeds": _feeds_param("Only these feeds: their polls and their pages. Empty: every feed."),
        "poll_now": Param(
            False,  # noqa: FBT003 - a Param's default
            type="boolean",
            title="Poll now",
            description="Poll the feeds whether or not they are due.",
        ),
        "retry_failed": Param(
            False,  # noqa: FBT003 - a Param's default
            type="boolean",
            title="Retry failed pages now",
            description=(
                "Put the feeds' failed pages back in the queue before pages are planned. "
                "A host that asked us to wait (Retry-After, robots.txt) still waits."
            ),
        ),
    }


def _feeds_param(description: str) -> Param:
    """A multi-select of the registry's feeds (a list of keys past :data:`PICK_LIMIT`)."""
    from airflow.sdk import Param

    from ingest.request import MAX_FEEDS

    feeds = _registry_feeds()
    pick = feeds if len(feeds) <= PICK_LIMIT else {}
    item: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 200}
    extra: dict[str, Any] = {}
    if pick:
        item["enum"] = list(pick)
        extra = {"examples": list(pick), "values_display": pick}
    return Param(
        [], type="array", items=item, uniqueItems=True, maxItems=MAX_FEEDS, title="Feeds",
        description=description, **extra,
    )  # fmt: skip


def backfill_params() -> dict[str, Param]:
    """The ``news_backfill`` form: the source, the publishers, the dates, the limits, dry run."""
    from airflow.sdk import Param

    from ingest.backfill import BackfillRequest
    from ingest.sources.ccnews import DEFAULT_BASE_URL

    defaults = BackfillRequest.__dataclass_fields__
    return {
        "source": Param(
            "sitemaps",
            type="string",
            enum=["sitemaps", "ccnews", "archive"],
            title="Source",
            values_display={
                "sitemaps": "The publishers' news sitemaps (pages fetched politely)",
                "ccnews": "Common Crawl's CC-NEWS archive (WARC files streamed)",
                "archive": "Our own archive (pages we captured, extracted again)",
            },
            description="Where the history comes from.",
        ),
        "feeds": _feeds_param(
            "The publishers to backfill, by their feeds (a feed's site is its publisher). "
            "Empty: every enabled feed's publisher."
        ),
        "date_from": Param(
            None,
            type=["null", "string"],
            format="date",
            title="From (UTC day)",
            description="The first day of the history, included.",
        ),
        "date_to": Param(
            None,
            type=["null", "string"],
            format="date",
            title="To (UTC day)",
            description="The last day of the history, included.",
        ),
        "max_pages": Param(
            defaults["max_pages"].default,
            type="integer",
            minimum=1,
            maximum=1_000_000,
            title="Pages per publisher (sitemaps)",
        ),
        "max_files": Param(
            defaults["max_files"].default,
            type="integer",
            minimum=1,
            maximum=100_000,
            title="WARC files (CC-NEWS)",
            description="Files already read and loaded for these publishers and dates are "
            "skipped: a stopped backfill goes on from where it stopped.",
        ),
        "time_budget_minutes": Param(
            60,
            type="number",
            minimum=1,
            maximum=24 * 60,
            title="Time per shard (minutes)",
            description="No publisher or file is worked on longer; what is left waits for "
            "the next backfill.",
        ),
        "dry_run": Param(
            False,  # noqa: FBT003 - a Param's default
            type="boolean",
            title="Dry run",
            description="Count what would be fetched or read; store nothing.",
        ),
        "base_url": Param(
            DEFAULT_BASE_URL,
            type="string",
            pattern="^https?://",
            maxLength=500,
            title="CC-NEWS base URL",
            description="Where crawl-data/CC-NEWS/ is: a mirror's.",
        ),
        "sites": Param(
            [],
            type="array",
            items={"type": "string", "minLength": 1, "maxLength": 200},
            maxItems=500,
            title="Only these sites (sitemaps)",
            description="Hosts or URLs of chosen publishers' sites; empty: all of them.",
        ),
    }


def backfill_request(params: dict[str, Any]) -> BackfillRequest:
    """The backfill a run's params ask for; a ConfigError says what is missing or wrong."""
    from ingest.backfill import BackfillRequest
    from ingest.errors import ConfigError

    if not params.get("date_from") or not params.get("date_to"):
        raise ConfigError("a backfill needs its dates: fill in From and To (YYYY-MM-DD)")
    return BackfillRequest.of_dates(
        params.get("source", "sitemaps"), str(params["date_from"]), str(params["date_to"]),
        feeds=tuple(params.get("feeds") or ()), sites=tuple(params.get("sites") or ()),
        max_pages=int(params.get("max_pages", 1000)), max_files=int(params.get("max_files", 50)),
        budget_s=float(params.get("time_budget_minutes", 30)) * 60.0,
        dry_run=bool(params.get("dry_run", False)),
        **({"base_url": str(params["base_url"])} if params.get("base_url") else {}),
    )  # fmt: skip


def run_request(params: dict[str, Any]) -> RunRequest:
    """The run request a run's params make (a scheduled run's: the defaults)."""
    from ingest.request import RunRequest

    return RunRequest.of(
        {k: params[k] for k in ("feeds", "poll_now", "retry_failed") if k in params}
    )


__all__ = [
    "MAX_REGISTRY_BYTES", "PICK_LIMIT", "backfill_params", "backfill_request", "run_request",
    "trigger_params",
]  # fmt: skip
