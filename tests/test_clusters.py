"""Story clusters in the warehouse: near-duplicates found through stored signatures.

Runs on SQLite and PostgreSQL. The labelled corpus comes from tools/syndication.py.
"""

from __future__ import annotations

import itertools
import random
import threading
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, text
from syndication import generate

from helpers import T0, article, load
from ingest import neardup as nd
from ingest import pipeline
from ingest.memindex import MemoryIndex
from ingest.models import Placed, Placement
from ingest.settings import load_settings
from ingest.store import engine as db
from ingest.store import schema as wh
from ingest.store.clusters import StoredSignatures
from ingest.urls import article_id_for

STORY = " ".join(
    f"Paragraph {i}: the harbour council met on Tuesday to agree a plan for the ferry "
    f"terminal, and {i * 3} objections were heard from residents of the east quay."
    for i in range(12)
)


def clusters(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                wh.articles.c.canonical_url,
                wh.articles.c.cluster_id,
                wh.articles.c.is_representative,
            )
        ).all()
    return {r.canonical_url: (r.cluster_id, r.is_representative) for r in rows}


def settings(tmp_path, **kw):
    return load_settings(home=tmp_path, **kw)


def titled(url, body, published, title):
    return replace(article(url, body, published=published), title=title)


def test_the_corpus_clusters_by_story_through_the_warehouse(engine, tmp_path):
    items = generate(60, seed=3).items  # about 400 items
    for n, start in enumerate(range(0, len(items), 80)):  # arrivals in several loads
        batch = [
            titled(it.url, it.body, it.published_at, it.title) for it in items[start : start + 80]
        ]
        load(engine, f"r{n}", batch, now=T0)
        pipeline.cluster_stories(engine, settings(tmp_path))
    stored = clusters(engine)
    story = {it.url: it.story for it in items if it.url in stored}
    assert len(story) > 0.95 * len(items)  # a few exact copies were deduplicated at load
    truth = {frozenset(p) for p in itertools.combinations(story, 2) if story[p[0]] == story[p[1]]}
    found = {
        frozenset(p) for p in itertools.combinations(story, 2)
        if stored[p[0]][0] == stored[p[1]][0]
    }  # fmt: skip
    hits = len(found & truth)
    assert hits / len(found) >= 0.99  # precision
    assert hits / len(truth) >= 0.95  # recall
    by_cluster = {}
    for cluster, representative in stored.values():
        by_cluster.setdefault(cluster, []).append(representative)
    assert all(reps.count(True) == 1 for reps in by_cluster.values())


