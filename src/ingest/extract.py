"""Extraction: an HTML page in, its body text and metadata out (trafilatura plus cleanup).

The whole stage is one plain function for outside callers, :func:`extract_body`; the
pipeline calls :func:`extract_page`, which also decides whether the bytes are HTML at all.
A page that is not HTML or that extracts to nothing is a :class:`~ingest.models.Miss`.

The page is parsed once. Its main text is trafilatura's, run first without its fallback
extractors and again with them only when that found little (:func:`main_text`); the body
is that text after :mod:`ingest.cleanup` and without a first line that repeats the title.
The metadata is trafilatura's minus its slowest steps (:func:`page_metadata`), plus our own
reading of the declared canonical URL and publication times. ``EXTRACTOR_VERSION`` names
all of it, so that a re-extraction can tell old rows from new. Measured against bare
extractors on a dev set: docs/benchmarks.md, ``make bench-extract``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import trafilatura
from dateutil import parser as dateparser
from htmldate import find_date
from lxml import etree
from lxml.html import HtmlElement
from trafilatura import metadata as trafilatura_metadata
from trafilatura.settings import Document

from ingest import cleanup
from ingest.errors import CONVERSION_ERRORS, input_fault
from ingest.logs import get_logger
from ingest.models import Extracted, Miss, Reason
from ingest.textutil import clean_inline, clean_text, neutralise_text_references

log = get_logger(__name__)

OPTIONS = {"include_comments": False, "include_tables": True}
#: trafilatura runs first without its fallback extractors (``fast``); a page where that
#: finds less text than this is extracted again with them, and the longer text is kept.
FALLBACK_BELOW_CHARS = 1000
#: ... and so is a page whose quick pass ran its text together into one huge paragraph.
FALLBACK_ABOVE_PARAGRAPH_CHARS = 2000
#: Bumped with any change to how titles and other metadata are chosen here.
METADATA_VERSION = 2
EXTRACTOR_VERSION = (
    f"trafilatura-{trafilatura.__version__};comments=0;tables=1;first=fast+recall;"
    f"fallback<{FALLBACK_BELOW_CHARS};liveblog=jsonld;cleanup={cleanup.VERSION};"
    f"meta={METADATA_VERSION}"
)
MIN_BODY_CHARS = 80

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,500}?charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE
)
_HTML_SNIFF = re.compile(  # a BOM and an XML declaration may come first
    rb"^(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]{0,200}\?>\s*)?(?:<!--.{0,2000}?-->\s*)*"
    rb"<(?:!doctype\s+html|html|head|body)",
    re.IGNORECASE | re.DOTALL,
)
_HTML_LANG = re.compile(
    r"""<html\b[^>]{0,500}?\slang\s*=\s*["']?([a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{2,8})?)""",
    re.IGNORECASE,
)
# Bounded, linear scans (no nested unbounded repeats: a page of "<meta <meta ..." stays fast).
_HEAD_TAG = re.compile(r"<(meta|link)\b([^<>]{0,2000})>", re.IGNORECASE)
_ATTR = re.compile(r"""([a-zA-Z_:.-]{1,64})\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")
_PUBLISHED_KEYS = ("article:published_time", "datepublished", "pubdate", "publishdate", "date")
_MODIFIED_KEYS = ("article:modified_time", "datemodified", "og:updated_time")
SCAN_CHARS = 300_000


def _head_metadata(html: str) -> tuple[dict[str, str], str | None]:
    """``<meta>`` name/property/itemprop -> content (first wins), and the declared URL."""
    metas: dict[str, str] = {}
    canonical: str | None = None
    og_url: str | None = None
    for tag, raw_attrs in _HEAD_TAG.findall(html[:SCAN_CHARS]):
        attrs = {
            m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
            for m in _ATTR.finditer(raw_attrs)
        }
        if tag.lower() == "link":
            if canonical is None and "canonical" in attrs.get("rel", "").lower().split():
                canonical = attrs.get("href")
            continue
        key = (attrs.get("property") or attrs.get("name") or attrs.get("itemprop") or "").lower()
        if key and "content" in attrs:
            metas.setdefault(key, attrs["content"].strip())
            if key == "og:url" and og_url is None:
                og_url = attrs["content"].strip()
    declared = canonical or og_url
    return metas, declared.strip() if declared else None


def is_html(content_type: str | None, body: bytes) -> bool:
    """Whether a response is an HTML page, by its declared type or, if none, by its bytes."""
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media in _HTML_TYPES:
            return True
        if media not in ("", "application/octet-stream", "text/plain"):
            return False
    return bool(_HTML_SNIFF.match(body[:1024]))


def decode_html(body: bytes, content_type: str | None) -> str | None:
    """Decode page bytes: the header's charset, else a meta charset, else UTF-8 or a guess."""
    candidates: list[str] = []
    if content_type and "charset=" in content_type.lower():
        candidates.append(content_type.lower().split("charset=", 1)[1].split(";")[0].strip(' "'))
    meta = _META_CHARSET.search(body[:4096])
    if meta:
        candidates.append(meta.group(1).decode("ascii", "ignore"))
    candidates.append("utf-8")
    for name in candidates:
        try:
            return body.decode(name)
        except (LookupError, UnicodeError):  # unknown codec, or one that is not a charset
            continue
    return body.decode("cp1252", errors="replace")


def _parse_time(value: str | None) -> tuple[datetime, bool] | None:
    """A datetime in UTC, and whether the text stated its time zone."""
    if not value or len(value) > 64:  # noqa: PLR2004 - no date needs more
        return None
    text = value.strip()
    try:
        try:
            parsed = dateparser.isoparse(text)
        except ValueError:
            parsed = dateparser.parse(text)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC), False
        return parsed.astimezone(UTC), True
    except (ValueError, OverflowError, TypeError):
        return None


