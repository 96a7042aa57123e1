import subprocess
import sys

import pytest
from syndication import generate

from ingest import neardup as nd

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


def test_short_bodies_fall_back_to_the_title():
    a = nd.signature("Road closed.", "Quay Street closed for resurfacing")
    b = nd.signature("Road shut today.", "Quay Street CLOSED for resurfacing!")
    c = nd.signature("Road closed.", "Bridge reopens after repairs")
    assert a.title_only and a.band_keys() == [(nd.TITLE_BAND, a.title_key)]
    assert nd.similarity(a, b).near_duplicate
    assert not nd.similarity(a, c).near_duplicate
    assert not nd.similarity(
        a, nd.signature(STORY, "Quay Street closed for resurfacing")
    ).near_duplicate


def test_storage_round_trip_and_band_keys():
    sig = nd.signature(STORY, None)
    assert nd.Signature.from_stored(sig.to_bytes(), sig.shingle_count, None) == sig
    assert len(sig.to_bytes()) == 4 * nd.NUM_PERM
    keys = sig.band_keys()
    assert [band for band, _ in keys] == list(range(nd.BANDS))
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
