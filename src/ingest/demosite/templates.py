"""One HTML page template per demo publisher, each with its own realistic markup and boilerplate."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from ingest.demosite.content import Comment, Story

logger = logging.getLogger(__name__)

NOON = 12
PROMO_AFTER = 2  # paragraphs before the in-article READ MORE promotion


@dataclass(frozen=True, slots=True)
class PageLink:
    """A titled link used in menus, promotions and related-story lists."""

    title: str
    url: str


@dataclass(frozen=True, slots=True)
class PageContext:
    """Everything a template needs to render one article page."""

    site_name: str
    site_slug: str
    base_url: str
    canonical_url: str
    image_url: str
    feed_url: str
    story: Story
    promo: PageLink | None
    related: tuple[PageLink, ...]
    nav: tuple[PageLink, ...]


def _e(text: str) -> str:
    return escape(text, quote=False)


def _a(text: str) -> str:
    return escape(text, quote=True)


def _human(when: datetime) -> str:
    hour = when.hour % NOON or NOON
    suffix = "am" if when.hour < NOON else "pm"
    return f"{when.day} {when:%B %Y}, {hour}:{when:%M}{suffix}"


def _iso(when: datetime) -> str:
    return when.isoformat(timespec="seconds")


def _slug(text: str) -> str:
    return _a(text.partition(",")[0].lower().replace(" ", "-"))


def _head(ctx: PageContext, stylesheet: str, extra: str = "") -> str:
    story = ctx.story
    tags = "\n".join(f'<meta property="article:tag" content="{_a(tag)}">' for tag in story.tags)
    return f"""<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(story.title)} | {_e(ctx.site_name)}</title>
<meta name="description" content="{_a(story.description)}">
<meta name="author" content="{_a(story.author)}">
<link rel="canonical" href="{_a(ctx.canonical_url)}">
<meta property="og:type" content="article">
<meta property="og:title" content="{_a(story.title)}">
<meta property="og:description" content="{_a(story.description)}">
<meta property="og:url" content="{_a(ctx.canonical_url)}">
<meta property="og:image" content="{_a(ctx.image_url)}">
<meta property="og:site_name" content="{_a(ctx.site_name)}">
<meta property="article:published_time" content="{_iso(story.published)}">
<meta property="article:section" content="{_a(story.section.title())}">
{tags}
<meta name="twitter:card" content="summary_large_image">
<link rel="stylesheet" href="/static/{stylesheet}">
<link rel="alternate" type="application/rss+xml" title="{_a(ctx.site_name)}"
 href="{_a(ctx.feed_url)}">
{extra}</head>"""


def _json_ld(ctx: PageContext) -> str:
    story = ctx.story
    data = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": story.title,
        "datePublished": _iso(story.published),
        "author": {"@type": "Person", "name": story.author},
        "image": [ctx.image_url],
        "mainEntityOfPage": ctx.canonical_url,
        "publisher": {"@type": "Organization", "name": ctx.site_name},
    }
    payload = json.dumps(data, ensure_ascii=False, sort_keys=True).replace("</", "<\\/")
    return f'<script type="application/ld+json">{payload}</script>\n'


def _share_urls(ctx: PageContext) -> tuple[str, str, str]:
    url = quote(ctx.canonical_url, safe="")
    title = quote(ctx.story.title, safe="")
    return (
        f"https://www.facebook.com/sharer/sharer.php?u={url}",
        f"https://twitter.com/intent/tweet?url={url}&amp;text={title}",
        f"mailto:?subject={title}&amp;body={url}",
    )


def _body(
    ctx: PageContext, promo_html: str, *, after: int = PROMO_AFTER, p_open: str = "<p>"
) -> str:
    out = [f"{p_open}{_e(p)}</p>" for p in ctx.story.paragraphs]
    if promo_html and len(out) > after:
        out.insert(after, promo_html)
    return "\n".join(out)


def _links(links: tuple[PageLink, ...], li_open: str = "<li>") -> str:
    return "".join(f'{li_open}<a href="{_a(link.url)}">{_e(link.title)}</a></li>' for link in links)


def _comment_count(comments: tuple[Comment, ...]) -> str:
    return f"{len(comments)} comment{'s' if len(comments) != 1 else ''}"


# --------------------------------------------------------------------------- The Harbour Gazette


def gazette(ctx: PageContext) -> str:
    """Semantic HTML5: headline block above <article>, <figure>, promotions in <aside>."""
    story = ctx.story
    facebook, twitter, email = _share_urls(ctx)
    promo = ""
    if ctx.promo is not None:
        promo = (
            '<aside class="inline-promo" aria-label="Related story">'
            f'<p><strong>READ MORE:</strong> <a href="{_a(ctx.promo.url)}">'
            f"{_e(ctx.promo.title)}</a></p></aside>"
        )
    tags = "".join(
        f'<li><a href="/tag/{_a(tag.replace(" ", "-"))}/">{_e(tag)}</a></li>' for tag in story.tags
    )
    comments = "".join(
        f'<li class="comment"><p class="comment__meta"><strong>{_e(c.author)}</strong> '
        f'<time datetime="{_iso(c.posted)}">{_human(c.posted)}</time></p>\n'
        f'<p class="comment__text">{_e(c.text)}</p></li>\n'
        for c in story.comments
    )
    return f"""<!DOCTYPE html>
