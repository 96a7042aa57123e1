"""Synthetic articles with realistic body sizes, for load tests and benchmarks."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from ingest.models import Article
from ingest.textutil import content_hash, word_count
from ingest.urls import article_id_for

WORDS = [
    "council",
    "harbour",
    "budget",
    "school",
    "river",
    "bridge",
    "police",
    "market",
    "weather",
    "festival",
    "library",
    "station",
    "hospital",
    "teachers",
    "residents",
    "ferry",
    "road",
    "flooding",
    "plan",
    "vote",
    "report",
    "minister",
    "club",
    "season",
    "match",
    "museum",
    "park",
    "volunteers",
    "housing",
    "prices",
    "business",
    "jobs",
    "court",
]
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _paragraph(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 110))).capitalize() + "."


_POOL_RNG = random.Random(20261125)
POOL = tuple(_paragraph(_POOL_RNG) for _ in range(3000))


def body(rng: random.Random, paragraphs: int, index: int) -> str:
    """A unique body: a lead naming the story, then paragraphs from a shared pool."""
    lead = f"Story number {index} begins with its own lead paragraph about the {rng.choice(WORDS)}."
    return "\n".join([lead, *(POOL[rng.randrange(len(POOL))] for _ in range(paragraphs))])


def synthetic(index: int, *, seed: int = 1) -> Article:
    """Article ``index``: deterministic, about 2-6 kB of body like real news."""
    rng = random.Random(seed * 1_000_003 + index)
    url = f"https://site{index % 50}.example/news/{index}"
    text = body(rng, rng.randint(4, 9), index)
    published = T0 + timedelta(minutes=index)
    return Article(
        article_id=article_id_for(url), canonical_url=url, url=url + "?utm_source=rss",
        final_url=url, source=f"site{index % 50}.example", feed_key=f"feed-{index % 50}",
        guid=f"guid-{index}", title=f"Story {index}: " + " ".join(rng.choice(WORDS) for _ in range(8)),
        body=text, description=text[:200], authors=(f"Writer {index % 97}",), language="en",
        published_at=published, updated_at=None, site_name=f"Site {index % 50}",
        tags=("local", rng.choice(WORDS)), image_url=f"https://site{index % 50}.example/{index}.jpg",
        word_count=word_count(text), content_hash=content_hash(text), raw_hash=None, raw_content_type=None,
        fetched_at=published, extracted_at=published, extractor_version="synthetic",
        pipeline_version="0", url_rules_version=1,
    )  # fmt: skip
