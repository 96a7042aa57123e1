"""The prepare step: the schema, the feeds registry and the stored URL keys up to date."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ingest import registry
from ingest.logs import get_logger
from ingest.pipeline import _now
from ingest.pipeline.rekeying import rekey_urls
from ingest.store import engine as db
from ingest.store import feeds

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy import Engine

log = get_logger(__name__)


def prepare(engine: Engine, feeds_file: Path, now: datetime | None = None) -> int:
    """Bring the schema, the ``feeds`` table and the stored URL keys up to date.

    A registry whose content (its digest) was the last one synced is not read again.
    """
    text = registry.read_registry_text(feeds_file)
    digest = registry.digest(text)
    db.upgrade(engine)
    count = feeds.synced_count(engine, digest)
    if count is None:
        specs = registry.parse_registry(text, str(feeds_file))
        count = feeds.sync(engine, specs, now or _now(), digest=digest)
        log.info("registry %s: %d feeds", feeds_file, count)
    else:
        log.info("registry %s: %d feeds, unchanged since its last sync", feeds_file, count)
    rekey_urls(engine, now=now)
    return count


__all__ = ["prepare"]
