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


@pytest.mark.parametrize("size", [0, 1, 2, 7, 100, 3000])
def test_the_signature_of_a_set_is_datasketchs(size):
    rng = random.Random(size)
    for _ in range(25):
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
