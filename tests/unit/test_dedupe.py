from dataclasses import replace
from datetime import timedelta

from helpers import T0, article
from ingest.dedupe import dedupe_batch
from ingest.models import DuplicateKind
from ingest.textutil import content_hash


def test_distinct_articles_all_kept():
    batch = [article("https://a.example/1", "one"), article("https://a.example/2", "two")]
    result = dedupe_batch(batch)
    assert len(result.unique) == 2
    assert result.duplicates == ()


def test_same_body_on_two_sites_keeps_the_earliest():
    early = article("https://b.example/wire", "wire story", published=T0)
    late = article("https://a.example/wire", "Wire  STORY", published=T0 + timedelta(hours=1))
    result = dedupe_batch([late, early])
    assert result.unique == (early,)
    (dup,) = result.duplicates
    assert dup.article == late
    assert dup.kind is DuplicateKind.CONTENT_HASH
    assert dup.of_article_id == early.article_id


def test_same_url_twice_in_a_batch():
    a = article("https://a.example/1", "one")
    result = dedupe_batch([a, replace(a, feed_key="g", guid="other")])
    assert len(result.unique) == 1
    assert result.duplicates[0].kind is DuplicateKind.CANONICAL_URL


def test_body_already_in_the_warehouse_is_a_duplicate():
    a = article("https://a.example/copy", "stored body")
    result = dedupe_batch([a], known_content={a.content_hash: "f" * 32})
    assert result.unique == ()
    assert result.duplicates[0].of_article_id == "f" * 32


def test_stored_article_with_same_id_is_an_update_not_a_duplicate():
    a = article("https://a.example/1", "new body")
    result = dedupe_batch([a], known_content={a.content_hash: a.article_id})
    assert result.unique == (a,)


def test_order_of_input_does_not_change_the_verdict():
    batch = [
        article(f"https://s{i}.example/w", "same", published=T0 + timedelta(minutes=i))
        for i in range(5)
    ]
    forward = dedupe_batch(batch)
    backward = dedupe_batch(list(reversed(batch)))
    assert forward.unique == backward.unique == (batch[0],)


def test_the_earlier_publication_wins_whichever_article_id_sorts_first():
    ids = sorted([article("https://a.example/x", "x"), article("https://b.example/x", "x")],
                 key=lambda a: a.article_id)  # fmt: skip
    later_but_smaller_id = replace(ids[0], published_at=T0 + timedelta(days=1))
    earlier = replace(ids[1], published_at=T0)
    result = dedupe_batch([later_but_smaller_id, earlier])
    assert result.unique == (earlier,)
    assert result.duplicates[0].article == later_but_smaller_id


def test_a_duplicate_early_in_the_batch_does_not_hide_the_articles_after_it():
    stored = {content_hash("known body"): "stored-id"}
    copy = article("https://a.example/copy", "known body", published=T0)
    fresh = article("https://a.example/new", "new body", published=T0 + timedelta(hours=1))
    result = dedupe_batch([copy, fresh], known_content=stored)
    assert result.unique == (fresh,)
