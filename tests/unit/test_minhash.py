"""Our numpy MinHash gives datasketch's signatures, bit for bit (stored signatures stay valid).

datasketch is a test dependency only: its package import pulls in scipy, which cost every
clustering task half a second before it did anything.
"""

import random

import datasketch  # the dev group's: a reference, never skipped
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest import neardup as nd


def _datasketch(items: set[bytes]) -> tuple[int, ...]:
    minhash = datasketch.MinHash(num_perm=nd.NUM_PERM, seed=nd.SEED, scheme=nd.SCHEME)
    minhash.update_batch(list(items))
    return tuple(int(v) for v in minhash.hashvalues)


@pytest.mark.parametrize("size", [0, 1, 2, 7, 100, 3000, 8192, 8193, 20_000])
def test_the_signature_of_a_set_is_datasketchs(size):
    rng = random.Random(size)  # past 8192 items the values are taken in slices
    for _ in range(25 if size <= 3000 else 3):
        items = {rng.randbytes(rng.randrange(1, 60)) for _ in range(size)}
        assert nd._minhash(items) == _datasketch(items)


@settings(max_examples=200, deadline=None)
@given(st.sets(st.binary(max_size=80), max_size=40))
def test_any_set_of_byte_strings_signs_as_in_datasketch(items):
    assert nd._minhash(items) == _datasketch(items)


def test_an_article_signs_as_in_datasketch():
    body = "\n".join(
        f"Paragraph {i}: the harbour council met on Tuesday to agree a plan for the ferry "
        f"terminal, with {i * 3} objections heard from residents of the east quay."
        for i in range(12)
    )
    assert nd.signature(body, None).values == _datasketch(nd.shingles(body))


def test_the_permutations_are_datasketchs():
    ours = nd._permutations(nd.SEED, nd.NUM_PERM)
    theirs = datasketch.MinHash(num_perm=nd.NUM_PERM, seed=nd.SEED, scheme=nd.SCHEME).permutations
    assert [a.tolist() for a in ours] == [row.tolist() for row in theirs]


def test_a_signature_made_ahead_comes_back_as_it_was_made():
    body = " ".join(f"word{i} and more words in sentence {i}" for i in range(80))
    for title, text in (("A council votes on the new ferry terminal plan", body),
                        ("A council votes on the new ferry terminal plan", "Too short."),
                        (None, "")):  # fmt: skip
        made = nd.sign(title, text)
        assert nd.from_json(nd.to_json(made)) == made


@pytest.mark.parametrize(
    "damage",
    [{"version": nd.SIGNATURE_VERSION + 1}, {"version": nd.SIGNATURE_VERSION - 1},
     {"data": "not hex"}, {"bands": None}, {"shingles": None}],
)  # fmt: skip
def test_a_signature_of_another_version_or_damaged_is_signed_again(damage):
    made = nd.to_json(nd.sign("A title", "one two three four five six " * 20))
    assert nd.from_json({**made, **damage}) is None


# --------------------------------------------------------------------------- reference
# The signature as it was computed before each line was read once for both the shingles
# and the anchors (signature version 2): the stored signatures must not change.


def _reference_signature(body: str, title: str | None) -> nd.Signature:
    def shingles(text: str) -> set[bytes]:
        words = nd._words(text)
        if len(words) < nd.SHINGLE_WORDS:
            return {" ".join(words).encode()} if words else set()
        return {
            " ".join(words[i : i + nd.SHINGLE_WORDS]).encode()
            for i in range(len(words) - nd.SHINGLE_WORDS + 1)
        }

    def anchors(text: str) -> tuple[int, ...]:
        keys = set()
        for line in text.splitlines():
            words = nd._words(line)
            if len(words) >= nd.ANCHOR_MIN_WORDS:
                lowest = sorted(
                    nd._key(" ".join(words[i : i + nd.SHINGLE_WORDS]).encode())
                    for i in range(len(words) - nd.SHINGLE_WORDS + 1)
                )[:2]
                keys.add(nd._key(b"".join(k.to_bytes(8, "big") for k in lowest)))
        return tuple(sorted(keys)[: nd.MAX_ANCHORS])

    found = shingles(body)
    if len(found) < nd.MIN_SHINGLES:
        words = {w.encode() for w in nd._words(body)}
        return nd.Signature(nd._minhash(words) if words else (), len(found), nd._title_key(title))
    return nd.Signature(nd._minhash(found), len(found), None, anchors(body))


_LINE_BREAKS = ["\n", "\r\n", "\r", "\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x85"]
_WORDS = st.sampled_from(
    ["ferry", "council", "e\u0301t\u00e9", "Stra\u00dfe", "\u0130stanbul", "\u01c5x", "\ufb01le",
     "\u00bd", "x\u00b2", "\u0301", "a", "b", "c", "d", "the", "THE", "-", "\u2014"]
)  # fmt: skip
_LINE = st.lists(_WORDS, max_size=40).map(" ".join)  # a paragraph, long enough for anchors
_BREAK = st.sampled_from(_LINE_BREAKS)


@st.composite
def _bodies(draw: st.DrawFn) -> str:
    lines = draw(st.lists(_LINE, max_size=8))
    out = lines[:1]
    for line in lines[1:]:
        out += [draw(_BREAK), line]
    return "".join(out)


_TEXT = st.one_of(_bodies(), st.text(max_size=300))  # paragraphs; anything at all


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.one_of(st.none(), st.text(max_size=40)))
def test_any_text_signs_as_it_did_before(body, title):
    assert nd.signature(body, title) == _reference_signature(body, title)


def test_real_sized_stories_sign_as_they_did_before():
    from syndication import generate

    items = generate(20, seed=11).items
    long_lines = " ".join(f"word{i} and the ferry council met" for i in range(60))
    bodies = [it.body for it in items] + [f"{long_lines}\n{long_lines.upper()}\r\n{long_lines}"]
    assert any(nd.signature(b, None).anchors for b in bodies)  # the anchors are compared too
    for body in bodies:
        assert nd.signature(body, "A title") == _reference_signature(body, "A title")
