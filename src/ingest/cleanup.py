"""Body cleanup: remove the boilerplate news templates leave in an extracted body.

General line rules, not per-site ones. ``make bench-extract`` measures each kind's effect
on the dev set (docs/benchmarks.md, which also lists the rules tried and dropped); every
rule has unit tests on lines written for them. A body is one paragraph per line; a line
goes when it is:

- a promotion: "READ MORE: ...", "Related: ...", "See also ...", "Read our full ... review",
  "Click here to ...", "Continue reading", "More from ...";
- a placeholder or player text: "Loading...", "Please wait", "Advertisement", "This is a
  modal window.", "Next video starts in ...", "Now playing", "Listen to this article";
- a credit: "Photo: ...", "Credit: ...", "Image courtesy of ...", an agency name or code
  on its own ("AFP", "AA", "Reuters", "Jane Doe/Getty Images");
- a share, subscribe or sign-up prompt, a newsletter promotion, a form's text ("Enter your
  email address", "You're subscribed!", "No thanks"), a comments or account prompt;
- a stray navigation word on its own ("Previous", "Next", "Share", "Follow us",
  "Fullscreen", "1 of 5") or a separator ("___", "* * *");
- a cookie, licence, copyright or editorial-standards notice; a tags line ("Topics: ...");
- a gallery caption ("3/50 ...", three or more sharing one total);
- a teaser card (the same words twice on one line) or an all-capitals link to another
  story (nine words or more);
- a byline or dateline at the top or bottom of the body: "By Jane Doe", the article's own
  author names, "Published 28 February 2024", a bare date;
- an author's note or a call to action at the end ("Jane Doe is a reporter for ...",
  "This story was written by ...", "Send us your tips", "Sign up for our newsletter"), and
  an "About the author" section near the end with what follows it;
- a repeated caption: a line of sixteen words or more that already appeared (short lines
  repeat legitimately, as in lists of nominees or results).

A line that merely mentions these words in a sentence stays: the patterns match whole
lines, and most are bounded in length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

VERSION = 2

_AGENCIES = (
    r"getty(?:\s+images)?|reuters|afp|ap|the\s+associated\s+press|associated\s+press|pa(?:\s+wire)?"
    r"|pa\s+media|epa(?:-efe)?|efe|dpa|anadolu(?:\s+agency)?|aa|shutterstock|alamy|bloomberg"
    r"|xinhua|tass|ansa|kyodo|yonhap|sipa|rex|wireimage|filmmagic|nurphoto|zuma(?:\s+press)?"
    r"|imago|abaca|bbc|cnn|istock(?:photo)?"
)

#: Whole-line patterns, by kind (``{agencies}`` is filled in); matched case-insensitively.
RULES: dict[str, tuple[str, ...]] = {
    "promotion": (
        r"(?:read|see|watch|listen)\s+(?:more|also|next)\b.{0,200}",
        r"(?:also|more)\s+read\s*:.{0,200}",
        r"related(?:\s+(?:stories|story|articles|article|coverage|content|reading|videos|links|topics))?\s*[:|\u2014\u2013-].{0,200}",
        r"related(?:\s+(?:stories|articles|coverage|content|reading|videos|links))?",
        r"(?:more|also)\s+(?:on|about)\s+this\s+(?:story|topic)\s*:?.{0,200}",
        r"more\s+from\s+.{1,60}",
        r"read\s+(?:our|the)\s+full\s+.{1,120}",
        r"read\s+the\s+(?:full\s+)?(?:story|article|report)\b.{0,120}",
        r"continue\s+reading\b.{0,120}",
        r"click\s+here\b.{0,200}",
        r"(?:most\s+)?(?:popular|trending|recommended)(?:\s+(?:now|stories|articles|videos|on\s+\S+))?",
        r"(?:top|latest|editor'?s?)\s+(?:stories|news|picks)",
        r"other\s+(?:opinion\s+)?(?:columns|stories|articles)",
        r"(?:you\s+(?:might|may)\s+also\s+like|recommended\s+for\s+you|don'?t\s+miss)\b.{0,80}",
        r"(?:featured|recent|more|latest|top)\s+(?:slide\s*shows?|galleries|videos|stories|posts|reads)",
    ),
    "placeholder": (
        r"loading(?:\s+\w+)?\s*(?:\.\.\.|\u2026)?",
        r"please\s+wait\s*(?:\.\.\.|\u2026)?",
        r"(?:skip\s+)?advertisement(?:\s*-\s*scroll\s+to\s+continue(?:\s+reading)?)?",
        r"(?:sponsored(?:\s+content)?|ad|ads|story\s+continues\s+below(?:\s+advertisement)?)",
        r"this\s+is\s+a\s+modal\s+window\..{0,200}",
        r"next\s+video\s+starts\s+in\b.{0,40}",
        r"(?:now|currently)\s+(?:playing|watching)\b.{0,60}",
        r"(?:play|pause|mute|unmute)\s+video",
        r"(?:chapters|descriptions\s+off,\s+selected|subtitles\s+off,\s+selected|captions\s+settings.{0,60}|default,\s+selected)",
        r"unfortunately,\s+this\s+video\s+is\s+not\s+available\b.{0,80}",
        r"this\s+(?:feature|content|video)\s+is\s+(?:temporarily\s+)?(?:unavailable|not\s+available)\b.{0,100}",
        r"listen\s+to\s+(?:this|the)\s+(?:article|story)\b.{0,80}",
        r"(?:video|audio)\s+(?:player\s+)?(?:is\s+)?loading\b.{0,40}",
        r"end\s+of\s+(?:the\s+)?(?:article|story)",
    ),
    "credit": (
        r"(?:photo|image|picture|video|graphic|illustration|photograph|caption)s?\s*(?:credits?)?\s*[:|\u2014\u2013-].{0,160}",
        r"credits?\s*:.{0,160}",
        r"(?:photo|image|picture)s?\s+(?:courtesy|by|via)\b.{0,160}",
        r"[\w.'\u2019\s/-]{1,80}/\s*(?:{agencies})(?:\s+(?:images|photos?|via\s+getty\s+images))?",
        r"(?:{agencies})(?:\s+(?:photo|images|via\s+getty\s+images))?",
        r"\(?(?:ap|afp|reuters)\s+photo\b[^)]{0,120}\)?",
    ),
    "prompt": (
        r"share\s+(?:on|this|via|the\s+article|article|story)\b.{0,80}",
        r"(?:share|tweet|email|print|comment|comments|save|bookmark|copy\s+link|copied\s+link|link\s+copied)",
        r"(?:copy|copied)\s+link",
        r"sign\s+up\b.{0,160}",
        r"subscribe\s+(?:to|for|now|today|here)\b.{0,160}",
        r"(?:enter|your)\s+(?:your\s+)?e-?mail(?:\s+address)?.{0,40}",
        r"e-?mail(?:\s+address)?\s*\*?:?",
        r"already\s+(?:have\s+an\s+account|a\s+(?:subscriber|member))\b.{0,60}",
        r"(?=.{0,300}$).{0,150}\bnewsletters?\b.{0,150}\b(?:sign\s+up|subscribe|inbox)\b.{0,150}",
        r"(?=.{0,300}$).{0,150}\b(?:sign\s+up|subscribe)\b.{0,150}\bnewsletters?\b.{0,150}",
        r".{0,20}you(?:'|\u2019)?re\s+(?:now\s+)?(?:subscribed|signed\s+up)!?.{0,80}",
        r"thanks?\s+(?:you\s+)?for\s+(?:signing\s+up|subscribing)\b.{0,120}",
        r"(?:no|yes),?\s+thanks!?",
        r"(?:thanks|thank\s+you)!",
        r"d\u00e9j\u00e0\s+vu!.{0,120}",
        r"join\s+(?:our|the)\s+(?:commenting\s+forum|conversation|discussion)\b.{0,160}",
        r"join\s+thought-provoking\s+conversations\b.{0,200}",
        r"(?:follow|like)\s+us\s+on\b.{0,120}",
        r"(?:download|get)\s+(?:the|our)\s+.{0,40}\bapp\b.{0,80}",
        r"(?:we\s+)?want\s+to\s+hear\s+from\s+you\b.{0,120}",
        r"(?:have|got)\s+a\s+(?:news\s+)?tip\??.{0,120}",
    ),
    "navigation": (
        r"(?:previous|next|prev|home|menu|close|back\s+to\s+top|submit|search|more|show\s+more|see\s+all|view\s+all|expand|collapse)(?:\s+(?:article|story|page|slide|image|photo))?",
        r"(?:follow\s+us|explore(?:\s+(?:more|other\s+topics))?|keep\s+in\s+touch|get\s+in\s+touch|contact\s+us|share\s+with\s+us|tag\s+us)",
        r"[\W_]{1,}",
        r"(?:full\s*screen|thumbnails|gallery|slideshow|enlarge(?:\s+image)?|view\s+(?:photo|image|gallery)s?)",
        r"\d{1,3}\s+of\s+\d{1,3}",
    ),
    "notice": (
        r"(?=.{0,400}$).{0,200}\b(?:we\s+use\s+cookies|(?:this|our)\s+(?:web)?site\s+uses\s+cookies"
        r"|cookie\s+(?:policy|settings|preferences|consent)|accept\s+(?:all\s+)?cookies"
        r"|cookies\s+(?:are|is|that\s+may\s+not\s+be)\s+(?:absolutely\s+)?(?:necessary|essential|used|particularly))\b.{0,200}",
        r"this\s+(?:work|article|story|content)\s+is\s+licensed\s+under\b.{0,200}",
        r"our\s+(?:editorial\s+)?standards\s*:.{0,120}",
        r"(?=.{0,300}$).{0,200}\b(?:start|begin|get)\s+your\s+.{0,60}subscription(?:\s+today|\s+now)?\b.{0,60}",
        r"(?:all\s+rights\s+reserved|©|\(c\)\s+\d{4}|copyright\s+(?:©\s*)?\d{4}).{0,160}",
    ),
    "tags": (r"(?:topics?|tags?|filed\s+under|categories|keywords|more\s+on)\s*:.{0,300}",),
}


def compile_rules(rules: dict[str, tuple[str, ...]]) -> re.Pattern[str]:
    """One anchored alternation of every pattern (benchmarks compile subsets to ablate)."""
    alternatives = "|".join(
        p.replace("{agencies}", _AGENCIES) for patterns in rules.values() for p in patterns
    )
    return re.compile(rf"^(?:{alternatives})$", re.IGNORECASE)


_LINE_RULES = compile_rules(RULES)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    rf"(?:\w+,?\s+)?(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}})"
)
_TIME = r"(?:,?\s*(?:at\s+)?\d{1,2}[:.]\d{2}(?:\s*[ap]\.?m\.?)?(?:\s+[A-Z]{2,5})?)?"
_DATELINE = re.compile(
    rf"^(?:(?:published|updated|posted|last\s+updated|first\s+published)\s*(?:on|:)?\s*)?"
    rf"{_DATE}{_TIME}(?:\s*[|/\u2022\u00b7]\s*.{{0,60}})?$",
    re.IGNORECASE,
)
_BYLINE = re.compile(r"^by\s+\S.{0,120}$", re.IGNORECASE)
_ROLE = (
    r"(?:writer|reporter|editor|correspondent|journalist|columnist|contributor|author|"
    r"producer|critic|intern|fellow|analyst|professor|researcher|director|founder|ceo|cto)"
)
#: An author's note at the end: "Jane Doe is a reporter for ...", "This story was written by".
_BIO = re.compile(
    rf"^(?:[A-Z][\w.'\u2019-]+(?:\s+[A-Z][\w.'\u2019-]+){{0,3}},?\s+(?:is|was|has\s+been)\s+"
    rf"(?:a|an|the)\s+(?:[\w,&-]+\s+){{0,5}}{_ROLE}s?\b.{{0,1200}}"
    rf"|(?i:this)\s+(?:story|article|report)\b.{{0,120}}\b(?:written|produced|reported)\s+by\b.{{0,400}})$"
)
_BYLINE_WORDS = frozenset({
    "and", "by", "with", "in", "for", "reporting", "writer", "staff", "editor", "reporter",
    "correspondent", "contributor", "senior", "chief", "political", "business", "news",
})  # fmt: skip
#: Bylines, datelines, author notes and calls to action are looked for among the first
#: and last lines only: three of them, or two in a short body.
_EDGE_LINES = 3
#: A call to action closing an article: follow us, sign up, subscribe, our app, the form...
_CALL_TO_ACTION = re.compile(
    r"\b(?:follow\s+(?:us|him|her|them)\s+on|sign\s+up|subscribe|newsletter|download\s+(?:the|our)\b"
    r".{0,30}\bapp|fill\s+out\s+the\s+form|sister\s+site|(?:e-?mail|contact)\s+us|send\s+(?:us\s+)?"
    r"(?:your\s+)?(?:news\s+)?tips?)\b",
    re.IGNORECASE,
)
_MAX_CALL_TO_ACTION_CHARS = 400
_MIN_REPEAT_WORDS = 16
_MAX_RULE_CHARS = 600  # no line rule matches a longer line (each is bounded)
_MIN_SHOUT_WORDS = 9
_ABOUT_AUTHOR = re.compile(r"^about\s+the\s+(?:author|writer|reporter)s?:?$", re.IGNORECASE)
_TAIL_LINES = 15  # an "About the author" heading this close to the end starts the tail
_WORD = re.compile(r"\w+")


def _doubled(line: str) -> bool:
    """The same words twice, as teaser cards render an image's alt text beside its title."""
    words = line.split()
    half = len(words) // 2
    return len(words) >= 4 and len(words) % 2 == 0 and words[:half] == words[half:]  # noqa: PLR2004


