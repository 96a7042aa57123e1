"""Near-duplicate signatures and decisions: the same story told by several publishers is one cluster.

**Signature.** A body becomes a set of word 5-shingles (case-folded words, so punctuation,
case and spacing edits do not matter), summarised by a 128-permutation MinHash: the values
datasketch 2's ``MinHash(scheme="affine32")`` gives, bit for bit, computed here with numpy
alone (datasketch's package import pulls in scipy, half a second at every task's start). A
body too short to shingle meaningfully (under ``MIN_SHINGLES`` shingles) is summarised over
its words instead, and indexed by its title (below).

**Candidates.** Two index families, in the same table: the signature cut into ``BANDS``
bands of ``ROWS`` values (Jaccard: at similarity 0.5 two bodies share two bands with
probability 0.97), and one *anchor* per paragraph of ``ANCHOR_MIN_WORDS`` words or more (a
key of its two smallest shingle hashes; at most ``MAX_ANCHORS``, the smallest keys). Two
articles are candidates when they share at least ``MIN_SHARED_BANDS`` rows of either kind.
Anchors find *containment*: a copy carrying two paragraphs of a story, anywhere in it,
shares their anchors whatever its Jaccard similarity, where bands alone find a copy of a
third of a story (similarity about 0.25) one time in seven. Two unrelated articles share
two rows almost never (none of 17,766 pairs of real news bodies), so the number of
candidates to compare stays flat as the warehouse grows. A row many articles share (a
wire story on a thousand sites, a boilerplate paragraph) gives its ``MAX_PER_ROW``
latest within the window only (the stored ones, and the pass's own), so a lookup costs
the same at any copy count. What that can miss: an older article of the row whose
cluster none of the latest names (a trimmed copies' cluster when full copies fill the
row; a short item under a specific title used more than that often within the window,
the title being its only row); and "latest" runs to the window's end, so a backfilled
item's rows give the articles after it first. docs/benchmarks.md has the measured
candidate recall per kind of copy, and the cost at 1M signatures.

**Decision.** A candidate is a near-duplicate when the estimated Jaccard similarity is at
least ``JACCARD_THRESHOLD``, or when the smaller body is contained in the larger at least
``CONTAINMENT_THRESHOLD`` *and* is substantial: ``MIN_CONTAINED_SHINGLES`` shingles (a
paragraph; not a sentence or a brief, which a round-up or a recap may hold whole) and at
least ``MIN_CONTAINED_SHARE`` of the larger body's size (a trimmed copy of a story is; a
story that recaps another in one paragraph holds a small part of it, not the reverse).

**Short items.** A body under ``MIN_SHINGLES`` shingles (about a dozen words) only ever
matches another short one, and only when their titles are the same *specific* title
(``MIN_TITLE_WORDS`` words, at least ``MIN_SPECIFIC_WORDS`` of them not generic words
such as "photos", "live", "updates", "briefing", dates or numbers, in English, French,
German, Spanish, Italian, Portuguese and Dutch) **and** their bodies agree (word-set
Jaccard at least ``SHORT_BODY_JACCARD``). A title alone never merges items whose bodies
differ, and a generic title ("Photos of the day", "Live updates", "Bilder des Tages")
never merges anything.

**Clusters.** An article's near-duplicates dated within the window name candidate
clusters; it joins the one whose *representative* (its earliest signed article) it is
most like, and only a cluster whose representative it is a near-duplicate of: being like
some member (A like B, B like C, ...) is a weak link and joins nothing. When it is a
near-duplicate of the representatives of two or more clusters (copies that arrived before
their original each started one), the best one merges with each next one whose
representative overlaps every representative already merged (the smaller at least
``MERGE_OVERLAP`` contained in the larger: copies of one story share text). An article
larger than two of those representatives that do not overlap each other holds them both:
it is taken for a round-up reprinting several stories, and joins none and merges nothing.
Representatives here are the earliest *signed* articles, by their time when signed.
The surviving cluster id is that of the cluster with the earliest representative; every
merge is returned (and recorded by the store) as old id -> new id.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np

from ingest.models import ClusterMerge, Placed, Placement, SignatureRecord, Unclustered

#: Bump when shingling, hashing, banding or the decision rules change: stored signatures
#: of another version are re-signed (``article_signatures.signature_version``).
SIGNATURE_VERSION = 2
NUM_PERM = 128
ROWS = 3
BANDS = NUM_PERM // ROWS  # 42 bands over the whole body, numbered 0-41
ANCHOR_BAND = BANDS  # band number of the paragraph anchors
ANCHOR_MIN_WORDS = 15  # a paragraph (line) of at least this many words has an anchor
MAX_ANCHORS = 16  # the anchors with the smallest keys, at most
MIN_SHARED_BANDS = 2  # a candidate shares at least two index rows: bands or anchors
MAX_PER_ROW = 32  # articles an index row gives at most: its latest within the window
TITLE_BAND = BANDS + 1  # band number of the title key (short bodies only)
SHINGLE_WORDS = 5
SEED = 20261125
MIN_SHINGLES = 8
JACCARD_THRESHOLD = 0.5
CONTAINMENT_THRESHOLD = 0.7
MIN_CONTAINED_SHINGLES = 40  # about 45 words: a paragraph, not a sentence or a brief
MIN_CONTAINED_SHARE = 0.2
MERGE_OVERLAP = 0.3  # merged clusters' representatives overlap each other at least this
SHORT_BODY_JACCARD = 0.5
MIN_TITLE_WORDS = 4
MIN_SPECIFIC_WORDS = 2

_WORD = re.compile(r"\w+")
SCHEME = "affine32"  # datasketch's hashing scheme, pinned: part of SIGNATURE_VERSION

#: Words that say nothing about which story a title names: function words, the words of
#: standing headings (galleries, live pages, briefings, round-ups), times and dates.
_GENERIC = """
    a an the of in on at to for and or with from by this that these our your its is are
    here now today todays tonight yesterday week weekend weeks day days daily morning
    evening night afternoon photos photo pictures picture images gallery video videos
    watch live latest updates update coverage follow news headlines headline briefing
    brief digest roundup round up top stories story breaking what we know so far in pictures
    everything need needs you things thing how why who where when
    newsletter podcast opinion editorial letters editor weather forecast traffic travel
    results scores sport sports business markets market quiz crossword puzzle
    monday tuesday wednesday thursday friday saturday sunday january february march april
    may june july august september october november december
    le la les l de du des un une et en au aux ce cette jour direct photos actualité à sur pour
    dans par avec
    actualités dernières nouvelles infos info matin soir semaine résumé images
    der die das den dem des ein eine und im am zum zur vom von tages bilder bild heute aus mit
    für bei nach über was wir wissen
    liveticker live nachrichten neueste morgen abend woche überblick ticker
    el los las del y un una día dia fotos foto imágenes directo vivo en noticias hoy con por
    para sobre lo que sabemos
    última últimas hora mañana tarde semana resumen
    il lo gli di della delle giorno foto notizie oggi diretta ultime ore settimana
    o os as do da dos das dia fotos notícias hoje ao vivo últimas
    het een van en op dag foto's nieuws vandaag live laatste
