"""Story-cluster storage: signatures, the LSH band index, cluster ids and representatives.

:func:`cluster_pending` takes the articles without a current signature, oldest first, in
batches, each in one transaction under the writer lock (so two workers never decide at
once and each decision sees every committed signature); the matching policy is the
:class:`Clusterer`'s (:mod:`ingest.neardup`). Each touched cluster's representative is its
earliest article (publication time, else first seen; then id).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import and_, bindparam, delete, func, or_, select, update

from ingest.models import ClusterResult, Placed, SignatureRecord, Unclustered
from ingest.store import dialects
from ingest.store.engine import locked
from ingest.store.schema import article_signatures, articles, signature_bands

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

#: When an article happened, for clustering and for electing representatives.
AT = func.coalesce(articles.c.published_at, articles.c.first_seen_at)

StoredNeighbours = Callable[[SignatureRecord, str, datetime, datetime], Sequence[Placed]]


class Clusterer(Protocol):
    """The near-duplicate policy the composer hands to :func:`cluster_pending`."""

    version: int

    def place(self, batch: Sequence[Unclustered], stored: StoredNeighbours) -> list[Placed]:
        """Sign each article of ``batch`` (oldest first) and decide its story cluster."""


def cluster_pending(
    engine: Engine, clusterer: Clusterer, *, now: datetime, batch: int = 500
) -> ClusterResult:
    """Give every article without a current signature one, and put it in its story.

    An article whose signature is of an older version is re-signed and keeps its cluster.
    """
    signed = joined = 0
    while True:
        with locked(engine) as conn:
            done, moved = _cluster_batch(conn, clusterer, now=now, batch=batch)
        signed, joined = signed + done, joined + moved
        if done < batch:
            return ClusterResult(signed=signed, joined=joined)


def _cluster_batch(
    conn: Connection, clusterer: Clusterer, *, now: datetime, batch: int
) -> tuple[int, int]:
    sig = article_signatures.c
    rows = conn.execute(
        select(
            articles.c.article_id, articles.c.title, articles.c.body, articles.c.cluster_id,
            AT.label("at"), sig.article_id.label("signed_id"),
        )
        .outerjoin(article_signatures, sig.article_id == articles.c.article_id)
        .where(or_(sig.article_id.is_(None), sig.signature_version != clusterer.version))
        .order_by(AT, articles.c.article_id)
        .limit(batch)
    ).all()  # fmt: skip
    if not rows:
        return 0, 0
    resigned = [r.article_id for r in rows if r.signed_id is not None]
    for chunk in dialects.chunks(resigned):
        conn.execute(delete(signature_bands).where(signature_bands.c.article_id.in_(chunk)))
        conn.execute(delete(article_signatures).where(sig.article_id.in_(chunk)))
    items = [
        Unclustered(r.article_id, r.title, r.body, r.cluster_id, r.at, r.signed_id is not None)
        for r in rows
    ]
    placed = clusterer.place(items, lambda *args: _stored_neighbours(conn, *args))
    _save_signatures(conn, placed, clusterer.version, now)
    moves = {
        p.article_id: p.cluster_id
        for p, item in zip(placed, items, strict=True)
        if p.cluster_id != item.cluster_id
    }
    move_to_clusters(conn, moves)
    return len(rows), len(moves)


def _save_signatures(
    conn: Connection, placed: Sequence[Placed], version: int, now: datetime
) -> None:
    conn.execute(
        article_signatures.insert(),
        [
            {
                "article_id": p.article_id, "signature_version": version,
                "signature": p.record.data, "shingle_count": p.record.shingle_count,
                "title_key": p.record.title_key, "at": p.at, "clustered_at": now,
            }
            for p in placed
        ],
    )  # fmt: skip
    bands = [
        {"band": band, "band_key": key, "article_id": p.article_id, "at": p.at}
        for p in placed
        for band, key in p.record.bands
    ]
    for chunk in dialects.chunks(bands, dialects.WRITE_CHUNK * 8):
        conn.execute(signature_bands.insert(), list(chunk))


def _stored_neighbours(
    conn: Connection, record: SignatureRecord, article_id: str, since: datetime, until: datetime
) -> list[Placed]:
    """Stored articles sharing a band with ``record``, dated within ``[since, until]``."""
    if not record.bands:
        return []
    bands, sig = signature_bands.c, article_signatures.c
    # Two steps, and the bands as ORed equalities rather than a row-value IN: that way
    # both backends probe the band index once per band (with a join or IN (VALUES ...)
    # SQLite's planner scanned instead: cost grew linearly, 300 ms per article at 50k).
    ids = conn.execute(
        select(bands.article_id)
        .where(or_(*(and_(bands.band == b, bands.band_key == k) for b, k in record.bands)))
        .where(bands.at.between(since, until), bands.article_id != article_id)
        .distinct()
    ).scalars().all()  # fmt: skip
    if not ids:
        return []
    query = (
        select(
            sig.article_id, sig.signature, sig.shingle_count, sig.title_key, sig.at,
            articles.c.cluster_id,
        )
        .join(articles, articles.c.article_id == sig.article_id)
        .where(sig.article_id.in_(sorted(ids)))
    )  # fmt: skip
    return [
        Placed(r.article_id, SignatureRecord(r.signature, r.shingle_count, r.title_key, ()),
               r.cluster_id, r.at)
        for r in conn.execute(query)
    ]  # fmt: skip


def move_to_clusters(conn: Connection, moves: Mapping[str, str]) -> None:
    """Set the clusters of moved articles; re-elect the touched clusters' representatives."""
    if not moves:
        return
    conn.execute(
        update(articles)
        .where(articles.c.article_id == bindparam("b_id"))
        .values(cluster_id=bindparam("b_cluster")),
        [{"b_id": aid, "b_cluster": cl} for aid, cl in sorted(moves.items())],
    )
    elect_representatives(conn, set(moves.values()))


def elect_representatives(conn: Connection, clusters: Iterable[str]) -> None:
    """Make each cluster's earliest article its one representative.

    Earliest: publication time, else first seen; ties by ``article_id``.
    """
    for cluster in sorted(set(clusters)):
        first = conn.execute(
            select(articles.c.article_id)
            .where(articles.c.cluster_id == cluster)
            .order_by(AT, articles.c.article_id)
            .limit(1)
        ).scalar_one()
        conn.execute(
            update(articles)
            .where(articles.c.cluster_id == cluster)
            .values(is_representative=articles.c.article_id == first)
        )


__all__ = ["Clusterer", "cluster_pending", "elect_representatives", "move_to_clusters"]