def _is_byline(line: str, authors: Sequence[str]) -> bool:
    if _BYLINE.match(line) and len(line.split()) <= 16:  # noqa: PLR2004 - a byline's length
        return True
    if not authors or len(line.split()) > 16:  # noqa: PLR2004
        return False
    rest = line.casefold()
    for name in authors:
        rest = rest.replace(name.casefold(), " ")
    leftover = _WORD.findall(rest)
    named = any(name.casefold() in line.casefold() for name in authors)
    return named and all(w in _BYLINE_WORDS or w.isdigit() for w in leftover)


_SLIDE = re.compile(r"^[-\u2022*\s]*(\d{1,3})\s*/\s*(\d{1,3})\s")
_MIN_SLIDES = 3


def _slideshow(lines: Sequence[str]) -> set[int]:
    """Indexes of gallery captions: "3/50 ..." lines, three or more sharing one total."""
    totals: dict[str, list[int]] = {}
    for index, line in enumerate(lines):
        if (m := _SLIDE.match(line)) and int(m.group(1)) <= int(m.group(2)):
            totals.setdefault(m.group(2), []).append(index)
    return {i for found in totals.values() if len(found) >= _MIN_SLIDES for i in found}


def _shouted(line: str) -> bool:
    """An all-capitals line of nine words or more: an inline link to another story.

    Letters without case (CJK...) are not capitals; a line in parentheses (a transcript's
    stage direction) or ending a sentence is kept.
    """
    if not line.isupper() or line.startswith("(") or line.endswith("."):
        return False  # isupper() first: it is quick, and false for nearly every line
    return len(_WORD.findall(line)) >= _MIN_SHOUT_WORDS and all(
        c.isupper() for c in line if c.isalpha()
    )


