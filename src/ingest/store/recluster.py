"""Re-clustering storage: every stored article's story cluster decided again by the current rules.

A new signature or rule version (``ingest.neardup.SIGNATURE_VERSION``) re-signs stored
articles as the ``cluster`` step meets them, but keeps their clusters: a re-signed
article's ``decided_version`` stays the old one. :func:`recluster` first signs whatever is
not signed with the current version, then takes the articles whose cluster an older
version decided (the oldest version first, then the oldest articles), in batches, and places each as if it were arriving now,
among the articles already decided by the current rules. Each batch is one transaction
under the writer lock and marks what it decided, so a re-cluster may be stopped and run
again: it goes on where it stopped. A dry run does all of it in one transaction and rolls
it back (holding the writer lock meanwhile), so its counts are exact.

Cluster ids change only in ways ``cluster_merges`` records:

- ``merge``: the old id is gone and continues as the new one: every article it still had
  moved there, or, when they scattered, its earliest did (one row per cluster,
  ``article_id`` names the first to move);
- ``split``: one article left a cluster and went elsewhere (``article_id`` names it).

A cluster whose articles leave over several batches gets a ``split`` row for each earlier
one and a ``merge`` row when the last ones leave. When the articles a cluster still has
leave for several clusters at once, its id follows the earliest of them (a ``merge`` row
naming it) and the others get ``split`` rows: an id never ends at an empty cluster.

An article that matches nothing keeps its cluster id, unless an article decided before it
already holds that id; then it splits off under a new id.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from ingest.models import ReclusterResult, Unclustered
from ingest.store import dialects
from ingest.store.clusters import (
    Clusterer,
    StoredSignatures,
    cluster_batch,
    enqueue_unsigned,
    follow,
    merge_clusters,
    move_to_clusters,
)
from ingest.store.engine import batches
from ingest.store.schema import article_signatures, articles, cluster_merges

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine


def recluster(
    engine: Engine, clusterer: Clusterer, *, now: datetime, batch: int = 500, dry_run: bool = False
) -> ReclusterResult:
    """Decide every stored article's cluster again under ``clusterer``'s rules."""
    counts = {"signed": 0, "decided": 0, "moved": 0, "merges": 0, "splits": 0}
    with batches(engine, dry_run=dry_run) as session:
        with session() as conn:
            before = _clusters(conn)
            enqueue_unsigned(conn)  # whatever was left unsigned (the cluster step never is)
        while True:
            with session() as conn:
                signed = cluster_batch(conn, clusterer, now=now, batch=batch)
            counts["signed"] += signed.signed
            if signed.signed < batch:
                break
        while True:
            with session() as conn:
                done = _decide_batch(conn, clusterer, now=now, batch=batch)
            for key, value in done.items():
                counts[key] += value
            if not done["decided"]:
                break
        with session() as conn:
            after = _clusters(conn)
    return ReclusterResult(**counts, clusters_before=before, clusters_after=after)


def _clusters(conn: Connection) -> int:
    return conn.execute(select(func.count(func.distinct(articles.c.cluster_id)))).scalar_one()


def fresh_cluster_id(article_id: str, version: int) -> str:
    """The id a re-decided article splits off under (an article id's length and alphabet)."""
    return hashlib.blake2b(f"{article_id}/{version}".encode(), digest_size=16).hexdigest()


def _decide_batch(
    conn: Connection, clusterer: Clusterer, *, now: datetime, batch: int
) -> dict[str, int]:
    version, sig = clusterer.version, article_signatures.c
    # the oldest rules first, and within them the oldest articles: both from one index
    older = conn.execute(
        select(sig.decided_version)
        .where(sig.decided_version < version)
        .order_by(sig.decided_version)
        .limit(1)
    ).scalar()
    if older is None:
        return {"decided": 0}
    rows = conn.execute(
        select(
            articles.c.article_id, articles.c.title, articles.c.body, articles.c.cluster_id,
            sig.at,
        )
        .join(articles, articles.c.article_id == sig.article_id)
        .where(sig.decided_version == older, sig.signature_version == version)
        .order_by(sig.at, sig.article_id)
        .limit(batch)
    ).all()  # fmt: skip
    items = [
        Unclustered(r.article_id, r.title, r.body, r.cluster_id, r.at,
                    fresh_id=fresh_cluster_id(r.article_id, version))
        for r in rows
    ]  # fmt: skip
    placement = clusterer.place(items, StoredSignatures(conn, decided=version))
    sizes = _sizes(conn, {item.cluster_id for item in items})
    merged = merge_clusters(conn, placement.merges, version, now)
    renamed = {m.old: m.new for m in placement.merges}
    moves = {
        p.article_id: (item.cluster_id, p.cluster_id)
        for p, item in zip(placement.placed, items, strict=True)
        if follow(renamed, item.cluster_id) != p.cluster_id
    }
    leaving, targets = _leaving(moves)
    records, folded = [], set()
    arriving = {new for _, new in moves.values()}
    for aid, (old, new) in moves.items():  # in the order decided: the earliest first
        emptied = leaving[old] == sizes[old] and old not in arriving  # none is left in it
        if emptied and old in folded and len(targets[old]) == 1:
            continue  # one row per cluster folded whole
        kind = "merge" if emptied and old not in folded else "split"
        folded.update([old] if emptied else [])
        records.append(
            {"old_cluster_id": old, "new_cluster_id": new, "article_id": aid, "kind": kind,
             "signature_version": version, "merged_at": now}
        )  # fmt: skip
    if records:
        conn.execute(cluster_merges.insert(), records)
    for chunk in dialects.chunks([r.article_id for r in rows]):
        conn.execute(
            update(article_signatures)
            .where(sig.article_id.in_(chunk))
            .values(decided_version=version)
        )
    move_to_clusters(
        conn, {aid: new for aid, (_, new) in moves.items()},
        also={*merged, *(old for old, _ in moves.values())},
    )  # fmt: skip
    splits = sum(r["kind"] == "split" for r in records)
    return {
        "decided": len(rows), "moved": len(moves),
        "merges": len(placement.merges) + len(folded), "splits": splits,
    }  # fmt: skip


def _sizes(conn: Connection, clusters: set[str]) -> dict[str, int]:
    """How many articles each cluster has now."""
    out: dict[str, int] = {}
    for chunk in dialects.chunks(sorted(clusters)):
        query = (
            select(articles.c.cluster_id, func.count())
            .where(articles.c.cluster_id.in_(chunk))
            .group_by(articles.c.cluster_id)
        )
        out.update({row[0]: row[1] for row in conn.execute(query)})
    return out


def _leaving(moves: dict[str, tuple[str, str]]) -> tuple[dict[str, int], dict[str, set[str]]]:
    """How many articles leave each old cluster, and for which new ones."""
    targets: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for old, new in moves.values():
        targets.setdefault(old, set()).add(new)
        counts[old] = counts.get(old, 0) + 1
    return counts, targets


__all__ = ["fresh_cluster_id", "recluster"]
