"""Re-keying storage: rows written under older URL rules moved, merged and recorded.

The policy (what the new URL is, which merged row's content survives) is the
:class:`RekeyRules` the composer hands in (:mod:`ingest.rekey`). Rows are taken in
batches, each in one transaction under the writer lock, so no load or clustering decides
at the same time; each batch commits on its own and a re-keyed row is not selected
again, so a re-key is safe to interrupt and to run again. When nothing is stale it is one
index probe per table and takes no lock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, delete, insert, select, update

from ingest.errors import UrlRejected, WarehouseError
from ingest.logs import get_logger
from ingest.models import EntryState, RekeyResult
from ingest.store import dialects
from ingest.store.clusters import elect_representatives, requeue_times
from ingest.store.engine import batches, reading
from ingest.store.queue import articles_by_url
from ingest.store.schema import (
    article_rekeys,
    article_signatures,
    articles,
    cluster_merges,
    cluster_queue,
    feed_entries,
    signature_bands,
)
from ingest.urls import article_id_for, entry_id_for, host_of

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine, Row

log = get_logger(__name__)


class RekeyRules(Protocol):
    """A version of the URL rules, and how rows that come to share a key are merged."""

    @property
    def version(self) -> int:
        """The rules' version (``url_rules_version`` of the rows they wrote)."""

    def canonical(self, url: str) -> str:
        """The canonical URL under these rules; raises UrlRejected for a URL they refuse."""

    def source(self, canonical: str) -> str:
        """The ``source`` of an article with this canonical URL."""

    def article_survivor(self, members: Sequence[Any]) -> tuple[Any, Any]:
        """Of articles merging into one: (the one whose content is kept, the one seen first)."""

    def entry_survivor(self, members: Sequence[Any]) -> Any:  # noqa: ANN401 - a Row
        """Of feed entries merging into one: the one kept."""

    def keeps_link(self, entry: Any) -> bool:  # noqa: ANN401 - a Row
        """Whether an entry is left as it is (its link was refused, so it has no new key)."""


def rekey(
    engine: Engine, rules: RekeyRules, *, now: datetime, batch: int = 1000, dry_run: bool = False
) -> RekeyResult:
    """Re-key every article and feed entry stored under older URL rules than ``rules``.

    ``dry_run`` does all of it in one transaction and rolls it back, so its counts are
    exact (it holds the writer lock meanwhile).
    """
    if not dry_run and not _any_stale(engine, rules.version):
        return RekeyResult()  # the usual case: no lock taken
    counts: Counter[str] = Counter()
    with batches(engine, dry_run=dry_run) as session:
        for table, key, step in (
            (articles, articles.c.article_id, _rekey_articles),
            (feed_entries, feed_entries.c.entry_id, _rekey_entries),
        ):
            after = ""
            while True:
                with session() as conn:
                    rows = conn.execute(
                        select(table)
                        .where(table.c.url_rules_version < rules.version, key > after)
                        .order_by(key)
                        .limit(batch)
                    ).all()
                    if rows:
                        step(conn, rows, rules, now, counts)
                if len(rows) < batch:
                    break
                after = getattr(rows[-1], key.name)
    if any(counts.values()):
        log.info(
            "re-keyed to URL rules v%d%s: %s", rules.version, " (dry run)" if dry_run else "",
            ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v),
        )  # fmt: skip
    return RekeyResult(**counts)


def _any_stale(engine: Engine, version: int) -> bool:
    with reading(engine) as conn:
        return any(
            conn.execute(select(t.c.url_rules_version).where(
                t.c.url_rules_version < version).limit(1)).first()
            for t in (articles, feed_entries)
        )  # fmt: skip


# --------------------------------------------------------------------------- articles


def _rekey_articles(
    conn: Connection, rows: Sequence[Any], rules: RekeyRules, now: datetime, counts: Counter[str]
) -> None:
    counts["articles_checked"] += len(rows)
    groups = _group(rows, rules, lambda r: r.canonical_url, lambda _r, url: article_id_for(url))
    rejected = {r.article_id for r in rows} - {r.article_id for g in groups.values() for r in g[1]}
    for article_id in sorted(rejected):
        log.warning("URL rules v%d refuse the canonical URL of article %s; left as it was",
                    rules.version, article_id)  # fmt: skip
    counts["articles_rejected"] += len(rejected)
    residents = _residents(conn, articles, articles.c.article_id, groups, rows)
    unchanged: list[str] = []
    touched: set[str] = set()
    for new_id, (canonical, group) in sorted(groups.items()):
        members = [*group, residents[new_id]] if new_id in residents else group
        if len(members) == 1 and members[0].article_id == new_id:
            unchanged.append(new_id)
        elif len(members) == 1:
            _move(conn, members[0], new_id, canonical, rules, now)
            counts["articles_moved"] += 1
            touched.add(members[0].cluster_id)
        else:
            cluster, merged = _merge(conn, members, new_id, canonical, rules, now)
            counts["articles_merged"] += len(members) - 1
            counts["clusters_merged"] += merged
            touched.add(cluster)
    if unchanged:
        conn.execute(
            update(articles)
            .where(articles.c.article_id == bindparam("b_id"))
            .values(url_rules_version=rules.version),
            [{"b_id": i} for i in unchanged],
        )
    elect_representatives(conn, touched)


