"""The stored signatures held in memory: what tests and benchmarks cluster against.

It answers the clustering pass's questions (:class:`ingest.neardup.StoredIndex`) as the
warehouse's store does (:class:`ingest.store.clusters.StoredSignatures`): the same
candidates (each band's latest articles within the window, at most ``per_row``), the
same representatives, the same merges.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ingest.models import Placed, Placement, SignatureRecord
from ingest.neardup import earliest, latest, shared_enough


class MemoryIndex:
    """A :class:`StoredIndex` held in memory: what tests and benchmarks cluster against.

    :meth:`save` applies a :class:`~ingest.models.Placement` as the store does (signatures
    kept, merged clusters renamed).
    """

    def __init__(self) -> None:
        self.by_key: dict[tuple[int, int], list[str]] = {}
        self.placed: dict[str, Placed] = {}
        self.members: dict[str, set[str]] = {}  # cluster id -> article ids

    def save(self, placement: Placement) -> None:
        """Keep what a pass placed; fold merged clusters as the store does."""
        for merge in placement.merges:
            for aid in self.members.pop(merge.old, set()):
                p = self.placed[aid]
                self.placed[aid] = Placed(aid, p.record, merge.new, p.at)
                self.members.setdefault(merge.new, set()).add(aid)
        for p in placement.placed:
            if p.article_id in self.placed:  # signed again: its old bands go, as in the store
                before = self.placed[p.article_id]
                self.members[before.cluster_id].discard(p.article_id)
                for key in before.record.bands:
                    self.by_key[key].remove(p.article_id)
            self.placed[p.article_id] = p
            self.members.setdefault(p.cluster_id, set()).add(p.article_id)
            for key in p.record.bands:
                self.by_key.setdefault(key, []).append(p.article_id)

    def candidate_clusters(
        self,
        record: SignatureRecord,
        article_id: str,
        since: datetime,
        until: datetime,
        per_row: int,
    ) -> set[str]:
        """Clusters of the stored articles sharing ``record.min_shared`` bands, in the bounds."""
        rows = [
            latest([self.placed[a] for a in self.by_key.get(key, ()) if a != article_id],
                   since, until, per_row)
            for key in record.bands
        ]  # fmt: skip
        return {p.cluster_id for p, _ in shared_enough(rows, record.min_shared).values()}

    def representatives(self, cluster_ids: Sequence[str]) -> dict[str, Placed]:
        """The earliest article of each cluster (its time when signed, then id)."""
        return {
            c: min((self.placed[a] for a in self.members[c]), key=earliest)
            for c in set(cluster_ids)
            if self.members.get(c)
        }

    def taken(self, cluster_ids: Sequence[str]) -> set[str]:
        """The clusters among ``cluster_ids`` that hold an article."""
        return {c for c in cluster_ids if self.members.get(c)}

    def clusters(self) -> dict[str, str]:
        """Each article's cluster id."""
        return {aid: p.cluster_id for aid, p in self.placed.items()}


__all__ = ["MemoryIndex"]
