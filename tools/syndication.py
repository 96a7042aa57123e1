"""A labelled, seeded synthetic news corpus for evaluating near-duplicate detection.

The corpus imitates what our extractor sees when one wire story is republished by several
outlets, and what it sees when *different* stories merely look alike. Every :class:`Item` carries
a ground-truth ``story`` label: items with equal labels are the same story and should cluster;
items with different labels are different stories and must never merge.

Stories are generated from an invented vocabulary (towns, districts, streets, people,
organisations, numbers and dates) and sentence templates grouped into twelve topics (council
budget, harbour works, schools, flooding, football, courts, hospital, transport strike,
festival, by-election, business opening, wildlife). Each topic has three *angles*, distinct
events it can report (a draft budget, an overspend warning, a sale of council buildings), each
with its own lead sentence, headlines and sequel. Stories on the same topic share a lot of
vocabulary; different stories stay lexically distinct through their names, places, numbers and
sentence choices.

Each label has exactly one *root* item. The roots are:

* ``original``: ``stories`` articles of 5-12 paragraphs (40-90 words each). Every original has
  one long quoted paragraph (50-80 words).
* four kinds of hard negative, each resembling one original but with its own label:

  - ``negative-topic``: another story on the same topic in the same week and place, sharing the
    place names and topic words (at least 32% of distinct words, by construction) but reporting
    another angle with different people and numbers;
  - ``follow-up``: the sequel of the original's angle 1-4 days later (the budget vote after the
    draft budget), with the same people; it reuses one paragraph of the original (verbatim or
    lightly copy-edited) and at least 70% of its paragraphs are new;
  - ``live-blog``: a page of short timestamped entries (``14:05 — ...``) about the same event,
    some of which reuse sentences of the original;
  - ``shared-quote``: a story on another angle of the topic (in the same town or another) that
    carries the original's long quoted paragraph verbatim, with otherwise different text.

  Each hard-negative kind has ``round(0.35 * stories)`` roots, resembling distinct originals.

About 70% of originals (and about 35% of the non-live-blog negatives) are republished 1-8 (1-3)
times, 5 minutes to 3 days later. A republication has kind ``syndicated`` (published by another
outlet with a random mix of edits: rewritten or shortened headline, dropped closing paragraphs,
one or two paragraphs reordered, publisher boilerplate lines, and copy edits such as synonyms,
British/American spellings and number styles) or ``update`` (the root plus one or two new
paragraphs, published hours later, sometimes under a new headline). Republications record
nothing but their label; :class:`Corpus` additionally records which original each hard negative
was built to resemble, so that tests and evaluations can pick out the hard pairs.

Every item has an :attr:`Item.arrival` position, the order in which a crawler sees it; in the
default profile that is the publication order.

**The hard profile** (``generate(stories, hard=True)``) is the default corpus for the same
arguments (the same items, labels and texts) plus items that are harder to cluster, drawn from
the same random stream afterwards:

* ``lead-only`` (positive): about 30% of originals get 1-2 copies keeping only their first
  paragraphs, 30-60% of them (at least one), sometimes copy-edited, with publisher boilerplate
  (60%) and a changed headline (55%), like ``syndicated`` copies;
* ``rewrite`` (positive): about 30% of originals get 1-2 heavy rewrites: 30% of the sentences
  dropped (never the first), 10% reworded (an attribution moved to the other end of the
  sentence, an opening phrase dropped or added, synonyms, spellings, number styles), and a new
  headline;
* ``short-brief`` roots and their ``short-copy`` republications (positive): ``round(0.07 *
  stories)`` briefs of 20-40 words, 30% of them under a generic title ("Morning briefing"),
  each republished 1-3 times with light edits (copy edits, headline, a wire credit line);
* ``generic-short`` (hard negative): ``round(0.2 * stories)`` items of 10-40 words (captions,
  short briefs, timestamped live lines) under generic titles such as "Photos of the day",
  "Live updates", "In pictures", "Les photos du jour", "Bilder des Tages", "Las fotos del
  día", "En direct" or "Liveticker", in the title's language. Many items share a title;
  bodies under one title have a word-set Jaccard below 0.25 with each other (by redrawing).
  Each item is its own story;
* ``recap`` (hard negative): ``round(0.17 * stories)`` new stories, 1-6 days after an
  original, in its town, on another angle or topic, with one paragraph recapping the original
  (one of its paragraphs, the lead in 60% of cases, behind a lead-in such as "Earlier this
  week, ", sometimes copy-edited or without its last sentence) and 2-6 new paragraphs;
* ``digest`` (hard negative): ``round(0.1 * stories)`` round-ups under a generic title
  ("Morning briefing", "The day in brief", "Evening round-up", "L'essentiel du jour", "Der Tag
  im Überblick", "Resumen del día", ...): an intro line ("Here are today's main stories.")
  and one paragraph from each of 2-4 distinct stories (a short brief's whole body or an
  original's lead), verbatim or (30%) lightly copy-edited, published 20-120 minutes after
  the latest of them, on its day. 60% of digests start from two short briefs (the
  closest-published pair not yet reprinted together; briefs are rare, so such a pair may span
  up to two or three days) and the rest from an original; both are filled up with short
  briefs, then originals, of the latest source's day. No two digests reprint two of the same
  stories. Each digest is its own story; half of them arrive after every item of their
  sources' stories (when a clusterer could merge those stories through the digest), the
  others 0-60 minutes after publication like any item.

In the hard profile items arrive out of order: each 0-60 minutes after publication, except
that half of the republished roots are backfilled, arriving 12 hours to 6 days after the last
of their copies, so about half of all copies arrive before their root (a copy is still
*published* after it). :func:`arrival_order` sorts items by arrival and
:func:`copies_arriving_first` lists the early copies. :attr:`Corpus.resembles` maps each recap
to its original, each ``generic-short`` item to the first earlier item under the same title and
each digest to its first source; :attr:`Corpus.reprints` maps each digest to all its sources.
The digests are drawn last, so the rest of the hard profile (and its arrival order) is the same
with or without them.

The corpus is deterministic for a given ``seed``, ``stories``, ``start`` and profile; it uses
the standard library only.

Example:
    >>> items = corpus(20, seed=1)
    >>> pairs = same_story_pairs(items)  # the positive pairs of a precision/recall evaluation
    >>> hard = arrival_order(corpus(20, seed=1, hard=True))  # as a backfilling crawler sees it

Run ``python tools/syndication.py [--hard] [stories] [seed]`` for a summary of a corpus (with
``--hard``, also how the digests were built and how many arrive after all their sources).
"""

from __future__ import annotations

import functools
import random
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from itertools import combinations

__all__ = [
    "DIGEST",
    "FOLLOW_UP",
    "GENERIC_SHORT",
    "HARD_NEGATIVE_KINDS",
    "HARD_PROFILE_KINDS",
    "HARD_PROFILE_NEGATIVE_KINDS",
    "KINDS",
    "LEAD_ONLY",
    "LIVE_BLOG",
    "NEGATIVE_TOPIC",
    "ORIGINAL",
    "POSITIVE_KINDS",
    "PUBLISHERS",
    "RECAP",
    "REWRITE",
    "ROOT_KINDS",
    "SHARED_QUOTE",
    "SHORT_BRIEF",
    "SHORT_COPY",
    "SYNDICATED",
    "UPDATE",
    "Corpus",
    "Item",
    "Publisher",
    "arrival_order",
    "copies_arriving_first",
    "corpus",
    "generate",
    "same_story_pairs",
    "summary",
]

ORIGINAL = "original"
SYNDICATED = "syndicated"
UPDATE = "update"
NEGATIVE_TOPIC = "negative-topic"
FOLLOW_UP = "follow-up"
LIVE_BLOG = "live-blog"
SHARED_QUOTE = "shared-quote"
LEAD_ONLY = "lead-only"
REWRITE = "rewrite"
SHORT_BRIEF = "short-brief"
SHORT_COPY = "short-copy"
GENERIC_SHORT = "generic-short"
RECAP = "recap"
DIGEST = "digest"
KINDS = (ORIGINAL, SYNDICATED, UPDATE, NEGATIVE_TOPIC, FOLLOW_UP, LIVE_BLOG, SHARED_QUOTE)
HARD_NEGATIVE_KINDS = (NEGATIVE_TOPIC, FOLLOW_UP, LIVE_BLOG, SHARED_QUOTE)
HARD_PROFILE_KINDS = (
    *KINDS,
    LEAD_ONLY,
    REWRITE,
    SHORT_BRIEF,
    SHORT_COPY,
    GENERIC_SHORT,
    RECAP,
    DIGEST,
)
HARD_PROFILE_NEGATIVE_KINDS = (*HARD_NEGATIVE_KINDS, GENERIC_SHORT, RECAP, DIGEST)
POSITIVE_KINDS = frozenset({SYNDICATED, UPDATE, LEAD_ONLY, REWRITE, SHORT_COPY})
ROOT_KINDS = frozenset({ORIGINAL, SHORT_BRIEF, *HARD_PROFILE_NEGATIVE_KINDS})

DEFAULT_SEED = 20261125
DEFAULT_START = datetime(2026, 11, 1, tzinfo=UTC)

# Shape of the corpus.
MIN_PARAGRAPHS, MAX_PARAGRAPHS = 5, 12
MIN_WORDS, MAX_WORDS = 40, 90  # per paragraph of a root story
MIN_QUOTE_WORDS, MAX_QUOTE_WORDS = 50, 80  # the long quoted paragraph
MIN_KEPT = 3  # a trimmed republication keeps at least this many paragraphs
MAX_TRIM = 4
NEGATIVE_SHARE = 0.35  # of originals, for each hard-negative kind
REPUBLISHED_SHARE = 0.70  # of originals that get republications
MAX_REPUBLICATIONS = 8
NEGATIVE_REPUBLISHED_SHARE = 0.35  # of negative roots (not live blogs) that get republications
MAX_NEGATIVE_REPUBLICATIONS = 3
UPDATE_SHARE = 0.15  # of republications that are updates
STORIES_PER_DAY = 8
MIN_SPAN_DAYS = 14
MIN_DELAY_MINUTES = 5
MAX_DELAY_MINUTES = 3 * 24 * 60
MIN_SENTENCES = 2
MIN_LIVE_ENTRIES, MAX_LIVE_ENTRIES = 12, 26
LIVE_REUSE_SHARE = 0.4
NEGATIVE_MIN_OVERLAP = 0.32  # distinct-word Jaccard of a negative-topic story with its source
NEGATIVE_ATTEMPTS = 300  # rarely more than a few are needed
EM_DASH = "\N{EM DASH}"

# The hard profile (``generate(..., hard=True)``), on top of the default corpus.
LEAD_ONLY_SHARE = 0.3  # of originals that get 1-2 lead-only copies
REWRITE_SHARE = 0.3  # of originals that get 1-2 heavy rewrites
MAX_HARD_COPIES = 2
LEAD_KEEP = (3, 6)  # a lead-only copy keeps between 3/10 and 6/10 of the paragraphs (at least 1)
REWRITE_DROP = 0.30  # share of an original's sentences a rewrite drops (never the first)
REWRITE_REWORD = 0.10  # share of an original's sentences a rewrite rewords
SHORT_BRIEF_SHARE = 0.07  # short briefs per original, each republished 1-3 times
MIN_BRIEF_WORDS, MAX_BRIEF_WORDS = 20, 40
MAX_SHORT_COPIES = 3
BRIEF_GENERIC_TITLE_SHARE = 0.3  # of short briefs filed under a generic title
GENERIC_SHARE = 0.2  # generic-short items per original
MIN_GENERIC_WORDS, MAX_GENERIC_WORDS = 10, 40
GENERIC_MAX_JACCARD = 0.25  # word-set Jaccard between two generic-short bodies under one title
GENERIC_ATTEMPTS = 60
RECAP_SHARE = 0.17  # recaps per original
MIN_RECAP_PARAGRAPHS, MAX_RECAP_PARAGRAPHS = 3, 7
BACKFILL_SHARE = 0.5  # of republished roots that arrive after all their copies
DIGEST_SHARE = 0.1  # digests (round-ups) per original
DIGEST_BRIEF_SHARE = 0.6  # of digests built on 2-4 short briefs (while pairs of briefs last)
MIN_DIGEST_ITEMS, MAX_DIGEST_ITEMS = 2, 4
DIGEST_EDIT_SHARE = 0.3  # of reprinted paragraphs lightly copy-edited
DIGEST_LATE_SHARE = 0.5  # of digests arriving after every item of their sources' stories
DIGEST_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class Item:
    """One article as our extractor would output it, with its ground-truth story label.

    Attributes:
        item_id: Unique id, ``<story>-p<n>``; ``p0`` is the story's root item.
        story: Ground-truth label; items with the same label are the same story.
        kind: One of :data:`KINDS`.
        publisher: Publisher slug, e.g. ``"harbour-gazette"``.
        url: ``https://<host>/<section>/<yyyy>/<mm>/<dd>/<slug>``, distinct per item.
        title: The headline.
        body: Plain-text paragraphs separated by blank lines.
        published_at: Aware UTC publication time.
        arrival: Position in the order the crawler sees the items (0 first). The default
            profile's items arrive in publication order; see :func:`arrival_order`.
    """

    item_id: str
    story: str
    kind: str
    publisher: str
    url: str
    title: str
    body: str
    published_at: datetime
    arrival: int = 0


@dataclass(frozen=True, slots=True)
class Publisher:
    """An invented outlet with its own URL layout, headline case and boilerplate style.

    Attributes:
        slug: Short name used in :attr:`Item.publisher`.
        name: Masthead name used in boilerplate lines.
        host: Host name of its URLs (under the reserved ``.example`` top-level domain).
        wire: The wire service it credits.
        newsletter: The name of its newsletter.
        agency: The photo agency it credits.
        style: Selects this outlet's variant of every boilerplate line, URL and section layout.
    """

    slug: str
    name: str
    host: str
    wire: str
    newsletter: str
    agency: str
    style: int

    @property
    def title_case(self) -> bool:
        """Whether this outlet capitalises every major word of its headlines."""
        return self.style % 5 == 3  # noqa: PLR2004 - one outlet in five

    @property
    def photo_on_top(self) -> bool:
        return self.style % 2 == 0

    @property
    def wire_on_top(self) -> bool:
        return self.style % 3 == 0

    def section(self, topic_section: str) -> str:
        """The URL section this outlet files a story of ``topic_section`` under."""
        layout = self.style % 3
        if layout == 0:
            return topic_section
        if layout == 1:
            return "sport" if topic_section == "sport" else "news"
        return f"{topic_section}-news"


@dataclass(frozen=True, slots=True)
class Corpus:
    """A generated corpus with the relations a precision/recall evaluation needs.

    Attributes:
        items: Every item, ordered by publication time then item id.
        resembles: Hard-negative root item id -> id of the original it was built to resemble
            (for a ``generic-short`` item: the first earlier item under the same title; for a
            ``digest``: the source of its first reprinted paragraph).
        reprints: ``digest`` item id -> the root item ids of every story it reprints a
            paragraph of, in body order (empty outside the hard profile).
    """

    items: tuple[Item, ...]
    resembles: Mapping[str, str] = field(default_factory=dict)
    reprints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def by_id(self) -> dict[str, Item]:
        """Items keyed by item id."""
        return {item.item_id: item for item in self.items}

    def hard_negative_pairs(self) -> set[frozenset[str]]:
        """Pairs that must not cluster: every item of a hard negative's story x its original's.

        A digest pairs with the items of every story it reprints (:attr:`reprints`).
        """
        members: dict[str, list[str]] = defaultdict(list)
        for item in self.items:
            members[item.story].append(item.item_id)
        index = self.by_id()
        relations = [*self.resembles.items()]
        relations += [(d, s) for d, sources in self.reprints.items() for s in sources]
        return {
            frozenset((a, b))
            for negative, original in relations
            for a in members[index[negative].story]
            for b in members[index[original].story]
        }


# ----------------------------------------------------------------------------------------------
# Vocabulary. Everything below is invented for this corpus.

TOWNS = (
    "Kelmarsh Bay", "Wrenbury", "Aldermoor", "Brackenhithe", "Corrowby", "Dunmere",
    "Easterleigh", "Fallowmouth", "Gildersby", "Hollins Reach", "Ivelstone", "Jessop's Ford",
    "Kirkwell Sands", "Larchmouth", "Mossbridge", "Netherwick", "Oakhaven", "Pellington",
    "Quarrendon Vale", "Redcastle Point", "Saltmere", "Thornsey Quay", "Ulverholme", "Westerby",
    "Yarrowdale", "Ashcombe Magna", "Brindlemoor", "Caddington Wells", "Drakes Landing",
    "Emberton Cross",
)  # fmt: skip
DISTRICTS = (
    "Northgate", "Ropewalk", "Tanners Row", "St Aldric's", "Fenside", "Copper Hill",
    "Lowther Park", "Beacon Rise", "Kilnfield", "Saltings", "Elmstead", "Glebe End",
    "Harrowfield", "Foundry Yard", "Larkspur Green", "Netley Common", "Orchard Heights",
    "Pinfold", "Quarry Bank", "Ravenscroft", "Sandpipers", "Tidewell", "Upper Crofton",
    "Verity Fields", "Whinmoor", "Badger's Holt",
)  # fmt: skip
STREETS = (
    "Chandler Street", "Quayside Road", "Mill Lane", "Ferry Approach", "Castle Walk",
    "Rope Street", "Gasworks Lane", "Albion Terrace", "Weavers Way", "Market Hill",
    "Coronation Avenue", "Bellfounder Row", "Lighthouse Road", "Station Parade", "Abbey Gate",
    "Cooper's Lane", "Trinity Street", "Victoria Parade", "Sexton Lane", "Granary Wharf",
    "Beckside", "Plover Drive", "Hatter's Lane", "Saltpan Road",
)  # fmt: skip
FIRST_NAMES_F = (
    "Priya", "Megan", "Aisha", "Fiona", "Helen", "Joanna", "Ruth", "Siobhan", "Chloe", "Nadia",
    "Grace", "Imogen", "Leah", "Olivia", "Tamsin", "Yasmin", "Bethan", "Catrin", "Deborah",
    "Esther", "Farah", "Gemma", "Harriet", "Ines", "Kirsty", "Lorna", "Maryam", "Niamh",
    "Rosalind", "Sunita", "Verity", "Zoe", "Anwen", "Bridget", "Carys", "Delphine",
)  # fmt: skip
FIRST_NAMES_M = (
    "Aled", "Ben", "Callum", "Darren", "Emeka", "Farid", "Gareth", "Hamish", "Idris", "Jonah",
    "Kwame", "Liam", "Marcus", "Nikhil", "Owen", "Patrick", "Rhys", "Samuel", "Tariq", "Umar",
    "Vikram", "Warren", "Yusuf", "Alastair", "Bernard", "Connor", "Declan", "Ewan", "Fergus",
    "Graham", "Hassan", "Ivan", "Jerome", "Kieran", "Lewis", "Malcolm",
)  # fmt: skip
SURNAMES = (
    "Okafor", "Pemberton", "Rowntree", "Haldane", "Ashworth", "Bellamy", "Castellan",
    "Dimitriou", "Evershed", "Fairbairn", "Gallacher", "Hargreaves", "Iqbal", "Jessup",
    "Kavanagh", "Lindqvist", "Mensah", "Nightingale", "Oduya", "Prentice", "Quinlan",
    "Rafferty", "Sandhu", "Tremlett", "Underwood", "Varga", "Whitlock", "Yeomans", "Zielinski",
    "Abernethy", "Brannigan", "Chowdhury", "Dunleavy", "Ellison", "Frobisher", "Garside",
    "Holloway", "Ingleby", "Jardine", "Kettering", "Lomax", "McAteer", "Nwosu", "Ogilvie",
    "Penhaligon", "Quarmby", "Ridley", "Sefton", "Thorne", "Usher", "Venables", "Wragg",
    "Adeyemi", "Blackwood", "Carrick", "Delaney", "Eastwood", "Fenwick", "Goddard", "Hussain",
    "Ives", "Kowalczyk", "Lennox", "Marchetti", "Naylor", "Osei", "Petrakis", "Redfern",
    "Szabo", "Tennant",
)  # fmt: skip

