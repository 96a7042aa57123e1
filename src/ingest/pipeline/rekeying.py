"""Re-keying: stored rows moved under the current URL rules (before polls and loads)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from ingest import rekey
from ingest.pipeline import _now
from ingest.store import rekeys

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.models import RekeyResult


def rekey_urls(
    engine: Engine,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    rules: rekey.Rules | None = None,
    batch: int = 1000,
) -> RekeyResult:
    """Apply the current URL rules (:mod:`ingest.rekey`) to rows stored under older ones.

    Before polls (so a re-polled entry finds its re-keyed self) and before every load (so
    no article is inserted next to its own stale copy); a no-op when nothing is stale.
    """
    return rekeys.rekey(
        engine, rules or rekey.CURRENT, now=now or _now(), batch=batch, dry_run=dry_run
    )


__all__ = ["rekey_urls"]