<html lang="en">
{_head(ctx, "gazette.css", _json_ld(ctx))}
<body class="article-page section-{_a(story.section)}">
<div id="cookie-consent" class="cookie-banner" role="dialog" aria-live="polite">
<p>We use cookies to improve your experience, show you relevant advertising and understand
how our site is used. You can change your choices at any time.</p>
<button type="button" class="cookie-banner__accept">Accept all</button>
<button type="button" class="cookie-banner__manage">Manage preferences</button>
</div>
<header class="site-header">
<a class="site-header__logo" href="/">{_e(ctx.site_name)}</a>
<nav class="main-nav" aria-label="Main"><ul>{_links(ctx.nav)}</ul></nav>
<a class="site-header__subscribe" href="/subscribe/">Subscribe</a>
</header>
<main id="content" class="page">
<header class="story-header">
<a class="story-header__kicker" href="/news/{_a(story.section)}/">{_e(story.section.title())}</a>
<h1 class="story-header__headline">{_e(story.title)}</h1>
<p class="story-header__byline">By
<a rel="author" href="/authors/{_slug(story.author)}/">{_e(story.author)}</a>
<time datetime="{_iso(story.published)}">{_human(story.published)}</time></p>
<div class="share-bar">
<a class="share-bar__facebook" href="{facebook}">Share on Facebook</a>
<a class="share-bar__twitter" href="{twitter}">Share on X</a>
<a class="share-bar__email" href="{email}">Email</a>
<button type="button" class="share-bar__copy" data-url="{_a(ctx.canonical_url)}">Copy link</button>
</div>
</header>
<article class="story">
<figure class="story__media">
<img src="{_a(ctx.image_url)}" alt="{_a(story.image_alt)}" width="1200" height="675">
<figcaption>{_e(story.caption)} <span class="credit">{_e(story.credit)}</span></figcaption>
</figure>
<div class="story__body">
{_body(ctx, promo)}
</div>
<footer class="story__footer"><ul class="story__tags">{tags}</ul></footer>
</article>
<aside class="related-stories">
<h2>More from the Gazette</h2>
<ul>{_links(ctx.related)}</ul>
</aside>
<section class="newsletter-signup">
<h2>Get the Gazette morning briefing</h2>
<p>The day's top stories from the harbour and beyond, in your inbox at 7am.</p>
<form action="/newsletter/subscribe" method="post">
<input type="email" name="email" placeholder="Your email address">
<button type="submit">Sign up</button></form>
</section>
<section id="comments" class="comments">
<h2>Comments ({len(story.comments)})</h2>
<ol class="comment-list">
{comments}</ol>
<p class="comments__rules">Comments are moderated. Please read our community guidelines.</p>
</section>
</main>
<footer class="site-footer">
<nav aria-label="Footer"><ul>
<li><a href="/about/">About us</a></li>
<li><a href="/contact/">Contact</a></li>
<li><a href="/privacy/">Privacy policy</a></li>
<li><a href="/cookies/">Cookie settings</a></li>
<li><a href="/advertise/">Advertise with us</a></li>
</ul></nav>
<p>&copy; 2026 {_e(ctx.site_name)}. All rights reserved.</p>
</footer>
</body>
</html>
"""


# --------------------------------------------------------------------------- Northfield Courier


def courier(ctx: PageContext) -> str:
    """Old CMS built from nested divs; caption and READ MORE are inline paragraphs."""
    story = ctx.story
    facebook, twitter, email = _share_urls(ctx)
    promo = ""
    if ctx.promo is not None:
        promo = (
            f'<p class="read-more"><strong>READ MORE:</strong> <a href="{_a(ctx.promo.url)}">'
            f"{_e(ctx.promo.title)}</a></p>"
        )
    comments = "".join(
        f'<div class="comment"><div class="comment-head">'
        f'<span class="comment-name">{_e(c.author)}</span> '
        f'<span class="comment-date">{_human(c.posted)}</span></div>\n'
        f'<div class="comment-text">{_e(c.text)}</div></div>\n'
        for c in story.comments
    )
    section = story.section
    return f"""<!DOCTYPE html>
