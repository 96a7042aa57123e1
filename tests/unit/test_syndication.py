"""The labelled near-duplicate corpus in tools/syndication.py."""

from __future__ import annotations

import hashlib
import re
import statistics
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import combinations

import pytest
from syndication import (
    DIGEST,
    FOLLOW_UP,
    GENERIC_SHORT,
    HARD_NEGATIVE_KINDS,
    HARD_PROFILE_KINDS,
    HARD_PROFILE_NEGATIVE_KINDS,
    KINDS,
    LEAD_ONLY,
    LIVE_BLOG,
    NEGATIVE_TOPIC,
    ORIGINAL,
    POSITIVE_KINDS,
    PUBLISHERS,
    RECAP,
    REWRITE,
    ROOT_KINDS,
    SHARED_QUOTE,
    SHORT_BRIEF,
    SHORT_COPY,
    SYNDICATED,
    UPDATE,
    Item,
    arrival_order,
    copies_arriving_first,
    corpus,
    generate,
    same_story_pairs,
    summary,
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


# -- the default profile stays as it was ---------------------------------------------------------


def digest(items, fields):
    h = hashlib.sha256()
    for item in items:
        h.update("\x1f".join(str(getattr(item, f)) for f in fields).encode() + b"\x1e")
    return h.hexdigest()


def test_default_profile_is_what_it_was_before_the_hard_profile():
    # Digests computed from the generator before the hard profile was added.
    fields = ("item_id", "story", "kind", "publisher", "url", "title", "body", "published_at")
    assert digest(corpus(30, seed=5), fields) == (
        "b76953def8e18b1088b9f4abd04409fb5641ec89886dd83a8693ab1dee4c5445"
    )


def test_default_profile_200_titles_and_bodies_are_what_they_were(built):
    assert digest(built.items, ("title", "body")) == (
        "e66c5ac1d90de911a55b2cd53636285e9da1699b31ae97d5ab5aef0c82dfd95c"
    )


def test_default_profile_arrives_in_publication_order(built):
    assert [i.arrival for i in built.items] == list(range(len(built.items)))
    assert arrival_order(built.items) == list(built.items)
    assert copies_arriving_first(built.items) == []


# -- the hard profile ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hard():
    return generate(200, hard=True)


@pytest.fixture(scope="module")
def hard_index(hard):
    return hard.by_id()


@pytest.fixture(scope="module")
def hard_roots(hard):
    return {item.story: item for item in hard.items if item.kind in ROOT_KINDS}


def of_kind(corpus_, kind):
    return [i for i in corpus_.items if i.kind == kind]


def sentences(paragraph):
    """Sentences of a paragraph, a quotation kept whole (as the generator splits them)."""
    out, start, quoted = [], 0, False
    for at, char in enumerate(paragraph):
        if char == '"':
            quoted = not quoted
        if char != " " or quoted or at + 1 >= len(paragraph):
            continue
        ends = paragraph[at - 1] in ".?!" or paragraph[at - 2 : at] in ('."', '?"', '!"')
        if ends and (paragraph[at + 1].isupper() or paragraph[at + 1] in '"£0123456789'):
            out.append(paragraph[start:at])
            start = at + 1
    out.append(paragraph[start:])
    return out


def test_hard_profile_is_deterministic():
    first = generate(30, seed=5, hard=True)
    assert first == generate(30, seed=5, hard=True)
    other = generate(30, seed=6, hard=True)
    assert {i.body for i in other.items}.isdisjoint({i.body for i in first.items})


def test_hard_profile_adds_to_the_default_corpus(built, hard):
    default_kinds = [i for i in hard.items if i.kind in KINDS]
    assert [(i.item_id, i.title, i.body, i.published_at) for i in default_kinds] == [
        (i.item_id, i.title, i.body, i.published_at) for i in built.items
    ]
    assert built.resembles.items() <= hard.resembles.items()


def test_hard_profile_kinds_and_sizes(hard):
    kinds = Counter(item.kind for item in hard.items)
    assert set(kinds) == set(HARD_PROFILE_KINDS)
    assert kinds[LEAD_ONLY] >= 60
    assert kinds[REWRITE] >= 60
    assert kinds[GENERIC_SHORT] == 40
    assert kinds[RECAP] == 34
    assert kinds[SHORT_BRIEF] == 14
    assert kinds[SHORT_BRIEF] <= kinds[SHORT_COPY] <= 3 * kinds[SHORT_BRIEF]
    assert len({i.item_id for i in hard.items}) == len(hard.items)
    assert len({i.url for i in hard.items}) == len(hard.items)


def test_hard_profile_labels_have_one_root_and_copies_of_the_right_kind(hard, hard_roots):
    members = defaultdict(list)
    for item in hard.items:
        members[item.story].append(item)
    copy_of = {LEAD_ONLY: ORIGINAL, REWRITE: ORIGINAL, SHORT_COPY: SHORT_BRIEF}
    for label, group in members.items():
        (root,) = [i for i in group if i.kind in ROOT_KINDS]
        assert root.item_id == f"{label}-p0"
        for item in group:
            if item.kind in copy_of:
                assert root.kind == copy_of[item.kind], item.item_id
        if root.kind in (GENERIC_SHORT, RECAP, DIGEST):
            assert group == [root], "hard negatives of the hard profile are single items"


def test_about_half_of_the_copies_arrive_before_their_original(hard, hard_roots):
    items = hard.items
    assert sorted(i.arrival for i in items) == list(range(len(items)))
    assert [i.arrival for i in arrival_order(items)] == list(range(len(items)))
    copies = [i for i in items if i.kind in POSITIVE_KINDS]
    for item in copies:
        assert item.published_at > hard_roots[item.story].published_at, item.item_id
    early = copies_arriving_first(items)
    assert early == [i for i in copies if i.arrival < hard_roots[i.story].arrival]
    assert 0.4 <= len(early) / len(copies) <= 0.6
    early_kinds = {i.kind for i in early}
    assert {LEAD_ONLY, REWRITE, SYNDICATED} <= early_kinds


def test_lead_only_copies_keep_the_first_30_to_60_percent_of_paragraphs(hard, hard_roots):
    copies = of_kind(hard, LEAD_ONLY)
    retitled, boilerplate = [], []
    for item in copies:
        root = hard_roots[item.story]
        source = paragraphs(root)
        matched, extra = [], []
        for paragraph in paragraphs(item):
            at = match(paragraph, source)
            (extra if at is None else matched).append(at)
        assert matched == list(range(len(matched))), item.item_id  # the lead, in order
        assert 0.3 <= len(matched) / len(source) <= 0.6, item.item_id
        assert len(matched) >= 1
        assert all(len(p.split()) <= 25 for p in paragraphs(item) if match(p, source) is None)
        assert item.publisher != root.publisher
        retitled.append(item.title.lower() != root.title.lower())
        boilerplate.append(bool(extra))
    assert 0.3 <= share(retitled) <= 0.8
    assert 0.4 <= share(boilerplate) <= 0.8
    kept = [len(paragraphs(i)) / len(paragraphs(hard_roots[i.story])) for i in copies]
    assert min(kept) < 0.45


def test_rewrites_drop_about_30_percent_of_sentences_and_reword_some(hard, hard_roots):
    dropped, reworded = [], []
    for item in of_kind(hard, REWRITE):
        root = hard_roots[item.story]
        source = [s for p in paragraphs(root) for s in sentences(p)]
        mine = [words(s) for p in paragraphs(item) for s in sentences(p)]
        verbatim = [s for s in source if s in item.body]
        close = [
            s
            for s in source
            if s not in item.body and max(jaccard(words(s), m) for m in mine) >= 0.5
        ]
        gone = 1 - (len(verbatim) + len(close)) / len(source)
        assert 0.2 <= gone <= 0.4, item.item_id
        assert source[0] in item.body or (close and close[0] == source[0]), (
            "the lead sentence stays"
        )
        assert item.title.lower() != root.title.lower()
        dropped.append(gone)
        reworded.append(len(close) / len(source))
    assert 0.27 <= statistics.mean(dropped) <= 0.33
    assert 0.05 <= statistics.mean(reworded) <= 0.15


def test_generic_short_items_share_titles_not_words(hard):
    items = of_kind(hard, GENERIC_SHORT)
    by_title = defaultdict(list)
    for item in items:
        by_title[item.title.lower()].append(item)
        assert 10 <= len(item.body.split()) <= 40, item.item_id
    assert sum(len(group) >= 3 for group in by_title.values()) >= 5
    assert {"en direct", "liveticker"} & set(by_title), "some titles are not English"
    for title, group in by_title.items():
        for a, b in combinations(group, 2):
            assert jaccard(words(a.body), words(b.body)) < 0.3, (title, a.item_id, b.item_id)
    for negative in (i.item_id for i in items):
        if negative in hard.resembles:
            first = hard.resembles[negative]
            assert first < negative
            assert hard.by_id()[first].title.lower() == hard.by_id()[negative].title.lower()


def test_short_briefs_are_republished_with_light_edits(hard, hard_roots):
    briefs = of_kind(hard, SHORT_BRIEF)
    for brief in briefs:
        assert 20 <= len(brief.body.split()) <= 40, brief.item_id
    copies = of_kind(hard, SHORT_COPY)
    assert Counter(i.story for i in copies).keys() == {b.story for b in briefs}
    assert max(Counter(i.story for i in copies).values()) <= 3
    for item in copies:
        root = hard_roots[item.story]
        assert (item.title, item.body) != (root.title, root.body)
        assert len(item.body.split()) <= 55, item.item_id
        assert jaccard(words(item.body), words(root.body)) >= 0.5, item.item_id
    generic = {b.title.lower() for b in briefs} & {
        g.title.lower() for g in of_kind(hard, GENERIC_SHORT)
    }
    assert generic, "some briefs share a generic title with generic-short items"


def test_recaps_copy_one_paragraph_of_an_earlier_story_and_are_mostly_new(hard, hard_index):
    recaps = [
        (hard_index[n], hard_index[o])
        for n, o in hard.resembles.items()
        if hard_index[n].kind == RECAP
    ]
    assert len(recaps) == 34
    for recap, original in recaps:
        assert original.kind == ORIGINAL
        source = paragraphs(original)
        body = paragraphs(recap)
        close = [p for p in body if match(p, source, threshold=0.55) is not None]
        assert len(close) == 1, recap.item_id
        assert all(match(p, source, threshold=0.5) is None for p in body if p not in close)
        assert (len(body) - 1) / len(body) >= 2 / 3
        assert timedelta(days=1) <= recap.published_at - original.published_at <= timedelta(days=6)
        assert recap.title.lower() != original.title.lower()


def test_hard_profile_negative_pairs_never_overlap_positive_pairs(hard, hard_index):
    hard_pairs = hard.hard_negative_pairs()
    assert hard_pairs.isdisjoint(same_story_pairs(hard.items))
    kinds = Counter(hard_index[n].kind for n in hard.resembles)
    assert set(kinds) == set(HARD_PROFILE_NEGATIVE_KINDS)


def test_summary_reports_the_hard_kinds_and_early_copies(hard):
    report = summary(hard.items)
    assert report["per_kind"][LEAD_ONLY] == len(of_kind(hard, LEAD_ONLY))
    assert 0.4 <= report["copies_arriving_first"] <= 0.6


# -- digests (hard profile) ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def digests(hard):
    """Each digest with the root (short brief or original) each of its paragraphs reprints.

    Sources are found by text alone: a paragraph reprints a short brief's whole body or an
    original's lead when their word sets are close (``None`` when no candidate is).
    """
    candidates = [(b, b.body) for b in of_kind(hard, SHORT_BRIEF)]
    candidates += [(o, paragraphs(o)[0]) for o in of_kind(hard, ORIGINAL)]
    texts = [text for _, text in candidates]
    out = []
    for digest_ in of_kind(hard, DIGEST):
        found = []
        for paragraph in paragraphs(digest_)[1:]:
            at = match(paragraph, texts, threshold=0.7)
            found.append(None if at is None else candidates[at][0])
        out.append((digest_, found))
    return out


def test_digests_are_in_the_hard_profile_only(built, hard):
    assert DIGEST in HARD_PROFILE_KINDS
    assert DIGEST in HARD_PROFILE_NEGATIVE_KINDS
    assert DIGEST in ROOT_KINDS
    assert DIGEST not in KINDS
    assert not [i for i in built.items if i.kind == DIGEST]
    assert not built.reprints
    assert len(of_kind(hard, DIGEST)) == 20  # round(0.1 * 200)


def test_digests_reprint_2_to_4_paragraphs_of_distinct_other_stories(hard, digests):
    for digest_, found in digests:
        intro, *_ = paragraphs(digest_)
        assert len(intro.split()) <= 12, digest_.item_id
        assert 2 <= len(found) <= 4, digest_.item_id
        assert None not in found, digest_.item_id
        stories = [source.story for source in found]
        assert len(set(stories)) == len(stories), digest_.item_id
        assert digest_.story not in stories
        for source in found:
            assert source.published_at < digest_.published_at
            assert digest_.published_at - source.published_at <= timedelta(days=3)
        assert hard.reprints[digest_.item_id] == tuple(s.item_id for s in found)
        assert hard.resembles[digest_.item_id] == found[0].item_id
    sets = [{s.story for s in found} for _, found in digests]
    for a, b in combinations(sets, 2):
        assert len(a & b) <= 1, "no two digests reprint two of the same stories"


def test_at_least_half_of_the_digests_reprint_whole_short_briefs(digests):
    whole_briefs, leads, verbatim = [], [], []
    for digest_, found in digests:
        whole = 0
        for paragraph, source in zip(paragraphs(digest_)[1:], found, strict=True):
            verbatim.append(paragraph in (source.body, paragraphs(source)[0]))
            if source.kind == SHORT_BRIEF:
                assert jaccard(words(paragraph), words(source.body)) >= 0.8, digest_.item_id
                whole += len(paragraph.split()) >= len(source.body.split())
            else:
                assert source.kind == ORIGINAL
                leads.append(digest_.item_id)
        whole_briefs.append(2 <= whole <= 4)
    assert share(whole_briefs) >= 0.5
    assert leads, "some digests reprint the lead of an original"
    assert 0.5 <= share(verbatim) <= 0.9, "most paragraphs verbatim, some copy-edited"


def test_every_digest_is_its_own_story(hard):
    sizes = Counter(item.story for item in hard.items)
    for digest_ in of_kind(hard, DIGEST):
        assert sizes[digest_.story] == 1, digest_.item_id
        assert digest_.item_id == f"{digest_.story}-p0"
    pairs = hard.hard_negative_pairs()
    for negative, sources in hard.reprints.items():
        for source in sources:
            assert frozenset((negative, source)) in pairs, "every source is a hard pair"


def test_digests_often_arrive_after_every_item_of_their_sources(hard, digests):
    members = defaultdict(list)
    for item in hard.items:
        members[item.story].append(item)
    late = [
        digest_.arrival > max(i.arrival for s in found for i in members[s.story])
        for digest_, found in digests
    ]
    assert share(late) >= 0.4
    assert not all(late), "the others arrive at a random point"