def _meta_time(metas: dict[str, str], keys: tuple[str, ...]) -> tuple[datetime, bool] | None:
    for key in keys:
        if key in metas and (parsed := _parse_time(metas[key])):
            return parsed
    return None


def _split_list(value: str | list[str] | None, sep: str) -> tuple[str, ...]:
    if not value:
        return ()
    items = value if isinstance(value, list) else value.split(sep)
    out: list[str] = []
    for item in items:
        cleaned = clean_inline(item, 200)
        if cleaned and cleaned not in out:
            out.append(cleaned)
    return tuple(out)


def _trafilatura(tree: HtmlElement, url: str | None, *, first: bool) -> str:
    doc = trafilatura.bare_extraction(
        tree,  # trafilatura copies a tree it is given: ours stays whole for the metadata
        url=url,
        fast=first,
        favor_recall=first,
        with_metadata=False,
        include_comments=OPTIONS["include_comments"],
        include_tables=OPTIONS["include_tables"],
    )
    return doc.text or "" if isinstance(doc, Document) else ""


def main_text(tree: HtmlElement, url: str | None) -> str:
    """The page's main text: trafilatura alone, or with its fallbacks when it found little.

    The first pass is trafilatura without its fallback extractors (``fast``) and with its
    recall-oriented pruning, the quickest of its modes: the cleanup that follows removes
    most of what the looser pruning lets through. Where that pass finds little, trafilatura
    runs again in its default mode, fallbacks (its readability port, jusText) included, and
    the longer text wins. The fallbacks cost a third of trafilatura's time and change the
    text of few pages: those where its own pass finds little. Measured on the dev set
    (docs/benchmarks.md).
    """
    text = _trafilatura(tree, url, first=True)
    longest = max(map(len, text.split("\n")))
    if len(text) < FALLBACK_BELOW_CHARS or longest > FALLBACK_ABOVE_PARAGRAPH_CHARS:
        fuller = _trafilatura(tree, url, first=False)
        if len(fuller) > len(text):
            return fuller
        if longest > FALLBACK_ABOVE_PARAGRAPH_CHARS and len(fuller) >= len(text) * 0.8:
            return fuller  # paragraphs again, where the quick pass ran them together
    return text