<html lang="en">
{_head(ctx, "courier-2019.css")}
<body>
<div id="cookieNotice" class="cc-window cc-banner">
<span class="cc-message">This website uses cookies to ensure you get the best experience.
<a href="/cookie-policy">Learn more</a></span>
<a class="cc-btn cc-dismiss" href="#">Got it!</a>
</div>
<div id="wrapper">
<div id="masthead">
<div class="logo"><a href="/">{_e(ctx.site_name)}</a></div>
<div class="date-strip">Serving Northfield and district since 1904</div>
</div>
<div id="navigation"><ul class="menu">{_links(ctx.nav, '<li class="menu-item">')}</ul></div>
<div id="main-content" class="clearfix">
<div class="col-left">
<div class="article-container">
<div class="breadcrumb"><a href="/">Home</a> &gt;
<a href="/{_a(section)}/">{_e(section.title())}</a></div>
<h1 class="headline">{_e(story.title)}</h1>
<div class="article-meta"><span class="author">By {_e(story.author)}</span> |
<span class="pubdate">Published: {_human(story.published)}</span></div>
<div class="social-share"><ul>
<li><a href="{facebook}" class="fb">Share on Facebook</a></li>
<li><a href="{twitter}" class="tw">Share on X</a></li>
<li><a href="{email}" class="em">Email this story</a></li>
<li><a href="#" class="copy-link" data-href="{_a(ctx.canonical_url)}">Copy link</a></li>
</ul></div>
<div class="article-body">
<div class="image-block">
<img src="{_a(story.image_path)}" alt="{_a(story.image_alt)}" width="620" height="349">
<p class="caption">{_e(story.caption)} {_e(story.credit)}</p></div>
{_body(ctx, promo, after=3)}
</div>
<div class="article-tags">Tags: {", ".join(_e(tag) for tag in story.tags)}</div>
<div id="comments" class="comments-block">
<h3>Have your say ({_comment_count(story.comments)})</h3>
{comments}</div>
</div>
</div>
<div class="col-right sidebar">
<div class="widget newsletter">
<h3>Courier newsletter</h3>
<p>Sign up for our free weekly round-up of Northfield news.</p>
<form action="/subscribe" method="post"><input type="text" name="email" value="">
<input type="submit" value="Subscribe"></form>
</div>
<div class="widget most-read"><h3>Most read</h3><ol>{_links(ctx.related)}</ol></div>
<div class="widget advert"><div class="ad-slot" data-slot="mpu-1">Advertisement</div></div>
</div>
</div>
<div id="footer">
<p><a href="/about">About the Courier</a> | <a href="/contact">Contact us</a> |
<a href="/terms">Terms</a> | <a href="/privacy">Privacy</a></p>
<p>&copy; 2026 {_e(ctx.site_name)} Ltd. Registered in England.</p>
</div>
</div>
</body>
</html>
"""


# --------------------------------------------------------------------------- Valley Ledger


def hash_path(path: str) -> int:
    """Return a small deterministic integer derived from ``path`` (the builtin hash is salted)."""
    value = 0
    for char in path:
        value = (value * 131 + ord(char)) % 1_000_003
    return value


def ledger(ctx: PageContext) -> str:
    """WordPress-style theme markup with a block-editor figure and a related-posts block."""
    story = ctx.story
    facebook, twitter, _email = _share_urls(ctx)
    post_id = hash_path(story.path) % 90000 + 10000
    section = story.section
    promo = ""
    if ctx.promo is not None:
        promo = (
            '<aside class="wp-block-group read-more"><p><strong>READ MORE:</strong> '
            f'<a href="{_a(ctx.promo.url)}">{_e(ctx.promo.title)}</a></p></aside>'
        )
    tag_links = ", ".join(
        f'<a href="/tag/{_a(tag.replace(" ", "-"))}/" rel="tag">{_e(tag)}</a>' for tag in story.tags
    )
    comments = "".join(
        '<li class="comment even depth-1"><div class="comment-body">\n'
        f'<div class="comment-author vcard"><b class="fn">{_e(c.author)}</b> '
        '<span class="says">says:</span></div>\n'
        f'<div class="comment-metadata"><time datetime="{_iso(c.posted)}">{_human(c.posted)}'
        "</time></div>\n"
        f'<div class="comment-content"><p>{_e(c.text)}</p></div></div></li>\n'
        for c in story.comments
    )
    return f"""<!DOCTYPE html>
