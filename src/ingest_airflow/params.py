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

    from ingest.request import MAX_FEEDS

    feeds = _registry_feeds()
    pick = feeds if len(feeds) <= PICK_LIMIT else {}
    item: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": 200}
    extra: dict[str, Any] = {}
    if pick:
        item["enum"] = list(pick)
        extra = {"examples": list(pick), "values_display": pick}
    return {
        "feeds": Param(
            [],
            type="array",
            items=item,
            uniqueItems=True,
            maxItems=MAX_FEEDS,
            title="Feeds",
            description="Only these feeds: their polls and their pages. Empty: every feed.",
            **extra,
        ),
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


def run_request(params: dict[str, Any]) -> RunRequest:
    """The run request a run's params make (a scheduled run's: the defaults)."""
    from ingest.request import RunRequest

    return RunRequest.of(
        {k: params[k] for k in ("feeds", "poll_now", "retry_failed") if k in params}
    )


__all__ = ["MAX_REGISTRY_BYTES", "PICK_LIMIT", "run_request", "trigger_params"]