def clean_body(text: str, *, authors: Sequence[str] = ()) -> str:
    """Drop boilerplate lines (see the module docstring) from a body, one paragraph a line."""
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    for index in range(max(0, len(lines) - _TAIL_LINES), len(lines)):
        if _ABOUT_AUTHOR.match(lines[index]):
            lines = lines[:index]  # the author's note, not the article
            break
    slides = _slideshow(lines)
    kept: list[str] = []
    seen: set[str] = set()
    last = len(lines) - 1
    window = max(2, min(_EDGE_LINES, len(lines) // 4))
    for index, line in enumerate(lines):
        bare = line.lstrip("-\u2022*\u00b7 ").strip()
        tail = index > last - window
        edge = index < window or tail
        if (
            not bare
            or index in slides
            or (len(bare) <= _MAX_RULE_CHARS and _LINE_RULES.match(bare))
            or _doubled(bare)
            or _shouted(bare)
            or (edge and (_DATELINE.match(bare) or _is_byline(bare, authors)))
            or (tail and _BIO.match(bare))
            or (tail and len(bare) <= _MAX_CALL_TO_ACTION_CHARS and _CALL_TO_ACTION.search(bare))
        ):
            continue
        key = " ".join(_WORD.findall(bare.casefold()))
        if key in seen and len(key.split()) >= _MIN_REPEAT_WORDS:
            continue
        seen.add(key)
        kept.append(line)
    return "\n".join(kept)
