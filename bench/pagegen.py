"""News pages of real size and shape, generated: a second page set for the benchmarks.

A real news page is mostly not its story: 50 to 300 KB of HTML where the article is a
few KB. Each page here has what the dev set's pages have around the story: a head full
of meta tags, JSON-LD and inline CSS, inline and external scripts (analytics, consent,
an ad loader, a state blob), a mega-menu of a hundred links, ad slots, a share bar, an
image with its caption and credit, "READ MORE" promotions inside the story, a related
stories rail, a comments section, a newsletter box and a footer of links. Seeded by the
page number, so a page is the same in every run; nothing is written to disk.

    python bench/pagegen.py 5      # sizes of the first 5 pages
"""

from __future__ import annotations

import html
import json
import random
import sys

VOCABULARY = [
    "the",
    "council",
    "said",
    "new",
    "harbour",
    "budget",
    "would",
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
    "after",
    "before",
    "during",
    "week",
    "year",
    "local",
    "families",
    "town",
    "city",
    "centre",
    "opened",
    "closed",
    "agreed",
    "warned",
    "million",
    "public",
    "meeting",
    "morning",
    "evening",
    "people",
    "children",
    "summer",
    "winter",
    "government",
    "election",
    "campaign",
    "officials",
    "announced",
    "investigation",
    "community",
    "health",
    "care",
    "energy",
    "climate",
    "water",
    "transport",
    "rail",
    "airport",
    "workers",
    "union",
    "strike",
    "talks",
    "deal",
    "agreement",
    "company",
    "shares",
    "profits",
    "growth",
    "economy",
    "inflation",
    "rates",
    "bank",
    "customers",
    "services",
    "digital",
    "university",
    "students",
    "research",
    "study",
    "scientists",
    "found",
    "data",
    "evidence",
    "results",
    "increase",
    "decline",
    "number",
    "percent",
    "spokesperson",
    "statement",
    "confirmed",
    "expected",
    "later",
    "told",
    "reporters",
    "according",
    "because",
    "while",
    "although",
    "however",
    "despite",
    "against",
    "between",
    "across",
    "around",
    "under",
    "district",
    "region",
    "state",
    "national",
    "international",
    "leaders",
    "summit",
    "policy",
    "reform",
    "tax",
    "funding",
    "project",
    "construction",
    "development",
    "planning",
    "application",
    "approved",
    "rejected",
    "residents'",
    "concerns",
    "safety",
    "emergency",
    "fire",
    "crews",
    "rescue",
    "injured",
    "arrested",
    "charged",
    "trial",
    "judge",
    "jury",
    "verdict",
    "appeal",
    "sentence",
    "prison",
    "charity",
    "donations",
    "event",
    "visitors",
    "tourism",
    "hotel",
    "restaurant",
]
SECTIONS = (
    "News", "World", "Politics", "Business", "Technology", "Science", "Health", "Sport",
    "Culture", "Opinion", "Travel", "Money", "Climate", "Education", "Lifestyle", "Video",
)  # fmt: skip
FIRST = ("Anna", "James", "Maria", "David", "Sara", "Tom", "Leila", "Marco", "Chen", "Ruth")
LAST = ("Okafor", "Smith", "Garcia", "Müller", "Novak", "Hughes", "Rossi", "Tanaka", "Byrne")


def _sentence(rng: random.Random, low: int = 8, high: int = 24) -> str:
    words = [rng.choice(VOCABULARY) for _ in range(rng.randint(low, high))]
    if rng.random() < 0.3:
        words.insert(rng.randrange(len(words)), f"{rng.randint(2, 950)}")
    return " ".join(words).capitalize() + rng.choice(".....?!")


def paragraph(rng: random.Random, sentences: tuple[int, int] = (2, 6)) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(*sentences)))


def _title(rng: random.Random) -> str:
    return " ".join(rng.choice(VOCABULARY) for _ in range(rng.randint(6, 12))).capitalize()


def _slug(text: str) -> str:
    return "-".join(text.lower().split()[:8]).replace("'", "")


def _script_blob(rng: random.Random, kilobytes: int) -> str:
    """Minified-looking JavaScript of about ``kilobytes`` KB (an ad loader, a framework)."""
    names = ["a", "b", "c", "d", "e", "t", "n", "r", "o", "i", "s", "u", "l"]
    parts: list[str] = []
    size = 0
    while size < kilobytes * 1024:
        f, x, y = rng.choice(names), rng.choice(names), rng.choice(names)
        chunk = (
            f"function {f}{rng.randint(0, 999)}({x},{y}){{var {f}={x}.{rng.choice(VOCABULARY)}"
            f"||{{}};if({y}&&{y}.length>{rng.randint(1, 99)}){{{f}[{y}[0]]="
            f'"{rng.choice(VOCABULARY)}";return {x}.call(this,{f},{y}.slice(1))}}'
            f'return window.__ads_q.push(["{rng.choice(VOCABULARY)}",{rng.randint(0, 9999)}])}}'
        )
        parts.append(chunk)
        size += len(chunk)
    return ";".join(parts)