<html lang="en">
{_head(ctx, "ledger-theme/style.css?ver=6.4.2")}
<body class="post-template-default single single-post postid-{post_id} single-format-standard">
<div id="page" class="site">
<a class="skip-link screen-reader-text" href="#primary">Skip to content</a>
<div class="cookie-notice-container" id="cn-notice-text">We use cookies on our website.
By continuing to browse, you agree to our use of cookies.
<a href="#" id="cn-accept-cookie">Ok</a> <a href="/privacy-policy/">Privacy policy</a></div>
<header id="masthead" class="site-header">
<div class="site-branding"><p class="site-title"><a href="/" rel="home">{_e(ctx.site_name)}</a></p>
<p class="site-description">Independent news from the valley</p></div>
<nav id="site-navigation" class="main-navigation"><button class="menu-toggle">Menu</button>
<ul id="primary-menu" class="menu">{_links(ctx.nav, '<li class="menu-item">')}</ul></nav>
</header>
<div id="content" class="site-content">
<div id="primary" class="content-area">
<main id="main" class="site-main">
<article id="post-{post_id}" class="post-{post_id} post type-post status-publish
 format-standard has-post-thumbnail category-{_a(section)}">
<header class="entry-header">
<span class="cat-links">
<a href="/category/{_a(section)}/" rel="category tag">{_e(section.title())}</a></span>
<h1 class="entry-title">{_e(story.title)}</h1>
<div class="entry-meta"><span class="posted-on">Posted on
<time class="entry-date published" datetime="{_iso(story.published)}">\
{_human(story.published)}</time></span>
<span class="byline">by <span class="author vcard">
<a class="url fn n" href="/author/{_slug(story.author)}/">{_e(story.author)}</a></span></span>
</div>
</header>
<div class="sharedaddy sd-sharing-enabled"><div class="robots-nocontent sd-block sd-social">
<h3 class="sd-title">Share this:</h3><ul>
<li class="share-facebook"><a href="{facebook}" rel="nofollow noopener">Share on Facebook</a></li>
<li class="share-twitter"><a href="{twitter}" rel="nofollow noopener">Share on X</a></li>
<li class="share-link"><a href="#" data-clipboard="{_a(ctx.canonical_url)}">Copy link</a></li>
</ul></div></div>
<div class="entry-content">
<figure class="wp-block-image size-large">
<img decoding="async" src="{_a(ctx.image_url)}" alt="{_a(story.image_alt)}"
 class="wp-image-{post_id + 1}">
