"""`ingest recluster`: stored articles' clusters decided again by the current rules.

Runs on SQLite and PostgreSQL. The warehouse is first clustered as it is, then its
clusters are made to look like an older version's decisions (a story split in two, an
unrelated article in a story's cluster), and the re-cluster must put them right, moving
cluster ids only through recorded merges and splits.
"""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from helpers import T0, article, load
from ingest import pipeline
from ingest.cli import main
from ingest.neardup import SIGNATURE_VERSION
from ingest.settings import load_settings
from ingest.store import recluster as rc
from ingest.store import schema as wh
from ingest.store.clusters import elect_representatives
from ingest.urls import article_id_for

HOUR = timedelta(hours=1)
URLS = {
    "original": "https://wire.example/s", "lead": "https://lead.example/s",
    "tail": "https://tail.example/s", "other": "https://other.example/u",
}  # fmt: skip
ID = {name: article_id_for(url) for name, url in URLS.items()}


def paragraphs(seed, n):
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    return [" ".join(rng.choice(vocabulary) for _ in range(50)) + "." for _ in range(n)]


def settings(tmp_path, **kw):
    return load_settings(home=tmp_path, **kw)


def state(engine):
    with engine.connect() as conn:
        rows = conn.execute(
            select(wh.articles.c.article_id, wh.articles.c.cluster_id,
                   wh.articles.c.is_representative)
        ).all()  # fmt: skip
        merges = conn.execute(
            select(wh.cluster_merges.c.old_cluster_id, wh.cluster_merges.c.new_cluster_id,
                   wh.cluster_merges.c.kind, wh.cluster_merges.c.article_id)
            .order_by(wh.cluster_merges.c.merge_id)
        ).all()  # fmt: skip
    return {r.article_id: (r.cluster_id, r.is_representative) for r in rows}, merges


@pytest.fixture
def decided_by_an_older_version(engine, tmp_path):
    """A story (original, lead copy, tail copy) and an unrelated article, as v-1 left them.

    v-1 put the unrelated article in the story's cluster, and the two copies in a cluster
    of their own.
    """
    story, other = paragraphs(1, 12), paragraphs(2, 12)
    load(engine, "r", [
        article(URLS["original"], "\n".join(story), published=T0),
        article(URLS["other"], "\n".join(other), published=T0 + HOUR / 2),
        article(URLS["lead"], "\n".join(story[:5]), published=T0 + HOUR),
        article(URLS["tail"], "\n".join(story[6:]), published=T0 + 2 * HOUR),
    ], now=T0)  # fmt: skip
    pipeline.cluster_stories(engine, settings(tmp_path))
    story_cluster = ID["original"]
    with engine.begin() as conn:
        assert {
            r.cluster_id for r in conn.execute(select(wh.articles.c.cluster_id).where(
                wh.articles.c.article_id.in_([ID["original"], ID["lead"], ID["tail"]])))
        } == {story_cluster}  # fmt: skip
        conn.execute(update(wh.articles).where(wh.articles.c.article_id == ID["other"])
                     .values(cluster_id=story_cluster))  # fmt: skip
        conn.execute(update(wh.articles)
                     .where(wh.articles.c.article_id.in_([ID["lead"], ID["tail"]]))
                     .values(cluster_id=ID["lead"]))  # fmt: skip
        elect_representatives(conn, [story_cluster, ID["lead"], ID["other"]])
        conn.execute(
            update(wh.article_signatures).values(
                signature_version=SIGNATURE_VERSION - 1, decided_version=SIGNATURE_VERSION - 1
            )
        )
    return story_cluster


def expected(story_cluster, *, one_by_one=False):
    split_id = rc.fresh_cluster_id(ID["other"], SIGNATURE_VERSION)
    clusters = {
        ID["original"]: (story_cluster, True), ID["lead"]: (story_cluster, False),
        ID["tail"]: (story_cluster, False), ID["other"]: (split_id, True),
    }  # fmt: skip
    merges = [(story_cluster, split_id, "split", ID["other"])]  # it left; the story stays
    if one_by_one:  # batches of one: the lead leaves first, then the rest of its cluster
        merges += [(ID["lead"], story_cluster, "split", ID["lead"]),
                   (ID["lead"], story_cluster, "merge", ID["tail"])]  # fmt: skip
    else:  # the whole cluster moved at once: one row
        merges += [(ID["lead"], story_cluster, "merge", ID["lead"])]
    return clusters, merges


def test_a_recluster_puts_older_decisions_right_through_recorded_merges_and_splits(
    engine, tmp_path, decided_by_an_older_version
):
    result = pipeline.recluster_stories(engine, settings(tmp_path), dry_run=False)
    assert result.signed == 4  # re-signed with the current version first
    assert (result.decided, result.moved, result.merges, result.splits) == (4, 3, 1, 1)
    assert (result.clusters_before, result.clusters_after) == (2, 2)
    clusters, merges = state(engine)
    assert (clusters, merges) == expected(decided_by_an_older_version)
    again = pipeline.recluster_stories(engine, settings(tmp_path), dry_run=False)
    assert (again.signed, again.decided, again.moved) == (0, 0, 0)
    assert state(engine) == (clusters, merges)


