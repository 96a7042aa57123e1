"""The labelled near-duplicate corpus in tools/syndication.py."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import combinations

import pytest
from syndication import (
    FOLLOW_UP,
    HARD_NEGATIVE_KINDS,
    KINDS,
    LIVE_BLOG,
    NEGATIVE_TOPIC,
    ORIGINAL,
    POSITIVE_KINDS,
    PUBLISHERS,
    ROOT_KINDS,
    SHARED_QUOTE,
    SYNDICATED,
    UPDATE,
    Item,
    corpus,
    generate,
    same_story_pairs,
)

WORD = re.compile(r"\w+")
URL = re.compile(
    r"^https://([a-z0-9.-]+\.example)/([a-z-]+)/(\d{4})/(\d{2})/(\d{2})/[a-z0-9-]+(\.html)?$"
)
ENTRY = re.compile(r"^\d\d:\d\d \N{EM DASH} (.+)$")


@pytest.fixture(scope="module")
def built():
    return generate(200)


@pytest.fixture(scope="module")
def index(built):
    return built.by_id()


@pytest.fixture(scope="module")
def roots(built):
    return {item.story: item for item in built.items if item.kind in ROOT_KINDS}


@cache
def words(text):
    return frozenset(WORD.findall(text.lower()))


def jaccard(a, b):
    return len(a & b) / len(a | b)


def paragraphs(item):
    return item.body.split("\n\n")


def vocabulary(item):
    return words(f"{item.title}\n{item.body}")


def match(paragraph, candidates, threshold=0.6):
    """Index of the candidate paragraph this one is a (possibly copy-edited) copy of, or None."""
    mine = words(paragraph)
    score, at = max((jaccard(mine, words(c)), i) for i, c in enumerate(candidates))
    return at if score >= threshold else None


def quote_paragraph(item):
    """The long quoted paragraph of a story: 50-80 words, most of them inside quotation marks."""
    found = [
        p
        for p in paragraphs(item)
        if 50 <= len(p.split()) <= 80 and p.count('"') == 2 and len(p.split('"')[1].split()) >= 35
    ]
    assert len(found) == 1, item.item_id
    return found[0]


def share(flags):
    flags = list(flags)
    return sum(flags) / len(flags)


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_the_same_corpus_and_another_seed_does_not():
    first = corpus(30, seed=5)
    assert first == corpus(30, seed=5)
    other = corpus(30, seed=6)
    assert other != first
    assert {i.body for i in other}.isdisjoint({i.body for i in first})


def test_defaults_are_generate_200(built):
    assert corpus() == list(built.items)


def test_start_moves_the_publication_window():
    start = datetime(2030, 3, 1, 9, tzinfo=UTC)
    items = corpus(20, seed=3, start=start)
    assert min(i.published_at for i in items) >= start
    assert max(i.published_at for i in items) < start + timedelta(days=40)
    assert all(i.published_at.tzinfo is UTC for i in items)


@pytest.mark.parametrize("stories", [0, -3])
def test_rejects_an_empty_corpus(stories):
    with pytest.raises(ValueError, match="stories"):
        generate(stories)


def test_rejects_a_naive_start():
    with pytest.raises(ValueError, match="timezone"):
        generate(5, start=datetime(2026, 11, 1))  # noqa: DTZ001 - the naive datetime under test


# -- counts and identity -------------------------------------------------------------------------


def test_kinds_and_sizes(built):
    kinds = Counter(item.kind for item in built.items)
    assert set(kinds) == set(KINDS)
    assert 800 <= len(built.items) <= 1500
    assert kinds[ORIGINAL] == 200
    for kind in HARD_NEGATIVE_KINDS:
        assert kinds[kind] >= 60, kind
    assert kinds[SYNDICATED] >= 400
    assert kinds[UPDATE] >= 60


def test_ids_and_urls_are_unique_and_well_formed(built):
    items = built.items
    assert len({i.item_id for i in items}) == len(items)
    assert len({i.url for i in items}) == len(items)
    hosts = {p.slug: p.host for p in PUBLISHERS}
    for item in items:
        parsed = URL.match(item.url)
        assert parsed, item.url
        assert parsed.group(1) == hosts[item.publisher]
        assert tuple(map(int, parsed.group(3, 4, 5))) == (
            item.published_at.year,
            item.published_at.month,
            item.published_at.day,
        )
        assert item.published_at.tzinfo is UTC
        assert re.fullmatch(rf"{item.story}-p\d+", item.item_id)
    assert list(items) == sorted(items, key=lambda i: (i.published_at, i.item_id))


def test_publishers(built):
    assert 10 <= len(PUBLISHERS) <= 20
    assert len({p.slug for p in PUBLISHERS}) == len(PUBLISHERS)
    assert {i.publisher for i in built.items} == {p.slug for p in PUBLISHERS}


def test_every_label_has_exactly_one_root(built, roots):
    members = defaultdict(list)
    for item in built.items:
        members[item.story].append(item)
    for label, group in members.items():
        (root,) = [i for i in group if i.kind in ROOT_KINDS]
        assert root.item_id == f"{label}-p0"
        assert all(i.kind in POSITIVE_KINDS for i in group if i is not root)
    positives = [i for i in built.items if i.kind in POSITIVE_KINDS]
    of = Counter(roots[i.story].kind for i in positives)
    assert of[ORIGINAL] >= 0.7 * len(positives)
    assert of[LIVE_BLOG] == 0
    for kind in (NEGATIVE_TOPIC, FOLLOW_UP, SHARED_QUOTE):
        assert of[kind] > 0, f"no republished {kind}"
    republished = {i.story for i in positives if roots[i.story].kind == ORIGINAL}
    assert 0.6 <= len(republished) / 200 <= 0.8
    assert max(Counter(i.story for i in positives).values()) <= 8


def test_hard_negatives_point_at_originals_with_other_labels(built, index):
    assert Counter(index[n].kind for n in built.resembles) == Counter(
        dict.fromkeys(HARD_NEGATIVE_KINDS, 70)
    )
    for negative, original in built.resembles.items():
        assert index[original].kind == ORIGINAL
        assert index[negative].story != index[original].story


# -- text ----------------------------------------------------------------------------------------


def test_text_is_clean(built):
    for item in built.items:
        text = f"{item.title}\n{item.body}"
        assert not re.search(r"[{}]|lorem|ipsum|  |\n\n\n", text, flags=re.IGNORECASE), item.item_id
        assert item.title.strip() == item.title
        assert item.title[0].isupper() or item.title[0].isdigit() or item.title[0] == "£"
        assert all(p.strip() for p in paragraphs(item))


def test_original_shape(built):
    for item in (i for i in built.items if i.kind == ORIGINAL):
        body = paragraphs(item)
        assert 5 <= len(body) <= 12
        for paragraph in body:
            assert 40 <= len(paragraph.split()) <= 90, (item.item_id, paragraph)
            assert paragraph[-1] in '."', paragraph
            assert paragraph.count(". ") + paragraph.count('" ') >= 1  # a few sentences
        assert quote_paragraph(item) in body[2:4]


def test_original_vocabulary_is_varied(built):
    originals = [i for i in built.items if i.kind == ORIGINAL]
    assert len(set().union(*(vocabulary(i) for i in originals))) >= 1500
    assert len({i.title for i in originals}) >= 195


# -- positives -----------------------------------------------------------------------------------


def test_syndicated_copies_are_edited(built, roots):
    syndicated = [i for i in built.items if i.kind == SYNDICATED]
    retitled, trimmed, reordered, boilerplate, copy_edited = [], [], [], [], []
    for item in syndicated:
        root = roots[item.story]
        assert item.publisher != root.publisher
        assert (item.title, item.body) != (root.title, root.body)
        assert not item.title.lower().startswith(("live", "as it happened"))
        assert timedelta(minutes=5) <= item.published_at - root.published_at <= timedelta(days=3)
        source = paragraphs(root)
        matched, extra = [], []
        for paragraph in paragraphs(item):
            at = match(paragraph, source)
            (extra if at is None else matched).append((at, paragraph))
        assert len(matched) >= 3
        assert len(extra) <= 3
        assert all(len(p.split()) <= 25 for _, p in extra), "only boilerplate lines are new"
        order = [at for at, _ in matched]
        assert len(set(order)) == len(order)
        retitled.append(item.title.lower() != root.title.lower())
        trimmed.append(len(matched) < len(source))
        reordered.append(order != sorted(order))
        boilerplate.append(bool(extra))
        copy_edited.append(any(p != source[at] for at, p in matched))
    assert share(retitled) >= 0.4
    assert share(trimmed) >= 0.3
    assert share(reordered) >= 0.2
    assert share(boilerplate) >= 0.5
    assert share(copy_edited) >= 0.3


def test_trimmed_copies_drop_closing_paragraphs_only(built, roots):
    for item in (i for i in built.items if i.kind == SYNDICATED):
        source = paragraphs(roots[item.story])
        kept = {match(p, source) for p in paragraphs(item)} - {None}
        assert kept == set(range(len(kept))), item.item_id
        assert len(source) - len(kept) <= 4


def test_updates_add_paragraphs_later(built, roots):
    updates = [i for i in built.items if i.kind == UPDATE]
    for item in updates:
        root = roots[item.story]
        body, source = paragraphs(item), paragraphs(root)
        assert len(body) > len(source)
        assert timedelta(hours=1) <= item.published_at - root.published_at <= timedelta(hours=30)
        positions = [body.index(p) for p in source]
        assert positions == sorted(positions), "the root's paragraphs stay, in order"
        added = [p for p in body if p not in source and len(p.split()) >= 40]
        assert 1 <= len(added) <= 2
        assert not item.title.lower().startswith(("live", "as it happened"))
    assert share(i.title.lower() != roots[i.story].title.lower() for i in updates) >= 0.2


# -- hard negatives ------------------------------------------------------------------------------


def negatives(built, index, kind):
    return [(index[n], index[o]) for n, o in built.resembles.items() if index[n].kind == kind]


def assert_new_text(body, source):
    """No paragraph is a (copy-edited) copy; one at most is built from the same templates."""
    assert all(match(p, source, threshold=0.8) is None for p in body)
    assert sum(match(p, source) is not None for p in body) <= 1


def lead_sentence(item):
    return paragraphs(item)[0].split(". ")[0]


def test_negative_topic_shares_vocabulary_not_text(built, index):
    pairs = negatives(built, index, NEGATIVE_TOPIC)
    for negative, original in pairs:
        assert words(lead_sentence(negative)) != words(lead_sentence(original))
        assert negative.title.lower() != original.title.lower()
        assert jaccard(vocabulary(negative), vocabulary(original)) >= 0.30, negative.item_id
        assert abs(negative.published_at - original.published_at) <= timedelta(days=3)
        assert not set(paragraphs(negative)) & set(paragraphs(original))
        assert_new_text(paragraphs(negative), paragraphs(original))


def test_follow_up_reuses_one_paragraph_of_its_source(built, index):
    for follow_up, original in negatives(built, index, FOLLOW_UP):
        source = paragraphs(original)
        body = paragraphs(follow_up)
        reused = [p for p in body if match(p, source, threshold=0.8) is not None]
        assert len(reused) >= 1, follow_up.item_id
        assert (len(body) - len(reused)) / len(body) >= 0.7
        assert follow_up.published_at - original.published_at >= timedelta(days=1)
        assert follow_up.title != original.title


def test_live_blog_is_timestamped_entries_reusing_sentences(built, index):
    for blog, original in negatives(built, index, LIVE_BLOG):
        entries = [ENTRY.match(p) for p in paragraphs(blog)[1:]]
        assert all(entries), blog.item_id
        assert len(entries) >= 12
        reused = [e.group(1) for e in entries if e.group(1) in original.body]
        assert len(reused) >= 2
        assert len(reused) < len(entries)
        assert re.match(r"live: |as it happened: |.+ \N{EM DASH} live updates$", blog.title.lower())
        assert abs(blog.published_at - original.published_at) <= timedelta(hours=3)


def test_shared_quote_carries_the_exact_long_quote(built, index):
    for negative, original in negatives(built, index, SHARED_QUOTE):
        quote = quote_paragraph(original)
        assert quote in paragraphs(negative), negative.item_id
        others = [p for p in paragraphs(negative) if p != quote]
        assert len(others) >= 4
        assert_new_text(others, paragraphs(original))


def test_hard_negative_pairs_never_overlap_positive_pairs(built):
    hard = built.hard_negative_pairs()
    assert len(hard) >= 4 * 70
    assert hard.isdisjoint(same_story_pairs(built.items))
    for negative, original in built.resembles.items():
        assert frozenset((negative, original)) in hard


# -- pairs ---------------------------------------------------------------------------------------


def test_same_story_pairs_are_exactly_the_equal_label_pairs(built):
    expected = {
        frozenset((a.item_id, b.item_id))
        for a, b in combinations(built.items, 2)
        if a.story == b.story
    }
    assert same_story_pairs(built.items) == expected
    sizes = Counter(i.story for i in built.items)
    assert len(expected) == sum(n * (n - 1) // 2 for n in sizes.values())


def test_same_story_pairs_small_example():
    when = datetime(2026, 11, 1, tzinfo=UTC)

    def item(item_id, story):
        return Item(item_id, story, ORIGINAL, "p", f"https://x.example/{item_id}", "T", "B", when)

    items = [item("a", "s1"), item("b", "s1"), item("c", "s2"), item("d", "s1"), item("e", "s3")]
    assert same_story_pairs(items) == {
        frozenset(("a", "b")),
        frozenset(("a", "d")),
        frozenset(("b", "d")),
    }
    assert same_story_pairs([]) == set()