#: A live blog's updates, as its structured data declares them, are used when they hold
#: this many times the text the extractor found on the page (it missed most of them).
LIVE_UPDATES_RATIO = 2.0
_JSON_LD = "//script[@type='application/ld+json']/text()"


def _json_objects(node: object) -> Iterator[dict[str, object]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _json_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _json_objects(value)


def live_blog_updates(tree: HtmlElement) -> list[str]:
    """The updates of a schema.org ``LiveBlogPosting`` on the page: headline and text each."""
    updates: list[str] = []
    for script in tree.xpath(_JSON_LD):
        try:
            data = json.loads(script)
        except ValueError:
            continue
        for obj in _json_objects(data):
            posts = obj.get("liveBlogUpdate")
            if obj.get("@type") != "LiveBlogPosting" or not isinstance(posts, list):
                continue
            for update in posts:
                if isinstance(update, dict) and isinstance(body := update.get("articleBody"), str):
                    headline = update.get("headline")
                    updates.append(f"{headline}\n{body}" if isinstance(headline, str) else body)
    return updates


def _with_live_updates(text: str, tree: HtmlElement) -> str:
    updates = live_blog_updates(tree)
    if not updates:
        return text
    found = sum(len(u.split()) for u in updates)
    if found <= LIVE_UPDATES_RATIO * len(text.split()):
        return text
    return "\n".join([text, *(u for u in updates if u not in text)])


_HEADLINE_WORDS = (3, 40)
#: Author values that are a form's or a template's words, not a person.
_NOT_AUTHORS = frozenset({"username", "user name", "author", "admin", "administrator", "作者"})


def headline(tree: HtmlElement) -> str | None:
    """The page's visible headline, or None.

    The first ``<h1>`` of its article (or main) element, else its only ``<h1>``; a
    heading counts when it has 3 to 40 words.

    Metadata titles (``og:title``, ``<title>``) are often a search-engine variant of the
    headline or carry the site's name; the dev set's titles are the visible headline.
    """
    for query in ("//article//h1|//main//h1", "//h1"):
        found = [clean_inline(h.text_content()) for h in tree.xpath(query)]
        fitting = [
            h for h in found if h and _HEADLINE_WORDS[0] <= len(h.split()) <= _HEADLINE_WORDS[1]
        ]
        if query == "//h1" and len(fitting) != 1:
            return None
        if fitting:
            return fitting[0]
    return None


def page_metadata(tree: HtmlElement, url: str | None, *, find_dates: bool = True) -> Document:
    """Title, authors, date guess, site name, tags, image, description of a parsed page.

    trafilatura's ``extract_metadata`` without its two slowest steps: the search of the
    whole page for category and tag links (tags come from the page's metadata instead)
    and the licence; and with htmldate's quick date search only (our own reading of the
    page's declared times comes first, and ``find_dates=False`` skips the search). The
    same accuracy on the dev set, in 60% of the time (docs/benchmarks.md).
    """
    meta = trafilatura_metadata.examine_meta(tree)
    if meta.author and " " not in meta.author:  # a handle or a site name, not a person
        meta.author = None
    try:
        meta = trafilatura_metadata.extract_meta_json(tree, meta)
    except Exception:  # noqa: BLE001 - trafilatura guards this call the same way
        log.debug("unreadable JSON-LD metadata on %s", url)
    if not meta.title:
        meta.title = trafilatura_metadata.extract_title(tree)
    if not meta.author:
        meta.author = trafilatura_metadata.extract_author(tree)
    if not meta.url:
        meta.url = trafilatura_metadata.extract_url(tree, url)
    if find_dates:
        meta.date = find_date(tree, url=meta.url, extensive_search=False, original_date=True)
    if not meta.sitename:
        meta.sitename = trafilatura_metadata.extract_sitename(tree)
    if meta.sitename:
        meta.sitename = meta.sitename.lstrip("@")
    return meta


def extract_document(html: str, url: str | None) -> Extracted | Miss:
    """Extract the body and metadata of one decoded HTML page."""
    html = neutralise_text_references(html)  # one bad reference cannot blank the page
    tree = trafilatura.load_html(html)
    if tree is None:
        return Miss(Reason.EMPTY_EXTRACTION, "no HTML document to read")
    text = main_text(tree, url)
    if not text:
        return Miss(Reason.EMPTY_EXTRACTION, "no main text found")
    if "LiveBlogPosting" in html:  # parse the page's JSON-LD only where it can matter
        text = _with_live_updates(text, tree)
    metas, declared = _head_metadata(html)
    published = _meta_time(metas, _PUBLISHED_KEYS)  # zone-less times only as a guess
    updated = _meta_time(metas, _MODIFIED_KEYS)
    meta = page_metadata(tree, url, find_dates=published is None)
    title = headline(tree) or clean_inline(meta.title)
    authors = tuple(a for a in _split_list(meta.author, ";") if a.casefold() not in _NOT_AUTHORS)
    body = cleanup.clean_body(clean_text(text), authors=authors)
    first, _, rest = body.partition("\n")
    if first.casefold() in {t.casefold() for t in (title, clean_inline(meta.title)) if t}:
        body = rest  # the headline is the title field, not the body's first paragraph
    lang = _HTML_LANG.search(html[:4096])
    guess = _parse_time(meta.date)
    if len(body) < MIN_BODY_CHARS:
        return Miss(Reason.EMPTY_EXTRACTION, f"only {len(body)} characters of text")
    return Extracted(
        body=body,
        title=title,
        authors=authors,
        published=published[0] if published and published[1] else None,
        updated=updated[0] if updated else None,
        language=clean_inline(lang.group(1).lower() if lang else None, 16),
        site_name=clean_inline(meta.sitename, 200),
        tags=_split_list(list(meta.tags or []) + list(meta.categories or []), ","),
        image_url=clean_inline(meta.image, 2048),
        description=clean_inline(meta.description, 2000),
        page_url=declared,
        date_guess=(published[0] if published else None) or (guess[0] if guess else None),
        extractor=EXTRACTOR_VERSION,
    )


#: Libraries that read the page: anything they raise on it is the page's fault.
PAGE_READERS = (
    "trafilatura", "lxml", "lxml_html_clean", "htmldate", "justext", "courlan", "dateutil",
    "dateparser", "charset_normalizer", "html", "json",
)  # fmt: skip


def extract_page(body: bytes, content_type: str | None, url: str | None) -> Extracted | Miss:
    """Extract an article from fetched bytes, or say why there is none.

    A page that makes the extractor raise is a Miss; a bug of ours
    (:func:`~ingest.errors.input_fault` says which is which) raises.
    """
    if not is_html(content_type, body):
        return Miss(Reason.NOT_HTML, f"content type {content_type or 'unknown'}")
    try:
        html = decode_html(body, content_type)
        if html is None or not html.strip():
            return Miss(Reason.UNDECODABLE, "empty or undecodable page")
        return extract_document(html, url)
    except Exception as exc:
        if not input_fault(exc, PAGE_READERS, (etree.LxmlError,)):
            raise  # a bug of ours: the sandbox reports it as one
        log.warning("extraction of %s failed: %s: %s", url, type(exc).__name__, exc,
                    exc_info=not isinstance(exc, CONVERSION_ERRORS))  # fmt: skip
        return Miss(Reason.EXTRACT_ERROR, f"{type(exc).__name__}: {exc}"[:300])


def extract_body(html: str, url: str | None) -> str:
    """Return the clean body text of an HTML page ("" when there is none).

    This is the whole extraction stage as the pipeline runs it (extractor and cleanup),
    for benchmarks and outside scorers.
    """
    result = extract_document(html, url)
    return result.body if isinstance(result, Extracted) else ""
