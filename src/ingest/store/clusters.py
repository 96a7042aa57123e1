"""Story-cluster storage: signatures, the LSH band index, cluster ids, merges, representatives.

:func:`cluster_pending` takes the articles without a current signature (those a load
queued in ``cluster_queue``, and those signed by another version), oldest first, in
batches, each in one transaction under the writer lock (so two workers never decide at
once and each decision sees every committed signature); the matching policy is the
:class:`Clusterer`'s (:mod:`ingest.neardup`). A merge it decides moves every article of the
old cluster to the new one and is recorded in ``cluster_merges``, in the same transaction.
Each touched cluster's representative is its earliest article (publication time, else
first seen; then id).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import bindparam, delete, func, select, true, union_all, update
from sqlalchemy.types import UserDefinedType

from ingest.logs import get_logger
from ingest.models import (
    ClusterMerge,
    ClusterResult,
    Placed,
    Placement,
    SignatureRecord,
    Unclustered,
)
from ingest.store import dialects
from ingest.store.engine import locked
from ingest.store.schema import (
    article_signatures,
    articles,
    cluster_merges,
    cluster_queue,
    signature_bands,
)

if TYPE_CHECKING:
    from sqlalchemy import ColumnElement, Connection, Dialect, Engine, Select

log = get_logger(__name__)

#: When an article happened, for clustering and for electing representatives.
AT = func.coalesce(articles.c.published_at, articles.c.first_seen_at)


class Clusterer(Protocol):
    """The near-duplicate policy the composer hands to :func:`cluster_pending`."""

    version: int

    def place(self, batch: Sequence[Unclustered], stored: StoredSignatures) -> Placement:
        """Sign each article of ``batch`` (oldest first) and decide its story cluster."""


def cluster_pending(
    engine: Engine, clusterer: Clusterer, *, now: datetime, batch: int = 500
) -> ClusterResult:
    """Give every article without a current signature one, and put it in its story.

    An article whose signature is of an older version is re-signed and keeps its cluster.
    """
    total = ClusterResult()
    while True:
        with locked(engine) as conn:
            done = cluster_batch(conn, clusterer, now=now, batch=batch)
        total = ClusterResult(*(a + b for a, b in zip(_counts(total), _counts(done), strict=True)))
        if done.signed < batch:
            return total


def _counts(result: ClusterResult) -> tuple[int, int, int]:
    return result.signed, result.joined, result.merged


def cluster_batch(
    conn: Connection, clusterer: Clusterer, *, now: datetime, batch: int
) -> ClusterResult:
    """Sign (and place) the oldest ``batch`` articles without a current signature."""
    due = _due(conn, clusterer.version, batch)
    if not due:
        return ClusterResult()
    sig = article_signatures.c
    rows = sorted(
        (
            row
            for chunk in dialects.chunks(due)
            for row in conn.execute(
                select(
                    articles.c.article_id, articles.c.title, articles.c.body,
                    articles.c.cluster_id, AT.label("at"), sig.article_id.label("signed_id"),
                    sig.decided_version.label("decided"), cluster_queue.c.signature,
                )
                .outerjoin(article_signatures, sig.article_id == articles.c.article_id)
                .outerjoin(cluster_queue, cluster_queue.c.article_id == articles.c.article_id)
                .where(articles.c.article_id.in_(chunk))
            )
        ),
        key=lambda r: (r.at, r.article_id),
    )  # fmt: skip
    for chunk in dialects.chunks(due):  # signed below (a row whose article is gone: dropped)
        conn.execute(delete(cluster_queue).where(cluster_queue.c.article_id.in_(chunk)))
    if not rows:
        return ClusterResult()
    resigned = [r.article_id for r in rows if r.signed_id is not None]
    for chunk in dialects.chunks(resigned):
        conn.execute(delete(signature_bands).where(signature_bands.c.article_id.in_(chunk)))
        conn.execute(delete(article_signatures).where(sig.article_id.in_(chunk)))
    items = [
        Unclustered(
            r.article_id,
            r.title,
            r.body,
            r.cluster_id,
            r.at,
            r.signed_id is not None,
            signed=r.signature if r.signed_id is None else None,  # made ahead, if it was
        )
        for r in rows
    ]
    placement = clusterer.place(items, StoredSignatures(conn))
    placed = placement.placed
    decided = {r.article_id: r.decided for r in rows if r.signed_id is not None}
    _save_signatures(conn, placed, clusterer.version, now, decided)
    merged = merge_clusters(conn, placement.merges, clusterer.version, now)
    moves = {
        p.article_id: p.cluster_id
        for p, item in zip(placed, items, strict=True)
        if p.cluster_id != item.cluster_id
    }
    move_to_clusters(conn, moves, also=merged)
    return ClusterResult(len(rows), len(moves), len(placement.merges))


def enqueue_unsigned(conn: Connection) -> int:
    """Queue every article without a signature that is not queued (a whole-table scan)."""
    missing = (
        select(articles.c.article_id, AT)
        .where(
            ~select(article_signatures.c.article_id)
            .where(article_signatures.c.article_id == articles.c.article_id)
            .exists(),
            ~select(cluster_queue.c.article_id)
            .where(cluster_queue.c.article_id == articles.c.article_id)
            .exists(),
        )
    )  # fmt: skip
    return conn.execute(cluster_queue.insert().from_select(["article_id", "at"], missing)).rowcount


def requeue_times(conn: Connection, article_ids: Sequence[str]) -> None:
    """Queued articles among ``article_ids`` wait by their current time (it may change).

    Their content changed too: the clustering pass signs them (not what was signed ahead).
    """
    current = (
        select(AT).where(articles.c.article_id == cluster_queue.c.article_id).scalar_subquery()
    )
    for chunk in dialects.chunks(list(article_ids)):
        conn.execute(
            update(cluster_queue)
            .where(cluster_queue.c.article_id.in_(chunk))
            .values(at=current, signature=None)
        )


def _due(conn: Connection, version: int, batch: int) -> list[str]:
    """The oldest ``batch`` articles to sign: loaded since, or signed by an older version.

    Each comes from an index in time order (the queue; the signatures of one version), so
    the cost does not grow with the warehouse.
    """
    queue, sig = cluster_queue.c, article_signatures.c
    found = list(
        conn.execute(
            select(queue.at, queue.article_id).order_by(queue.at, queue.article_id).limit(batch)
        ).all()
    )
    older = conn.execute(
        select(sig.signature_version)
        .where(sig.signature_version < version)
        .order_by(sig.signature_version)
        .limit(1)
    ).scalar()
    if older is not None:
        found += conn.execute(  # the oldest of that version, from its index
            select(sig.at, sig.article_id)
            .where(sig.signature_version == older)
            .order_by(sig.at, sig.article_id)
            .limit(batch)
        ).all()
    newer = conn.execute(
        select(sig.signature_version).where(sig.signature_version > version).limit(1)
    ).scalar()
    if newer is not None:  # a newer release runs beside this one: its signatures stay
        log.warning(
            "signatures of version %d are stored; this worker signs with version %d and "
            "leaves them (an older release runs beside a newer one)", newer, version,
        )  # fmt: skip
    return [article_id for _, article_id in sorted(found)[:batch]]


def merge_clusters(
    conn: Connection, merges: Sequence[ClusterMerge], version: int, now: datetime
) -> set[str]:
    """Fold each old cluster into its new one (in order) and record it; the new ids."""
    for merge in merges:
        conn.execute(
            update(articles).where(articles.c.cluster_id == merge.old).values(cluster_id=merge.new)
        )
    if merges:
        conn.execute(
            cluster_merges.insert(),
            [
                {"old_cluster_id": m.old, "new_cluster_id": m.new, "kind": "merge",
                 "article_id": m.article_id, "signature_version": version, "merged_at": now}
                for m in merges
            ],
        )  # fmt: skip
    renamed = {m.old: m.new for m in merges}
    return {follow(renamed, m.new) for m in merges}


def follow(renamed: Mapping[str, str], cluster_id: str) -> str:
    """A cluster id after the renames of ``renamed`` (old id -> new id)."""
    while cluster_id in renamed:
        cluster_id = renamed[cluster_id]
    return cluster_id


def _save_signatures(
    conn: Connection,
    placed: Sequence[Placed],
    version: int,
    now: datetime,
    decided: Mapping[str, int],
) -> None:
    """Store the signatures; ``decided``: the rule version of a re-signed article's cluster."""
    conn.execute(
        article_signatures.insert(),
        [
            {
                "article_id": p.article_id, "signature_version": version,
                "signature": p.record.data, "shingle_count": p.record.shingle_count,
                "title_key": p.record.title_key, "at": p.at, "clustered_at": now,
                "decided_version": decided.get(p.article_id, version),
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


class _AsGiven(UserDefinedType[object]):
    """A bound value as given, with no cast: the window's bounds in the band query.

    They are converted once an article (:func:`_time_for`), not once per band (a hundred
    conversions an article, more than the query's own time).
    """

    cache_ok = True

    def get_col_spec(self, **_kw: object) -> str:
        return "TIMESTAMP"  # never a column's: it only binds values

    def bind_processor(self, dialect: Dialect) -> None:  # noqa: ARG002 - SQLAlchemy's signature
        return None


_AS_GIVEN = _AsGiven()


@functools.lru_cache(maxsize=8)  # an engine's dialect each: a few, not every one ever made
def _time_for(dialect: Dialect) -> Callable[[datetime], object]:
    """A time as the dialect's driver takes it for ``signature_bands.at``."""
    process = signature_bands.c.at.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else (lambda value: value)


#: Band lookups are padded to a multiple of this many rows, with rows of band _NO_BAND.
_BAND_STEP = 16
_NO_BAND = -1  # no signature has a band numbered below 0


@functools.cache
def _band_query(count: int, *, recluster: bool) -> Select[tuple[str]]:
    """Ids of the articles in at least ``min_shared`` of ``count`` bands' latest rows.

    Built once per ``count`` (a multiple of ``_BAND_STEP``: a few shapes): building it
    cost more than running it. ``since`` and ``until`` are bound as given, so they must
    come converted for the dialect (:func:`_time_for`), as ``candidate_clusters`` does.
    """
    bands = signature_bands.c
    rows = []
    for i in range(count):
        row = (
            select(bands.article_id)
            .where(bands.band == bindparam(f"b{i}"), bands.band_key == bindparam(f"k{i}"),
                   bands.at.between(bindparam("since", type_=_AS_GIVEN),
                                    bindparam("until", type_=_AS_GIVEN)),
                   bands.article_id != bindparam("article_id"))
            .order_by(bands.at.desc(), bands.article_id.desc())
            .limit(bindparam("per_row"))
        )  # fmt: skip
        if recluster:  # `ingest recluster`: only the articles it has re-decided
            sig = article_signatures.c
            row = row.join_from(
                signature_bands, article_signatures, sig.article_id == bands.article_id
            ).where(sig.decided_version == bindparam("decided"))
        sub = row.subquery()
        rows.append(select(sub.c.article_id))
    found = union_all(*rows).subquery()
    return (
        select(found.c.article_id)
        .group_by(found.c.article_id)
        .having(func.count() >= bindparam("min_shared"))
    )


class StoredSignatures:
    """The stored signatures, as the clustering policy may ask for them (one transaction).

    With ``decided``, only articles whose cluster that rule version decided count (what
    `ingest recluster` has re-decided so far).
    """

    def __init__(self, conn: Connection, decided: int | None = None) -> None:
        self.conn = conn
        self.decided = decided

    def _counted(self) -> ColumnElement[bool]:
        sig = article_signatures.c
        return sig.decided_version == self.decided if self.decided is not None else true()

    def candidate_clusters(
        self,
        record: SignatureRecord,
        article_id: str,
        since: datetime,
        until: datetime,
        per_row: int,
    ) -> set[str]:
        """Clusters of the stored articles sharing ``record.min_shared`` bands, in the bounds.

        Each band gives its ``per_row`` latest articles in the bounds, at the most.
        """
        if not record.bands:
            return set()
        # Two steps: the candidates' ids from the band index, then their clusters. Each
        # band is looked up on its own, for its ``per_row`` latest rows in the window (an
        # index range read: a band a thousand copies of one story share costs no more).
        # The bands are padded with rows no article has, to a multiple of _BAND_STEP: a
        # few query shapes, each compiled once in a process (a shape per number of
        # anchors cost a task 20 ms of compiling each).
        count = -(-len(record.bands) // _BAND_STEP) * _BAND_STEP
        query = _band_query(count, recluster=self.decided is not None)
        to_db = _time_for(self.conn.dialect)  # once, not once per band
        values: dict[str, object] = {
            "since": to_db(since), "until": to_db(until), "article_id": article_id,
            "min_shared": record.min_shared, "per_row": per_row, "decided": self.decided,
        }  # fmt: skip
        padded = [*record.bands, *[(_NO_BAND, 0)] * (count - len(record.bands))]
        for i, (band, key) in enumerate(padded):
            values[f"b{i}"], values[f"k{i}"] = band, key
        ids = self.conn.execute(query, values).scalars().all()
        out: set[str] = set()
        for chunk in dialects.chunks(sorted(ids)):
            out.update(self.conn.execute(
                select(articles.c.cluster_id)
                .join(article_signatures,
                      article_signatures.c.article_id == articles.c.article_id)
                .where(articles.c.article_id.in_(chunk), self._counted())
                .distinct()
            ).scalars())  # fmt: skip
        return out

    def taken(self, cluster_ids: Sequence[str]) -> set[str]:
        """The clusters among ``cluster_ids`` that hold a counted article."""
        if not cluster_ids:
            return set()
        query = (
            select(articles.c.cluster_id)
            .join(article_signatures,
                  article_signatures.c.article_id == articles.c.article_id)
            .where(articles.c.cluster_id.in_(sorted(set(cluster_ids))), self._counted())
            .distinct()
        )  # fmt: skip
        return set(self.conn.execute(query).scalars())

    def representatives(self, cluster_ids: Sequence[str]) -> dict[str, Placed]:
        """The earliest signed article of each cluster (its time when signed, then id)."""
        out: dict[str, Placed] = {}
        sig = article_signatures.c
        for cluster in sorted(set(cluster_ids)):
            first = self.conn.execute(
                select(sig.article_id)
                .join(articles, articles.c.article_id == sig.article_id)
                .where(articles.c.cluster_id == cluster, self._counted())
                .order_by(sig.at, sig.article_id)
                .limit(1)
            ).scalar()  # fmt: skip
            if first is not None:
                (out[cluster],) = self._placed(sig.article_id == first)
        return out

    def _placed(self, where: ColumnElement[bool]) -> list[Placed]:
        sig = article_signatures.c
        query = (
            select(
                sig.article_id, sig.signature, sig.shingle_count, sig.title_key, sig.at,
                articles.c.cluster_id,
            )
            .join(articles, articles.c.article_id == sig.article_id)
            .where(where)
        )  # fmt: skip
        return [
            Placed(r.article_id, SignatureRecord(r.signature, r.shingle_count, r.title_key, ()),
                   r.cluster_id, r.at)
            for r in self.conn.execute(query)
        ]  # fmt: skip


def move_to_clusters(
    conn: Connection, moves: Mapping[str, str], *, also: Iterable[str] = ()
) -> None:
    """Set the clusters of moved articles; re-elect the touched clusters' representatives.

    ``also``: more clusters whose membership changed (by merges).
    """
    if moves:
        conn.execute(
            update(articles)
            .where(articles.c.article_id == bindparam("b_id"))
            .values(cluster_id=bindparam("b_cluster")),
            [{"b_id": aid, "b_cluster": cl} for aid, cl in sorted(moves.items())],
        )
    elect_representatives(conn, {*moves.values(), *also})


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
        ).scalar()
        if first is None:  # every article left it
            continue
        conn.execute(  # only the rows that change: the others keep their index entries
            update(articles)
            .where(
                articles.c.cluster_id == cluster,
                articles.c.is_representative != (articles.c.article_id == first),
            )
            .values(is_representative=articles.c.article_id == first)
        )


__all__ = [
    "AT", "Clusterer", "StoredSignatures", "cluster_batch", "cluster_pending", "elect_representatives",
    "follow", "merge_clusters", "move_to_clusters",
]  # fmt: skip