"""
GENERIC_TITLE_WORDS = frozenset(_GENERIC.split())


def _words(text: str) -> list[str]:
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def shingles(body: str) -> set[bytes]:
    """The body's distinct word 5-shingles (encoded, ready to hash)."""
    return _shingles(_words(body))


def _shingles(words: Sequence[str]) -> set[bytes]:
    if len(words) < SHINGLE_WORDS:
        return {" ".join(words).encode()} if words else set()
    return {
        " ".join(words[i : i + SHINGLE_WORDS]).encode()
        for i in range(len(words) - SHINGLE_WORDS + 1)
    }


def _key(data: bytes) -> int:
    """A signed 63-bit key (fits a BIGINT on every backend)."""
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> 1


def _band_key(band: int, values: Sequence[int], start: int, rows: int) -> int:
    chunk = values[start : start + rows]
    return _key(band.to_bytes(2, "big") + b"".join(v.to_bytes(4, "big") for v in chunk))


def anchors(body: str) -> tuple[int, ...]:
    """One key per paragraph of ``ANCHOR_MIN_WORDS`` words or more (the smallest few).

    A paragraph's key hashes its two smallest shingle keys: a copy that carries the
    paragraph, even lightly edited, most likely has the same key (a bottom-2 sketch).
    """
    return _anchors([_words(line) for line in body.splitlines()])