def _group(
    rows: Sequence[Any],
    rules: RekeyRules,
    url_of: Callable[[Any], str],
    key_of: Callable[[Any, str], str],
) -> dict[str, tuple[str, list[Any]]]:
    """New key -> (new canonical URL, the batch's rows that get it); refused rows left out."""
    groups: dict[str, tuple[str, list[Any]]] = {}
    for row in rows:
        try:
            canonical = rules.canonical(url_of(row))
        except UrlRejected:
            continue
        groups.setdefault(key_of(row, canonical), (canonical, []))[1].append(row)
    return groups


def _residents(
    conn: Connection,
    table: Any,  # noqa: ANN401 - a Table
    key: Any,  # noqa: ANN401 - its key column
    groups: dict[str, tuple[str, list[Any]]],
    rows: Sequence[Any],
) -> dict[str, Any]:
    """Stored rows outside the batch that already hold one of the new keys.

    A batch row holding a new key must be in that key's own group: with idempotent rules
    a URL that is some row's new canonical URL maps to itself.
    """
    in_batch = {getattr(r, key.name) for r in rows}
    for new_id, (_, members) in groups.items():
        if new_id in in_batch and new_id not in {getattr(m, key.name) for m in members}:
            raise WarehouseError(
                f"the URL rules are not idempotent: new key {new_id} is held by a row that "
                "maps elsewhere; fix the rules before re-keying"
            )
    wanted = sorted(k for k in groups if k not in in_batch)
    found = dialects.of(conn).rows_where_in(conn, select(table), key, wanted)
    return {getattr(r, key.name): r for r in found}


def _record(
    conn: Connection,
    old: Row[Any],
    new_id: str,
    canonical: str,
    kind: str,
    rules: RekeyRules,
    now: datetime,
) -> None:
    """Note where ``old`` went; earlier records that led to it now lead to ``new_id``."""
    conn.execute(
        update(article_rekeys)
        .where(article_rekeys.c.new_article_id == old.article_id)
        .values(new_article_id=new_id, new_canonical_url=canonical)
    )
    conn.execute(
        insert(article_rekeys).values(
            old_article_id=old.article_id, new_article_id=new_id,
            old_canonical_url=old.canonical_url, new_canonical_url=canonical, kind=kind,
            url_rules_version=rules.version, rekeyed_at=now,
        )
    )  # fmt: skip


def _repoint(conn: Connection, old_id: str, new_id: str) -> None:
    """Feed entries, signatures and place in the cluster queue of ``old_id`` go to ``new_id``."""
    conn.execute(
        update(feed_entries).where(feed_entries.c.article_id == old_id).values(article_id=new_id)
    )
    for table in (article_signatures, signature_bands, cluster_queue):
        conn.execute(update(table).where(table.c.article_id == old_id).values(article_id=new_id))


def _drop_signature(conn: Connection, article_id: str) -> None:
    for table in (signature_bands, article_signatures, cluster_queue):
        conn.execute(delete(table).where(table.c.article_id == article_id))


def _move(
    conn: Connection, row: Row[Any], new_id: str, canonical: str, rules: RekeyRules, now: datetime
) -> None:
    conn.execute(
        update(articles)
        .where(articles.c.article_id == row.article_id)
        .values(
            article_id=new_id, canonical_url=canonical, source=rules.source(canonical),
            url_rules_version=rules.version,
        )
    )  # fmt: skip
    _repoint(conn, row.article_id, new_id)
    _record(conn, row, new_id, canonical, "moved", rules, now)