def test_a_dry_run_counts_the_same_and_writes_nothing(
    engine, tmp_path, decided_by_an_older_version
):
    before = state(engine)
    with engine.connect() as conn:
        versions = conn.execute(select(wh.article_signatures.c.decided_version)).scalars().all()
    dry = pipeline.recluster_stories(engine, settings(tmp_path), dry_run=True)
    assert state(engine) == before
    with engine.connect() as conn:
        assert conn.execute(select(wh.article_signatures.c.decided_version)).scalars().all() == (
            versions
        )
    real = pipeline.recluster_stories(engine, settings(tmp_path), dry_run=False)
    assert dry == real


def test_a_stopped_recluster_goes_on_where_it_stopped(
    engine, tmp_path, decided_by_an_older_version, monkeypatch
):
    decide, calls = rc._decide_batch, []

    def stops_on_the_third_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return decide(*args, **kwargs)

    monkeypatch.setattr(rc, "_decide_batch", stops_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        pipeline.recluster_stories(engine, settings(tmp_path, cluster_batch=1), dry_run=False)
    with engine.connect() as conn:
        decided = conn.execute(
            select(func.count()).where(wh.article_signatures.c.decided_version == SIGNATURE_VERSION)
        ).scalar_one()
    assert decided == 2  # two batches of one committed
    monkeypatch.setattr(rc, "_decide_batch", decide)
    rest = pipeline.recluster_stories(engine, settings(tmp_path, cluster_batch=1), dry_run=False)
    assert rest.decided == 2
    assert state(engine) == expected(decided_by_an_older_version, one_by_one=True)


def test_the_cli_prints_what_a_recluster_would_do(
    engine, warehouse_url, tmp_path, decided_by_an_older_version, capsys, monkeypatch
):
    monkeypatch.setenv("INGEST_HOME", str(tmp_path))
    before = state(engine)
    assert main(["recluster", "--dry-run", "--warehouse", warehouse_url]) == 0
    out = capsys.readouterr().out
    assert f"re-cluster by signature v{SIGNATURE_VERSION} (dry run: nothing written)" in out
    cells = [[c.strip() for c in line.split("│")[1:-1]] for line in out.splitlines()]
    counts = {c[0]: c[1] for c in cells if len(c) == 2}
    assert counts == {
        "signed": "4", "decided": "4", "moved": "3", "merges": "1", "splits": "1",
        "clusters before": "2", "clusters after": "2",
    }  # fmt: skip
    assert state(engine) == before
    assert main(["recluster", "--warehouse", warehouse_url]) == 0
    assert state(engine) == expected(decided_by_an_older_version)


def test_a_cluster_scattered_at_once_is_followed_to_where_its_earliest_went(engine, tmp_path):
    """v-1 put two stories' copies in one cluster; each copy goes back to its own story.

    The emptied id gets one ``merge`` row (to where its earliest article went), so the
    docs' follow query never ends at an empty cluster.
    """
    from test_clusters import follow

    a, b = paragraphs(3, 12), paragraphs(4, 12)
    urls = {"a": "https://a.example/1", "b": "https://b.example/1",
            "copy_a": "https://c.example/a", "copy_b": "https://c.example/b"}  # fmt: skip
    ids = {name: article_id_for(url) for name, url in urls.items()}
    load(engine, "r", [
        article(urls["a"], "\n".join(a), published=T0),
        article(urls["b"], "\n".join(b), published=T0 + HOUR / 2),
        article(urls["copy_a"], "\n".join(a[:6]), published=T0 + HOUR),
        article(urls["copy_b"], "\n".join(b[:6]), published=T0 + 2 * HOUR),
    ], now=T0)  # fmt: skip
    pipeline.cluster_stories(engine, settings(tmp_path))
    with engine.begin() as conn:  # as v-1 left them: the copies together, apart from both
        conn.execute(update(wh.articles)
                     .where(wh.articles.c.article_id.in_([ids["copy_a"], ids["copy_b"]]))
                     .values(cluster_id=ids["copy_a"]))  # fmt: skip
        elect_representatives(conn, [ids["a"], ids["b"], ids["copy_a"]])
        conn.execute(
            update(wh.article_signatures).values(
                signature_version=SIGNATURE_VERSION - 1, decided_version=SIGNATURE_VERSION - 1
            )
        )
    result = pipeline.recluster_stories(engine, settings(tmp_path), dry_run=False)
    clusters, merges = state(engine)
    assert clusters[ids["copy_a"]] == (ids["a"], False)
    assert clusters[ids["copy_b"]] == (ids["b"], False)
    assert merges == [
        (ids["copy_a"], ids["a"], "merge", ids["copy_a"]),  # the earliest's way
        (ids["copy_a"], ids["b"], "split", ids["copy_b"]),
    ]
    assert (result.merges, result.splits) == (1, 1)
    assert follow(engine, ids["copy_a"]) == ids["a"]