def _anchors(lines: Sequence[Sequence[str]]) -> tuple[int, ...]:
    keys = set()
    for words in lines:
        if len(words) >= ANCHOR_MIN_WORDS:
            # the two smallest digests are the two smallest keys (big-endian, shifted alike)
            lowest = sorted(
                hashlib.blake2b(
                    " ".join(words[i : i + SHINGLE_WORDS]).encode(), digest_size=8
                ).digest()
                for i in range(len(words) - SHINGLE_WORDS + 1)
            )[:2]
            keys.add(_key(b"".join(_shifted(d) for d in lowest)))
    return tuple(sorted(keys)[:MAX_ANCHORS])


def _shifted(digest: bytes) -> bytes:
    """A digest as :func:`_key` makes it a key, in 8 big-endian bytes."""
    return (int.from_bytes(digest, "big") >> 1).to_bytes(8, "big")


def _permutations(seed: int, num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """The permutations ``h -> a*h + b mod 2**32`` (``a`` odd) datasketch's affine32 draws."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


_A, _B = _permutations(SEED, NUM_PERM)
_EMPTY = 0xFFFFFFFF  # a value no item has lowered: the sketch of the empty set
_ROWS_AT_ONCE = 8192  # shingles per slice: 4 MiB of values (a 1M-character body: 200k)


def _fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix); uint32 products wrap."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    out: np.ndarray = hv ^ (hv >> np.uint32(16))
    return out


def _minhash(items: set[bytes]) -> tuple[int, ...]:
    """The MinHash values of ``items``, as datasketch's ``update_batch`` computes them.

    Each item is hashed by SHA-1 (its first 4 bytes, little endian), pre-mixed, and put
    through every permutation; each permutation keeps its least value.
    """
    if not items:
        return (_EMPTY,) * NUM_PERM
    digests = b"".join(hashlib.sha1(item, usedforsecurity=False).digest()[:4] for item in items)
    hv = _fmix32(np.frombuffer(digests, dtype="<u4").astype(np.uint32)).reshape(-1, 1)
    low = np.full(NUM_PERM, _EMPTY, dtype=np.uint32)
    for start in range(0, len(hv), _ROWS_AT_ONCE):  # a long body's matrix in slices: bounded
        np.minimum(low, (hv[start : start + _ROWS_AT_ONCE] * _A + _B).min(axis=0), out=low)
    return tuple(low.tolist())


@dataclass(frozen=True, slots=True)
class Signature:
    """What is stored per article to find its near-duplicates later."""

    values: tuple[int, ...]  # NUM_PERM MinHash values (< 2**32); of the words when short
    shingle_count: int
    title_key: int | None  # set when the body is short and the title specific
    anchors: tuple[int, ...] = ()  # keys of its paragraphs (indexed, not stored)

    @property
    def short(self) -> bool:
        """The body is too short to shingle: matched on title and words instead."""
        return self.shingle_count < MIN_SHINGLES

    def band_keys(self) -> list[tuple[int, int]]:
        """``(band, key)`` pairs to index and to look up."""
        if self.short:
            return [(TITLE_BAND, self.title_key)] if self.title_key is not None else []
        out = [(band, _band_key(band, self.values, band * ROWS, ROWS)) for band in range(BANDS)]
        return out + [(ANCHOR_BAND, key) for key in self.anchors]

    @property
    def min_shared(self) -> int:
        """How many of these rows a stored signature must share to be a candidate."""
        return 1 if self.short else MIN_SHARED_BANDS

    def to_bytes(self) -> bytes:
        """Compact storage form: NUM_PERM big-endian uint32 values."""
        return np.asarray(self.values, dtype=">u4").tobytes()

    @classmethod
    def from_stored(cls, data: bytes, shingle_count: int, title_key: int | None) -> Signature:
        """The signature as stored by :meth:`to_bytes`."""
        values = tuple(int(v) for v in np.frombuffer(data, dtype=">u4")) if data else ()
        return cls(values, shingle_count, title_key)


def specific_title(title: str | None) -> bool:
    """Whether a title can name one story: enough words, enough of them not generic."""
    words = _words(title or "")
    specific = [w for w in words if w not in GENERIC_TITLE_WORDS and not w.isdigit()]
    return len(words) >= MIN_TITLE_WORDS and len(specific) >= MIN_SPECIFIC_WORDS


def _title_key(title: str | None) -> int | None:
    if not specific_title(title):
        return None
    return _key(b"title:" + " ".join(_words(title or "")).encode())


def signature(body: str, title: str | None) -> Signature:
    """The near-duplicate signature of an article."""
    # The body's words are its lines' words end to end (no word spans a line break), so
    # each line is read once, for the shingles and for the anchors.
    lines = [_words(line) for line in body.splitlines()]
    words = [word for line in lines for word in line]
    found = _shingles(words)
    if len(found) < MIN_SHINGLES:
        distinct = {w.encode() for w in words}
        return Signature(_minhash(distinct) if distinct else (), len(found), _title_key(title))
    return Signature(_minhash(found), len(found), None, _anchors(lines))


def sign(title: str | None, body: str) -> SignatureRecord:
    """The stored form of an article's signature (:class:`MinHashClusterer` stores it)."""
    sig = signature(body, title)
    data = sig.to_bytes() if sig.values else None
    return SignatureRecord(
        data, sig.shingle_count, sig.title_key, tuple(sig.band_keys()), sig.min_shared
    )


def to_json(record: SignatureRecord) -> dict[str, Any]:
    """A signature made ahead of the clustering pass, as JSON, with its version.

    A fetch's worker signs each article it extracts; the warehouse keeps the signature
    (staged, then queued with the article) until the clustering pass places the article.
    """
    return {
        "version": SIGNATURE_VERSION, "data": record.data.hex() if record.data else None,
        "shingles": record.shingle_count, "title_key": record.title_key,
        "bands": [list(pair) for pair in record.bands], "min_shared": record.min_shared,
    }  # fmt: skip


def from_json(value: Mapping[str, Any], version: int = SIGNATURE_VERSION) -> SignatureRecord | None:
    """The signature :func:`to_json` kept; None: sign the article again.

    None when a version other than ``version`` made it, or it is not one.
    """
    try:
        if value.get("version") != version:
            return None
        data = bytes.fromhex(value["data"]) if value["data"] else None
        if data is not None and len(data) != NUM_PERM * 4:  # 4 bytes a value
            return None
        return SignatureRecord(
            data, int(value["shingles"]),
            None if value["title_key"] is None else int(value["title_key"]),
            tuple((int(band), int(key)) for band, key in value["bands"]),
            int(value["min_shared"]),
        )  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _equal_share(a: Signature, b: Signature) -> float:
    if not a.values or not b.values:
        return 1.0 if a.values == b.values else 0.0
    return sum(x == y for x, y in zip(a.values, b.values, strict=True)) / NUM_PERM


@dataclass(frozen=True, slots=True)
class Similarity:
    """How alike two signatures are (estimates from the MinHash values)."""

    jaccard: float
    containment: float
    near_duplicate: bool  # the same story, by the rules in this module's docstring

    @property
    def score(self) -> float:
        """One number to pick the best of several matches (Jaccard breaks ties)."""
        return max(self.jaccard, self.containment) + self.jaccard / 1000


def similarity(a: Signature, b: Signature) -> Similarity:
    """Estimated Jaccard similarity and containment, and the near-duplicate decision."""
    if a.short or b.short:
        same_title = a.short and b.short and a.title_key is not None
        same_title = same_title and a.title_key == b.title_key
        worded = bool(a.values) and bool(b.values)  # a title alone never merges
        jaccard = _equal_share(a, b) if same_title and worded else 0.0  # of the words
        near = jaccard >= SHORT_BODY_JACCARD
        return Similarity(jaccard, jaccard, near)
    jaccard = _equal_share(a, b)
    # |A n B| = J (|A| + |B|) / (1 + J); containment = |A n B| / min(|A|, |B|)
    small, large = sorted((a.shingle_count, b.shingle_count))
    inter = jaccard * (small + large) / (1 + jaccard)
    containment = min(1.0, inter / small)
    contained = (
        containment >= CONTAINMENT_THRESHOLD
        and small >= MIN_CONTAINED_SHINGLES
        and small >= MIN_CONTAINED_SHARE * large
    )
    return Similarity(jaccard, containment, jaccard >= JACCARD_THRESHOLD or contained)


class StoredIndex(Protocol):
    """What the clustering pass may ask of the stored signatures."""

    def candidate_clusters(
        self,
        record: SignatureRecord,
        article_id: str,
        since: datetime,
        until: datetime,
        per_row: int,
    ) -> set[str]:
        """Clusters of the articles in ``min_shared`` of its bands' ``per_row`` latest."""

    def representatives(self, cluster_ids: Sequence[str]) -> Mapping[str, Placed]:
        """The earliest signed article of each cluster (its time when signed, then id)."""

    def taken(self, cluster_ids: Sequence[str]) -> set[str]:
        """The clusters among ``cluster_ids`` that already hold an article."""


DEFAULT_WINDOW = timedelta(days=7)


def earliest(placed: Placed) -> tuple[datetime, str]:
    """The order of a cluster's representative: its time when signed, then its id."""
    return placed.at, placed.article_id


@dataclass
class _Pass:
    """The state of one clustering pass: what it placed, and the clusters it merged."""

    local: dict[tuple[int, int], list[Placed]] = field(default_factory=dict)
    members: dict[str, list[Placed]] = field(default_factory=dict)  # placed here, by cluster
    renamed: dict[str, str] = field(default_factory=dict)
    merges: list[ClusterMerge] = field(default_factory=list)
    taken: set[str] = field(default_factory=set)  # clusters this pass put an article in
    stored_reps: dict[str, Placed | None] = field(default_factory=dict)  # asked of the store

    def current(self, cluster_id: str) -> str:
        """A cluster id after the merges of this pass."""
        while cluster_id in self.renamed:
            cluster_id = self.renamed[cluster_id]
        return cluster_id

    def add(self, placed: Placed) -> None:
        for key in placed.record.bands:
            self.local.setdefault(key, []).append(placed)
        self.members.setdefault(placed.cluster_id, []).append(placed)
        self.taken.add(placed.cluster_id)

    def near(self, record: SignatureRecord, since: datetime, until: datetime) -> list[Placed]:
        rows = []  # a pass places oldest first (by time, then id): a row's latest are last
        for key in record.bands:
            row = (p for p in reversed(self.local.get(key, ())) if since <= p.at <= until)
            rows.append(list(itertools.islice(row, MAX_PER_ROW)))
        return [p for p, _ in shared_enough(rows, record.min_shared).values()]


def latest(placed: Iterable[Placed], since: datetime, until: datetime, most: int) -> list[Placed]:
    """The ``most`` latest of one index row's articles within the bounds (then by id)."""
    within = (p for p in placed if since <= p.at <= until)
    return heapq.nlargest(most, within, key=lambda p: (p.at, p.article_id))


def shared_enough(rows: Sequence[Sequence[Placed]], least: int) -> dict[str, tuple[Placed, int]]:
    """The articles found in at least ``least`` of ``rows``, by id, with how many."""
    found: dict[str, tuple[Placed, int]] = {}
    for row in rows:
        for p in row:
            found[p.article_id] = (p, found.get(p.article_id, (p, 0))[1] + 1)
    return {a: pair for a, pair in found.items() if pair[1] >= least}


class MinHashClusterer:
    """The near-duplicate decisions of the clustering pass (rules in the module docstring).

    Articles come oldest first within a pass, but a pass may place an article older than
    stored ones (an original arriving after its copies): merges handle that order.
    """

    version = SIGNATURE_VERSION

    def __init__(self, window: timedelta = DEFAULT_WINDOW) -> None:
        self.window = window

    @staticmethod
    def _signature(record: SignatureRecord) -> Signature:
        return Signature.from_stored(record.data or b"", record.shingle_count, record.title_key)

    def place(self, batch: Sequence[Unclustered], stored: StoredIndex) -> Placement:
        """Sign each article of ``batch`` (oldest first) and decide its story cluster."""
        state = _Pass()
        placed: list[Placed] = []
        for item in batch:
            record = from_json(item.signed, self.version) if item.signed is not None else None
            if record is None:  # not signed ahead (or by another version): signed now
                record = sign(item.title, item.body)
            cluster = item.cluster_id
            if not item.resign:  # a re-signed article keeps its cluster
                cluster = self._decide(item, record, stored, state)
            done = Placed(item.article_id, record, cluster, item.at)
            state.add(done)
            placed.append(done)
        final = [Placed(p.article_id, p.record, state.current(p.cluster_id), p.at) for p in placed]
        return Placement(final, tuple(state.merges))

    def _decide(
        self, item: Unclustered, record: SignatureRecord, stored: StoredIndex, state: _Pass
    ) -> str:
        since, until = item.at - self.window, item.at + self.window
        found = stored.candidate_clusters(record, item.article_id, since, until, MAX_PER_ROW)
        found |= {p.cluster_id for p in state.near(record, since, until)}
        mine = self._signature(record)
        clusters = sorted({state.current(c) for c in found})
        placed = self._representatives(clusters, stored, state) if clusters else {}
        reps = {c: self._signature(p.record) for c, p in placed.items()}
        scored = {c: similarity(mine, rep) for c, rep in reps.items()}
        ranked = sorted(
            (c for c, sim in scored.items() if sim.near_duplicate),
            key=lambda c: (scored[c].score, c), reverse=True,
        )  # fmt: skip
        if not ranked:  # like some member, unlike every representative: a weak link
            return self._alone(item, stored, state)
        linked = self._linked(ranked, reps, mine)
        if linked is None:
            return self._alone(item, stored, state)  # it holds two unrelated stories
        if len(linked) > 1:
            survivor = min(linked, key=lambda c: earliest(placed[c]))
            for cluster in linked:
                if cluster != survivor:
                    state.renamed[cluster] = survivor
                    state.merges.append(ClusterMerge(cluster, survivor, item.article_id))
        return state.current(ranked[0])

    @staticmethod
    def _linked(
        ranked: list[str], reps: Mapping[str, Signature], mine: Signature
    ) -> list[str] | None:
        """The clusters to merge: the best match's, and those whose representatives overlap.

        ``ranked``: clusters whose representative the article is a near-duplicate of, best
        first. A cluster joins the merge when its representative overlaps every one already
        in it. None: the article is larger than two representatives it is a near-duplicate
        of that do not overlap each other, so it holds them both (a round-up).
        """
        linked = [ranked[0]]
        for cluster in ranked[1:]:
            apart = [
                c for c in linked
                if similarity(reps[cluster], reps[c]).containment < MERGE_OVERLAP
            ]  # fmt: skip
            if not apart:
                linked.append(cluster)  # the same story: its text overlaps each one's
            elif any(
                mine.shingle_count > max(reps[cluster].shingle_count, reps[c].shingle_count)
                for c in apart
            ):
                return None  # it holds two representatives that share no story
        return linked

    @staticmethod
    def _alone(item: Unclustered, stored: StoredIndex, state: _Pass) -> str:
        """The cluster of an article that matches nothing: its own, unless that is taken."""
        if item.fresh_id is None:
            return item.cluster_id
        mine = state.current(item.cluster_id)
        if mine in state.taken or stored.taken([mine]):
            return item.fresh_id  # its cluster went on without it: it splits off
        return mine

    @staticmethod
    def _representatives(
        clusters: list[str], stored: StoredIndex, state: _Pass
    ) -> dict[str, Placed]:
        """The earliest signed article of each (current) cluster, stored or placed here."""
        old = {c: [o for o, n in state.renamed.items() if state.current(o) == c] for c in clusters}
        ids = sorted({i for c in clusters for i in (c, *old[c])})
        missing = [i for i in ids if i not in state.stored_reps]  # stored state is fixed
        if missing:
            found = stored.representatives(missing)
            state.stored_reps.update({i: found.get(i) for i in missing})
        out: dict[str, Placed] = {}
        for cluster in clusters:
            pool = [r for i in (cluster, *old[cluster]) if (r := state.stored_reps[i])]
            pool += [p for i in (cluster, *old[cluster]) for p in state.members.get(i, ())]
            if pool:
                out[cluster] = min(pool, key=earliest)
        return out


CLUSTERER = MinHashClusterer()