def _state_blob(rng: random.Random, items: int) -> str:
    """A framework's hydration state: JSON of teasers, as many pages embed."""
    data = {
        "props": {
            "page": {"section": rng.choice(SECTIONS), "id": rng.randint(1, 10**9)},
            "teasers": [
                {
                    "id": rng.randint(1, 10**9),
                    "headline": _title(rng),
                    "summary": _sentence(rng),
                    "url": f"/news/{_slug(_title(rng))}-{rng.randint(1, 10**6)}",
                    "image": {"src": f"/img/{rng.randint(1, 10**6)}.jpg", "w": 640, "h": 360},
                }
                for _ in range(items)
            ],
        }
    }
    return json.dumps(data)


def _css(rng: random.Random, rules: int) -> str:
    return "".join(
        f".{rng.choice(VOCABULARY)}-{rng.randint(0, 999)}{{margin:{rng.randint(0, 40)}px;"
        f"padding:{rng.randint(0, 20)}px;color:#{rng.randint(0, 0xFFFFFF):06x};"
        f"font-size:{rng.randint(10, 32)}px;display:{rng.choice(('block', 'flex', 'grid'))}}}"
        for _ in range(rules)
    )


def _links(rng: random.Random, count: int, css: str) -> str:
    return "".join(
        f'<li class="{css}"><a href="/{rng.choice(SECTIONS).lower()}/{_slug(_title(rng))}">'
        f"{html.escape(' '.join(rng.choice(VOCABULARY) for _ in range(rng.randint(1, 4))))}"
        "</a></li>"
        for _ in range(count)
    )


def _ad(rng: random.Random) -> str:
    slot = rng.randint(1, 99)
    return (
        f'<div class="ad-slot ad-{slot}" data-ad-unit="/1234/news/{slot}" aria-hidden="true">'
        '<div class="ad-label">Advertisement</div>'
        f'<div id="div-gpt-ad-{rng.randint(10**9, 10**10)}-{slot}"></div>'
        f'<script>googletag.cmd.push(function(){{googletag.display("div-gpt-ad-{slot}")}})'
        "</script></div>"
    )


def _comments(rng: random.Random, count: int) -> str:
    items = "".join(
        f'<li class="comment" id="c{rng.randint(1, 10**7)}"><div class="comment-meta">'
        f'<span class="comment-author">{rng.choice(FIRST)}{rng.randint(1, 999)}</span> '
        f'<time>{rng.randint(1, 59)} minutes ago</time></div><div class="comment-body">'
        f"<p>{html.escape(paragraph(rng, (1, 3)))}</p></div>"
        '<div class="comment-actions"><button>Reply</button><button>Like</button>'
        f"<span>{rng.randint(0, 300)} likes</span></div></li>"
        for _ in range(count)
    )
    return (
        f'<section id="comments" class="comments"><h2>Comments ({count})</h2>'
        '<form class="comment-form"><textarea placeholder="Join the discussion"></textarea>'
        f'<button type="submit">Post</button></form><ol class="comment-list">{items}</ol>'
        "</section>"
    )