<figcaption class="wp-element-caption">{_e(story.caption)} {_e(story.credit)}</figcaption>
</figure>
{_body(ctx, promo, after=3)}
</div>
<footer class="entry-footer"><span class="tags-links">Tagged {tag_links}</span></footer>
</article>
<div id="jp-relatedposts" class="jp-relatedposts">
<h3 class="jp-relatedposts-headline"><em>Related</em></h3>
<ul class="jp-relatedposts-items">{_links(ctx.related, '<li class="jp-relatedposts-post">')}</ul>
</div>
<div class="widget widget_newsletter"><h2 class="widget-title">Subscribe to the Ledger</h2>
<p>Enter your email address to receive notifications of new posts by email.</p>
<form class="subscribe-form"><input type="email" name="email" placeholder="Email Address">
<button type="submit">Subscribe</button></form></div>
<div id="comments" class="comments-area">
<h2 class="comments-title">{len(story.comments)} thoughts on &ldquo;{_e(story.title)}&rdquo;</h2>
<ol class="comment-list">
{comments}</ol>
<div id="respond" class="comment-respond">
<h3 id="reply-title" class="comment-reply-title">Leave a Reply</h3>
<p class="must-log-in">You must be <a href="/wp-login.php">logged in</a> to post a comment.</p>
</div>
</div>
</main>
</div>
</div>
<footer id="colophon" class="site-footer">
<div class="site-info"><a href="/about/">About</a> <span class="sep"> | </span>
<a href="/contact/">Contact</a> <span class="sep"> | </span>
<a href="/privacy-policy/">Privacy Policy</a> <span class="sep"> | </span>
Proudly published in the valley.</div>
</footer>
</div>
</body>
</html>
"""


# --------------------------------------------------------------------------- Coastline Daily


def coastline(ctx: PageContext) -> str:
    """Server-rendered React markup with hashed class names and an inline READ MORE paragraph."""
    story = ctx.story
    facebook, twitter, _email = _share_urls(ctx)
    nav = "".join(
        f'<a class="Header_link__k2P9a" href="{_a(link.url)}">{_e(link.title)}</a>'
        for link in ctx.nav
    )
    promo = ""
    if ctx.promo is not None:
        promo = (
            '<p class="Paragraph_p__xQ1rT Paragraph_promo__8sKd2"><strong>READ MORE:</strong> '
            f'<a href="{_a(ctx.promo.url)}">{_e(ctx.promo.title)}</a></p>'
        )
    comments = "".join(
        f'<div class="Comment_root__R3d1u"><div class="Comment_author__0pQwe">{_e(c.author)}</div>'
        f'<time class="Comment_time__kk21s" datetime="{_iso(c.posted)}">{_human(c.posted)}</time>\n'
        f'<p class="Comment_body__Hh7aa">{_e(c.text)}</p></div>\n'
        for c in story.comments
    )
    tag_items = "".join(
        f'<li><a href="/tag/{_a(t.replace(" ", "-"))}">{_e(t)}</a></li>' for t in story.tags
    )
    page_props = {"slug": story.slug, "section": story.section}
    next_data = json.dumps({"props": {"pageProps": page_props}, "page": "/article/[slug]"})
    count = _comment_count(story.comments).capitalize()
    return f"""<!DOCTYPE html>