def _merge(
    conn: Connection,
    members: Sequence[Any],
    new_id: str,
    canonical: str,
    rules: RekeyRules,
    now: datetime,
) -> tuple[str, int]:
    """Fold ``members`` into one article under ``new_id``.

    Returns the merged article's cluster and how many other clusters joined it.
    """
    content, seen_first = rules.article_survivor(members)
    cluster = seen_first.cluster_id
    merged_clusters = sorted({m.cluster_id for m in members} - {cluster})
    for member in members:
        if member.article_id != content.article_id:
            _drop_signature(conn, member.article_id)
    conn.execute(delete(articles).where(articles.c.article_id.in_([m.article_id for m in members])))
    survivor = dict(content._mapping)  # noqa: SLF001 - SQLAlchemy's public Row API
    survivor.update(
        article_id=new_id, canonical_url=canonical, source=rules.source(canonical),
        first_seen_at=seen_first.first_seen_at,
        last_seen_at=max(m.last_seen_at for m in members),
        cluster_id=cluster, is_representative=False, url_rules_version=rules.version,
    )  # fmt: skip
    conn.execute(insert(articles).values(**survivor))
    for member in sorted(members, key=lambda m: m.article_id):
        if member.article_id != new_id:
            _repoint(conn, member.article_id, new_id)
            _record(conn, member, new_id, canonical, "merged", rules, now)
    requeue_times(conn, [new_id])  # it may wait, now with the first seen member's time
    if merged_clusters:
        conn.execute(
            update(articles)
            .where(articles.c.cluster_id.in_(merged_clusters))
            .values(cluster_id=cluster)
        )
        conn.execute(
            cluster_merges.insert(),
            [
                {"old_cluster_id": old, "new_cluster_id": cluster, "kind": "merge",
                 "article_id": new_id, "signature_version": None, "merged_at": now}
                for old in merged_clusters
            ],
        )  # fmt: skip
    return cluster, len(merged_clusters)


# --------------------------------------------------------------------------- entries


def _rekey_entries(
    conn: Connection,
    rows: Sequence[Any],
    rules: RekeyRules,
    now: datetime,  # noqa: ARG001 - the step signature; entries keep no re-key time
    counts: Counter[str],
) -> None:
    counts["entries_checked"] += len(rows)
    refused_links = {r.entry_id for r in rows if rules.keeps_link(r)}
    live = [r for r in rows if r.entry_id not in refused_links]
    groups = _group(
        live, rules, lambda r: r.link, lambda r, url: entry_id_for(r.feed_key, r.guid, url)
    )
    grouped = {r.entry_id for g in groups.values() for r in g[1]}
    counts["entries_rejected"] += len({r.entry_id for r in live} - grouped)
    residents = _residents(conn, feed_entries, feed_entries.c.entry_id, groups, live)
    bump = sorted(refused_links)
    pending_urls: set[str] = set()
    for new_id, (canonical, group) in sorted(groups.items()):
        members = [*group, residents[new_id]] if new_id in residents else group
        keep = rules.entry_survivor(members)
        if len(members) == 1 and keep.entry_id == new_id and keep.canonical_url == canonical:
            bump.append(new_id)
            continue
        if len(members) == 1:
            counts["entries_moved"] += 1
        else:
            counts["entries_merged"] += len(members) - 1
        values = dict(keep._mapping)  # noqa: SLF001 - SQLAlchemy's public Row API
        values.update(
            entry_id=new_id, canonical_url=canonical, host=host_of(canonical),
            first_seen_at=min(m.first_seen_at for m in members),
            last_seen_at=max(m.last_seen_at for m in members),
            url_rules_version=rules.version,
        )  # fmt: skip
        conn.execute(
            delete(feed_entries).where(feed_entries.c.entry_id.in_([m.entry_id for m in members]))
        )
        conn.execute(insert(feed_entries).values(**values))
        if keep.state == EntryState.PENDING.value:
            pending_urls.add(canonical)
    if bump:
        conn.execute(
            update(feed_entries)
            .where(feed_entries.c.entry_id == bindparam("b_id"))
            .values(url_rules_version=rules.version),
            [{"b_id": i} for i in bump],
        )
    counts["entries_known"] += _link_known(conn, sorted(pending_urls))


def _link_known(conn: Connection, urls: Sequence[str]) -> int:
    """Pending entries of these URLs that are stored articles become ``known``."""
    linked = 0
    for url, article_id in sorted(articles_by_url(conn, urls).items()):
        linked += conn.execute(
            update(feed_entries)
            .where(
                feed_entries.c.canonical_url == url,
                feed_entries.c.state == EntryState.PENDING.value,
            )
            .values(state=EntryState.KNOWN.value, article_id=article_id)
        ).rowcount
    return linked


__all__ = ["RekeyRules", "rekey"]