_POOLS: dict[str, tuple[str, ...]] = {
    "group": (
        "residents", "families", "shopkeepers", "commuters", "parents", "pensioners",
        "volunteers", "campaigners", "tenants", "young people", "local traders", "dog walkers",
        "carers", "taxi drivers", "students",
    ),
    "when": (
        "within weeks", "by the end of the month", "early next year", "before the summer",
        "in the coming days", "later this month", "after the holidays",
    ),
    "period": ("week", "fortnight", "month", "quarter"),
    "adj_bad": (
        "chaotic", "shambolic", "deeply disappointing", "a missed opportunity", "short-sighted",
        "a betrayal of trust",
    ),
    "past_event": (
        "a smaller scheme was abandoned after a legal challenge",
        "a similar row ended up before a government inspector",
        "hundreds of people marched through the town centre",
        "the town was briefly in the national headlines",
        "an independent review was ordered",
        "a public inquiry sat for three weeks",
    ),
    "short_quote": (
        "We just want clear answers and a timetable we can trust.",
        "People here are fed up with being told to wait.",
        "It is not too late to get this right.",
        "We will keep pushing until somebody listens.",
        "There is a lot of goodwill in this town, and it should not be wasted.",
        "Nobody has explained how any of this is going to work in practice.",
        "We are on the right track, but there is more to do.",
        "I have never seen the town so united about anything.",
        "The detail matters, and we have not seen the detail yet.",
        "This is a good day for {town}.",
    ),
    "mood": ("tense", "calm", "upbeat", "subdued", "noisy but good-natured"),
    "weather_now": ("dry but cold", "grey and drizzly", "bright and breezy", "damp and misty"),
}  # fmt: skip

GENERAL_SENTENCES = (
    "{c}, {c_role}, said {group} had been left with more questions than answers.",
    "Speaking on {weekday}, {a_s} said the {tw} would remain a priority {when}.",
    "Around {rsmall} {group} are thought to have been directly affected, according to figures seen by this newspaper.",
    "The {tw} has been a source of friction in {town} for several years.",
    "{b_s} questioned whether the {tw} had been properly examined before decisions were taken.",
    "A public meeting has been arranged at a community hall in {district} on {date} at {time}.",
    "Some {group} in {district} said they first heard about the {tw} through social media.",
    '{d}, {d_role}, said the situation was "not unusual" for a town the size of {town}.',
    "{org} said it had received {rn} formal complaints since the start of the year.",
    "A petition started by {group} in {district} has gathered more than {rbig} signatures.",
    "A spokesperson for {org} said it would not comment further until {date}.",
    "The last time {town} faced anything similar was in {past_year}, when {past_event}.",
    "Businesses on {street} say trade has already been affected.",
    '{c_s} said: "{short_quote}"',
    'Critics have described the handling of the {tw} as "{adj_bad}".',
    "It is understood that {org} will publish a fuller statement {when}.",
    "The matter is expected to come up again at a meeting on {date}.",
    "{a_s} said lessons had been learned and that {group} would be kept informed.",
    "Neighbouring {neighbour} went through something similar last year.",
    "{d_s} warned that further delays could add {rmoney2} to the eventual cost.",
    "Several {group} who spoke to reporters on {street} said they were worried about what comes next.",
    "Questions about the {tw} were first raised in a report published in {month}.",
    "A decision on the next steps is expected {when}.",
    "{b_s} said the people of {district} deserved better.",
    "Officials have promised to publish updated figures every {period}.",
    "{org} confirmed that {rn} members of staff had been assigned to deal with the {tw}.",
    "Anyone with concerns has been asked to contact {org} by telephone or through its website.",
    "More details are expected at a briefing on {weekday} morning.",
    '{a_s} added: "{short_quote}"',
    "Local radio phone-ins in {town} have been dominated by the {tw} for much of the week.",
    "The organisation's annual report, published in {month}, made no mention of the {tw}.",
    "Figures from {org2} suggest that about {rpct} of {group} in the area share those concerns.",
    "Figures released in {month} put the number of {group} affected at more than {rsmall}.",
    "{org} has set up a dedicated telephone line for {group} with questions.",
    "The issue has divided opinion on {street}, where some {group} back the plans and others do not.",
    "{d_s} said the wider lesson was that small decisions could have large consequences for {group}.",
    "A report to {org2} is due to be published before {date}.",
    "Social media groups in {district} have been busy with comments about the {tw} since {weekday}.",
    "Those wanting to comment have until {date} to do so.",
    "{c_s} said most {group} in {district} simply wanted to be told what was going on.",
    "The {tw} is one of several issues that have come to a head in {town} this year.",
    "{a_s} is due to meet {group} from {district} on {date}.",
    "A similar approach in {neighbour} was said to have worked well.",
    "Around {rpct} of those who answered an online survey said they had not been consulted.",
    "Officials in {town} declined to say how much the {tw} had cost so far.",
    "{b_s} has written to {org} asking for a full explanation.",
)
OPENERS = (
    "Meanwhile, ",
    "At the same time, ",
    "Separately, ",
    "In {town}, ",
    "As things stand, ",
    "For now, ",
)
TAILS = (
    ", according to {org}",
    ", officials said",
    ", it is understood",
    ", a spokesperson confirmed",
    ", sources said",
)
_LOWERABLE = frozenset({"The", "A", "An", "Some", "Several", "More", "Around"})
OPENER_SHARE = 0.15
TAIL_SHARE = 0.2
GENERAL_QUOTES = (
    "I understand why people in {district} are worried, and I would be worried too in their position.",
    "We have never hidden from difficult questions and we are not going to start now.",
    "There will be plenty of chances for {group} to have their say over the coming weeks.",
    "Nothing about this has been easy, but I am confident it is the right thing to do.",
    "I want to be honest with people about what we can and cannot promise {when}.",
    "We owe it to the next generation in {town} to get this right the first time.",
    "The easy thing would have been to do nothing, and that was never an option.",
    "I am grateful to the {rsmall} people who have taken the time to write to us.",
    "I have been in this job for {rn} years and I have never seen anything quite like it.",
    "The {tw} matters to every household in {town}, whatever some people may say.",
    "I would rather be criticised for acting than for sitting on my hands.",
    "My door is open to anyone in {district} who wants to talk about the {tw}.",
    "We will publish everything we know, and we will do it {when}.",
    "I have listened to {group} in {town} and I have changed my mind on some of the detail.",
    "If we get the {tw} right, people will look back on this as a turning point.",
    "There is no secret plan here, just hard choices made in the open.",
)
UPDATE_LEADS = (
    "In a statement issued on {weekday} afternoon, {org} said it was aware of the concerns and would respond in full {when}.",
    "Since this story was first published, {b_s} has called for an urgent meeting with {org}.",
    "Later on {weekday}, {org2} said it would be looking closely at what had happened.",
    "{c_s} has since said that more than {rsmall} people have been in touch to offer support.",
    "A further statement from {org} on {weekday} evening confirmed that the {tw} would be reviewed.",
    "It has since emerged that {org} was warned about the {tw} as early as {month}.",
)
FOLLOW_UP_LINKS = (
    "The story was first reported on {prev_weekday}.",
    "It follows days of debate in {town} about the {tw}.",
    "Our earlier report on {prev_weekday} set out the background.",
)
LIVE_INTROS = (
    "Welcome to our live coverage of {event}. We will bring you the latest updates as they happen, with reports from our team in {town}.",
    "Follow the latest on {event} here. Our reporters are in {town} and will update this page throughout the day.",
)
LIVE_TITLES = ("Live: {headline}", "{headline} {dash} live updates", "As it happened: {headline}")
LIVE_ENTRIES = (
    "We are expecting a statement from {org} shortly.",
    "A reminder that you can send us your pictures and videos.",
    '{c_s} has told our reporter at the scene: "{short_quote}"',
    "Our reporter says the mood is {mood}.",
    "Still no word from {org} on the timing of the next update.",
    "{b_s} has posted a short message on social media calling for calm.",
    "Here is a quick recap of what we know so far.",
    "Traffic is building up on {street}, according to readers.",
    "We will be pausing our coverage briefly, but will be back soon.",
    "{a_s} has just spoken to reporters outside {venue}.",
    "The weather is {weather_now} in {town} at the moment.",
    "Thanks for all your messages this morning. Keep them coming.",
)

# Boilerplate families; each publisher uses one variant of each.
WIRE_LINES = (
    "This story was supplied by the {wire} wire service.",
    "This article was provided by {wire} and is published under licence.",
    "Copy supplied by {wire}.",
    "Originally distributed by {wire}; edited by the {paper} news desk.",
)
REPORTING_LINES = (
    "Additional reporting by {reporter}.",
    "With additional reporting from {reporter} in {town}.",
    "{reporter} contributed to this report.",
)
READ_MORE_LINES = (
    "Read more: {other}",
    "READ MORE: {other}",
    "Related: {other}",
    "You may also like: {other}",
)
NEWSLETTER_LINES = (
    "Sign up to our {newsletter} newsletter for the day's top stories.",
    "Get {newsletter} in your inbox every morning. Sign up free on our website.",
    "Sign up to {newsletter}, our free daily email of local news.",
    "Never miss a story: sign up to the {newsletter} newsletter.",
)
PHOTO_LINES = (
    "Photo: {photographer}/{agency}",
    "Main image: {photographer} ({agency})",
    "Picture: {agency}",
    "Image credit: {photographer} for {paper}",
)

