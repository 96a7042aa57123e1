"""The extraction score of ../shared/devset/METRIC.md, implemented here.

Word 4-gram bags; per-document tp/fp/fn normalised so that every document weighs the
same; precision and recall averaged over documents; F1 of the two averages; bootstrap
standard deviation over documents. ``bench/bench_devset.py`` checks, when the reference
scorer is present, that it gives the same numbers on the same predictions.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"\w+")


def tokens(text: str | None) -> list[str]:
    """Runs of word characters, case kept."""
    return _TOKEN.findall(text or "")


def shingle_bag(words: Sequence[str], n: int = 4) -> Counter[tuple[str, ...]]:
    """The multiset of ``n``-token shingles (one shorter shingle for a short text)."""
    if not words:
        return Counter()
    if len(words) < n:
        return Counter([tuple(words)])
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


Counts = tuple[float, float, float]


def document_counts(truth: str, predicted: str, n: int = 4) -> Counts:
    """(tp, fp, fn) of one document, each divided by tp + fp + fn."""
    want, got = shingle_bag(tokens(truth), n), shingle_bag(tokens(predicted), n)
    tp = sum((want & got).values())
    fp = sum((got - want).values())
    fn = sum((want - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def _precision(c: Counts) -> float:
    tp, fp, fn = c
    if fp == 0 and fn == 0:
        return 1.0
    return tp / (tp + fp) if tp + fp > 0 else 0.0


def _recall(c: Counts) -> float:
    tp, fp, fn = c
    if fp == 0 and fn == 0:
        return 1.0
    return tp / (tp + fn) if tp + fn > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Score:
    """Corpus-level figures."""

    f1: float
    precision: float
    recall: float
    f1_std: float = 0.0
    precision_std: float = 0.0
    recall_std: float = 0.0


def _aggregate(counts: Sequence[Counts]) -> tuple[float, float, float]:
    precisions = [_precision(c) for c in counts if c[0] + c[1] > 0]
    recalls = [_recall(c) for c in counts if c[0] + c[2] > 0]
    p = sum(precisions) / len(precisions) if precisions else 0.0
    r = sum(recalls) / len(recalls) if recalls else 0.0
    return (2 * p * r / (p + r) if p + r > 0 else 0.0), p, r


def _std(values: Sequence[float]) -> float:
    if len(values) < 2:  # a sample needs two
        return 0.0
    mean = sum(values) / len(values)
    return (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5


def score(
    truth: Mapping[str, str], predicted: Mapping[str, str], *, n: int = 4,
    bootstrap: int = 1000, seed: int = 0,
) -> tuple[Score, dict[str, Counts]]:  # fmt: skip
    """Score predictions (id -> body) against the truth (id -> body); per-document counts.

    A missing prediction is an empty one. The bootstrap draws documents with a seeded
    ``random.Random`` in sorted-id order, as the reference scorer does, so the ± match.
    """
    ids = sorted(truth)
    counts = [document_counts(truth[i], predicted.get(i) or "", n) for i in ids]
    f1, p, r = _aggregate(counts)
    rng = random.Random(seed)  # noqa: S311 - resampling, not security
    samples: list[tuple[float, float, float]] = []
    for _ in range(bootstrap):
        picks = [rng.randrange(len(ids)) for _ in ids]
        samples.append(_aggregate([counts[j] for j in picks]))
    return (
        Score(f1, p, r, *(_std([s[k] for s in samples]) for k in range(3))),
        dict(zip(ids, counts, strict=True)),
    )