<html lang="en">
{_head(ctx, "_next/static/css/8f3a1c2e.css", _json_ld(ctx))}
<body>
<div id="__next"><div class="Layout_root__Yt6bQ">
<div class="ConsentBanner_root__p0Vb3" data-testid="consent-banner">
<p>Coastline Daily and our partners use cookies to personalise content and ads.</p>
<button class="ConsentBanner_accept__1aZx9">I agree</button>
<button class="ConsentBanner_reject__5Jq0w">Reject non-essential</button></div>
<header class="Header_root__rT4mS"><a class="Header_logo__Lm2bN" href="/">{_e(ctx.site_name)}</a>
<nav class="Header_nav__c8Hf1">{nav}</nav></header>
<main class="ArticlePage_main__Qa7cX">
<article class="ArticlePage_article__3nDfE" data-testid="article">
<div class="ArticleHeader_root__H9ySs">
<a class="ArticleHeader_section__9LmQp" href="/section/{_a(story.section)}">\
{_e(story.section.title())}</a>
<h1 class="ArticleHeader_title__2Wd8K">{_e(story.title)}</h1>
<div class="Byline_root__b5VnD"><span class="Byline_author__u1T4c">By
<a href="/profile/{_slug(story.author)}">{_e(story.author)}</a></span>
<time class="Byline_time__f2Gq0" datetime="{_iso(story.published)}">\
{_human(story.published)}</time></div>
</div>
<div class="ShareTools_root__Zk3sP">
<a class="ShareTools_button__4cE1d" href="{facebook}" aria-label="Share on Facebook">\
Share on Facebook</a>
<a class="ShareTools_button__4cE1d" href="{twitter}" aria-label="Share on X">Share on X</a>
<button class="ShareTools_button__4cE1d" type="button" data-url="{_a(ctx.canonical_url)}">\
Copy link</button>
</div>
<figure class="LeadImage_root__J8wq1">
<img src="{_a(ctx.image_url)}" alt="{_a(story.image_alt)}" loading="eager" width="1600">
<figcaption class="LeadImage_caption__wD3xk">{_e(story.caption)}
<span class="LeadImage_credit__9ZpHu">{_e(story.credit)}</span></figcaption></figure>
<div class="ArticleBody_root__Xe4Lr" data-component="article-body">
{_body(ctx, promo, p_open='<p class="Paragraph_p__xQ1rT">')}
</div>
<ul class="Tags_root__3KfPq">{tag_items}</ul>
</article>
<section class="Newsletter_root__Bv0sW"><h2>Morning Tide newsletter</h2>
<p>Everything you need to know about the coast, every weekday.</p>
<form><input type="email" aria-label="Email address" placeholder="you@example.com">
<button type="submit">Subscribe</button></form></section>
<section class="Comments_root__Oq2Lw" id="comments">
<h2 class="Comments_title__g6TfX">{count}</h2>
{comments}</section>
<aside class="Related_root__Nn5tY"><h2>Related stories</h2>
<ul>{_links(ctx.related, '<li class="Related_item__2mZ8d">')}</ul></aside>
</main>
<footer class="Footer_root__pA1sM"><nav><a href="/about">About</a><a href="/contact">Contact</a>
<a href="/privacy">Privacy</a><a href="/terms">Terms of use</a></nav>
<p>&copy; 2026 {_e(ctx.site_name)}</p></footer>
</div></div>
<script id="__NEXT_DATA__" type="application/json">{next_data}</script>
</body>
</html>
"""


TEMPLATES: dict[str, Callable[[PageContext], str]] = {
    "gazette": gazette,
    "courier": courier,
    "ledger": ledger,
    "coastline": coastline,
}


def render_article(template: str, ctx: PageContext) -> str:
    """Render one article page with the named publisher template."""
    return TEMPLATES[template](ctx)


def render_home(site_name: str, links: tuple[PageLink, ...], feed_url: str) -> str:
    """Render a simple front page listing the publisher's stories, newest first."""
    items = "\n".join(f'<li><a href="{_a(link.url)}">{_e(link.title)}</a></li>' for link in links)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{_e(site_name)}</title>
<link rel="alternate" type="application/rss+xml" title="{_a(site_name)}" href="{_a(feed_url)}">
</head>
<body>
<header><h1>{_e(site_name)}</h1></header>
<main><h2>Latest news</h2>
<ul class="latest">
{items}
</ul></main>
<footer><p>&copy; 2026 {_e(site_name)}</p></footer>
</body>
</html>
"""


def render_not_found(site_name: str, path: str) -> str:
    """Render the small 404 page."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Page not found | {_e(site_name)}</title></head>
<body><h1>Page not found</h1><p>Sorry, we could not find <code>{_e(path)}</code>.</p>
<p><a href="/">Return to the home page</a></p></body>
</html>
"""