_PUBLISHER_ROWS = (
    ("harbour-gazette", "The Harbour Gazette", "www.harbourgazette.example", "Morning Tide"),
    ("northern-courier", "The Northern Courier", "www.northerncourier.example", "Courier Briefing"),
    ("valley-echo", "Valley Echo", "valleyecho.example", "Echo Daily"),
    ("coastal-herald", "Coastal Herald", "www.coastalherald.example", "Herald Headlines"),
    ("evening-lantern", "The Evening Lantern", "www.eveninglantern.example", "Lantern Lunchtime"),
    ("county-chronicle", "County Chronicle", "news.countychronicle.example", "Chronicle Catch-up"),
    ("weekly-beacon", "The Weekly Beacon", "www.weeklybeacon.example", "Beacon Bulletin"),
    ("metro-dispatch", "Metro Dispatch", "metrodispatch.example", "Dispatch Digest"),
    ("riverside-post", "Riverside Post", "www.riversidepost.example", "Post Early"),
    ("morning-sentinel", "The Morning Sentinel", "www.morningsentinel.example", "Sentinel Sunrise"),
    ("marsh-observer", "Marsh Observer", "www.marshobserver.example", "Marsh Notes"),
    ("upland-times", "Upland Times", "www.uplandtimes.example", "Upland Letter"),
    ("city-ledger", "City Ledger", "cityledger.example", "Ledger Lines"),
    ("tidewater-review", "Tidewater Review", "www.tidewaterreview.example", "Tide Tables"),
    ("borough-bugle", "Borough Bugle", "www.boroughbugle.example", "Bugle Call"),
    ("westward-mercury", "Westward Mercury", "www.westwardmercury.example", "Mercury Rising"),
)
_WIRES = ("Northlight News Agency", "Coastline Press", "Meridian Wire", "Eastgate Newswire")
_AGENCIES = ("Tidal Images", "Lensbay Pictures", "County Photo Desk", "Brightline Media")
PUBLISHERS = tuple(
    Publisher(slug, name, host, _WIRES[i % 4], letter, _AGENCIES[(i // 4) % 4], i)
    for i, (slug, name, host, letter) in enumerate(_PUBLISHER_ROWS)
)

# Hard profile: generic titles and the short bodies filed under them, recap lead-ins.
GENERIC_TITLES: Mapping[str, tuple[str, ...]] = {
    "en": (
        "Photos of the day", "Live updates", "Morning briefing", "Follow live coverage here",
        "Today's headlines", "In pictures", "News in brief",
    ),
    "fr": ("Les photos du jour", "En direct"),
    "de": ("Bilder des Tages", "Liveticker"),
    "es": ("Las fotos del día", "En directo"),
}  # fmt: skip
GENERIC_LANGUAGE_WEIGHTS = (0.7, 0.1, 0.1, 0.1)  # en, fr, de, es
LIVE_GENERIC_TITLES = frozenset(
    {"Live updates", "Follow live coverage here", "En direct", "Liveticker", "En directo"}
)
BRIEF_GENERIC_TITLES = ("Morning briefing", "Today's headlines", "News in brief")
DIGEST_TITLES: Mapping[str, tuple[str, ...]] = {
    "en": (
        "Morning briefing", "Today's headlines", "News in brief", "The day in brief",
        "Evening round-up",
    ),
    "fr": ("L'essentiel du jour", "Le point du soir"),
    "de": ("Der Tag im Überblick",),
    "es": ("Resumen del día",),
}  # fmt: skip
DIGEST_INTROS: Mapping[str, tuple[str, ...]] = {
    "en": (
        "Here are today's main stories.", "The stories making the news today.",
        "A quick look at what happened today.", "In case you missed them, today's main stories.",
    ),
    "fr": ("Voici l'essentiel de l'actualité du jour.",),
    "de": ("Das Wichtigste des Tages im Überblick.",),
    "es": ("Estas son las noticias más destacadas del día.",),
}  # fmt: skip
DIGEST_LANGUAGE_WEIGHTS = (0.8, 0.07, 0.07, 0.06)  # en, fr, de, es
GENERIC_LINES: Mapping[str, tuple[str, ...]] = {
    "en": (
        "Fishing boats leave {town} harbour before dawn on {weekday}.",
        "A heron waits for its breakfast on the mudflats near {district}.",
        "Runners cross the finish line of the {town} fun run on {street}.",
        "Snow dusts the rooftops of {district} after a bitterly cold night.",
        "Pupils from {district} Primary plant {n} trees beside {street}.",
        "Lanterns light up {street} for the winter market in {town}.",
        "Firefighters tackle a grass fire on the edge of {neighbour}.",
        "The {town} lifeboat crew practise a rescue off the north beach.",
        "{first} {surname}, {age}, shows off a prize marrow at the {town} show.",
        "Traffic crawls along the {neighbour} bypass behind a broken-down lorry.",
        "Road closures stay in place on {street} until {weekday} evening.",
        "Council offices in {town} reopen at 9am after the holiday.",
        "Police appeal for witnesses after a break-in at a shop in {district}.",
        "Heavy rain is forecast for most of the county by {weekday} afternoon.",
        "Trains between {town} and {neighbour} are running normally again.",
        "A new bakery opens its doors on {street} in {district}.",
        "Swimmers brave the cold water at {neighbour} beach for charity.",
        "The old bridge at {town} will close overnight for repairs.",
        "Voting closes at 10pm in the {district} ward by-election.",
        "Tickets for the {neighbour} carnival go on sale on {weekday}.",
        "Scaffolding finally comes down from the clock tower in {town}.",
        "Farmers move sheep to higher ground near {neighbour} ahead of the storm.",
        "Commuters queue for replacement buses on {street} during the rail strike.",
        "A choir of {n} pensioners sings carols outside {town} station.",
        "Volunteers clear litter from the dunes north of {neighbour}.",
        "Kite surfers make the most of strong winds at {town} bay.",
        "An art trail of {n} painted benches opens in {district}.",
        "Divers recover a lost anchor from the bottom of {town} marina.",
    ),
    "fr": (
        "Des bateaux de pêche quittent le port de {town} avant l'aube.",
        "Un marché de Noël s'installe sur la place de {district}.",
        "Les pompiers luttent contre un feu de broussailles près de {neighbour}.",
        "Des élèves de {district} plantent {n} arbres le long de {street}.",
        "Le vieux pont de {town} sera fermé cette nuit pour travaux.",
        "Des coureurs franchissent l'arrivée du semi-marathon de {neighbour}.",
        "La neige recouvre les toits de {district} après une nuit glaciale.",
        "Les trains entre {town} et {neighbour} circulent normalement.",
        "Une nouvelle boulangerie ouvre ses portes à {neighbour}.",
        "Conseil municipal de {town} ce soir à dix-neuf heures.",
        "Des nageurs bravent l'eau froide à {town} pour une association.",
        "Appel à témoins après un cambriolage dans une boutique de {district}.",
        "Fortes pluies attendues sur tout le département demain après-midi.",
        "Embouteillages importants sur la rocade de {neighbour} ce matin.",
    ),
    "de": (
        "Fischerboote verlassen vor Sonnenaufgang den Hafen von {town}.",
        "Auf dem Marktplatz in {district} öffnet der Weihnachtsmarkt.",
        "Die Feuerwehr löscht einen Flächenbrand am Rand von {neighbour}.",
        "Schüler aus {district} pflanzen {n} Bäume entlang der {street}.",
        "Die alte Brücke in {town} bleibt heute Nacht wegen Reparaturen gesperrt.",
        "Läufer erreichen das Ziel beim Stadtlauf in {neighbour}.",
        "Schnee bedeckt nach eisiger Nacht sämtliche Dächer von {district}.",
        "Zwischen {town} und {neighbour} fahren Züge wieder planmäßig.",
        "Eine neue Bäckerei eröffnet in {neighbour}.",
        "Stadtrat {town} tagt heute Abend ab neunzehn Uhr.",
        "Schwimmer trotzen dem kalten Wasser am Strand von {town}.",
        "Polizei sucht Zeugen nach Einbruch in ein Geschäft in {district}.",
        "Starker Regen wird morgen Nachmittag im ganzen Landkreis erwartet.",
        "Langer Stau auf der Umgehungsstraße bei {neighbour} heute früh.",
    ),
    "es": (
        "Barcos de pesca salen del puerto de {town} antes del amanecer.",
        "Un mercado navideño abre en la plaza de {district}.",
        "Los bomberos apagan un incendio forestal cerca de {neighbour}.",
        "Alumnos de {district} plantan {n} árboles junto a {street}.",
        "El viejo puente de {town} cerrará esta noche por obras.",
        "Corredores cruzan la meta de la carrera popular de {neighbour}.",
        "Nieve sobre los tejados de {district} tras una noche helada.",
        "Trenes entre {town} y {neighbour} vuelven a circular con normalidad.",
        "Una nueva panadería abre sus puertas en {neighbour}.",
        "Pleno municipal de {town} esta tarde a las siete.",
        "Nadadores desafían el agua fría en {town} con fines benéficos.",
        "La policía busca testigos tras un robo en una tienda de {district}.",
        "Fuertes lluvias previstas mañana por la tarde en toda la comarca.",
        "Largos atascos en la circunvalación de {neighbour} esta mañana.",
    ),
}  # fmt: skip
RECAP_LEADINS = (
    "Earlier this week, ",
    "As we reported on {prev_weekday}, ",
    "On {prev_weekday}, ",
    "To recap: ",
    "In case you missed it, ",
)
# Rewording in heavy rewrites, on top of the copy editors' SYNONYMS.
REWORDS = {
    "decision": "ruling",
    "report": "study",
    "questions": "queries",
    "figures": "numbers",
    "statement": "announcement",
    "meeting": "gathering",
    "published": "released",
    "confirmed": "stated",
    "issue": "matter",
    "start": "beginning",
    "problem": "difficulty",
    "plan": "scheme",
    "support": "backing",
    "concern": "unease",
    "criticised": "attacked",
    "increase": "rise",
    "delays": "hold-ups",
    "town": "community",
}
_ATTRIBUTION = re.compile(
    r"^(?P<head>[^\"]+), (?P<tail>according to [^,\"]+|officials said|it is understood|"
    r"a spokesperson confirmed|sources said)\.$"
)
_SAID = re.compile(r"^(?P<who>[A-Z][\w']*(?: [A-Z][\w']*){1,3}) said (?:that )?(?P<what>[^\"]+)\.$")

# Copy edits.
SYNONYMS = {
    "residents": "locals",
    "plans": "proposals",
    "warned": "cautioned",
    "concerns": "worries",
    "began": "started",
    "major": "significant",
    "spokesperson": "representative",
    "shortly": "soon",
    "around": "about",
    "families": "households",
    "several": "a number of",
    "quickly": "swiftly",
    "additional": "extra",
    "said": "added",
    "expected": "likely",
    "worried": "anxious",
    "help": "support",
    "likely": "set",
    "almost": "nearly",
    "announced": "revealed",
}
BRITISH_TO_AMERICAN = {
    "harbour": "harbor",
    "centre": "center",
    "organisation": "organization",
    "organisers": "organizers",
    "programme": "program",
    "neighbours": "neighbors",
    "neighbouring": "neighboring",
    "labour": "labor",
    "favour": "favor",
    "colour": "color",
    "defences": "defenses",
    "licence": "license",
    "metres": "meters",
    "millimetres": "millimeters",
    "travellers": "travelers",
    "cancelled": "canceled",
    "apologise": "apologize",
    "recognised": "recognized",
    "criticised": "criticized",
    "theatre": "theater",
    "realised": "realized",
    "behaviour": "behavior",
    "kerb": "curb",
    "councillors": "councilors",
    "councillor": "councilor",
    "programmes": "programs",
    "storey": "story",
    "practise": "practice",
}
NUMBER_WORDS = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
    "nineteen", "twenty",
)  # fmt: skip
_SMALL_NUMBER = re.compile(r"(?<![\-£.,:\d])\b(\d{1,2})(?= [a-z])")
_PER_CENT = re.compile(r"(\d+) per cent")
_MILLIONS = re.compile(r"£(\d+(?:\.\d)?)m\b")
_THOUSANDS = re.compile(r"£(\d+),000\b")
_SLOT = re.compile(r"\{(\w+)\}")
_SHORTEN_AT = (": ", " as ", " after ", " with ", " despite ", " amid ", " in front of ", " under ")
_SMALL_TITLE_WORDS = frozenset(
    {"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with"}
)


# ----------------------------------------------------------------------------------------------
# Topics.

_STANDARD_KEEP = ("town", "neighbour", "district", "street", "org", "org2", "venue")


@dataclass(frozen=True, slots=True)
class _Angle:
    """One kind of event on a topic, with its headlines and its sequel (for follow-ups)."""

    lead: str  # the first sentence
    headlines: tuple[str, ...]
    follow_lead: str
    follow_headlines: tuple[str, ...]
    event: str  # what a live blog on it covers


@dataclass(frozen=True, slots=True)
class _Topic:
    key: str
    section: str
    org: tuple[str, ...]
    org2: tuple[str, ...]
    venue: tuple[str, ...]
    roles: tuple[tuple[str, str], ...]  # (role, honorific; "" means Mr/Ms) for a, b, c, d
    words: tuple[str, ...]  # topic words for the {tw} slot
    angles: tuple[_Angle, ...]  # three distinct events a story on this topic can report
    sentences: tuple[str, ...]
    quotes: tuple[str, ...]
    live: tuple[str, ...]
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    keep: tuple[str, ...] = _STANDARD_KEEP  # facts a negative-topic story shares with its original
    distinct: tuple[str, ...] = ()  # facts a negative-topic story must not share (its own event)
    speaker: str = "a"  # who speaks the long quote


_TOPICS = (
    _Topic(
        key="council-budget",
        section="politics",
        org=("{town} Borough Council", "{town} District Council"),
        org2=("the Regional Finance Board", "the Local Audit Office"),
        venue=("{town} Civic Centre", "the Guildhall in {town}"),
        roles=(
            ("leader of {org}", ""),
            ("leader of the opposition group on the council", ""),
            ("chair of the {district} Residents' Association", ""),
            ("a public finance lecturer at {neighbour} University", "Dr"),
        ),
        words=(
            "council tax rise", "budget gap", "savings plan", "use of reserves", "library service",
            "bin collection schedule", "social care budget", "spending review", "funding settlement",
            "parking charge increase", "capital programme", "efficiency target",
        ),
        angles=(
            _Angle(
                lead="{org} has proposed raising council tax by {pct} as it tries to close a budget gap of {money}.",
                headlines=("{town} council proposes {pct} council tax rise to close {money} gap", "{money} hole in {town} finances prompts council tax rise plan", "{town} bill payers face {pct} council tax increase"),
                follow_lead="Councillors in {town} have approved a {pct} rise in council tax after a meeting at {venue} that ran late into the night.",
                follow_headlines=("{town} councillors approve budget after marathon meeting", "Late-night meeting ends with {town} council tax rise approved"),
                event="the budget meeting at {venue}",
            ),
            _Angle(
                lead="{org} is heading for an overspend of {money} this year, largely because of rising demand for care services, a report to councillors has warned.",
                headlines=("{town} council warned of {money} overspend", "Care costs push {town} council towards {money} overspend", "Overspend of {money} looms for {org}"),
                follow_lead="{org} has frozen all non-essential spending for the rest of the year in an attempt to close a forecast overspend.",
                follow_headlines=("{town} council freezes spending to tackle overspend", "Spending freeze ordered at {org}"),
                event="the finance meeting at {venue}",
            ),
            _Angle(
                lead="{org} plans to sell {n} buildings, including the old library on {street}, to raise {money} for repairs to schools and roads.",
                headlines=("{town} council to sell {n} buildings to raise {money}", "Old library on {street} among {town} council sell-off sites", "{a_s} defends plan to sell {n} council buildings"),
                follow_lead="The old library on {street} has been sold at auction, the first of {n} buildings that {org} is putting on the market.",
                follow_headlines=("Old {town} library sold at auction", "First council building sold as {town} sell-off begins"),
                event="the council debate on selling {n} buildings",
            ),
        ),
        sentences=(
            "The draft budget includes plans to reduce opening hours at {n} libraries and to move bin collections to every three weeks.",
            "{a_s} said the council had been left with little choice after its government grant fell by {pct} in real terms.",
            "Under the proposals, the council would draw {money2} from its reserves to protect social care for older residents.",
            "{b_s} accused the ruling group of balancing the books on the backs of the poorest households in {district}.",
            "Parking charges in the town centre would rise for the first time since {past_year}.",
            "Officers have identified {n} posts that could be cut, although the council says most would go through retirement.",
            "A consultation on the plans will run until {date}, with a final vote expected at a full council meeting in {month2}.",
            "The finance team has warned that the budget gap could reach {money} by {year} if nothing is done.",
            "Spending on adult social care now accounts for almost {pct} of the council's day-to-day budget.",
            "Grants to {n} community groups would be frozen rather than cut, in what {a_s} described as a deliberate choice.",
            "The opposition group has promised to table an alternative budget that would protect the library service.",
            "Leisure centre fees would also rise, with an adult swimming session going up by around 40p.",
        ),
        quotes=(
            "Nobody goes into local government wanting to put up council tax or close a library.",
            "We have protected the services that the most vulnerable people in {town} rely on every single day.",
            "The gap we face is not of our making, and pretending otherwise would be dishonest.",
            "Every line of this budget has been examined, and every saving has been argued over.",
            "I would urge everyone in {district} to take part in the consultation and tell us what matters most.",
            "We will not balance the books by running down our reserves until there is nothing left for a rainy day.",
        ),
        live=(
            "Councillors are taking their seats in the chamber at {venue}.",
            "{b_s} is on their feet now, setting out the opposition's amendment.",
            "The amendment on library opening hours has been defeated by {n} votes to {m}.",
            "A protest by library users is continuing outside {venue}.",
        ),
    ),
    _Topic(
        key="harbour-works",
        section="local",
        org=("{town} Harbour Authority", "the {town} Port Trust"),
        org2=("the Marine Works Agency", "{town} Borough Council"),
        venue=("the East Pier at {town}", "the north quay at {town}"),
        roles=(
            ("chief executive of {org}", ""),
            ("a councillor for {district}", ""),
            ("skipper of the fishing boat {boat}", ""),
            ("project manager at {contractor}", ""),
        ),
        words=(
            "harbour wall", "dredging work", "new pontoon", "slipway", "breakwater", "quayside repair",
            "sea wall upgrade", "berthing fee increase", "ferry terminal", "fish market", "lock gate replacement",
            "marina expansion",
        ),
        angles=(
            _Angle(
                lead="Repairs to the crumbling harbour wall at {town} will begin in {month2} after {org} approved a {money} scheme.",
                headlines=("{money} repairs to {town} harbour wall to begin in {month2}", "Go-ahead for {money} harbour wall scheme in {town}", "Harbour works in {town} will secure port for a generation, says {a_s}"),
                follow_lead="Diggers and barges moved on to the harbour at {town} on {weekday} as long-delayed repair work on the wall finally got under way.",
                follow_headlines=("Work finally starts on {town} harbour wall after weeks of delay", "Barges arrive as {town} harbour repairs get under way"),
                event="the harbour wall works at {town}",
            ),
            _Angle(
                lead="Fishing crews in {town} say they face weeks of lost income while the harbour is partly closed for repair work.",
                headlines=("Fishing crews fear disruption from {town} harbour works", "{town} skippers warn of lost income during harbour closure", "{town} harbour to close to leisure boats for {n} weeks during repairs"),
                follow_lead="Fishing crews affected by the harbour works in {town} are to receive compensation under a deal agreed with {org}.",
                follow_headlines=("Fishing crews in {town} win compensation deal over harbour closure", "Compensation agreed for {town} fishing fleet hit by harbour works"),
                event="the harbour closure at {town}",
            ),
            _Angle(
                lead="A {money} contract to rebuild the quayside at {town} has been awarded to {contractor}.",
                headlines=("{contractor} wins contract to rebuild {town} quayside", "{contractor} to rebuild {town} quayside in {money} deal", "{town} quayside contract goes to {contractor}"),
                follow_lead="Engineers working on the quayside at {town} have found storm damage that could add {money2} to the cost of the contract.",
                follow_headlines=("{town} quayside rebuild hit by setback as storm damage found", "Storm damage adds {money2} to cost of {town} quayside work"),
                event="the quayside rebuild at {town}",
            ),
        ),
        sentences=(
            "The wall, which dates from the 1880s, was badly damaged during storms in {past_year}.",
            "Engineers will drive steel piles in front of the old stonework before filling the gap with concrete.",
            "Around {n} fishing boats use the harbour, landing crab, lobster and whitefish for markets across the region.",
            "{org} said it would try to keep at least one berth open for commercial vessels throughout the work.",
            "Leisure sailors have been told to find moorings elsewhere until the end of {month2}.",
            "Dredging of the inner basin will take place at night to reduce disruption on the quayside.",
            "The scheme is being paid for by a combination of government funding and an increase in berthing fees.",
            "{c_s} said crews were already struggling with rising fuel costs and could not afford weeks without landing fish.",
            "Barges carrying rock armour are expected to arrive from a quarry near {neighbour} later this month.",
            "The ferry service to the islands will move temporarily to the north quay.",
            "{d_s} said the most difficult part of the job would be working around the tides.",
            "Traders at the fish market on {street} fear a drop in visitors while the harbour front is fenced off.",
        ),
        quotes=(
            "This harbour has kept {town} going for two hundred years and we are not going to let it fall into the sea.",
            "We know the closure will be hard for the fishing fleet, and we have listened to every concern they have raised.",
            "The wall has been patched up time and again, but there comes a point where patching is no longer enough.",
            "Once this work is finished, boats will be able to land safely in conditions that would have kept them at sea before.",
            "We are working with the tides, not against them, and that means some nights will be long.",
            "I want the people of {district} to see this as an investment in their future, not just a building site.",
        ),
        live=(
            "The first barge has just been towed into the outer harbour.",
            "Fishing crews have gathered on the quayside to watch the work begin.",
            "{org} says the north quay will stay open to commercial boats today.",
            "High tide is due shortly and work on the wall has paused.",
        ),
        extras={
            "contractor": (
                "Brightwater Marine", "Kestrel Dredging", "Halyard Civil Engineering",
                "Sealock Construction", "Tideline Engineering",
            ),
            "boat": ("Morning Star", "Silver Darling", "Kittiwake", "Brave Endeavour", "Sea Thrift"),
        },
        keep=(*_STANDARD_KEEP, "contractor"),
    ),
    _Topic(
        key="school",
        section="education",
        org=("the {town} Learning Partnership", "the {town} Academy Trust"),
        org2=("the schools inspectorate", "the Teachers' Guild"),
        venue=("{district} Primary School", "{town} High School", "St Aldhelm's School in {town}"),
        roles=(
            ("head teacher of {venue}", ""),
            ("chief executive of {org}", ""),
            ("a parent of two children at the school", ""),
            ("a regional officer for the Teachers' Guild", ""),
        ),
        words=(
            "school closure plan", "inspection report", "fall in pupil numbers", "catchment area",
            "building programme", "breakfast club", "school bus service", "staffing review",
            "special needs provision", "new sports hall", "uniform policy", "reading scheme",
        ),
        angles=(
            _Angle(
                lead="{venue} could close within two years under plans to merge schools in {town} that are losing pupils.",
                headlines=("{venue} could close under plans to merge {town} schools", "Falling pupil numbers put {venue} under threat", "Merger plan could spell end for {venue}"),
                follow_lead="{org} has confirmed that {venue} will stay open, following a consultation that drew {big} responses.",
                follow_headlines=("{venue} will stay open, trust confirms after consultation", "Reprieve for {venue} as merger plan is dropped"),
                event="the consultation meeting at {venue}",
            ),
            _Angle(
                lead="Inspectors have praised {venue}, saying pupils are making strong progress in reading and that behaviour in lessons is excellent.",
                headlines=("{venue} praised by inspectors", "Good report for {venue} as reading results improve", "Inspectors hail progress at {venue}"),
                follow_lead="The head teacher of {venue} has been asked to support {n} other schools in {town} after its success with inspectors.",
                follow_headlines=("{venue} head to help other {town} schools", "{venue} to share its methods with {n} schools"),
                event="reaction to the inspection of {venue}",
            ),
            _Angle(
                lead="A {money} programme to rebuild and extend schools across {town} has been unveiled by {org}.",
                headlines=("{money} building programme for {town} schools unveiled", "New classrooms and sports hall promised in {town} schools plan", "{org} unveils {money} plan to rebuild {town} schools"),
                follow_lead="Building work has started on the first of the new classrooms promised to schools in {town} under a {money} programme.",
                follow_headlines=("Work begins on new {town} classrooms", "Diggers move in at {venue} as building programme starts"),
                event="the schools building programme in {town}",
            ),
        ),
        sentences=(
            "The school has {small} pupils on its roll but space for almost twice as many.",
            "Birth rates in {town} have fallen steadily over the last decade, leaving several classrooms empty.",
            "{b_s} said no decision had been taken and that every option remained on the table.",
            "Parents say younger children would face a journey of more than two miles each way if the school closed.",
            "Inspectors last visited the school in {past_year} and praised its work with pupils who have special needs.",
            "The trust has promised to protect the breakfast club and the after-school programme whatever happens.",
            "Staff were told about the proposals at a meeting after lessons on {weekday}.",
            "{c_s} said the children had settled well and that moving them would be hugely disruptive.",
            "The plans would also see a new sports hall built at the larger site, paid for from the sale of the old buildings.",
            "The Teachers' Guild has asked for guarantees that no jobs will be lost as a result of the merger.",
            "A school bus service would be provided for pupils living more than a mile and a half away.",
            "Governors at {venue} are due to meet on {date} to agree a formal response.",
        ),
        quotes=(
            "This school is the heart of {district} and the children here deserve to be taught in their own community.",
            "Nobody wants to see a school close, but we cannot keep paying to heat classrooms that are sitting empty.",
            "Our teachers have worked miracles with very little, and the results this year show exactly what they can do.",
            "I have spoken to dozens of parents this week and every one of them has asked the same question.",
            "We will put the interests of pupils first in every decision we make, however difficult that turns out to be.",
            "If the plans go ahead, the youngest children will pay the price in long journeys and lost friendships.",
        ),
        live=(
            "Parents are arriving at {venue} for tonight's consultation meeting.",
            "The chief executive of the trust is answering questions from the floor.",
            "There was loud applause when one parent asked why the school had been singled out.",
            "Governors will meet again on {date}, we are told.",
        ),
    ),
    _Topic(
        key="flooding",
        section="weather",
        org=("the Environment Watch agency", "the {river} Flood Partnership"),
        org2=("{town} Borough Council", "the county fire service"),
        venue=("{district} community centre", "the leisure centre in {district}"),
        roles=(
            ("flood duty manager at {org}", ""),
            ("leader of {org2}", ""),
            ("a resident of {street}", ""),
            ("a forecaster at the Coastal Weather Centre", ""),
        ),
        words=(
            "flood warning", "river level", "rainfall total", "sandbag supply", "flood barrier",
            "storm surge", "evacuation plan", "road closure", "drainage network", "clean-up operation",
            "rest centre", "insurance claims process",
        ),
        angles=(
            _Angle(
                lead="Residents in {district} were moved from their homes in the early hours of {weekday} after the {river} burst its banks in {town}.",
                headlines=("Homes evacuated in {district} as {river} bursts banks", "Flood warnings issued for {town} as {river} rises", "{storm} brings flooding to {town}"),
                follow_lead="The clean-up has begun in {town} after flood water that swamped {small} homes finally drained away.",
                follow_headlines=("Clean-up begins in {town} as flood water recedes", "Flood water drains away from {town} homes as clean-up starts"),
                event="the flooding in {town}",
            ),
            _Angle(
                lead="Households in {district} say they can no longer get flood insurance, even though their homes have not flooded since {past_year}.",
                headlines=("{district} households refused flood insurance", "Flood insurance row in {town}", "Residents near the {river} struggle to insure homes"),
                follow_lead="Insurers have agreed to review policies for homes in {district} after a meeting with residents and {org2}.",
                follow_headlines=("Insurers to review {district} flood policies", "Hope for {district} residents in flood insurance row"),
                event="the flood insurance meeting in {district}",
            ),
            _Angle(
                lead="A {money} flood defence scheme for {town} has been approved, with work on new walls along the {river} due to start in {month2}.",
                headlines=("{money} flood defence scheme approved for {town}", "New flood walls planned along the {river} in {town}", "Work on {town} flood defences to start in {month2}"),
                follow_lead="Residents of {town} are demanding to know why work on flood defences along the {river} has been put back until {year}.",
                follow_headlines=("Delay to {town} flood defences angers residents", "{town} flood walls put back to {year}"),
                event="the flood defence plans for {town}",
            ),
        ),
        sentences=(
            "The river peaked at just over {n} metres on {weekday} evening, according to {org}.",
            "A rest centre was opened at {venue}, where volunteers handed out blankets and hot drinks.",
            "Several roads, including {street}, were closed after water reached the level of car bumpers.",
            "Firefighters used boats to reach a care home where {n} residents were cut off by the rising water.",
            "{d_s} said the ground was already saturated after the wettest autumn in the region since {past_year}.",
            "Sandbags were handed out from the fire station, although supplies ran out within two hours.",
            "The flood barrier on the {river} was raised shortly before midnight.",
            "Train services between {town} and {neighbour} were suspended after the line flooded near a cutting.",
            "{org2} said it had received more than {big} calls from worried residents.",
            "Insurers have set up a temporary office in the town centre to help people make claims.",
            "More rain is forecast later in the week, with a yellow warning in force until {date}.",
            "{c}, {c_role}, said the water came up through the floorboards within minutes.",
        ),
        quotes=(
            "I have never seen the river come up so fast, and I have lived beside it for most of my life.",
            "Our teams have been out all night and they will stay out for as long as people need them.",
            "Please do not try to drive through flood water, because it only takes a small depth to lift a car.",
            "The defences did what they were designed to do, but the rain simply kept on falling.",
            "We will look again at every part of the response once the water has gone down.",
            "People in {district} have shown enormous kindness to their neighbours over the last two days.",
        ),
        live=(
            "The {river} is still rising at the gauge near the town bridge.",
            "Police have closed {street} in both directions.",
            "A second rest centre has opened at {venue}.",
            "Rain is easing slightly, but forecasters warn of more to come overnight.",
        ),
        extras={
            "river": ("River Lisk", "River Brenn", "River Oddle", "River Farrow", "River Kellan", "River Dunmore"),
            "storm": ("Storm Aldous", "Storm Bryony", "Storm Cormac", "Storm Delyth", "Storm Ebba", "Storm Fenwick"),
        },
        keep=(*_STANDARD_KEEP, "river"),
    ),
    _Topic(
        key="football",
        section="sport",
        org=("{team}",),
        org2=("the Northern Counties League", "the County Football Association"),
        venue=("the Quarry Ground", "Fenwick Park", "the Ropeworks Stadium", "Harbourside Park", "the Old Tannery Ground"),
        roles=(
            ("manager of {team}", ""),
            ("manager of {rival}", ""),
            ("the {team} captain", ""),
            ("secretary of the {team} supporters' club", ""),
        ),
        words=(
            "second-half display", "penalty decision", "league table", "relegation battle", "home crowd",
            "injury list", "transfer window", "promotion race", "cup run", "defensive record",
            "set-piece routine", "touchline ban",
        ),
        angles=(
            _Angle(
                lead="{team} beat {rival} {score_us}-{score_them} at {venue} on {weekday}, with {scorer} scoring the decisive goal in the second half.",
                headlines=("{team} beat {rival} {score_us}-{score_them} at {venue}", "Derby delight for {team} as {rival} beaten at {venue}", "{team} {score_us}-{score_them} {rival}: second-half goal settles derby"),
                follow_lead="{rival} manager {b} has been handed a touchline ban of {m} matches following a confrontation with officials at the end of the derby against {team}.",
                follow_headlines=("{rival} manager {b_s} handed touchline ban after derby row", "{m}-match ban for {rival} boss after clash with officials"),
                event="{team} against {rival}",
            ),
            _Angle(
                lead="{scorer} was the hero for {team} as they beat local rivals {rival} in front of a crowd of {big}.",
                headlines=("{scorer} strike earns {team} derby win over {rival}", "{rival} fall to {team} as {scorer} shines", "{scorer} the hero as {team} see off {rival}"),
                follow_lead="{team} will be without {scorer} for at least {m} weeks after the striker was injured in the derby win over {rival}.",
                follow_headlines=("{team} confirm {scorer} will miss next match through injury", "Injury blow for {team} as {scorer} ruled out"),
                event="{team} against {rival}",
            ),
            _Angle(
                lead="{team} moved up to {ordinal} in the table after a derby win over {rival} at {venue}.",
                headlines=("{team} climb to {ordinal} after beating {rival}", "{a_s} hails {team} spirit after victory over {rival}", "Derby win lifts {team} to {ordinal}"),
                follow_lead="{team} have been fined by {org2} after objects were thrown onto the pitch during the derby against {rival}.",
                follow_headlines=("{team} fined by {org2} over derby crowd trouble", "{org2} punishes {team} after objects thrown onto pitch"),
                event="{team} against {rival}",
            ),
        ),
        sentences=(
            "The home side started brightly and should have been ahead inside ten minutes.",
            "{rival} goalkeeper {surname} made two fine saves before half-time to keep the scores level.",
            "{scorer} broke the deadlock shortly after the restart, curling a shot into the far corner.",
            "The visitors had a penalty appeal turned down midway through the second half.",
            "{a_s} made three changes at the break, bringing on {surname} to add pace on the left.",
            "The attendance of {big} was the highest at {venue} this season.",
            "{b_s} said the visitors had been the better team for long periods but lacked a cutting edge.",
            "A late free kick from {rival} struck the crossbar with the last kick of the game.",
            "The win leaves {team} {n} points behind the leaders with a game in hand.",
            "Stewards had to separate rival supporters near the away end after the final whistle.",
            "{team} are next in action away from home on {date}.",
            "{c}, {c_role}, said the dressing room had been buzzing after the game.",
        ),
        quotes=(
            "The lads gave absolutely everything out there and the supporters could see that from the first minute.",
            "Derby games are never about playing pretty football, they are about who wants it more on the day.",
            "We were patient, we kept the ball well, and in the end the quality told in the final third.",
            "I thought the referee had a difficult afternoon, but I am not going to stand here and blame anyone.",
            "There is a long way to go this season and nobody in that dressing room is getting carried away.",
            "When you see a crowd like that at {venue}, it reminds you what this club means to {town}.",
        ),
        live=(
            "GOAL! {scorer} puts {team} in front.",
            "Half-time at {venue}, and it is still goalless.",
            "Yellow card for a {rival} defender after a late challenge.",
            "Five minutes of added time have been signalled.",
        ),
        extras={
            "team": ("{town} Rovers", "{town} Athletic", "{town} Albion", "{town} Town"),
            "rival": ("{neighbour} Wanderers", "{neighbour} City", "{neighbour} Harriers", "{neighbour} Borough"),
            "scorer": ("{surname}",),
            "ordinal": ("second", "third", "fourth", "sixth", "seventh"),
        },
        keep=(*_STANDARD_KEEP, "team"),
        distinct=("rival",),
    ),
    _Topic(
        key="court",
        section="courts",
        org=("the Regional Prosecution Service",),
        org2=("{town} Constabulary", "the county police"),
        venue=("{town} Crown Court", "the Crown Court in {town}"),
        roles=(
            ("the judge in the case", "Judge"),
            ("prosecuting", ""),
            ("defending", ""),
            ("a detective with {org2}", ""),
        ),
        words=(
            "trial", "jury process", "forensic evidence", "witness statement", "CCTV footage",
            "sentencing hearing", "guilty plea", "court order", "bail decision", "police investigation",
            "character evidence", "victim statement",
        ),
        angles=(
            _Angle(
                lead="A {age}-year-old from {district} has gone on trial at {venue} accused of {charge}.",
                headlines=("Jury told of {charge} allegations as {town} trial begins", "{district} {charge} case: jury sworn in at {venue}", "{age}-year-old from {district} goes on trial accused of {charge}"),
                follow_lead="{defendant} has been found guilty of {charge} following a trial lasting {m} days at {venue}.",
                follow_headlines=("{defendant} found guilty of {charge} after {m}-day trial", "Guilty verdict in {town} {charge} trial"),
                event="the trial of {defendant}",
            ),
            _Angle(
                lead="{defendant}, {age}, of {street}, {town}, denies a charge of {charge}, a jury at {venue} was told on {weekday}.",
                headlines=("{defendant}, {age}, denies {charge} as trial opens at {venue}", "{charge} trial: prosecution says {defendant} acted alone", "{defendant} pleads not guilty to {charge}"),
                follow_lead="A {age}-year-old from {district} has been jailed for {m} years after being convicted of {charge}.",
                follow_headlines=("{defendant} jailed for {m} years for {charge}", "{m}-year sentence for {district} {charge} offender"),
                event="the trial of {defendant}",
            ),
            _Angle(
                lead="Jurors in the trial of {defendant} have been shown CCTV footage from {street} on the night of the alleged offence.",
                headlines=("Court hears CCTV evidence in {town} {charge} case", "Trial of {defendant} hears evidence from {n} witnesses", "Jurors shown CCTV footage in {defendant} trial"),
                follow_lead="{defendant} has walked free from {venue} after a jury returned a not guilty verdict on a charge of {charge}.",
                follow_headlines=("Jury clears {defendant} of {charge}", "{defendant} walks free after {charge} trial"),
                event="the trial of {defendant}",
            ),
        ),
        sentences=(
            "The court heard that the incident took place shortly after midnight on {street}.",
            "{b_s} told jurors they would hear from {n} witnesses over the coming days.",
            "The defendant, who wore a grey suit, spoke only to confirm a name and address.",
            "CCTV footage played to the court showed a figure in a dark jacket walking towards the building.",
            "{c_s} said the defence would argue that the police investigation had been rushed.",
            "The jury was told that {defendant} had no previous convictions.",
            "{a_s} warned jurors not to research the case online or discuss it with family members.",
            "A neighbour told the court of hearing shouting and then the sound of breaking glass.",
            "Officers from {org2} arrested the defendant at an address in {neighbour} two days later.",
            "The prosecution said phone records placed the defendant near the scene for more than an hour.",
            "The trial, which is expected to last {n} days, continues.",
            "A forensic scientist is due to give evidence on {weekday}.",
        ),
        quotes=(
            "This was not a moment of madness but a course of conduct that went on for many months.",
            "You will hear that the defendant had every opportunity to stop, and chose not to.",
            "The question for you is not whether you like the defendant but whether the evidence proves the case.",
            "The people who were harmed in this case trusted the defendant completely, and that trust was betrayed.",
            "You must put aside anything you may have read or heard about this case outside this courtroom.",
            "When you have heard all of the evidence, we say there is only one conclusion you can reach.",
        ),
        live=(
            "The jury has been sent out to consider its verdict.",
            "{defendant} has arrived at {venue}.",
            "The judge is summing up the evidence now.",
            "The court has risen for a short break.",
        ),
        extras={
            "defendant": ("{first} {surname}",),
            "charge": ("fraud", "arson", "dangerous driving", "theft from a charity", "assault", "burglary"),
        },
        distinct=("defendant",),
        speaker="b",
    ),
    _Topic(
        key="hospital",
        section="health",
        org=("the {town} Hospitals Trust", "{town} and {neighbour} Health Trust"),
        org2=("the Care Standards Commission", "the Health Workers' Alliance"),
        venue=("{town} General Hospital", "{town} Royal Infirmary"),
        roles=(
            ("chief executive of {org}", ""),
            ("a regional organiser for the Health Workers' Alliance", ""),
            ("a patient representative on the hospital board", ""),
            ("a consultant in emergency medicine", "Dr"),
        ),
        words=(
            "waiting list", "emergency department", "bed shortage", "ambulance handover problem",
            "new maternity unit", "staffing gap", "inspection rating", "car parking policy",
            "cancer screening programme", "outpatient clinic", "agency staff bill", "discharge lounge",
        ),
        angles=(
            _Angle(
                lead="Patients arriving at the emergency department of {venue} waited up to {n} hours to be seen last month, new figures show.",
                headlines=("Patients at {venue} waiting up to {n} hours in A&E", "Ambulances queue outside {venue} as beds run short", "{n}-hour waits at {venue} emergency department"),
                follow_lead="{org} has opened {m} extra beds at {venue} following a sharp rise in waiting times in the emergency department.",
                follow_headlines=("{venue} opens extra beds to cut waits", "{m} extra beds opened at {venue}"),
                event="the pressures at {venue}",
            ),
            _Angle(
                lead="Inspectors have rated {venue} as requiring improvement, citing staff shortages and long delays in the emergency department.",
                headlines=("{venue} rated requires improvement by inspectors", "Inspectors criticise staffing at {venue}", "Staff shortages and long delays found at {venue}"),
                follow_lead="Inspectors have made an unannounced return visit to {venue}, weeks after rating it as requiring improvement.",
                follow_headlines=("Inspectors return to {venue} weeks after critical report", "Unannounced inspection at {venue}"),
                event="the inspection of {venue}",
            ),
            _Angle(
                lead="A {money} maternity unit is to be built at {venue} after plans were approved on {weekday}.",
                headlines=("{money} maternity unit approved for {venue}", "New maternity unit for {venue} gets the go-ahead", "Plans approved for {money} {town} maternity unit"),
                follow_lead="Building work on the new maternity unit at {venue} began on {weekday}, with the first babies expected to be born there in {year}.",
                follow_headlines=("Work starts on new maternity unit at {venue}", "Building begins on {venue} maternity unit"),
                event="the maternity unit decision at {venue}",
            ),
        ),
        sentences=(
            "The figures show that {pct} of patients were seen within four hours, well below the national target.",
            "Ambulance crews spent a combined {big} hours waiting to hand over patients outside the building.",
            "{org} said demand had risen sharply since the closure of a minor injuries unit in {neighbour}.",
            "Inspectors found that some patients had been cared for on trolleys in corridors for more than a day.",
            "The trust has spent {money2} on agency nurses so far this year, almost double the figure for last year.",
            "A new discharge lounge opened in {month} in an attempt to free up beds more quickly.",
            "{b_s} said staff were exhausted and many were thinking of leaving the profession.",
            "{d_s} said most patients still received excellent care once they were seen.",
            "The hospital has {big} staff and is one of the largest employers in {town}.",
            "Car parking charges for visitors were scrapped last year after a long campaign.",
            "The trust board will discuss an action plan at its next meeting on {date}.",
            "Patients have been urged to use pharmacies and walk-in centres for minor ailments.",
        ),
        quotes=(
            "Our staff are working incredibly hard in very difficult circumstances, and I want to thank every one of them.",
            "No patient should have to wait this long, and I apologise to everyone who has had a poor experience with us.",
            "We have a clear plan to reduce waiting times and we are already seeing the first signs of improvement.",
            "The building we are working in was designed for half the number of patients we now see each day.",
            "I would ask people to keep the emergency department for emergencies so that we can help those who need us most.",
            "Recruiting nurses is the single biggest challenge we face, and we cannot solve it on our own.",
        ),
        live=(
            "Ambulances are queuing outside the emergency department at {venue}.",
            "{org} has declared a critical incident.",
            "Patients are being advised to avoid the emergency department unless it is urgent.",
            "The trust's chief executive is due to speak to reporters shortly.",
        ),
    ),
    _Topic(
        key="transport-strike",
        section="transport",
        org=("{operator}",),
        org2=("the Transport Workers' Union", "the Road and Rail Staff Association"),
        venue=("{town} bus station", "the {operator} depot on {street}"),
        roles=(
            ("managing director of {operator}", ""),
            ("regional secretary of {org2}", ""),
            ("a commuter from {district}", ""),
            ("a transport researcher at {neighbour} University", "Dr"),
        ),
        words=(
            "strike action", "pay offer", "bus timetable", "picket line", "rail service", "ballot result",
            "overtime ban", "replacement bus service", "fare rise", "pay deal", "school transport",
            "walkout",
        ),
        angles=(
            _Angle(
                lead="Bus drivers employed by {operator} in {town} have voted to strike after rejecting a pay offer of {pct}.",
                headlines=("{operator} drivers vote to strike over {pct} pay offer", "Drivers reject {pct} pay offer from {operator}", "Strike vote by {town} bus drivers"),
                follow_lead="Picket lines formed outside {venue} before dawn on {weekday} as drivers at {operator} began a {m}-day strike.",
                follow_headlines=("{town} bus drivers begin {m}-day strike", "Pickets out as {operator} strike begins"),
                event="the {operator} strike ballot",
            ),
            _Angle(
                lead="An overtime ban by drivers at {operator} has led to the cancellation of {n} bus services a day in {town}, leaving commuters stranded.",
                headlines=("Overtime ban hits {town} bus services", "{n} buses a day cancelled in {town} as drivers ban overtime", "Commuters stranded as {operator} cancels services"),
                follow_lead="{operator} has brought in drivers from other depots to restore services hit by the overtime ban in {town}.",
                follow_headlines=("{operator} restores services as overtime ban continues", "Drivers drafted in to keep {town} buses running"),
                event="the {operator} overtime ban",
            ),
            _Angle(
                lead="Talks aimed at preventing a strike by {operator} drivers broke down on {weekday} without agreement.",
                headlines=("Talks fail to avert {operator} strike", "No deal in {operator} pay talks as strike looms", "{operator} and union fail to reach agreement on pay"),
                follow_lead="A strike by bus drivers in {town} has been called off after new talks between {operator} and {org2} ran late into the night.",
                follow_headlines=("{operator} strike called off after last-minute talks", "Last-minute deal averts {town} bus strike"),
                event="the {operator} pay talks",
            ),
        ),
        sentences=(
            "Around {big} passengers use the company's services in {town} every day.",
            "The union says drivers' pay has fallen behind that of colleagues working for other operators in the region.",
            "{operator} has warned that only a skeleton timetable will run on strike days.",
            "{b_s} said members had voted overwhelmingly in favour of action, with {vote} backing a walkout.",
            "School pupils who rely on dedicated buses have been told to make other arrangements.",
            "The company said it had made a fair offer that was the best it could afford.",
            "Commuters from {district} said they would have to pay for taxis or work from home.",
            "Replacement services will be provided on the busiest routes between {town} and {neighbour}.",
            "{d_s} said the dispute reflected a wider shortage of drivers across the industry.",
            "An overtime ban has already led to the cancellation of {n} services a day.",
            "Further talks are expected to take place at a neutral venue on {date}.",
            "Passengers have been advised to check the company's website before travelling.",
        ),
        quotes=(
            "Our members do not take this decision lightly, but they have been left with no other choice.",
            "Drivers are being asked to work longer shifts for less money in real terms, and enough is enough.",
            "We have put a fair offer on the table and we remain ready to talk at any time of the day or night.",
            "I am sorry for the disruption this will cause to passengers who depend on our buses to get to work.",
            "The door is open, but the company needs to walk through it with an offer that reflects the job.",
            "Nobody wins from a strike, least of all the people of {town} who have to get to school and to work.",
        ),
        live=(
            "Pickets are gathered outside {venue} this morning.",
            "Only a handful of buses have left the depot so far.",
            "The union says talks could resume later today.",
            "Traffic is heavier than usual on the main road into {town}.",
        ),
        extras={"operator": ("{town} Citylink", "Coastway Buses", "Redline Travel", "Ridgeway Motor Services", "Bluebell Coaches")},
        keep=(*_STANDARD_KEEP, "operator"),
        speaker="b",
    ),
    _Topic(
        key="festival",
        section="culture",
        org=("the {town} Festival Trust", "the organisers of {fest}"),
        org2=("{town} Borough Council", "the {town} Business Improvement District"),
        venue=("{district} Park", "the seafront at {town}", "the Market Square in {town}"),
        roles=(
            ("director of {fest}", ""),
            ("a councillor for {district}", ""),
            ("a stallholder at the festival", ""),
            ("a local historian", ""),
        ),
        words=(
            "line-up", "ticket launch", "food village", "road closure plan", "volunteer team", "fireworks display",
            "parade route", "sponsorship deal", "noise problem", "park and ride service", "craft market",
            "main stage",
        ),
        angles=(
            _Angle(
                lead="{headliner} will top the bill at {fest} this year, organisers announced on {weekday}.",
                headlines=("{fest} returns with {headliner} topping the bill", "{headliner} to headline {fest}", "{headliner} confirmed for {fest}"),
                follow_lead="{headliner} have pulled out of {fest} because of illness, just days after being announced as the headline act.",
                follow_headlines=("{headliner} pull out of {fest}", "Blow for {fest} as headline act cancels"),
                event="the {fest} line-up launch",
            ),
            _Angle(
                lead="Roads in the centre of {town} will close for {fest}, with a park and ride service running from the edge of town.",
                headlines=("Road closures planned in {town} for {fest}", "Park and ride to run during {fest}", "What you need to know about getting to {fest}"),
                follow_lead="Traffic queues stretched for miles around {town} on the first day of {fest}, despite the park and ride service.",
                follow_headlines=("Traffic chaos on first day of {fest}", "Long queues as crowds head to {fest}"),
                event="getting to {fest}",
            ),
            _Angle(
                lead="Organisers of {fest} say they expect record crowds after securing a funding boost of {money2}.",
                headlines=("{fest} organisers promise bigger event after {money2} funding boost", "Funding boost of {money2} for {fest}", "Record crowds expected at {fest}"),
                follow_lead="More than {big} people packed into {venue} over the weekend for {fest}, which organisers say was the most successful yet.",
                follow_headlines=("{fest} draws {big} visitors to {venue}", "Record-breaking weekend for {fest}"),
                event="{fest}",
            ),
        ),
        sentences=(
            "The festival will run over three days, with music on two stages and a craft market along {street}.",
            "More than {n} food and drink stalls have signed up, many run by businesses from {town} itself.",
            "A park and ride service will operate from the leisure centre car park.",
            "{b_s} said the festival brought welcome trade to the town at a quiet time of year.",
            "Volunteers are still needed to help with stewarding and litter picking.",
            "The parade will set off from {street} at {time} on the Saturday.",
            "Organisers have responded to noise complaints from last year by moving the main stage further from homes.",
            "Tickets for children under twelve will be free for the first time.",
            "The event was first held in {past_year} as a small gathering on the quayside.",
            "{d_s} said the festival had its roots in a much older fair held at the end of the fishing season.",
            "A fireworks display over the water will close the festival on the Sunday evening.",
            "Roads in the town centre will be closed from {time} to allow the parade to pass.",
        ),
        quotes=(
            "We started with a few stalls and a borrowed sound system, and now people travel from all over the country to be here.",
            "This festival belongs to the people of {town}, and we want everyone to feel they have a part in it.",
            "We have listened to what neighbours told us last year, and the main stage has moved as a result.",
            "It takes hundreds of volunteers to put this on, and none of it would happen without them.",
            "I cannot wait to see {venue} full of families again, whatever the weather decides to do.",
            "Every pound spent on the festival ends up in the tills of local businesses, and that matters.",
        ),
        live=(
            "Crowds are building at {venue} ahead of the first act.",
            "The parade has just turned onto {street}.",
            "{headliner} are due on stage in about half an hour.",
            "A light shower has not dampened spirits near the food stalls.",
        ),
        extras={
            "fest": (
                "the {town} Harbour Festival", "the {town} Folk Weekend", "the {district} Lantern Parade",
                "the {town} Food and Drink Festival", "the {town} Summer Fair",
            ),
            "headliner": (
                "The Mariners' Lament", "Saltwater Choir", "Kestrel Road", "The Lanternmen",
                "Paper Harbour", "The Wrenfield Sisters", "Copper and Tin",
            ),
        },
        keep=(*_STANDARD_KEEP, "fest"),
    ),
    _Topic(
        key="by-election",
        section="politics",
        org=("{town} Borough Council",),
        org2=("{party_b}",),
        venue=("{town} Leisure Centre", "the Corn Exchange in {town}"),
        roles=(
            ("candidate for {party_a}", ""),
            ("candidate for {party_b}", ""),
            ("a voter in {district}", ""),
            ("a politics lecturer at {neighbour} University", "Dr"),
        ),
        words=(
            "by-election", "turnout", "postal vote", "polling station", "campaign leaflet", "hustings",
            "recount", "council majority", "ballot paper", "overnight count", "manifesto",
            "door-knocking campaign",
        ),
        angles=(
            _Angle(
                lead="Voters in the {district} ward of {town} will choose a new councillor on {date} after the previous member stood down.",
                headlines=("Voters in {district} go to the polls in {town} by-election", "{district} chooses new councillor on {date}", "Low turnout feared in {town} council by-election"),
                follow_lead="{a} of {party_a} has won the {district} by-election with a majority of {small}.",
                follow_headlines=("{party_a} wins {district} by-election with majority of {small}", "{a_s} wins {district} seat for {party_a}"),
                event="polling day in {district}",
            ),
            _Angle(
                lead="{n} candidates are standing in the {district} by-election, which could decide who controls {org}.",
                headlines=("{district} by-election: {n} candidates battle for council seat", "Control of {org} could hinge on {district} by-election", "{party_a} confident ahead of {district} by-election"),
                follow_lead="{party_a} held the {district} seat on {org} after a count that went on past midnight.",
                follow_headlines=("{party_a} hold {district} after late-night count", "Turnout of {pct} in {district} by-election as {party_a} holds seat"),
                event="the {district} by-election campaign",
            ),
            _Angle(
                lead="Housing and potholes dominated a lively hustings for the {district} by-election, held in a church hall on {weekday}.",
                headlines=("Housing dominates {district} by-election hustings", "{a_s} and {b_s} clash at {district} hustings", "Potholes and housing top the agenda in {district}"),
                follow_lead="{a_s} was declared the winner of the {district} by-election after a recount at {venue}.",
                follow_headlines=("{district} by-election result: {a_s} elected after recount", "Recount confirms {a_s} as new {district} councillor"),
                event="the {district} by-election hustings",
            ),
        ),
        sentences=(
            "The seat became vacant when the sitting councillor stood down for health reasons.",
            "Polling stations will be open from 7am until 10pm.",
            "{a_s} has campaigned on plans to bring empty shops on {street} back into use.",
            "{b_s} said residents in {district} felt ignored by the council and wanted a fresh voice.",
            "Turnout at the last by-election in the town was just {pct}.",
            "A hustings at a church hall in {district} drew around {small} people.",
            "The count will take place at {venue} once polls close.",
            "Postal votes make up around a quarter of the ballots in the ward.",
            "{d_s} said by-elections often turned on local issues rather than national politics.",
            "Leaflets from all {n} candidates have been delivered to homes across the ward.",
            "The ruling group on the council has a majority of just {m}.",
            "Candidates have been knocking on doors in {district} since the middle of {month}.",
        ),
        quotes=(
            "I have lived in {district} all my life and I know what people here are crying out for.",
            "This election is about who will stand up for this community when the big decisions are made.",
            "People tell me on the doorstep every day that they feel nobody at the council is listening to them.",
            "I am not promising miracles, but I am promising to answer every letter and every phone call.",
            "Whatever the result, I want to thank everyone who gave up their evenings to knock on doors.",
            "If you care about the state of our streets, then on {date} you need to go out and vote.",
        ),
        live=(
            "Ballot boxes are arriving at {venue}.",
            "Turnout looks to be around {pct}, according to party sources.",
            "Candidates are watching the ballot papers being sorted.",
            "We are told a recount has been requested.",
        ),
        extras={
            "party_a": ("the Civic Alliance", "the People's Forward Party", "the Liberal Centre"),
            "party_b": ("the Green Coast Movement", "the Independent Group", "the Community First Party"),
        },
        keep=("town", "neighbour", "street", "org", "venue"),
        distinct=("district",),
    ),
    _Topic(
        key="business-opening",
        section="business",
        org=("{biz}",),
        org2=("{town} Chamber of Commerce", "the {town} Traders' Association"),
        venue=("{district} Business Park", "the former bus depot on {street}"),
        roles=(
            ("managing director of {biz}", ""),
            ("chair of {org2}", ""),
            ("a shopkeeper on {street}", ""),
            ("an economist at {neighbour} University", "Dr"),
        ),
        words=(
            "jobs promise", "apprenticeship scheme", "planning permission", "opening day", "investment",
            "shop front", "delivery traffic", "business rates deal", "supply chain", "customer car park",
            "grand opening", "local sourcing pledge",
        ),
        angles=(
            _Angle(
                lead="{biz} is to open a new {facility} in {town}, creating {jobs} jobs over the next two years.",
                headlines=("{biz} to open {facility} in {town} with {jobs} jobs", "Jobs boost for {town} as {biz} confirms move", "{jobs} new jobs as {biz} heads to {town}"),
                follow_lead="{biz} has officially opened its {facility} in {town}, with {a} cutting the ribbon on {weekday} morning.",
                follow_headlines=("{biz} {facility} opens in {town}", "Ribbon cut at new {biz} {facility}"),
                event="the arrival of {biz} in {town}",
            ),
            _Angle(
                lead="A {money} investment will bring {biz} to {venue}, in what business leaders call a vote of confidence in {town}.",
                headlines=("{money} investment brings {biz} to {district}", "{biz} commits {money} to {town} site", "{biz} picks {town} for {money} expansion"),
                follow_lead="The first {jobs} staff have started work at the new {biz} {facility} at {venue}.",
                follow_headlines=("First {jobs} staff start work at {biz} in {town}", "{biz} welcomes first {jobs} workers"),
                event="the {biz} investment in {town}",
            ),
            _Angle(
                lead="Planning permission has been granted for a {biz} {facility} in {district}, despite objections over traffic.",
                headlines=("{biz} {facility} approved despite traffic fears", "Green light for {biz} {facility} in {district}", "Traffic objections fail to stop {biz} plans in {district}"),
                follow_lead="Residents near the new {biz} {facility} in {district} say delivery lorries are already causing problems.",
                follow_headlines=("Traffic concerns grow as {biz} opens in {district}", "{district} residents complain of {biz} delivery lorries"),
                event="the planning decision on {biz}",
            ),
        ),
        sentences=(
            "The company says it will recruit locally wherever possible and offer {n} apprenticeships each year.",
            "The site on {street} has stood empty since a printing works closed in {past_year}.",
            "{b_s} said the news was a welcome boost for the town centre after a difficult few years.",
            "Some residents have raised concerns about delivery lorries using narrow roads in {district}.",
            "The company was founded in a garage in {neighbour} and now employs {big} people across the country.",
            "{org} will buy from local suppliers where it can, according to the firm's plans.",
            "Work on fitting out the building is expected to finish by the end of {month2}.",
            "{d_s} said the jobs would be welcome but warned that many were likely to be part-time.",
            "The council agreed a reduction in business rates for the first two years to help attract the company.",
            "A recruitment day will be held at {venue} on {date}.",
            "Neighbouring traders on {street} hope the new arrival will bring more people into the area.",
            "The firm says the new site will have solar panels on the roof and charging points for electric vans.",
        ),
        quotes=(
            "We looked at sites all over the region, but {town} had the people, the space and the welcome we were looking for.",
            "These are real jobs with proper training, and we want people from {district} to fill as many of them as possible.",
            "We have listened to the concerns about traffic and changed our delivery times as a result.",
            "This is a long-term commitment, not a short stay, and we intend to be part of this community for decades.",
            "When a business like this chooses {town}, it tells other investors that this is a place worth backing.",
            "I started this company with two people and a van, so opening here feels like a very big moment for all of us.",
        ),
        live=(
            "A queue has formed outside the {facility} ahead of the official opening.",
            "The ribbon has been cut and the doors are open.",
            "The first visitors are being welcomed inside.",
            "Staff in green shirts are handing out leaflets on {street}.",
        ),
        extras={
            "biz": (
                "Fernbrook Foods", "Halcyon Hardware", "Bluehaven Distillery", "Copperkettle Bakery",
                "Marlpit Coffee Roasters", "Northstar Logistics", "Saltline Brewing Company",
                "Tinker's Yard Cycles",
            ),
            "facility": ("headquarters", "store", "warehouse", "workshop", "distribution centre"),
        },
        keep=("town", "neighbour", "district", "street", "org2", "venue"),
        distinct=("biz",),
    ),
    _Topic(
        key="wildlife",
        section="environment",
        org=("the {town} Wildlife Trust", "the {neighbour} and {town} Nature Partnership"),
        org2=("the Countryside Agency", "the Rivers and Wetlands Board"),
        venue=("{reserve}",),
        roles=(
            ("conservation officer at {org}", ""),
            ("a councillor for {district}", ""),
            ("a volunteer warden at {reserve}", ""),
            ("an ecologist at {neighbour} University", "Dr"),
        ),
        words=(
            "breeding season", "nesting site", "habitat restoration", "wildlife survey", "colony",
            "nature reserve", "pollution incident", "footpath closure", "volunteer count", "wetland",
            "sightings log", "conservation plan",
        ),
        angles=(
            _Angle(
                lead="{species_cap} have returned to breed at {reserve} near {town} for the first time in {n} years, conservationists say.",
                headlines=("{species_cap} return to {reserve} after {n} years", "{species_cap} breeding at {reserve} for first time in decades", "Conservationists celebrate return of {species} to {reserve}"),
                follow_lead="The {species} that returned to {reserve} earlier this year have successfully raised young, {org} has confirmed.",
                follow_headlines=("{species_cap} at {reserve} raise first young in decades", "Success for {species} at {reserve} as young are raised"),
                event="the {species} at {reserve}",
            ),
            _Angle(
                lead="Volunteers at {reserve} counted a record {small} {species} during their annual survey, {org} says.",
                headlines=("Volunteers count record number of {species} at {reserve}", "Record {species} count at {reserve}", "Annual survey finds more {species} than ever near {town}"),
                follow_lead="Numbers of {species} at {reserve} have fallen sharply since last year's record count, according to a new survey.",
                follow_headlines=("Numbers of {species} at {reserve} fall after dry summer", "Fewer {species} at {reserve} this year"),
                event="the {species} survey at {reserve}",
            ),
            _Angle(
                lead="A footpath at {reserve} is to close for the breeding season to protect a colony of {species}.",
                headlines=("Footpath closed at {reserve} to protect breeding {species}", "Breeding {species} prompt path closure at {reserve}", "Path at {reserve} shut for breeding season"),
                follow_lead="The footpath at {reserve} has reopened after the {species} left their breeding site for the winter.",
                follow_headlines=("Footpath at {reserve} reopens", "Walkers return to {reserve} as breeding season ends"),
                event="the breeding season at {reserve}",
            ),
        ),
        sentences=(
            "The first sightings were reported by a dog walker early one morning in {month}.",
            "Volunteers have spent {n} years clearing scrub and digging ponds to improve the habitat.",
            "{org} has asked visitors to keep dogs on leads and to stay on marked paths.",
            "{d_s} said the return was a sign that water quality in the estuary had improved.",
            "Cameras have been installed so the public can watch the {species} online without disturbing them.",
            "The reserve covers {small} acres of marsh, reed bed and woodland.",
            "Sewage discharges into the river remain a concern, according to campaigners in {district}.",
            "A survey in {past_year} found no sign of the animals anywhere in the county.",
            "{b_s} said the council would look at extra signs and parking controls near the entrance.",
            "Funding for the restoration work has come from a lottery grant and local donations.",
            "Guided walks will run from the visitor centre every weekend until {month2}.",
            "Photographers have been told to keep a distance of at least fifty metres.",
        ),
        quotes=(
            "For years we were told they would never come back here, so seeing them on the water is really something.",
            "This is the result of thousands of hours of volunteer work, and every one of those volunteers should feel proud.",
            "We want people to enjoy the wildlife, but we need them to give these animals the space they need.",
            "The health of the river tells you everything about the health of the wider landscape around {town}.",
            "It is a fragile recovery and it could easily go into reverse if we are not careful.",
            "My grandchildren will be able to see things here that I thought had gone from this coast for good.",
        ),
        live=(
            "The first {species} have been spotted from the hide.",
            "Volunteers are setting up telescopes at the visitor centre.",
            "{org} says the footpath will remain closed today.",
            "Visitors are being asked to keep noise to a minimum.",
        ),
        extras={
            "species": (
                "otters", "grey seals", "ospreys", "water voles", "red squirrels", "bottlenose dolphins",
                "natterjack toads", "barn owls",
            ),
            "reserve": ("{district} Marshes", "the {town} Estuary reserve", "{neighbour} Woods", "Saltings Nature Reserve"),
        },
        keep=(*_STANDARD_KEEP, "reserve"),
        distinct=("species",),
    ),
)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Text helpers.


def _words(text: str) -> int:
    return len(text.split())


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _vocabulary(title: str, paragraphs: Sequence[str]) -> set[str]:
    """Distinct lower-cased words of a story (what the hard-negative overlap is measured on)."""
    return set(re.findall(r"\w+", f"{title}\n{' '.join(paragraphs)}".lower()))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _titlecase(title: str) -> str:
    words = title.split(" ")
    out = [
        word if (i and word.lower() in _SMALL_TITLE_WORDS) or not word[:1].isalpha() else _cap(word)
        for i, word in enumerate(words)
    ]
    return " ".join(out)


def _slugify(title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower().replace("'", "")).strip("-")
    return "-".join(slug.split("-")[:9])


def _match_case(word: str, replacement: str) -> str:
    return _cap(replacement) if word[:1].isupper() else replacement


@functools.cache
def _any_word(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{'|'.join(words)})\b", flags=re.IGNORECASE)


def _swap_words(text: str, mapping: Mapping[str, str], rng: random.Random, limit: int) -> str:
    """Replace up to ``limit`` distinct words of ``mapping`` found in ``text`` (case kept)."""
    found = {w.lower() for w in _any_word(tuple(mapping)).findall(text)}
    present = [w for w in mapping if w in found]  # in mapping order: deterministic
    for word in rng.sample(present, min(limit, len(present))):
        text = _replace_word(text, word, mapping[word])
    return text


def _replace_word(text: str, word: str, replacement: str) -> str:
    def keep_case(match: re.Match[str]) -> str:
        return _match_case(match.group(0), replacement)

    return re.sub(rf"\b{word}\b", keep_case, text, flags=re.IGNORECASE)


def _number_style(text: str, rng: random.Random) -> str:
    """Write numbers differently: small counts as words, per cent, millions, thousands."""
    choice = rng.randrange(3)
    text = _SMALL_NUMBER.sub(
        lambda m: (
            NUMBER_WORDS[int(m.group(1))] if int(m.group(1)) < len(NUMBER_WORDS) else m.group(1)
        ),
        text,
    )
    if choice == 0:
        text = _PER_CENT.sub(r"\1%", text)
    elif choice == 1:
        text = _PER_CENT.sub(r"\1 percent", text)
    text = _MILLIONS.sub(r"£\1 million", text)
    return _THOUSANDS.sub(r"£\1k", text) if choice == 2 else text  # noqa: PLR2004 - third style


def _copy_edit(paragraph: str, rng: random.Random) -> str:
    """Small copy edits: a few synonyms, American spellings and/or another number style."""
    edits: list[Callable[[str], str]] = [
        lambda t: _swap_words(t, SYNONYMS, rng, rng.randint(1, 3)),
        lambda t: _swap_words(t, BRITISH_TO_AMERICAN, rng, len(BRITISH_TO_AMERICAN)),
        lambda t: _number_style(t, rng),
    ]
    rng.shuffle(edits)
    edited = paragraph
    for edit in edits[: rng.randint(1, 2)]:
        edited = edit(edited)
    return edited if edited != paragraph else edits[-1](paragraph)


def _copy_edit_some(paragraphs: Sequence[str], rng: random.Random, count: int) -> list[str]:
    """Copy-edit ``count`` paragraphs (fewer when too few paragraphs can be edited)."""
    out = list(paragraphs)
    for at in rng.sample(range(len(out)), len(out)):
        edited = _copy_edit(out[at], rng)
        if edited != out[at]:
            out[at] = edited
            count -= 1
            if not count:
                break
    return out


def _shorten(title: str) -> str:
    """The head of a headline before a clause break (``title`` itself when there is none)."""
    for marker in _SHORTEN_AT:
        head, _, _ = title.partition(marker)
        if head != title and _words(head) >= MIN_KEPT:
            return head
    return title


def _sentences(paragraph: str) -> list[str]:
    """The sentences of a paragraph; a quotation stays whole, however many sentences it has."""
    out: list[str] = []
    start, quoted = 0, False
    for at, char in enumerate(paragraph):
        if char == '"':
            quoted = not quoted
        if char != " " or quoted or at + 1 >= len(paragraph):
            continue
        ends = paragraph[at - 1] in ".?!" or paragraph[max(0, at - 2) : at] in ('."', '?"', '!"')
        after = paragraph[at + 1]
        if ends and (after.isupper() or after.isdigit() or after in '"£'):
            out.append(paragraph[start:at])
            start = at + 1
    out.append(paragraph[start:])
    return [s for s in out if s]


def _lower_first(sentence: str) -> str:
    """``sentence`` for use after a comma: its first letter lowered when it is not a name."""
    first = sentence.split(" ", 1)[0]
    return sentence[:1].lower() + sentence[1:] if first in _LOWERABLE else sentence


def _reorder_clauses(sentence: str, rng: random.Random) -> str:
    """Move an attribution to the other end of the sentence, or drop an opening phrase."""
    options: list[str] = []
    if found := _ATTRIBUTION.match(sentence):
        head, tail = found.group("head"), found.group("tail")
        if tail.startswith("according to"):
            options.append(f"{_cap(tail)}, {_lower_first(head)}.")
        else:
            options.append(f"{_cap(tail)} that {_lower_first(head)}.")
    if found := _SAID.match(sentence):
        options.append(f"{_cap(found.group('what'))}, {found.group('who')} said.")
    options += [
        _cap(sentence[len(o) :]) for o in OPENERS if "{" not in o and sentence.startswith(o)
    ]
    return rng.choice(options) if options else sentence


def _reword(sentence: str, rng: random.Random) -> str:
    """A sentence as a rewriting editor leaves it: clauses moved, words swapped for synonyms."""
    text = _reorder_clauses(sentence, rng)
    text = _swap_words(text, {**SYNONYMS, **REWORDS}, rng, rng.randint(1, 3))
    if text == sentence:
        text = _copy_edit(text, rng)
    if text == sentence and sentence.split(" ", 1)[0] in _LOWERABLE:
        text = f"{rng.choice(('Meanwhile', 'Separately', 'For now'))}, {_lower_first(sentence)}"
    return text


# ----------------------------------------------------------------------------------------------
# Story generation.


@dataclass(slots=True)
class _Root:
    """A root story (original or hard negative) and what its republications are made from."""

    label: str
    kind: str
    topic: _Topic
    facts: dict[str, str]
    publisher: Publisher
    title: str
    headlines: tuple[str, ...]  # title templates a republication may rewrite the title from
    angle: int  # index of the topic angle (event) the story reports
    paragraphs: list[str]
    sentences: list[str]
    quote: int  # index of the long quoted paragraph, -1 when there is none
    published_at: datetime

    @property
    def item_id(self) -> str:
        return f"{self.label}-p0"


class _Deck:
    """Sentence templates drawn without replacement (reshuffled when a pile runs out)."""

    def __init__(self, rng: random.Random, topical: Sequence[str], general: Sequence[str]) -> None:
        self._rng = rng
        self._sources = (tuple(topical), tuple(general))
        self._piles: tuple[list[str], list[str]] = ([], [])

    def draw(self) -> str:
        which = 0 if self._rng.random() < 0.5 else 1  # noqa: PLR2004 - topical share
        if not self._piles[which]:
            which = 1 - which
        if not self._piles[which]:
            for pile, source in zip(self._piles, self._sources, strict=True):
                pile.extend(source)
                self._rng.shuffle(pile)
        return self._piles[which].pop()


class _Writer:
    """Fills templates for one story from its facts."""

    def __init__(
        self, rng: random.Random, topic: _Topic, facts: Mapping[str, str], avoid: Sequence[str] = ()
    ) -> None:
        self.rng = rng
        self.topic = topic
        self.facts = facts
        self.deck = _Deck(rng, topic.sentences, GENERAL_SENTENCES)
        self.sentences: list[str] = []
        self.avoid_text = " ".join(avoid)
        self.written = self.avoid_text  # text a new sentence must not repeat

    def fill(self, template: str) -> str:
        return _cap(_expand(template, self.facts, self.topic, self.rng))

    def sentence(self) -> tuple[str, str]:
        """A body sentence, sometimes with an opening phrase or a closing attribution.

        Returns:
            The plain sentence and the sentence as written.
        """
        template = self.deck.draw()
        text = self.fill(template)
        roll = self.rng.random()
        if roll < OPENER_SHARE and template.split(" ", 1)[0] in _LOWERABLE:
            return text, self.fill(self.rng.choice(OPENERS)) + text[:1].lower() + text[1:]
        if (
            roll > 1 - TAIL_SHARE
            and text.endswith(".")
            and not re.search(r'"|\bsaid\b|according', text)
        ):
            tail = _expand(self.rng.choice(TAILS), self.facts, self.topic, self.rng)
            return text, f"{text[:-1]}{tail}."
        return text, text

    def is_new(self, plain: str) -> bool:
        """Whether ``plain`` (ignoring its capital and full stop) is not yet in or avoided by the story."""
        return plain[1:-1] not in self.written

    def paragraph(self, first: str | None = None) -> str:
        """A paragraph of 40-90 words, opening with ``first`` when given."""
        parts = [first] if first else []
        self.written += "".join(f"\n{p}" for p in parts)
        count = sum(_words(p) for p in parts)
        target = self.rng.randint(MIN_WORDS + 5, MAX_WORDS - 10)
        for _ in range(60):
            if count >= target and len(parts) >= MIN_SENTENCES:
                break
            plain, sentence = self.sentence()
            if count + _words(sentence) > MAX_WORDS or not self.is_new(plain):
                continue
            parts.append(sentence)
            self.written += f"\n{sentence}"
            count += _words(sentence)
        self.sentences.extend(parts)
        return " ".join(parts)

    def long_quote(self) -> str:
        """The story's long quoted paragraph (50-80 words, attributed)."""
        who = self.topic.speaker
        name, short, role = (self.facts[who], self.facts[f"{who}_s"], self.facts[f"{who}_role"])
        topical = [b for b in (self.fill(q) for q in self.topic.quotes) if b not in self.avoid_text]
        general = [b for b in (self.fill(q) for q in GENERAL_QUOTES) if b not in self.avoid_text]
        paragraph = ""
        for _ in range(100):
            bits = self.rng.sample(topical, 2) + self.rng.sample(general, self.rng.randint(1, 3))
            self.rng.shuffle(bits)
            inner = " ".join(bits)
            form = self.rng.randrange(3)
            if form == 0:
                paragraph = f'"{inner[:-1]}," said {name}, {role}.'
            elif form == 1:
                paragraph = f'{short} said: "{inner}"'
            else:
                paragraph = f'In a statement, {name}, {role}, said: "{inner}"'
            if MIN_QUOTE_WORDS <= _words(paragraph) <= MAX_QUOTE_WORDS:
                return paragraph
        return paragraph  # pragma: no cover - the pools always allow a fit


def _expand(template: str, facts: Mapping[str, str], topic: _Topic, rng: random.Random) -> str:
    """Fill ``{slot}`` placeholders from facts, topic words or the shared pools."""

    def one(match: re.Match[str]) -> str:
        key = match.group(1)
        if key in facts:
            return facts[key]
        if key in _GENERATED:
            return _GENERATED[key](rng, topic)
        return rng.choice(_POOLS[key])

    text = template
    for _ in range(4):
        if "{" not in text:
            break
        text = _SLOT.sub(one, text)
    return text


_GENERATED: dict[str, Callable[[random.Random, _Topic], str]] = {
    # Slots drawn afresh at every use. The r* numbers keep generic sentences from repeating a
    # story's own figures.
    "tw": lambda rng, topic: rng.choice(topic.words),
    "surname": lambda rng, _: rng.choice(SURNAMES),
    "first": lambda rng, _: rng.choice(FIRST_NAMES_F + FIRST_NAMES_M),
    "dash": lambda _rng, _: EM_DASH,
    "rn": lambda rng, _: str(rng.randint(3, 12)),
    "rsmall": lambda rng, _: str(rng.randint(40, 900)),
    "rbig": lambda rng, _: f"{rng.randint(1200, 48000):,}",
    "rpct": lambda rng, _: f"{rng.randint(4, 45)} per cent",
    "rmoney2": lambda rng, _: f"£{rng.randint(12, 95) * 10},000",
    "vote": lambda rng, _: f"{rng.randint(62, 96)} per cent",
}


def _calendar(when: datetime, rng: random.Random) -> dict[str, str]:
    later = when + timedelta(days=rng.randint(3, 30))
    return {
        "weekday": f"{when:%A}",
        "date": f"{later.day} {later:%B}",
        "month": f"{when:%B}",
        "month2": f"{when + timedelta(days=rng.randint(35, 80)):%B}",
        "time": rng.choice(("7pm", "6.30pm", "10am", "2pm", "11am", "7.30pm")),
        "year": str(when.year + rng.randint(1, 4)),
        "past_year": str(rng.randint(2008, when.year - 2)),
    }


def _numbers(rng: random.Random) -> dict[str, str]:
    n = rng.randint(4, 12)
    score_us = rng.randint(1, 4)
    millions = rng.choice((rng.randint(12, 95) / 10, float(rng.randint(10, 48))))
    return {
        "n": str(n),
        "m": str(rng.randint(2, n - 1)),
        "small": str(rng.randint(40, 900)),
        "big": f"{rng.randint(1200, 48000):,}",
        "pct": f"{rng.randint(2, 19)} per cent",
        "money": f"£{millions:g}m",
        "money2": f"£{rng.randint(12, 95) * 10},000",
        "rain": str(rng.randint(30, 120)),
        "jobs": str(rng.randint(20, 400)),
        "age": str(rng.randint(19, 71)),
        "score_us": str(score_us),
        "score_them": str(rng.randint(0, score_us - 1)),
    }


def _cast(rng: random.Random, topic: _Topic, facts: dict[str, str]) -> None:
    """Add people a-d (full name, short name with honorific, role) to ``facts``."""
    taken = {facts.get(f"{k}_surname") for k in "abcd"}
    for key, (role, honorific) in zip("abcd", topic.roles, strict=True):
        female = rng.random() < 0.5  # noqa: PLR2004 - even split
        first = rng.choice(FIRST_NAMES_F if female else FIRST_NAMES_M)
        surname = rng.choice([s for s in SURNAMES if s not in taken])
        taken.add(surname)
        title = honorific or ("Ms" if female else "Mr")
        full = f"{first} {surname}" if honorific != "Judge" else f"Judge {first} {surname}"
        facts.update(
            {
                key: full,
                f"{key}_s": f"{title} {surname}",
                f"{key}_surname": surname,
            }
        )
        facts[f"{key}_role"] = _expand(role, facts, topic, rng)


def _facts(
    rng: random.Random, topic: _Topic, when: datetime, fixed: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Every fact of a story; ``fixed`` facts are kept instead of drawn (people too, when given)."""
    fixed = fixed or {}
    facts: dict[str, str] = {}
    town = fixed.get("town") or rng.choice(TOWNS)
    facts["town"] = town
    facts["neighbour"] = fixed.get("neighbour") or rng.choice([t for t in TOWNS if t != town])
    places: tuple[tuple[str, tuple[str, ...]], ...] = (("district", DISTRICTS), ("street", STREETS))
    for key, pool in places:
        facts[key] = fixed.get(key) or rng.choice(pool)
    facts.update(_numbers(rng))
    facts.update(_calendar(when, rng))
    for key, pool in topic.extras.items():
        facts[key] = fixed.get(key) or _expand(rng.choice(pool), facts, topic, rng)
    if "species" in facts:
        facts["species_cap"] = _cap(facts["species"])
    for key, pool in (("org", topic.org), ("org2", topic.org2), ("venue", topic.venue)):
        facts[key] = fixed.get(key) or _expand(rng.choice(pool), facts, topic, rng)
    if "a" not in fixed:
        _cast(rng, topic, facts)
    facts.update(fixed)
    return facts


@dataclass(slots=True)
class _Draft:
    """A story's text before it gets a label, a title and a publisher."""

    writer: _Writer
    headlines: tuple[str, ...]  # title templates matching the lead
    paragraphs: list[str]
    quote: int  # index of the long quoted paragraph, -1 when there is none


def _article(
    writer: _Writer,
    lead: str,
    headlines: tuple[str, ...],
    paragraphs: int,
    quote: str | None = None,
    reuse: str | None = None,
) -> _Draft:
    """Paragraphs of a story: a lead, the long quote at 2 or 3, an optional reused paragraph."""
    rng = writer.rng
    body = [writer.paragraph(writer.fill(lead))]
    quote_at = rng.randint(2, 3)
    reuse_at = rng.choice([i for i in range(1, min(paragraphs, 5)) if i != quote_at])
    for index in range(1, paragraphs):
        if index == quote_at:
            body.append(quote if quote is not None else writer.long_quote())
        elif reuse is not None and index == reuse_at:
            body.append(reuse)
        else:
            body.append(writer.paragraph())
    return _Draft(writer, headlines, body, quote_at)


class _Builder:
    """Builds a corpus from one random stream, in a fixed order."""

    def __init__(
        self,
        rng: random.Random,
        start: datetime,
        stories: int,
        brief_words: tuple[int, int] = (MIN_BRIEF_WORDS, MAX_BRIEF_WORDS),
    ) -> None:
        self.rng = rng
        self.brief_words = brief_words
        self.start = start
        self.stories = stories
        self.span_minutes = max(MIN_SPAN_DAYS, -(-stories // STORIES_PER_DAY)) * 24 * 60
        self.width = max(4, len(str(stories * (1 + len(HARD_NEGATIVE_KINDS)))))
        self.next_label = 0
        self.urls: set[str] = set()
        self.originals: list[_Root] = []
        self.briefs: list[_Root] = []

    # -- roots ----------------------------------------------------------------------------------

    def label(self) -> str:
        label = f"s{self.next_label:0{self.width}d}"
        self.next_label += 1
        return label

    def publish_time(self) -> datetime:
        day = self.rng.randrange(self.span_minutes // (24 * 60))
        minute = self.rng.randint(6 * 60, 22 * 60)
        return self.start + timedelta(days=day, minutes=minute)

    def root(
        self, kind: str, draft: _Draft, when: datetime, angle: int, *, label: str | None = None
    ) -> _Root:
        return _Root(
            label=self.label() if label is None else label,
            kind=kind,
            topic=draft.writer.topic,
            facts=dict(draft.writer.facts),
            publisher=self.rng.choice(PUBLISHERS),
            title=draft.writer.fill(self.rng.choice(draft.headlines)),
            headlines=draft.headlines,
            angle=angle,
            paragraphs=draft.paragraphs,
            sentences=draft.writer.sentences,
            quote=draft.quote,
            published_at=when,
        )

    def original(self) -> _Root:
        rng = self.rng
        topic = rng.choice(_TOPICS)
        when = self.publish_time()
        writer = _Writer(rng, topic, _facts(rng, topic, when))
        angle = rng.randrange(len(topic.angles))
        lead, headlines = topic.angles[angle].lead, topic.angles[angle].headlines
        count = rng.randint(MIN_PARAGRAPHS, MAX_PARAGRAPHS)
        return self.root(ORIGINAL, _article(writer, lead, headlines, count), when, angle)

    def negative_topic(self, source: _Root) -> _Root:
        """Same topic, week and places; another event, other people and numbers.

        The story reports another of the topic's angles, and the facts that define an event
        (``topic.distinct``) differ. Drafts are redrawn until one shares at least
        :data:`NEGATIVE_MIN_OVERLAP` of its distinct words with the source (the best of
        :data:`NEGATIVE_ATTEMPTS` drafts otherwise).
        """
        rng = self.rng
        topic = source.topic
        offset = timedelta(minutes=rng.randint(-3 * 24 * 60, 3 * 24 * 60))
        when = max(self.start, source.published_at + offset)
        keep = {key: source.facts[key] for key in topic.keep}
        source_words = _vocabulary(source.title, source.paragraphs)
        best: tuple[float, _Root] | None = None
        for _ in range(NEGATIVE_ATTEMPTS):
            facts = _facts(rng, topic, when, keep)
            while any(facts[key] == source.facts[key] for key in ("money", "pct", *topic.distinct)):
                facts = _facts(rng, topic, when, keep)
            writer = _Writer(rng, topic, facts, avoid=[*source.sentences, *source.paragraphs])
            angle = rng.choice([i for i in range(len(topic.angles)) if i != source.angle])
            lead, headlines = topic.angles[angle].lead, topic.angles[angle].headlines
            near = len(source.paragraphs) + rng.randint(-2, 2)  # similar length, similar words
            count = min(MAX_PARAGRAPHS, max(MIN_PARAGRAPHS, near))
            draft = _article(writer, lead, headlines, count)
            root = self.root(NEGATIVE_TOPIC, draft, when, angle, label="")
            overlap = _jaccard(source_words, _vocabulary(root.title, root.paragraphs))
            if best is None or overlap > best[0]:
                best = (overlap, root)
            if overlap >= NEGATIVE_MIN_OVERLAP:
                break
        assert best is not None  # noqa: S101 - NEGATIVE_ATTEMPTS >= 1
        best[1].label = self.label()
        return best[1]

    def follow_up(self, source: _Root) -> _Root:
        """A later story on the same subject reusing one paragraph of the source."""
        rng = self.rng
        topic = source.topic
        when = source.published_at + timedelta(minutes=rng.randint(24 * 60, 4 * 24 * 60))
        redraw = {"m", "small", "big", *_calendar(when, rng)}
        keep = {k: v for k, v in source.facts.items() if k not in redraw}
        facts = _facts(rng, topic, when, keep)
        facts["prev_weekday"] = f"{source.published_at:%A}"
        reused = source.paragraphs[rng.choice([i for i in range(3) if i != source.quote])]
        if rng.random() < 0.4:  # noqa: PLR2004 - share lightly copy-edited
            reused = _copy_edit(reused, rng)
        writer = _Writer(rng, topic, facts, avoid=[*source.sentences, *source.paragraphs])
        link = writer.fill(rng.choice(FOLLOW_UP_LINKS))
        sequel = topic.angles[source.angle]
        count = rng.randint(MIN_PARAGRAPHS, MAX_PARAGRAPHS - 2)
        draft = _article(writer, sequel.follow_lead, sequel.follow_headlines, count, reuse=reused)
        at = draft.paragraphs.index(reused)
        before = draft.paragraphs[at - 1]
        if at > 1 and at - 1 != draft.quote and _words(before) + _words(link) <= MAX_WORDS:
            draft.paragraphs[at - 1] = f"{before} {link}"
        return self.root(FOLLOW_UP, draft, when, source.angle)

    def live_blog(self, source: _Root) -> _Root:
        """Short timestamped entries on the same event, some reusing the source's sentences."""
        rng = self.rng
        topic = source.topic
        when = max(self.start, source.published_at - timedelta(minutes=rng.randint(-180, 120)))
        writer = _Writer(rng, topic, source.facts)
        entries = [*topic.live, *LIVE_ENTRIES]
        rng.shuffle(entries)
        reusable = list(source.sentences)
        rng.shuffle(reusable)
        event = topic.angles[source.angle].event
        lines = [writer.fill(rng.choice(LIVE_INTROS).replace("{event}", event))]
        clock = when
        for index in range(rng.randint(MIN_LIVE_ENTRIES, MAX_LIVE_ENTRIES)):
            clock += timedelta(minutes=rng.randint(3, 25))
            reuse = bool(reusable) and (index < MIN_SENTENCES or rng.random() < LIVE_REUSE_SHARE)
            text = reusable.pop() if reuse or not entries else writer.fill(entries.pop())
            lines.append(f"{clock:%H:%M} {EM_DASH} {text}")
        if rng.random() < 0.5:  # noqa: PLR2004 - newest-first layout for half of them
            lines[1:] = lines[:0:-1]
        headline = writer.fill(rng.choice(source.headlines))
        titles = tuple(t.replace("{headline}", headline) for t in LIVE_TITLES)
        return self.root(LIVE_BLOG, _Draft(writer, titles, lines, -1), when, source.angle)

    def shared_quote(self, source: _Root) -> _Root:
        """A story on another angle of the topic carrying the source's long quote verbatim."""
        rng = self.rng
        topic = source.topic
        when = source.published_at + timedelta(minutes=rng.randint(60, 4 * 24 * 60))
        keep = {"town": source.facts["town"]} if rng.random() < 0.5 else {}  # noqa: PLR2004 - half
        facts = _facts(rng, topic, when, keep)
        writer = _Writer(rng, topic, facts, avoid=[*source.sentences, *source.paragraphs])
        angle = rng.choice([i for i in range(len(topic.angles)) if i != source.angle])
        lead, headlines = topic.angles[angle].lead, topic.angles[angle].headlines
        count = rng.randint(MIN_PARAGRAPHS, MAX_PARAGRAPHS)
        quote = source.paragraphs[source.quote]
        draft = _article(writer, lead, headlines, count, quote=quote)
        return self.root(SHARED_QUOTE, draft, when, angle)

    # -- items ----------------------------------------------------------------------------------

    def url(self, publisher: Publisher, topic: _Topic, when: datetime, title: str) -> str:
        section = publisher.section(topic.section)
        slug = _slugify(title) or "story"
        layout = (publisher.style // 2) % 3
        if layout == 1:
            slug = f"{slug}-{self.rng.randint(100000, 999999)}"
        base = f"https://{publisher.host}/{section}/{when:%Y/%m/%d}/{slug}"
        url = f"{base}.html" if layout == 2 else base  # noqa: PLR2004 - third layout
        suffix = 2
        while url in self.urls:
            url = f"{base}-{suffix}"
            suffix += 1
        self.urls.add(url)
        return url

    def item(
        self,
        root: _Root,
        index: int,
        kind: str,
        publisher: Publisher,
        title: str,
        body: Sequence[str],
        when: datetime,
    ) -> Item:
        styled = _titlecase(title) if publisher.title_case else title
        return Item(
            item_id=f"{root.label}-p{index}",
            story=root.label,
            kind=kind,
            publisher=publisher.slug,
            url=self.url(publisher, root.topic, when, title),
            title=styled,
            body="\n\n".join(body),
            published_at=when,
        )

    def rewrite_title(self, root: _Root) -> str:
        """Another headline on the same subject, sometimes just the original shortened."""
        rng = self.rng
        short = _shorten(root.title)
        if short != root.title and rng.random() < 0.3:  # noqa: PLR2004 - share shortened
            return short
        options = [
            t
            for t in (_cap(_expand(h, root.facts, root.topic, rng)) for h in root.headlines)
            if t != root.title
        ]
        title = rng.choice(options or [short])
        return _shorten(title) if rng.random() < 0.2 else title  # noqa: PLR2004 - share shortened

    def boilerplate(self, root: _Root, publisher: Publisher) -> tuple[list[str], list[str]]:
        """1-3 publisher-specific lines, split into (prepended, appended)."""
        rng = self.rng
        style = publisher.style
        other = rng.choice(self.originals)
        while other.label == root.label and len(self.originals) > 1:
            other = rng.choice(self.originals)
        values = {
            "wire": publisher.wire,
            "paper": publisher.name,
            "newsletter": publisher.newsletter,
            "agency": publisher.agency,
            "reporter": f"{rng.choice(FIRST_NAMES_F + FIRST_NAMES_M)} {rng.choice(SURNAMES)}",
            "photographer": f"{rng.choice(FIRST_NAMES_F + FIRST_NAMES_M)} {rng.choice(SURNAMES)}",
            "other": other.title,
            "town": root.facts["town"],
        }
        families = {
            "wire": WIRE_LINES[style % len(WIRE_LINES)],
            "reporting": REPORTING_LINES[style % len(REPORTING_LINES)],
            "read": READ_MORE_LINES[(style // 2) % len(READ_MORE_LINES)],
            "newsletter": NEWSLETTER_LINES[(style // 3) % len(NEWSLETTER_LINES)],
            "photo": PHOTO_LINES[(style + 1) % len(PHOTO_LINES)],
        }
        head: list[str] = []
        tail: list[str] = []
        for family in sorted(
            rng.sample(sorted(families), rng.randint(1, 3)), key=list(families).index
        ):
            line = _SLOT.sub(lambda m: values[m.group(1)], families[family])
            on_top = (family == "photo" and publisher.photo_on_top) or (
                family == "wire" and publisher.wire_on_top
            )
            (head if on_top else tail).append(line)
        return head, tail

    def syndicated(self, root: _Root, index: int) -> Item:
        """A copy by another outlet with a random, non-empty mix of edits."""
        rng = self.rng
        publisher = rng.choice([p for p in PUBLISHERS if p != root.publisher])
        paragraphs = list(root.paragraphs)
        edits = {name for name, share in _EDIT_SHARES.items() if rng.random() < share}
        if not edits:
            edits = {rng.choice(sorted(_EDIT_SHARES))}
        if "copy" in edits:
            paragraphs = _copy_edit_some(paragraphs, rng, rng.randint(1, 2))
        if "trim" in edits and len(paragraphs) > MIN_KEPT:
            paragraphs = paragraphs[: -rng.randint(1, min(MAX_TRIM, len(paragraphs) - MIN_KEPT))]
        if "reorder" in edits:
            paragraphs = _reorder(paragraphs, rng)
        title = self.rewrite_title(root) if "title" in edits else root.title
        unchanged = paragraphs == root.paragraphs and title == root.title
        head, tail = (
            self.boilerplate(root, publisher) if "boilerplate" in edits or unchanged else ([], [])
        )
        when = root.published_at + timedelta(minutes=_delay(rng))
        return self.item(
            root, index, SYNDICATED, publisher, title, [*head, *paragraphs, *tail], when
        )

    def update(self, root: _Root, index: int) -> Item:
        """The root plus one or two new paragraphs, hours later, sometimes by another outlet."""
        rng = self.rng
        same = rng.random() < 0.5  # noqa: PLR2004 - half come from the original outlet
        publisher = (
            root.publisher if same else rng.choice([p for p in PUBLISHERS if p != root.publisher])
        )
        writer = _Writer(rng, root.topic, root.facts, avoid=[*root.sentences, *root.paragraphs])
        paragraphs = list(root.paragraphs)
        for _ in range(rng.randint(1, 2)):
            fresh = writer.paragraph(writer.fill(rng.choice(UPDATE_LEADS)))
            at = rng.choice((1, 1, 2, len(paragraphs)))
            paragraphs.insert(at, fresh)
        head, tail = ([], []) if same or rng.random() < 0.5 else self.boilerplate(root, publisher)  # noqa: PLR2004 - half
        title = self.rewrite_title(root) if rng.random() < 0.4 else root.title  # noqa: PLR2004 - share retitled
        when = root.published_at + timedelta(minutes=rng.randint(60, 30 * 60))
        return self.item(root, index, UPDATE, publisher, title, [*head, *paragraphs, *tail], when)

    def republications(self, root: _Root, share: float, most: int) -> list[Item]:
        rng = self.rng
        if rng.random() >= share:
            return []
        return [
            self.update(root, index)
            if rng.random() < UPDATE_SHARE
            else self.syndicated(root, index)
            for index in range(1, rng.randint(1, most) + 1)
        ]

    # -- the hard profile -----------------------------------------------------------------------

    def other_publisher(self, root: _Root) -> Publisher:
        return self.rng.choice([p for p in PUBLISHERS if p != root.publisher])

    def new_title(self, root: _Root) -> str:
        """A headline other than the root's (shortened, or the town and a shortened one)."""
        for _ in range(5):
            title = self.rewrite_title(root)
            if title.lower() != root.title.lower():
                return title
        return f"{root.facts['town']}: {_shorten(root.title)}"

    def lead_only(self, root: _Root, index: int) -> Item:
        """A copy keeping only the first 30-60% of the paragraphs (at least one)."""
        rng = self.rng
        publisher = self.other_publisher(root)
        count = len(root.paragraphs)
        low, high = LEAD_KEEP
        least, most = max(1, -(-low * count // 10)), max(1, high * count // 10)
        keep = min(most, max(least, round(rng.uniform(low / 10, high / 10) * count)))
        paragraphs = list(root.paragraphs[:keep])
        if rng.random() < 0.3:  # noqa: PLR2004 - share copy-edited
            paragraphs = _copy_edit_some(paragraphs, rng, 1)
        title = self.rewrite_title(root) if rng.random() < 0.55 else root.title  # noqa: PLR2004
        head, tail = self.boilerplate(root, publisher) if rng.random() < 0.6 else ([], [])  # noqa: PLR2004
        when = root.published_at + timedelta(minutes=_delay(rng))
        body = [*head, *paragraphs, *tail]
        return self.item(root, index, LEAD_ONLY, publisher, title, body, when)

    def rewrite(self, root: _Root, index: int) -> Item:
        """A heavy rewrite: 30% of the sentences dropped, 10% reworded, a new headline."""
        rng = self.rng
        publisher = self.other_publisher(root)
        units = [(at, s) for at, p in enumerate(root.paragraphs) for s in _sentences(p)]
        dropped = set(rng.sample(range(1, len(units)), round(REWRITE_DROP * len(units))))
        kept = [unit for n, unit in enumerate(units) if n not in dropped]
        count = min(len(kept), max(1, round(REWRITE_REWORD * len(units))))
        reworded = set(rng.sample(range(len(kept)), count))
        paragraphs: dict[int, list[str]] = defaultdict(list)
        for n, (at, sentence) in enumerate(kept):
            paragraphs[at].append(_reword(sentence, rng) if n in reworded else sentence)
        body = [" ".join(parts) for _, parts in sorted(paragraphs.items())]
        when = root.published_at + timedelta(minutes=_delay(rng))
        return self.item(root, index, REWRITE, publisher, self.new_title(root), body, when)

    def short_brief(self) -> _Root:
        """A short original: a lead and a sentence or more, 20-40 words (``brief_words``)."""
        rng = self.rng
        topic = rng.choice(_TOPICS)
        when = self.publish_time()
        writer = _Writer(rng, topic, _facts(rng, topic, when))
        angle = rng.randrange(len(topic.angles))
        parts = [writer.fill(topic.angles[angle].lead)]
        low, high = self.brief_words
        target = rng.randint(low, high)
        for _ in range(200):
            count = sum(_words(p) for p in parts)
            if count >= max(target, low):
                break
            plain, sentence = writer.sentence()
            if count + _words(sentence) <= high and writer.is_new(plain):
                parts.append(sentence)
                writer.written += f"\n{sentence}"
        body = " ".join(parts)
        headlines = topic.angles[angle].headlines
        if rng.random() < BRIEF_GENERIC_TITLE_SHARE:
            headlines = (rng.choice(BRIEF_GENERIC_TITLES),)
        draft = _Draft(writer, headlines, [body], -1)
        return self.root(SHORT_BRIEF, draft, when, angle)

    def short_copy(self, root: _Root, index: int) -> Item:
        """A short brief republished with light edits (copy edits, headline, a credit line)."""
        rng = self.rng
        publisher = self.other_publisher(root)
        shares = {"copy": 0.6, "title": 0.4, "credit": 0.3}
        edits = {name for name, share in shares.items() if rng.random() < share} or {"copy"}
        body = [_copy_edit(root.paragraphs[0], rng) if "copy" in edits else root.paragraphs[0]]
        if "credit" in edits:
            line = WIRE_LINES[publisher.style % len(WIRE_LINES)]
            values = {"wire": publisher.wire, "paper": publisher.name}
            body.append(_SLOT.sub(lambda m: values[m.group(1)], line))
        title = self.rewrite_title(root) if "title" in edits else root.title
        if (title, body) == (root.title, root.paragraphs):  # an edit that changed nothing
            body = [*body, f"Copy supplied by {publisher.wire}."]
        when = root.published_at + timedelta(minutes=_delay(rng))
        return self.item(root, index, SHORT_COPY, publisher, title, body, when)

    def generic_body(self, language: str, title: str) -> list[str]:
        """10-40 words of captions or briefs, timestamped under a live title."""
        rng = self.rng
        lines = list(GENERIC_LINES[language])
        rng.shuffle(lines)
        target = rng.randint(MIN_GENERIC_WORDS, MAX_GENERIC_WORDS)
        clock = datetime(2000, 1, 1, rng.randint(6, 20), rng.randrange(60), tzinfo=UTC)
        body: list[str] = []
        count = 0
        for template in lines:
            if count >= target:
                break
            topic = rng.choice(_TOPICS)
            text = _cap(_expand(template, _facts(rng, topic, self.publish_time()), topic, rng))
            if title in LIVE_GENERIC_TITLES:
                clock += timedelta(minutes=rng.randint(3, 40))
                text = f"{clock:%H:%M} {EM_DASH} {text}"
            if count + _words(text) <= MAX_GENERIC_WORDS:
                body.append(text)
                count += _words(text)
        return body

    def generic_short(self, seen: dict[str, list[set[str]]]) -> _Root:
        """A short item under a generic title, its words unlike those of its title's others.

        Bodies are redrawn (and, failing that, titles changed) until the body's word-set
        Jaccard with every earlier body under the same title is below
        :data:`GENERIC_MAX_JACCARD`; the best draw is kept when none is.
        """
        rng = self.rng
        (language,) = rng.choices(list(GENERIC_TITLES), weights=GENERIC_LANGUAGE_WEIGHTS)
        titles = list(GENERIC_TITLES[language])
        rng.shuffle(titles)
        best: tuple[float, str, list[str], set[str]] | None = None
        for title in titles:
            for _ in range(GENERIC_ATTEMPTS):
                body = self.generic_body(language, title)
                words = _vocabulary("", body)
                worst = max((_jaccard(words, w) for w in seen[title.lower()]), default=0.0)
                if _words(" ".join(body)) >= MIN_GENERIC_WORDS and (
                    best is None or worst < best[0]
                ):
                    best = (worst, title, body, words)
                if best is not None and best[0] < GENERIC_MAX_JACCARD:
                    break
            if best is not None and best[0] < GENERIC_MAX_JACCARD:
                break
        assert best is not None  # noqa: S101 - some draw always reaches the minimum length
        _, title, body, words = best
        seen[title.lower()].append(words)
        topic = rng.choice(_TOPICS)
        when = self.publish_time()
        return _Root(
            label=self.label(),
            kind=GENERIC_SHORT,
            topic=topic,
            facts=_facts(rng, topic, when),
            publisher=rng.choice(PUBLISHERS),
            title=title,
            headlines=(title,),
            angle=0,
            paragraphs=body,
            sentences=list(body),
            quote=-1,
            published_at=when,
        )

    def recap(self, source: _Root) -> _Root:
        """A new story in the source's town (another angle or topic) recapping it in a paragraph.

        The recap paragraph copies one of the source's paragraphs (the lead, mostly) behind a
        lead-in, sometimes copy-edited or without its last sentence; the rest is new.
        """
        rng = self.rng
        same_topic = rng.random() < 0.5  # noqa: PLR2004 - half stay on the topic
        topic = (
            source.topic if same_topic else rng.choice([t for t in _TOPICS if t != source.topic])
        )
        when = source.published_at + timedelta(minutes=rng.randint(24 * 60, 6 * 24 * 60))
        keep = {"town": source.facts["town"], "neighbour": source.facts["neighbour"]}
        facts = _facts(rng, topic, when, keep)
        facts["prev_weekday"] = f"{source.published_at:%A}"
        angles = [i for i in range(len(topic.angles)) if not same_topic or i != source.angle]
        angle = rng.choice(angles)
        choices = [i for i in range(len(source.paragraphs)) if i != source.quote]
        copied = source.paragraphs[0 if rng.random() < 0.6 else rng.choice(choices)]  # noqa: PLR2004
        sentences = _sentences(copied)
        if len(sentences) >= 3 and rng.random() < 0.3:  # noqa: PLR2004 - share shortened
            copied = " ".join(sentences[:-1])
        if rng.random() < 0.4:  # noqa: PLR2004 - share copy-edited
            copied = _copy_edit(copied, rng)
        leadin = _expand(rng.choice(RECAP_LEADINS), facts, topic, rng)
        recap = leadin + (_lower_first(copied) if leadin.endswith(", ") else copied)
        writer = _Writer(rng, topic, facts, avoid=[*source.sentences, *source.paragraphs])
        count = rng.randint(MIN_RECAP_PARAGRAPHS, MAX_RECAP_PARAGRAPHS)
        lead, headlines = topic.angles[angle].lead, topic.angles[angle].headlines
        draft = _article(writer, lead, headlines, count, reuse=recap)
        return self.root(RECAP, draft, when, angle)

    def hard_items(self, items: Sequence[Item], resembles: dict[str, str]) -> list[Item]:
        """The hard profile's items; adds the hard negatives' relations to ``resembles``."""
        rng = self.rng
        copies = Counter(item.story for item in items)  # the next item index per label
        out: list[Item] = []
        for root in self.originals:
            for share, make in ((LEAD_ONLY_SHARE, self.lead_only), (REWRITE_SHARE, self.rewrite)):
                if rng.random() < share:
                    for _ in range(rng.randint(1, MAX_HARD_COPIES)):
                        out.append(make(root, copies[root.label]))
                        copies[root.label] += 1
        for _ in range(round(SHORT_BRIEF_SHARE * self.stories)):
            brief = self.short_brief()
            self.briefs.append(brief)
            out.append(self.root_item(brief))
            copies_of = rng.randint(1, MAX_SHORT_COPIES)
            out.extend(self.short_copy(brief, index) for index in range(1, copies_of + 1))
        seen: dict[str, list[set[str]]] = defaultdict(list)
        first: dict[str, str] = {}
        for _ in range(round(GENERIC_SHARE * self.stories)):
            item = self.root_item(self.generic_short(seen))
            earlier = first.setdefault(item.title.lower(), item.item_id)
            if earlier != item.item_id:
                resembles[item.item_id] = earlier
            out.append(item)
        quota = min(self.stories, round(RECAP_SHARE * self.stories))
        for source in rng.sample(self.originals, quota):
            item = self.root_item(self.recap(source))
            resembles[item.item_id] = source.item_id
            out.append(item)
        return out

    def digest_sources(self) -> list[list[_Root]]:
        """The roots each digest reprints: 2-4 distinct stories, in body order.

        :data:`DIGEST_BRIEF_SHARE` of the digests start from two short briefs, the
        closest-published pair that no earlier digest reprints together (briefs are rare, so a
        pair may span a day or two); the others start from a random original. Each is filled up
        to its drawn size with short briefs, then originals, published on the day of its latest
        source. No two digests reprint two of the same stories.
        """
        rng = self.rng
        quota = round(DIGEST_SHARE * self.stories)
        briefs = sorted(self.briefs, key=lambda r: (r.published_at, r.label))
        pairs = sorted(
            combinations(briefs, 2),
            key=lambda p: (p[1].published_at - p[0].published_at, p[0].label, p[1].label),
        )
        by_day: dict[date, list[_Root]] = defaultdict(list)
        for root in [*briefs, *self.originals]:
            by_day[root.published_at.date()].append(root)
        used: set[frozenset[str]] = set()  # pairs of stories some digest reprints together

        def fits(chosen: list[_Root], candidate: _Root) -> bool:
            return all(
                c.label != candidate.label and frozenset((c.label, candidate.label)) not in used
                for c in chosen
            )

        out: list[list[_Root]] = []
        for n in range(quota):
            size = rng.randint(MIN_DIGEST_ITEMS, MAX_DIGEST_ITEMS)
            chosen: list[_Root] = []
            if n < round(DIGEST_BRIEF_SHARE * quota):
                unused = (list(p) for p in pairs if frozenset((p[0].label, p[1].label)) not in used)
                chosen = next(unused, [])
            chosen = chosen or self.digest_anchor(by_day, fits)
            if not chosen:
                continue
            day = max(r.published_at for r in chosen).date()
            day_briefs = [r for r in by_day[day] if r.kind == SHORT_BRIEF]
            day_originals = [r for r in by_day[day] if r.kind == ORIGINAL]
            rng.shuffle(day_briefs)
            rng.shuffle(day_originals)
            for candidate in [*day_briefs, *day_originals]:  # briefs first, when there are any
                if len(chosen) < size and fits(chosen, candidate):
                    chosen.append(candidate)
            if len(chosen) < MIN_DIGEST_ITEMS:
                continue
            used.update(frozenset((a.label, b.label)) for a, b in combinations(chosen, 2))
            rng.shuffle(chosen)
            out.append(chosen)
        return out

    def digest_anchor(
        self,
        by_day: Mapping[date, Sequence[_Root]],
        fits: Callable[[list[_Root], _Root], bool],
    ) -> list[_Root]:
        """A random original with another story of its day to go with it (or none found)."""
        for _ in range(DIGEST_ATTEMPTS):
            anchor = self.rng.choice(self.originals)
            if any(fits([anchor], r) for r in by_day[anchor.published_at.date()]):
                return [anchor]
        return []

    def digest(self, sources: Sequence[_Root]) -> _Root:
        """A round-up under a generic title: an intro line, then one paragraph per source.

        Each paragraph is a source's first one (a short brief's whole body, an original's lead),
        verbatim or (:data:`DIGEST_EDIT_SHARE`) lightly copy-edited. The digest is published
        20-120 minutes after its latest source, on the same day.
        """
        rng = self.rng
        (language,) = rng.choices(list(DIGEST_TITLES), weights=DIGEST_LANGUAGE_WEIGHTS)
        title = rng.choice(DIGEST_TITLES[language])
        body = [rng.choice(DIGEST_INTROS[language])]
        for source in sources:
            text = source.paragraphs[0]
            body.append(_copy_edit(text, rng) if rng.random() < DIGEST_EDIT_SHARE else text)
        latest = max(s.published_at for s in sources)
        end = latest.replace(hour=23, minute=59, second=0, microsecond=0)
        when = min(end, latest + timedelta(minutes=rng.randint(20, 120)))
        return _Root(
            label=self.label(),
            kind=DIGEST,
            topic=sources[0].topic,
            facts=dict(sources[0].facts),
            publisher=rng.choice(PUBLISHERS),
            title=title,
            headlines=(title,),
            angle=0,
            paragraphs=body,
            sentences=list(body),
            quote=-1,
            published_at=when,
        )

    def digest_items(
        self,
        arrive: dict[str, datetime],
        members: Mapping[str, Sequence[Item]],
        resembles: dict[str, str],
        reprints: dict[str, tuple[str, ...]],
    ) -> list[Item]:
        """The digests, their arrival times added to ``arrive`` and their sources recorded.

        :data:`DIGEST_LATE_SHARE` of them arrive 1 minute to 6 hours after every item of their
        sources' stories (roots and copies, backfilled roots included); the others arrive like
        any item, 0-60 minutes after publication (which follows their sources' publication),
        so often before a backfilled source root or some of the sources' copies.
        """
        rng = self.rng
        out: list[Item] = []
        for sources in self.digest_sources():
            item = self.root_item(self.digest(sources))
            roots = tuple(s.item_id for s in sources)
            resembles[item.item_id] = roots[0]
            reprints[item.item_id] = roots
            at = item.published_at + timedelta(minutes=rng.randint(0, 60))
            if rng.random() < DIGEST_LATE_SHARE:
                last = max(arrive[i.item_id] for s in sources for i in members[s.label])
                at = max(at, last) + timedelta(minutes=rng.randint(1, 6 * 60))
            arrive[item.item_id] = at
            out.append(item)
        return out

    def root_item(self, root: _Root) -> Item:
        return self.item(
            root, 0, root.kind, root.publisher, root.title, root.paragraphs, root.published_at
        )

    def arrivals(
        self,
        items: Sequence[Item],
        resembles: dict[str, str],
        reprints: dict[str, tuple[str, ...]],
    ) -> list[Item]:
        """``items`` plus the digests, with arrival positions: crawl lags, backfilled roots.

        Every item arrives 0-60 minutes after publication, except that :data:`BACKFILL_SHARE`
        of the republished roots arrive 12 hours to 6 days after the last of their copies. The
        digests are drawn after that (so the other items keep their relative order) and arrive
        as :meth:`digest_items` says.
        """
        rng = self.rng
        arrive = {i.item_id: i.published_at + timedelta(minutes=rng.randint(0, 60)) for i in items}
        members: dict[str, list[Item]] = defaultdict(list)
        for item in items:
            members[item.story].append(item)
        for group in members.values():
            copies = [i for i in group if i.kind in POSITIVE_KINDS]
            if copies and rng.random() < BACKFILL_SHARE:
                last = max(arrive[i.item_id] for i in copies)
                lag = timedelta(minutes=rng.randint(12 * 60, 6 * 24 * 60))
                arrive[f"{group[0].story}-p0"] = last + lag
        items = [*items, *self.digest_items(arrive, members, resembles, reprints)]
        items.sort(key=lambda item: (item.published_at, item.item_id))
        order = sorted(items, key=lambda i: (arrive[i.item_id], i.item_id))
        rank = {item.item_id: n for n, item in enumerate(order)}
        return [replace(item, arrival=rank[item.item_id]) for item in items]

    def run(self, *, hard: bool = False) -> Corpus:
        rng = self.rng
        self.originals = [self.original() for _ in range(self.stories)]
        quota = max(1, round(self.stories * NEGATIVE_SHARE))
        plans = sorted(
            (source, order)
            for order, _kind in enumerate(HARD_NEGATIVE_KINDS)
            for source in rng.sample(range(self.stories), quota)
        )
        makers = (self.negative_topic, self.follow_up, self.live_blog, self.shared_quote)
        negatives = [makers[order](self.originals[source]) for source, order in plans]
        resembles = {
            neg.item_id: self.originals[source].item_id
            for neg, (source, _) in zip(negatives, plans, strict=True)
        }
        items: list[Item] = []
        for root in [*self.originals, *negatives]:
            items.append(
                self.item(
                    root,
                    0,
                    root.kind,
                    root.publisher,
                    root.title,
                    root.paragraphs,
                    root.published_at,
                )
            )
            if root.kind == ORIGINAL:
                items.extend(self.republications(root, REPUBLISHED_SHARE, MAX_REPUBLICATIONS))
            elif root.kind != LIVE_BLOG:
                items.extend(
                    self.republications(
                        root, NEGATIVE_REPUBLISHED_SHARE, MAX_NEGATIVE_REPUBLICATIONS
                    )
                )
        if hard:
            items.extend(self.hard_items(items, resembles))
        items.sort(key=lambda item: (item.published_at, item.item_id))
        reprints: dict[str, tuple[str, ...]] = {}
        if hard:
            items = self.arrivals(items, resembles, reprints)
        else:
            items = [replace(item, arrival=n) for n, item in enumerate(items)]
        return Corpus(tuple(items), resembles, reprints)


_EDIT_SHARES = {"title": 0.55, "trim": 0.45, "reorder": 0.35, "boilerplate": 0.7, "copy": 0.5}


def _delay(rng: random.Random) -> int:
    """Minutes between a story and a copy: mostly within hours, at most three days."""
    return min(MAX_DELAY_MINUTES, MIN_DELAY_MINUTES + int(rng.expovariate(1 / 300)))


def _reorder(paragraphs: list[str], rng: random.Random) -> list[str]:
    """Swap two adjacent paragraphs or move one (the lead stays first)."""
    out = list(paragraphs)
    if len(out) < MIN_KEPT:
        return out
    if rng.random() < 0.5:  # noqa: PLR2004 - swap or move
        at = rng.randrange(1, len(out) - 1)
        out[at], out[at + 1] = out[at + 1], out[at]
        return out
    at = rng.randrange(1, len(out))
    moved = out.pop(at)
    out.insert(rng.choice([i for i in range(1, len(out) + 1) if i != at]), moved)
    return out


# ----------------------------------------------------------------------------------------------
# Public API.


def generate(
    stories: int = 200,
    *,
    seed: int = DEFAULT_SEED,
    start: datetime = DEFAULT_START,
    hard: bool = False,
    brief_words: tuple[int, int] = (MIN_BRIEF_WORDS, MAX_BRIEF_WORDS),
) -> Corpus:
    """Build a corpus with ``stories`` originals, their hard negatives and republications.

    Args:
        stories: Number of original stories (at least 1). Each hard-negative kind gets
            ``round(0.35 * stories)`` roots; about 70% of originals are republished.
        seed: Seed of the single random stream; equal arguments give an equal corpus.
        start: Aware start of the publication window (converted to UTC).
        hard: Add the hard profile (see the module docstring): the default corpus for the
            same arguments, plus lead-only copies, heavy rewrites, short briefs and their
            copies, generic short items, recaps and digests, arriving out of order.
        brief_words: The length range of the hard profile's short briefs, in words (a
            digest reprints them whole).

    Returns:
        The items and the hard-negative relations.

    Raises:
        ValueError: If ``stories`` is below 1 or ``start`` is naive.
    """
    if stories < 1:
        raise ValueError("stories must be at least 1")
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be timezone-aware")
    builder = _Builder(random.Random(seed), start.astimezone(UTC), stories, brief_words)
    return builder.run(hard=hard)


def corpus(
    stories: int = 200,
    *,
    seed: int = DEFAULT_SEED,
    start: datetime = DEFAULT_START,
    hard: bool = False,
) -> list[Item]:
    """The items of :func:`generate`, ordered by publication time then item id.

    Args:
        stories: Number of original stories.
        seed: Seed of the random stream.
        start: Aware start of the publication window.
        hard: Generate the hard profile.

    Returns:
        Every item of the corpus.
    """
    return list(generate(stories, seed=seed, start=start, hard=hard).items)


def arrival_order(items: Sequence[Item]) -> list[Item]:
    """``items`` in the order the crawler sees them (:attr:`Item.arrival`).

    Args:
        items: Any items of one corpus.

    Returns:
        The items, first arrival first.
    """
    return sorted(items, key=lambda item: (item.arrival, item.item_id))


def copies_arriving_first(items: Sequence[Item]) -> list[Item]:
    """The republications that arrive before the root item of their story.

    Args:
        items: A whole corpus.

    Returns:
        Those copies, in corpus order.
    """
    roots = {item.story: item for item in items if item.kind in ROOT_KINDS}
    return [
        item
        for item in items
        if item.kind in POSITIVE_KINDS and item.arrival < roots[item.story].arrival
    ]


def same_story_pairs(items: Sequence[Item]) -> set[frozenset[str]]:
    """All unordered pairs of item ids that share a story label.

    Args:
        items: Any items (ids are assumed unique).

    Returns:
        One two-element frozenset per pair of items with equal labels.
    """
    members: dict[str, list[str]] = defaultdict(list)
    for item in items:
        members[item.story].append(item.item_id)
    return {frozenset(pair) for ids in members.values() for pair in combinations(ids, 2)}


def summary(items: Sequence[Item]) -> dict[str, object]:
    """Counts and sizes of a corpus, for reports.

    Args:
        items: The corpus.

    Returns:
        Items per kind, labels, positive pairs, mean paragraphs and words per kind and overall,
        and the share of republications that arrive before their story's root item.
    """
    kinds = Counter(item.kind for item in items)
    present = [k for k in HARD_PROFILE_KINDS if k in KINDS or kinds[k]]
    copies = sum(kinds[k] for k in POSITIVE_KINDS)
    paragraphs: dict[str, list[int]] = defaultdict(list)
    words: dict[str, list[int]] = defaultdict(list)
    for item in items:
        paragraphs[item.kind].append(len(item.body.split("\n\n")))
        words[item.kind].append(_words(item.body))

    def mean(values: Sequence[int]) -> float:
        return round(sum(values) / len(values), 1) if values else 0.0

    return {
        "items": len(items),
        "stories": len({item.story for item in items}),
        "positive_pairs": len(same_story_pairs(items)),
        "per_kind": {kind: kinds[kind] for kind in present},
        "mean_paragraphs": mean([n for kind in present for n in paragraphs[kind]]),
        "mean_words": mean([n for kind in present for n in words[kind]]),
        "mean_paragraphs_per_kind": {kind: mean(paragraphs[kind]) for kind in present},
        "mean_words_per_kind": {kind: mean(words[kind]) for kind in present},
        "copies_arriving_first": round(len(copies_arriving_first(items)) / max(copies, 1), 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print a corpus summary: ``python tools/syndication.py [--hard] [stories] [seed]``."""
    args = list(sys.argv[1:] if argv is None else argv)
    hard = "--hard" in args
    args = [a for a in args if a != "--hard"]
    stories = int(args[0]) if args else 200
    seed = int(args[1]) if len(args) > 1 else DEFAULT_SEED
    began = time.perf_counter()
    built = generate(stories, seed=seed, hard=hard)
    elapsed = time.perf_counter() - began
    sys.stdout.write(f"corpus({stories}, seed={seed}, hard={hard}) in {elapsed:.2f}s\n")
    for key, value in summary(list(built.items)).items():
        sys.stdout.write(f"{key}: {value}\n")
    if hard:
        for key, value in _digest_summary(built).items():
            sys.stdout.write(f"{key}: {value}\n")
    return 0


def _digest_summary(built: Corpus) -> dict[str, object]:
    """How the digests of a hard corpus were built and when they arrive."""
    index = built.by_id()
    members: dict[str, list[Item]] = defaultdict(list)
    for item in built.items:
        members[item.story].append(item)
    briefs, late, spans = 0, 0, []
    for digest, roots in built.reprints.items():
        sources = [index[r] for r in roots]
        briefs += sum(s.kind == SHORT_BRIEF for s in sources) >= MIN_DIGEST_ITEMS
        last = max(i.arrival for s in sources for i in members[s.story])
        late += index[digest].arrival > last
        times = [s.published_at for s in sources]
        spans.append(round((max(times) - min(times)).total_seconds() / 3600, 1))
    return {
        "digests": len(built.reprints),
        "digests_of_2_to_4_short_briefs": briefs,
        "digests_arriving_after_all_source_items": late,
        "digests_sources_per_digest": dict(
            sorted(Counter(map(len, built.reprints.values())).items())
        ),
        "digests_source_span_hours_max": max(spans, default=0.0),
        "digests_sources_on_one_day": sum(
            len({index[r].published_at.date() for r in roots}) == 1
            for roots in built.reprints.values()
        ),
    }


if __name__ == "__main__":
    raise SystemExit(main())