def test_a_copy_days_later_joins_within_the_window_only(engine, tmp_path):
    s = settings(tmp_path, neardup_window_days=7)
    load(engine, "a", [article("https://a.example/1", STORY, published=T0)], now=T0)
    pipeline.cluster_stories(engine, s)
    trimmed = "Supplied by a wire service.\n" + STORY[: len(STORY) // 2]
    later = article("https://b.example/1", trimmed, published=T0 + timedelta(days=3))
    much_later = article(
        "https://c.example/1", trimmed + " More.", published=T0 + timedelta(days=30)
    )
    load(engine, "b", [later, much_later], now=T0)
    result = pipeline.cluster_stories(engine, s)
    assert (result.signed, result.joined) == (2, 1)
    got = clusters(engine)
    first = got["https://a.example/1"][0]
    assert got["https://b.example/1"] == (first, False)
    assert got["https://c.example/1"][0] != first  # 30 days apart: not compared
    assert pipeline.cluster_stories(engine, s).signed == 0  # idempotent


def test_an_earlier_original_arriving_later_becomes_the_representative(engine, tmp_path):
    s = settings(tmp_path)
    load(
        engine,
        "a",
        [article("https://copy.example/1", STORY + " Extra line.", published=T0)],
        now=T0,
    )
    pipeline.cluster_stories(engine, s)
    original = article("https://wire.example/1", STORY, published=T0 - timedelta(hours=2))
    load(engine, "b", [original], now=T0)
    pipeline.cluster_stories(engine, s)
    got = clusters(engine)
    cluster = got["https://copy.example/1"][0]
    assert got["https://wire.example/1"] == (cluster, True)
    assert got["https://copy.example/1"] == (cluster, False)


def test_different_stories_and_short_items_stay_apart(engine, tmp_path):
    other = STORY.replace("harbour council", "school board").replace(
        "ferry terminal", "new library"
    )
    other = " ".join(f"{w} {i}" for i, w in enumerate(other.split()))
    short_a = titled(
        "https://a.example/s",
        "The road is closed today.",
        T0,
        "Quay Street closed for resurfacing works",
    )
    short_b = titled(
        "https://b.example/s",
        "The road is closed today, police said.",
        T0,
        "Quay Street closed for resurfacing works",
    )
    short_e = titled(
        "https://e.example/s", "Bridge shut.", T0, "Quay Street closed for resurfacing works"
    )
    short_c = titled("https://c.example/s", "Live.", T0, "Live updates")
    short_d = titled("https://d.example/s", "Live now.", T0, "Live updates")
    batch = [article("https://a.example/1", STORY), article("https://b.example/2", other),
             short_a, short_b, short_c, short_d, short_e]  # fmt: skip
    load(engine, "a", batch, now=T0)
    pipeline.cluster_stories(engine, settings(tmp_path))
    got = clusters(engine)
    assert got["https://a.example/1"][0] != got["https://b.example/2"][0]
    assert got["https://a.example/s"][0] == got["https://b.example/s"][0]  # title and words
    assert got["https://e.example/s"][0] != got["https://a.example/s"][0]  # other words
    assert got["https://c.example/s"][0] != got["https://d.example/s"][0]  # too generic


def test_two_workers_clustering_at_once_sign_each_article_once(engine, warehouse_url, tmp_path):
    items = generate(10, seed=5).items
    load(engine, "a", [titled(it.url, it.body, it.published_at, it.title) for it in items], now=T0)
    s = settings(tmp_path, cluster_batch=7)
    results, errors = [], []

    def work():
        other = db.make_engine(warehouse_url)
        try:
            results.append(pipeline.cluster_stories(other, s))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()
        signed = conn.execute(select(func.count()).select_from(wh.article_signatures)).scalar_one()
    assert sum(r.signed for r in results) == stored == signed


def paragraphs(seed, n):
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    return [" ".join(rng.choice(vocabulary) for _ in range(50)) + "." for _ in range(n)]


def copies_then_originals(engine, tmp_path, stories):
    """Per story: a lead copy and a tail copy (overlapping, too little to match), clustered;
    then the originals, loaded."""
    originals = []
    for n in range(stories):
        story = paragraphs(100 + n, 12)
        copies = [
            article(f"https://lead.example/{n}", "\n".join(story[:6]), published=T0 + HOUR),
            article(f"https://tail.example/{n}", "\n".join(story[3:]), published=T0 + 2 * HOUR),
        ]
        load(engine, f"copies-{n}", copies, now=T0)
        originals.append(article(f"https://wire.example/{n}", "\n".join(story), published=T0))
    pipeline.cluster_stories(engine, settings(tmp_path))
    load(engine, "originals", originals, now=T0)


def follow(engine, cluster_id):
    """The docs' query (docs/schema.md): a cluster id followed through its merges."""
    query = SCHEMA_DOC.split("-- follow a cluster id to its current cluster\n")[1]
    query = query.split("```")[0]
    with engine.connect() as conn:
        return conn.execute(text(query), {"cluster_id": cluster_id}).scalar_one()


SCHEMA_DOC = (Path(__file__).parents[1] / "docs" / "schema.md").read_text()
HOUR = timedelta(hours=1)


def test_an_original_arriving_last_merges_its_copies_clusters_and_records_it(engine, tmp_path):
    copies_then_originals(engine, tmp_path, 1)
    before = clusters(engine)
    assert before["https://lead.example/0"][0] != before["https://tail.example/0"][0]
    result = pipeline.cluster_stories(engine, settings(tmp_path))
    assert (result.signed, result.merged) == (1, 1)
    got = clusters(engine)
    cluster = got["https://wire.example/0"][0]
    assert got["https://lead.example/0"] == got["https://tail.example/0"] == (cluster, False)
    assert got["https://wire.example/0"] == (cluster, True)  # the earliest: re-elected
    with engine.connect() as conn:
        merges = conn.execute(select(wh.cluster_merges)).mappings().all()
    assert len(merges) == 1
    (merge,) = merges
    assert merge["new_cluster_id"] == cluster and merge["kind"] == "merge"
    assert merge["article_id"] == got_id("https://wire.example/0")
    old = {before["https://lead.example/0"][0], before["https://tail.example/0"][0]}
    assert merge["old_cluster_id"] in old and cluster in old  # ids move only by merges
    for cluster_id in old:
        assert follow(engine, cluster_id) == cluster
    assert pipeline.cluster_stories(engine, settings(tmp_path)).signed == 0


def got_id(url):
    return article_id_for(url)


def test_two_workers_merging_at_once_end_in_one_consistent_state(engine, warehouse_url, tmp_path):
    copies_then_originals(engine, tmp_path, 8)
    s = settings(tmp_path, cluster_batch=2)
    results, errors = [], []

    def work():
        other = db.make_engine(warehouse_url)
        try:
            results.append(pipeline.cluster_stories(other, s))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            other.dispose()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sum(r.signed for r in results) == 8 and sum(r.merged for r in results) == 8
    got = clusters(engine)
    for n in range(8):
        trio = {got[f"https://{h}.example/{n}"][0] for h in ("lead", "tail", "wire")}
        assert len(trio) == 1
        assert got[f"https://wire.example/{n}"][1] is True
    assert len({c for c, _ in got.values()}) == 8
    assert sum(r for _, r in got.values()) == 8  # one representative each
    with engine.connect() as conn:
        merges = conn.execute(select(wh.cluster_merges)).mappings().all()
    live = {c for c, _ in got.values()}
    assert len(merges) == 8
    assert all(m["old_cluster_id"] not in live and follow(engine, m["old_cluster_id"]) in live
               for m in merges)  # fmt: skip


def queued(engine):
    with engine.connect() as conn:
        return set(conn.execute(select(wh.cluster_queue.c.article_id)).scalars())


def test_the_cluster_step_takes_its_work_from_the_queue_a_load_fills(engine, tmp_path):
    s = settings(tmp_path)
    first = article("https://a.example/1", STORY, published=T0)
    copy = article("https://b.example/1", STORY + " Extra line.", published=T0 + timedelta(hours=1))
    load(engine, "a", [first, copy], now=T0)
    assert queued(engine) == {first.article_id, copy.article_id}
    assert pipeline.cluster_stories(engine, s).signed == 2
    assert queued(engine) == set()  # signed in the same transaction that dequeued them
    with engine.begin() as conn:  # the copy left unsigned and not queued (a lost queue row)
        for table in (wh.signature_bands, wh.article_signatures):
            conn.execute(table.delete().where(table.c.article_id == copy.article_id))
    assert pipeline.cluster_stories(engine, s).signed == 0  # the step only reads the queue
    result = pipeline.recluster_stories(engine, s, dry_run=False)
    assert result.signed == 1  # a re-cluster queues and signs what was left unsigned
    assert queued(engine) == set()
    got = clusters(engine)
    assert got["https://b.example/1"] == (got["https://a.example/1"][0], False)


def test_the_cluster_step_re_signs_older_versions_and_leaves_newer_ones(engine, tmp_path, caplog):
    from ingest.neardup import SIGNATURE_VERSION as V

    batch = [article(f"https://a.example/{n}", f"Story {n}. " + STORY) for n in range(3)]
    load(engine, "a", batch, now=T0)
    pipeline.cluster_stories(engine, settings(tmp_path))
    old, new = batch[0].article_id, batch[1].article_id
    with engine.begin() as conn:
        for aid, version in ((old, V - 1), (new, V + 1)):
            conn.execute(
                wh.article_signatures.update()
                .where(wh.article_signatures.c.article_id == aid)
                .values(signature_version=version)
            )
    with caplog.at_level("WARNING"):
        assert pipeline.cluster_stories(engine, settings(tmp_path)).signed == 1  # the old one
    with engine.connect() as conn:
        versions = dict(
            conn.execute(
                select(
                    wh.article_signatures.c.article_id, wh.article_signatures.c.signature_version
                )
            ).all()
        )
    assert versions == {old: V, new: V + 1, batch[2].article_id: V}  # fmt: skip
    assert f"signatures of version {V + 1} are stored" in caplog.text


def test_a_queued_article_waits_by_its_current_time(engine, tmp_path):
    late = article("https://a.example/late", STORY, published=None)
    load(engine, "a", [late], now=T0)
    with engine.connect() as conn:
        assert conn.execute(select(wh.cluster_queue.c.at)).scalar_one() == T0  # first seen
    dated = replace(late, published_at=T0 - timedelta(days=2), body=STORY + " Updated.")
    load(engine, "b", [dated], now=T0 + timedelta(hours=1))  # a changed row
    with engine.connect() as conn:
        at = conn.execute(select(wh.cluster_queue.c.at)).scalar_one()
    assert at == T0 - timedelta(days=2)


def _signatures(engine, table):
    with engine.connect() as conn:
        return {r.article_id: r.signature for r in conn.execute(select(table))}


def _stored_signatures(engine):
    sig = wh.article_signatures.c
    with engine.connect() as conn:
        return {
            r.article_id: (r.signature, r.shingle_count, r.title_key)
            for r in conn.execute(select(sig.article_id, sig.signature, sig.shingle_count,
                                         sig.title_key))
        }  # fmt: skip


def test_a_fetch_signs_each_article_ahead_and_the_cluster_step_only_places_it(
    engine, demo_site, tmp_path, monkeypatch
):
    from ingest import neardup

    s = settings(tmp_path, allow_loopback=True, politeness_delay_s=0.0, page_deadline_s=2.0)
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    now = pipeline._now()
    pipeline.prepare(engine, feeds, now)
    for shard in pipeline.plan_feed_shards(engine, s, now):
        pipeline.poll_shard(engine, s, shard["items"], "r1")
    for shard in pipeline.plan_page_shards(engine, s):
        pipeline.fetch_shard(engine, s, shard["items"], "r1")
    staged = _signatures(engine, wh.article_staging)
    assert staged and all(v is not None for v in staged.values())  # made by the workers
    loaded = pipeline.load_run(engine, "r1")
    assert loaded.inserted > 5
    queued_signatures = _signatures(engine, wh.cluster_queue)
    assert len(queued_signatures) == loaded.inserted
    with engine.connect() as conn:
        stored = {
            r.article_id: (r.title, r.body)
            for r in conn.execute(select(wh.articles.c.article_id, wh.articles.c.title,
                                         wh.articles.c.body))
        }  # fmt: skip
    for article_id, made in queued_signatures.items():  # made of what the row holds
        assert neardup.from_json(made) == neardup.sign(*stored[article_id])

    signed_here = []
    real = neardup.signature
    monkeypatch.setattr(neardup, "signature", lambda *a: signed_here.append(a) or real(*a))
    assert pipeline.cluster_stories(engine, s).signed == loaded.inserted
    assert signed_here == []  # nothing signed again: the step placed what the fetch signed
    for article_id, (data, shingles, title_key) in _stored_signatures(engine).items():
        fresh = neardup.sign(*stored[article_id])
        assert (data, shingles, title_key) == (fresh.data, fresh.shingle_count, fresh.title_key)


def test_a_signature_made_ahead_is_used_only_for_the_content_it_was_made_of(engine, tmp_path):
    from ingest import neardup
    from ingest.store.staging import signature_key

    s = settings(tmp_path)
    first = article("https://a.example/1", STORY, published=T0)
    other = article("https://a.example/2", "Story two. " + STORY, published=T0)
    made = {
        signature_key(first.title, first.body): neardup.to_json(
            neardup.sign(first.title, first.body)
        )
    }
    stale = neardup.to_json(neardup.sign(other.title, "Another story altogether. " * 40))
    stale["version"] = neardup.SIGNATURE_VERSION - 1  # of other text too: used, it would show
    made[signature_key(other.title, other.body)] = stale  # made by another version: not used
    load(engine, "a", [first, other], now=T0, signatures=made)
    assert _signatures(engine, wh.cluster_queue) == {
        first.article_id: made[signature_key(first.title, first.body)], other.article_id: stale,
    }  # fmt: skip
    changed = replace(first, body=STORY + " A correction was appended.")
    load(engine, "b", [changed], now=T0 + timedelta(hours=1))  # rewritten while queued
    assert _signatures(engine, wh.cluster_queue)[first.article_id] is None  # signed then
    assert pipeline.cluster_stories(engine, s).signed == 2
    stored = _stored_signatures(engine)
    for a in (changed, other):
        fresh = neardup.sign(a.title, a.body)
        assert stored[a.article_id] == (fresh.data, fresh.shingle_count, fresh.title_key)


def test_copies_differing_only_in_line_breaks_keep_each_its_own_signature(engine, tmp_path):
    """Their content hashes match (words alike), their signatures differ (paragraph anchors):
    the one queued is the one made of the body stored."""
    from ingest import neardup
    from ingest.store.staging import signature_key

    lines = STORY.replace(". ", ".\n").split("\n")
    joined = article("https://a.example/1", " ".join(lines), published=T0)
    broken = article("https://b.example/1", "\n".join(lines), published=T0 + timedelta(hours=1))
    assert joined.content_hash == broken.content_hash  # one is a duplicate of the other
    made = {signature_key(a.title, a.body): neardup.sign(a.title, a.body) for a in (joined, broken)}
    assert (
        made[signature_key(joined.title, joined.body)]
        != made[signature_key(broken.title, broken.body)]
    )
    loaded = load(engine, "a", [broken, joined], now=T0,
                  signatures={k: neardup.to_json(v) for k, v in made.items()})  # fmt: skip
    assert (loaded.inserted, loaded.duplicates) == (1, 1)
    with engine.connect() as conn:
        title, body = conn.execute(select(wh.articles.c.title, wh.articles.c.body)).one()
    (queued_signature,) = _signatures(engine, wh.cluster_queue).values()
    assert neardup.from_json(queued_signature) == neardup.sign(title, body)
    unsigned = article("https://c.example/1", "A story nobody signed ahead. " * 10)
    load(engine, "b", [unsigned], now=T0)  # queued without a signature: SQL NULL, not 'null'
    with engine.connect() as conn:
        nulls = (
            conn.execute(
                select(wh.cluster_queue.c.article_id).where(wh.cluster_queue.c.signature.is_(None))
            )
            .scalars()
            .all()
        )
    assert nulls == [unsigned.article_id]


def test_a_wire_story_on_many_sites_is_one_cluster_and_a_band_gives_only_its_latest(
    engine, tmp_path
):
    # 80 sites run one wire story, each with its own dateline: more copies than a band
    # row gives (neardup.MAX_PER_ROW), in the pass and in the store, in two loads
    copies = [
        article(f"https://site{i}.example/wire", f"SITE {i} (Wire) - {STORY}",
                published=T0 + timedelta(minutes=i))
        for i in range(80)
    ]  # fmt: skip
    assert len(copies) // 2 > nd.MAX_PER_ROW
    for n, part in enumerate((copies[:40], copies[40:])):
        load(engine, f"w{n}", part, now=T0)
        pipeline.cluster_stories(engine, settings(tmp_path))
    assert len({cluster for cluster, _ in clusters(engine).values()}) == 1
    # Each band gives only its latest articles in the window, so a lookup costs the same
    # with a thousand copies (any one of them names the cluster). Each copy in a cluster
    # of its own here, so that the answer names the copies it found.
    with engine.begin() as conn:
        conn.execute(wh.articles.update().values(cluster_id=wh.articles.c.article_id))
        sig = wh.article_signatures.c
        at = {r.article_id: r.at for r in conn.execute(select(sig.article_id, sig.at))}
    assert len(at) == 80
    memory = MemoryIndex()  # what the benchmarks measure: the same answers
    memory.save(Placement(
        [Placed(a.article_id, nd.sign(a.title, a.body), a.article_id, at[a.article_id])
         for a in copies], (),
    ))  # fmt: skip
    order = sorted(at, key=lambda a: (at[a], a))  # oldest first
    record = nd.sign("t", f"SITE 99 (Wire) - {STORY}")
    since, until = at[order[0]] - timedelta(days=1), at[order[-1]] + timedelta(days=1)
    cut = at[order[-9]]  # the 8 latest copies are after it
    with engine.begin() as conn:
        stored = StoredSignatures(conn)
        for per_row, end in itertools.product((1, 3, 8, 80), (until, cut)):
            assert stored.candidate_clusters(record, "new", since, end, per_row) == (
                memory.candidate_clusters(record, "new", since, end, per_row)
            ), (per_row, end)
        assert stored.candidate_clusters(record, "new", since, until, 80) == set(order)
        few = stored.candidate_clusters(record, "new", since, until, 3)
        assert few and few <= set(order[-8:])  # only the latest
        early = stored.candidate_clusters(record, "new", since, cut, 3)
        assert early and early <= set(order[-16:-8])  # the latest within the window
        assert order[-1] not in stored.candidate_clusters(record, order[-1], since, until, 3)
