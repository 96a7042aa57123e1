"""Near-duplicate signatures: the same story told by several publishers is one cluster.

A body becomes a set of word 5-shingles (case-folded words, so punctuation, case and
spacing edits do not matter), summarised by a 128-permutation MinHash (datasketch).
Candidates are found with locality-sensitive hashing: the signature is cut into 32 bands
of 4 values, and two articles are candidates when any band is equal (for a Jaccard
similarity of 0.5 that happens with probability 0.87, for 0.03 with 0.00003). A
candidate is a near-duplicate when the estimated Jaccard similarity is at least 0.5, or
when the estimated containment of the smaller body in the larger is at least 0.7 (a
trimmed copy with boilerplate added scores low on Jaccard but high on containment).

Chosen by measurement on a labelled syndication corpus (``tools/syndication.py``: 200
stories, 1,339 items, republications with retitling, trimming, reordering, boilerplate
and updates; hard negatives on the same topic, follow-ups, live blogs and shared
quotes): MinHash LSH at these settings clustered with pairwise precision 1.000 and recall
0.989; SimHash (64 bits, 5-shingles) reached recall 0.66 at precision 1.0, and 0.88 only
at precision 0.85 (docs/benchmarks.md has the table).

A body too short to shingle meaningfully (under ``MIN_SHINGLES`` shingles) is matched on
its normalised title instead (one extra band, ``TITLE_BAND``), when the title has at
least ``MIN_TITLE_WORDS`` words; such an article only ever matches another short one.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from datasketch import MinHash

from ingest.models import Placed, SignatureRecord, Unclustered

#: Bump when shingling, hashing or banding changes: stored signatures of another version
#: are not comparable (``article_signatures.signature_version``).
SIGNATURE_VERSION = 1
NUM_PERM = 128
BANDS = 32
ROWS = NUM_PERM // BANDS
SHINGLE_WORDS = 5
SEED = 20261125
MIN_SHINGLES = 8
TITLE_BAND = BANDS  # band number of the title key (short bodies only)
JACCARD_THRESHOLD = 0.5
CONTAINMENT_THRESHOLD = 0.7

_WORD = re.compile(r"\w+")
SCHEME = "affine32"  # datasketch's hashing scheme, pinned: part of SIGNATURE_VERSION
_MINHASH_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=SEED, scheme=SCHEME)  # permutations, once


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(body: str) -> set[bytes]:
    """The body's distinct word 5-shingles (encoded, ready to hash)."""
    words = _words(body)
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode()} if words else set()
    return {
        " ".join(words[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }


def _key(data: bytes) -> int:
    """A signed 63-bit key (fits a BIGINT on every backend)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> 1


@dataclass(frozen=True, slots=True)
class Signature:
    """What is stored per article to find its near-duplicates later."""

    values: tuple[int, ...]  # NUM_PERM MinHash values (< 2**32), empty for title-only
    shingle_count: int
    title_key: int | None  # set when the body is too short: matched on the title instead

    @property
    def title_only(self) -> bool:
        """The body was too short; only the title key identifies the story."""
        return self.shingle_count < MIN_SHINGLES

    def band_keys(self) -> list[tuple[int, int]]:
        """``(band, key)`` pairs to index and to look up."""
        if self.title_only:
            return [(TITLE_BAND, self.title_key)] if self.title_key is not None else []
        out = []
        for band in range(BANDS):
            chunk = self.values[band * ROWS : (band + 1) * ROWS]
            data = band.to_bytes(2, "big") + b"".join(v.to_bytes(4, "big") for v in chunk)
            out.append((band, _key(data)))
        return out

    def to_bytes(self) -> bytes:
        """Compact storage form: NUM_PERM big-endian uint32 values."""
        return np.asarray(self.values, dtype=">u4").tobytes()

    @classmethod
    def from_stored(cls, data: bytes, shingle_count: int, title_key: int | None) -> Signature:
        """The signature as stored by :meth:`to_bytes`."""
        values = tuple(int(v) for v in np.frombuffer(data, dtype=">u4")) if data else ()
        return cls(values, shingle_count, title_key)


MIN_TITLE_WORDS = 4  # "Live updates" or "News" must not fold short items together


def _title_key(title: str | None) -> int | None:
    words = _words(title or "")
    if len(words) < MIN_TITLE_WORDS:
        return None
    return _key(b"title:" + " ".join(words).encode())


def signature(body: str, title: str | None) -> Signature:
    """The near-duplicate signature of an article."""
    found = shingles(body)
    if len(found) < MIN_SHINGLES:
        return Signature((), len(found), _title_key(title))
    minhash = MinHash(
        num_perm=NUM_PERM, seed=SEED, permutations=_MINHASH_TEMPLATE.permutations, scheme=SCHEME
    )
    minhash.update_batch(list(found))
    return Signature(tuple(int(v) for v in minhash.hashvalues), len(found), None)


@dataclass(frozen=True, slots=True)
class Similarity:
    """How alike two signatures are (estimates from the MinHash values)."""

    jaccard: float
    containment: float

    @property
    def near_duplicate(self) -> bool:
        """The same story, by the thresholds in this module's docstring."""
        return self.jaccard >= JACCARD_THRESHOLD or self.containment >= CONTAINMENT_THRESHOLD

    @property
    def score(self) -> float:
        """One number to pick the best of several matches."""
        return max(self.jaccard, self.containment)


def similarity(a: Signature, b: Signature) -> Similarity:
    """Estimated Jaccard similarity and containment of the smaller set in the larger."""
    if a.title_only or b.title_only:
        same = a.title_only and b.title_only and a.title_key is not None
        same = same and a.title_key == b.title_key
        return Similarity(1.0 if same else 0.0, 1.0 if same else 0.0)
    equal = sum(x == y for x, y in zip(a.values, b.values, strict=True))
    jaccard = equal / NUM_PERM
    # |A n B| = J (|A| + |B|) / (1 + J); containment = |A n B| / min(|A|, |B|)
    inter = jaccard * (a.shingle_count + b.shingle_count) / (1 + jaccard)
    containment = min(1.0, inter / min(a.shingle_count, b.shingle_count))
    return Similarity(jaccard, containment)


#: Stored signatures near one being placed: ``(record, article_id, since, until)`` gives
#: the stored articles that share an LSH band with ``record`` and are dated within
#: ``[since, until]``, other than ``article_id`` itself.
StoredNeighbours = Callable[[SignatureRecord, str, datetime, datetime], Sequence[Placed]]

DEFAULT_WINDOW = timedelta(days=7)


class MinHashClusterer:
    """The near-duplicate decisions of the clustering pass.

    An article joins the story cluster of its best near-duplicate dated within
    ``window`` of it, among the stored articles and those placed before it in the same
    pass; else it keeps its own cluster. Articles come oldest first, so a copy arriving
    days later still joins the story it copies.
    """

    version = SIGNATURE_VERSION

    def __init__(self, window: timedelta = DEFAULT_WINDOW) -> None:
        self.window = window

    def sign(self, title: str | None, body: str) -> SignatureRecord:
        """The stored form of an article's signature."""
        sig = signature(body, title)
        data = sig.to_bytes() if sig.values else None
        return SignatureRecord(data, sig.shingle_count, sig.title_key, tuple(sig.band_keys()))

    def best_match(
        self, record: SignatureRecord, candidates: Sequence[SignatureRecord]
    ) -> int | None:
        """Index of the most similar candidate that is a near-duplicate, if any."""
        mine = Signature.from_stored(record.data or b"", record.shingle_count, record.title_key)
        best: tuple[float, int] | None = None
        for index, other in enumerate(candidates):
            theirs = Signature.from_stored(other.data or b"", other.shingle_count, other.title_key)
            sim = similarity(mine, theirs)
            if sim.near_duplicate and (best is None or sim.score > best[0]):
                best = (sim.score, index)
        return best[1] if best else None

    def place(self, batch: Sequence[Unclustered], stored: StoredNeighbours) -> list[Placed]:
        """Sign each article of ``batch`` (oldest first) and decide its story cluster."""
        local: dict[tuple[int, int], list[Placed]] = {}
        placed: list[Placed] = []
        for item in batch:
            record = self.sign(item.title, item.body)
            cluster = item.cluster_id
            if not item.resign:  # a re-signed article keeps its cluster
                since, until = item.at - self.window, item.at + self.window
                found = list(stored(record, item.article_id, since, until))
                for key in record.bands:
                    found += [p for p in local.get(key, ()) if since <= p.at <= until]
                unique = list({p.article_id: p for p in found}.values())
                best = self.best_match(record, [p.record for p in unique])
                if best is not None:
                    cluster = unique[best].cluster_id
            done = Placed(item.article_id, record, cluster, item.at)
            for key in record.bands:
                local.setdefault(key, []).append(done)
            placed.append(done)
        return placed


CLUSTERER = MinHashClusterer()