def page(n: int, base: str = "https://news.example") -> tuple[str, str]:
    """Page ``n``: its URL and its HTML (50 to 300 KB, seeded by ``n``)."""
    rng = random.Random(n * 7919 + 17)  # noqa: S311 - seeded page content
    title = _title(rng)
    section = rng.choice(SECTIONS)
    author = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    url = f"{base}/{section.lower()}/{_slug(title)}-{n}"
    day = 1 + n % 28
    published = f"2026-11-{day:02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"
    image = f"{base}/img/{n}.jpg"
    # how heavy the page around the story is: most between 60 and 250 KB
    weight = rng.uniform(0.4, 2.6)
    paragraphs = [paragraph(rng) for _ in range(rng.randint(6, 28))]
    body: list[str] = []
    wrap = rng.random() < 0.5  # some CMSs wrap each paragraph in blocks of their own
    for i, text in enumerate(paragraphs):
        para = f"<p>{html.escape(text)}</p>"
        if wrap:
            para = f'<div class="block block-text" data-block="{i}"><div class="rich">{para}</div></div>'
        body.append(para)
        if i == 1:
            body.append(
                f'<figure class="inline-image"><img src="{image}" alt="{html.escape(title)}" '
                f'loading="lazy" width="800" height="450"><figcaption>{html.escape(_sentence(rng))}'
                f'<span class="credit">Photo: {rng.choice(LAST)}/Agency</span></figcaption>'
                "</figure>"
            )
        if i in (3, 9) and i < len(paragraphs) - 1:
            body.append(
                f'<p class="read-more"><strong>READ MORE:</strong> <a href="/news/'
                f'{_slug(_title(rng))}">{html.escape(_title(rng))}</a></p>'
            )
        if i in (4, 12, 20):
            body.append(_ad(rng))
        if i == 6 and rng.random() < 0.5:
            body.append(f"<h2>{html.escape(_title(rng))}</h2>")
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": title,
        "datePublished": published,
        "dateModified": published,
        "author": [{"@type": "Person", "name": author}],
        "publisher": {"@type": "Organization", "name": "Example News"},
        "image": [image],
        "mainEntityOfPage": url,
        "articleSection": section,
    }
    related = "".join(
        f'<li class="teaser"><a href="/news/{_slug(t)}"><img src="/img/t{rng.randint(1, 10**6)}'
        f'.jpg" alt=""><h3>{html.escape(t)}</h3></a><p>{html.escape(_sentence(rng))}</p></li>'
        for t in (_title(rng) for _ in range(rng.randint(6, 16)))
    )
    doc = f"""<!DOCTYPE html>
<html lang="en-GB" class="no-js">
<head>
<meta charset="utf-8">
<title>{html.escape(title)} | {section} | Example News</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="description" content="{html.escape(paragraphs[0][:160])}">
<meta name="author" content="{author}">
<link rel="canonical" href="{url}">
<meta property="og:type" content="article">
<meta property="og:title" content="{html.escape(title)}">
<meta property="og:url" content="{url}">
<meta property="og:image" content="{image}">
<meta property="og:site_name" content="Example News">
<meta property="article:published_time" content="{published}">
<meta property="article:section" content="{section}">
<meta name="twitter:card" content="summary_large_image">
<link rel="preload" href="/static/app.{rng.randint(10**6, 10**7)}.js" as="script">
<link rel="stylesheet" href="/static/main.{rng.randint(10**6, 10**7)}.css">
<style>{_css(rng, int(120 * weight))}</style>
<script type="application/ld+json">{json.dumps(ld)}</script>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}
gtag('js',new Date());gtag('config','G-{rng.randint(10**6, 10**7)}');</script>
<script>{_script_blob(rng, int(25 * weight))}</script>
<script async src="https://securepubads.example/tag/js/gpt.js"></script>
</head>
<body class="article-page section-{section.lower()}">
<div id="consent-banner" class="consent"><p>We use cookies to improve your experience and
show personalised ads. <a href="/privacy">Privacy policy</a></p><button>Accept all</button>
<button>Manage preferences</button></div>
<header class="site-header"><a class="logo" href="/">Example News</a>
<form class="search" action="/search"><input name="q" placeholder="Search"></form>
<a class="subscribe" href="/subscribe">Subscribe</a><a href="/login">Sign in</a></header>
<nav class="mega-menu"><ul>{_links(rng, int(90 * weight) + 20, "nav-item")}</ul></nav>
{_ad(rng)}
<div class="breadcrumbs"><a href="/">Home</a> &rsaquo; <a href="/{section.lower()}">{section}</a>
</div>
<main id="main">
<article class="story">
<header class="story-header"><h1>{html.escape(title)}</h1>
<p class="standfirst">{html.escape(_sentence(rng))}</p>
<div class="byline">By <a rel="author" href="/authors/{_slug(author)}">{author}</a>,
<time datetime="{published}">{day} November 2026</time></div>
<div class="share-bar"><a href="#">Share on Facebook</a><a href="#">Share on X</a>
<a href="#">Email</a><button>Copy link</button></div></header>
<div class="story-body">
{"".join(body)}
</div>
<div class="tags"><a href="/tag/{rng.choice(VOCABULARY)}">{rng.choice(VOCABULARY)}</a>
<a href="/tag/{rng.choice(VOCABULARY)}">{rng.choice(VOCABULARY)}</a></div>
</article>
<aside class="newsletter"><h2>Get the morning briefing</h2><p>Sign up for our newsletter.</p>
<form><input type="email" placeholder="Your email"><button>Sign up</button></form></aside>
<section class="related"><h2>More from {section}</h2><ul>{related}</ul></section>
{_comments(rng, int(rng.randint(0, 30) * weight))}
</main>
<aside class="rail">{_ad(rng)}<h2>Most read</h2><ol>{_links(rng, 10, "most-read")}</ol>
{_ad(rng)}</aside>
<footer class="site-footer"><ul>{_links(rng, int(40 * weight) + 10, "footer-link")}</ul>
<p>&copy; 2026 Example News Ltd. All rights reserved.</p></footer>
<script id="__NEXT_DATA__" type="application/json">{_state_blob(rng, int(30 * weight))}</script>
<script>{_script_blob(rng, int(20 * weight))}</script>
</body>
</html>
"""
    return url, doc


def pages(count: int, base: str = "https://news.example") -> dict[str, bytes]:
    """The first ``count`` pages, URL to UTF-8 bytes."""
    out: dict[str, bytes] = {}
    for n in range(1, count + 1):
        url, doc = page(n, base)
        out[url] = doc.encode()
    return out


if __name__ == "__main__":
    for url, body in pages(int(sys.argv[1]) if len(sys.argv) > 1 else 5).items():
        print(f"{len(body) / 1024:7.1f} KB  {url}")
