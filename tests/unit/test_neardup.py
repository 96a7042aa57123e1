import random
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from syndication import generate

from ingest import neardup as nd
from ingest.memindex import MemoryIndex
from ingest.models import Unclustered

STORY = " ".join(
    f"Paragraph {i} says the harbour council met on Tuesday to agree a plan for the ferry "
    f"terminal, with {i * 3} objections heard from residents of the east quay."
    for i in range(12)
)


def test_an_identical_body_is_a_perfect_match():
    a = nd.signature(STORY, "Ferry plan agreed")
    sim = nd.similarity(a, nd.signature(STORY, "Another title"))
    assert (sim.jaccard, sim.containment, sim.near_duplicate) == (1.0, 1.0, True)


def test_a_trimmed_copy_with_boilerplate_is_found_by_containment():
    words = STORY.split()
    copy = "Supplied by a wire service. " + " ".join(words[: len(words) // 3])
    copy += " Sign up to our newsletter for more news like this every morning."
    sim = nd.similarity(nd.signature(STORY, None), nd.signature(copy, None))
    assert sim.jaccard < nd.JACCARD_THRESHOLD  # Jaccard alone would miss it
    assert sim.containment >= nd.CONTAINMENT_THRESHOLD
    assert sim.near_duplicate


def test_case_punctuation_and_spacing_do_not_matter():
    noisy = STORY.upper().replace(",", " ;").replace(" ", "  ")
    assert nd.similarity(nd.signature(STORY, None), nd.signature(noisy, None)).jaccard == 1.0


@pytest.fixture(scope="module")
def corpus():
    return generate(40, seed=7)


def test_hard_negatives_of_the_corpus_are_not_near_duplicates(corpus):
    by_id = {item.item_id: item for item in corpus.items}
    pairs = corpus.hard_negative_pairs()
    assert len(pairs) > 50
    for pair in pairs:
        a, b = (by_id[i] for i in pair)
        sim = nd.similarity(nd.signature(a.body, a.title), nd.signature(b.body, b.title))
        assert not sim.near_duplicate, (a.kind, b.kind, sim)


def test_a_short_item_matches_only_a_short_one_with_its_title_and_its_words():
    a = nd.signature("Road closed.", "Quay Street closed for resurfacing")
    same = nd.signature("ROAD CLOSED!", "Quay Street CLOSED for resurfacing!")
    other_body = nd.signature("Bridge shut today.", "Quay Street closed for resurfacing")
    other_title = nd.signature("Road closed.", "Bridge reopens after repairs")
    assert a.short and a.band_keys() == [(nd.TITLE_BAND, a.title_key)]
    assert nd.similarity(a, same).near_duplicate
    assert not nd.similarity(a, other_body).near_duplicate  # the title alone never merges
    assert not nd.similarity(a, other_title).near_duplicate
    assert not nd.similarity(
        a, nd.signature(STORY, "Quay Street closed for resurfacing")
    ).near_duplicate


@pytest.mark.parametrize(
    "title",
    [
        "Photos of the day", "Live updates", "Morning briefing", "Follow live coverage here",
        "Today's headlines: Thursday 4 December", "In pictures: the week in photos",
        "Les photos du jour", "Bilder des Tages", "Las fotos del día", "Liveticker: Die News",
        "Le direct", "Notizie di oggi", "Latest news", "Live", "",
    ],
)  # fmt: skip
def test_a_generic_title_never_keys_a_short_item(title):
    assert not nd.specific_title(title)
    a, b = nd.signature("Pictures.", title), nd.signature("Pictures.", title)
    assert a.band_keys() == [] and not nd.similarity(a, b).near_duplicate


@pytest.mark.parametrize(
    "title",
    ["Quay Street closed for resurfacing", "Harbour council agrees ferry plan",
     "Stadtrat beschließt neuen Hafenplan", "Photos: harbour fire destroys warehouse"],
)  # fmt: skip
def test_a_specific_title_keys_a_short_item(title):
    assert nd.specific_title(title)
    assert nd.signature("Road closed.", title).band_keys()[0][0] == nd.TITLE_BAND


def _story(rng, paragraphs=10):
    vocabulary = [f"w{n}" for n in range(5000)]
    return [" ".join(rng.choice(vocabulary) for _ in range(60)) + "." for _ in range(paragraphs)]


def _candidates(a, b):
    shared = set(a.band_keys()) & set(b.band_keys())
    return len(shared) >= b.min_shared


def test_a_copy_of_a_third_of_the_paragraphs_is_a_candidate_with_high_probability():
    rng = random.Random(11)
    found = unrelated = 0
    for _ in range(200):
        paragraphs = _story(rng)
        start = rng.randrange(0, 8)  # any three paragraphs in a row, not only the lead
        copy = "\n".join(["Supplied by a wire service.", *paragraphs[start : start + 3]])
        original = nd.signature("\n".join(paragraphs), None)
        found += _candidates(original, nd.signature(copy, None))
        unrelated += _candidates(original, nd.signature("\n".join(_story(rng)), None))
    assert found >= 0.98 * 200
    assert unrelated == 0


def test_a_recap_paragraph_is_not_a_near_duplicate_of_the_story_it_recaps():
    rng = random.Random(12)
    story = _story(rng)
    recap = " ".join([*_story(rng, 6), story[0]])  # a new story, one paragraph of the old
    whole = nd.signature(" ".join(story), None)
    assert not nd.similarity(whole, nd.signature(recap, None)).near_duplicate
    excerpt = nd.similarity(whole, nd.signature(story[4], None))  # a tenth of it, verbatim
    assert excerpt.containment > 0.9 and not excerpt.near_duplicate  # too small a part
    assert nd.similarity(
        nd.signature(" ".join(story), None), nd.signature(" ".join(story[:3]), None)
    ).near_duplicate  # while a copy of its first three paragraphs is


def test_storage_round_trip_and_band_keys():
    sig = nd.signature(STORY, None)
    stored = nd.Signature.from_stored(sig.to_bytes(), sig.shingle_count, None)
    assert (stored.values, stored.shingle_count) == (sig.values, sig.shingle_count)
    assert len(sig.to_bytes()) == 4 * nd.NUM_PERM
    keys = sig.band_keys()
    assert [band for band, _ in keys] == [*range(nd.BANDS), *[nd.ANCHOR_BAND] * len(sig.anchors)]
    assert 0 < len(sig.anchors) <= nd.MAX_ANCHORS
    assert all(0 <= key < 2**63 for _, key in keys)  # a signed BIGINT everywhere


def test_signatures_are_stable_across_processes():
    """Stored signatures are compared with ones computed later, in other processes."""
    code = (
        "from ingest import neardup as nd; import sys; "
        "print(nd.signature(sys.argv[1], None).band_keys()[:3])"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code, STORY],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2")
    }
    assert outputs == {f"{nd.signature(STORY, None).band_keys()[:3]}\n"}


# -- clusters: joins and merges -------------------------------------------------------------

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _item(name, paragraphs, hours=0.0):
    body = "\n".join(paragraphs)
    return Unclustered(name, None, body, name, T0 + timedelta(hours=hours))


def _run(index, *batches):
    """Cluster batches in turn (each sorted oldest first, as the store does)."""
    merges = []
    for batch in batches:
        placement = nd.CLUSTERER.place(sorted(batch, key=lambda u: u.at), index)
        index.save(placement)
        merges += placement.merges
    return index.clusters(), merges


@pytest.fixture
def paragraphs():
    rng = random.Random(5)
    vocabulary = [f"w{n}" for n in range(5000)]
    return lambda n: [" ".join(rng.choice(vocabulary) for _ in range(50)) + "." for _ in range(n)]


@pytest.mark.parametrize("batches", ["apart", "together"])
def test_an_original_arriving_after_two_copies_merges_their_clusters(paragraphs, batches):
    story = paragraphs(12)
    lead = _item("lead", story[:5], hours=2)
    rest = _item("rest", story[3:11], hours=3)  # overlaps the lead, too little to match it
    original = _item("original", story, hours=0)  # published first, arrives last
    first = [lead, rest]
    clusters, merges = (
        _run(MemoryIndex(), first, [original])
        if batches == "apart"
        else _run(MemoryIndex(), [*first, original])
    )
    assert clusters["lead"] == clusters["rest"] == clusters["original"]
    if batches == "together":  # a pass places the oldest first: both copies just join it
        assert merges == []
        return
    assert len(merges) == 1 and merges[0].article_id == "original"
    assert merges[0].new == clusters["original"] and merges[0].old != merges[0].new


def test_copies_with_no_text_in_common_are_not_merged_by_an_article_holding_both(paragraphs):
    story = paragraphs(12)
    index = MemoryIndex()
    _run(index, [_item("head", story[:6], 1), _item("tail", story[6:], 2)])
    clusters, merges = _run(index, [_item("whole", story, 0)])
    assert merges == []  # its representatives do not overlap: two stories, as far as we know
    # holding two stories whole, it is a round-up as far as we can tell: it joins neither
    assert len({clusters["whole"], clusters["head"], clusters["tail"]}) == 3


def test_a_round_up_of_briefs_never_merges_their_stories(paragraphs):
    """A digest reprinting four unrelated briefs whole contains each (containment 1.0)."""
    briefs = [paragraphs(2) for _ in range(4)]
    index = MemoryIndex()
    _run(index, [_item(f"brief{n}", b, n + 1) for n, b in enumerate(briefs)])
    digest = ["Here are the morning's main stories, in brief."] + [p for b in briefs for p in b]
    mine = nd.signature("\n".join(digest), None)
    for brief in briefs:  # the digest is a near-duplicate of every brief...
        assert nd.similarity(mine, nd.signature("\n".join(brief), None)).near_duplicate
    clusters, merges = _run(index, [_item("digest", digest, 6)])
    assert merges == []  # ...and merges none of them, nor joins any
    assert len({clusters[n] for n in ["digest", *(f"brief{i}" for i in range(4))]}) == 5


def test_the_surviving_cluster_is_the_one_with_the_earliest_representative(paragraphs):
    story = paragraphs(12)
    index = MemoryIndex()
    clusters, _ = _run(
        index, [_item("late", story[3:], hours=5), _item("early", story[:6], hours=1)]
    )
    assert clusters["late"] != clusters["early"]
    clusters, merges = _run(index, [_item("bridge", story, hours=9)])
    assert merges[0].new == "early" and clusters["late"] == "early" == clusters["bridge"]


def test_a_chain_of_links_through_members_does_not_merge_two_clusters(paragraphs):
    a, c, d = paragraphs(12), paragraphs(3), paragraphs(6)
    bodies = {
        "root": a, "member": a[0:9] + c, "bridge": a[3:9] + c + d[0:3],
        "other": a[6:9] + c + d,
    }  # fmt: skip
    sig = {k: nd.signature("\n".join(v), None) for k, v in bodies.items()}

    def near(x, y):
        return nd.similarity(sig[x], sig[y]).near_duplicate

    # the chain: root ~ member ~ bridge ~ other, and no shortcut
    assert near("root", "member") and near("member", "bridge") and near("bridge", "other")
    assert not near("root", "bridge") and not near("member", "other")
    assert not near("root", "other")
    index = MemoryIndex()
    _run(index, [_item("root", a, 0), _item("member", bodies["member"], 1)])
    _run(index, [_item("other", bodies["other"], 2)])
    clusters, merges = _run(index, [_item("bridge", bodies["bridge"], 3)])
    assert merges == []
    assert clusters["root"] == clusters["member"] != clusters["other"]
    assert clusters["bridge"] in {clusters["root"], clusters["other"]}


def test_merges_in_one_pass_follow_each_other(paragraphs):
    s = paragraphs(12)
    index = MemoryIndex()
    # three copies, each overlapping another by half, none a near-duplicate of another
    _run(index, [_item("c", s[9:] + s[:3], 4), _item("a", s[:6], 5), _item("b", s[3:9], 6)])
    assert len(set(index.clusters().values())) == 3
    # one pass: x1 links a and b (B -> A), then x2 links A and c, whose copy is earlier (A -> C)
    clusters, merges = _run(index, [_item("x1", s[:9], 7), _item("x2", s, 8)])
    assert [(m.old, m.new, m.article_id) for m in merges] == [("b", "a", "x1"), ("a", "c", "x2")]
    assert set(clusters.values()) == {"c"}


def test_briefs_arriving_after_their_round_up_are_not_joined_through_it(paragraphs):
    briefs = [paragraphs(2) for _ in range(3)]
    digest = ["Here are the morning's main stories, in brief."] + [p for b in briefs for p in b]
    index = MemoryIndex()
    _run(index, [_item("digest", digest, 6)])
    clusters = {}
    for n, brief in enumerate(briefs):  # one by one: published before the digest, seen after
        clusters, _ = _run(index, [_item(f"brief{n}", brief, n + 1)])
    # the first joins the digest; the others are unlike that cluster's representative
    assert len({clusters[f"brief{n}"] for n in range(3)}) == 3


def test_the_round_up_rule_looks_at_the_pair_that_does_not_overlap(paragraphs):
    a, b, c, own = paragraphs(10), paragraphs(15), paragraphs(5), paragraphs(18)
    reps = {
        "x": nd.signature("\n".join(a), None),
        "y": nd.signature("\n".join(b + a[:5]), None),  # overlaps x, larger than the article
        "z": nd.signature("\n".join(c + a[5:]), None),  # overlaps x, not y
    }
    assert nd.similarity(reps["y"], reps["z"]).containment < nd.MERGE_OVERLAP
    assert min(nd.similarity(reps["x"], reps[k]).containment for k in "yz") >= nd.MERGE_OVERLAP
    mine = nd.signature("\n".join(own), None)
    linked = nd.MinHashClusterer._linked(["x", "y", "z"], reps, mine)
    assert linked == ["x", "y"]  # z stays out; the article cannot hold y: no round-up
    bigger = nd.signature("\n".join(paragraphs(30)), None)  # larger than y and z both
    assert nd.MinHashClusterer._linked(["x", "y", "z"], reps, bigger) is None


def test_a_memory_index_forgets_an_articles_old_bands_when_it_is_signed_again():
    index = MemoryIndex()
    item = Unclustered("a", None, "\n".join(["one two three four five six"] * 3), "a", T0)
    index.save(nd.CLUSTERER.place([item], index))
    index.save(nd.CLUSTERER.place([replace(item, resign=True)], index))
    assert all(ids.count("a") <= 1 for ids in index.by_key.values())
