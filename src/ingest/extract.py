"""Extraction: an HTML page in, its body text and metadata out (trafilatura plus cleanup).

The whole stage is one plain function for outside callers, :func:`extract_body`; the
pipeline calls :func:`extract_page`, which also decides whether the bytes are HTML at all.
A page that is not HTML or that extracts to nothing is a :class:`~ingest.models.Miss`.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import trafilatura
from dateutil import parser as dateparser
from lxml import etree
from trafilatura.settings import Document

from ingest.models import Extracted, Miss, Reason
from ingest.textutil import clean_inline, clean_text

log = logging.getLogger(__name__)

CLEANUP_VERSION = 1
OPTIONS = {"include_comments": False, "include_tables": True, "favor_precision": False}
EXTRACTOR_VERSION = (
    f"trafilatura-{trafilatura.__version__};comments=0;tables=1;cleanup={CLEANUP_VERSION}"
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


# Lines news templates leave inside a body; general patterns, not per-site rules.
_BOILERPLATE_LINE = re.compile(
    r"""^(?:
        (?:read|see)\s+(?:more|also)\b.{0,200}
      | related(?:\s+(?:stories|articles|coverage))?\s*:.{0,200}
      | (?:more|also)\s+on\s+this\s+story\s*:?.{0,200}
      | loading\s*(?:\.\.\.|\u2026)?
      | advertisement
      | (?:photo|image|picture|credit|photograph)s?\s*(?:credit)?\s*:.{0,120}
      | share\s+(?:on|this|via)\b.{0,80}
      | (?:copy|copied)\s+link
      | sign\s+up\s+(?:for|to)\s+(?:our|the)\s+.{0,80}newsletter.{0,80}
      | subscribe\s+(?:to|for)\b.{0,120}
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


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


def clean_body(text: str) -> str:
    """Drop boilerplate lines (promotions, credits, share prompts) and repeated lines."""
    kept: list[str] = []
    seen: set[str] = set()
    for line in clean_text(text).split("\n"):
        key = " ".join(line.casefold().split())
        if _BOILERPLATE_LINE.match(line) or key in seen:
            continue
        seen.add(key)
        kept.append(line)
    return "\n".join(kept)


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


def extract_document(html: str, url: str | None) -> Extracted | Miss:
    """Extract the body and metadata of one decoded HTML page."""
    doc = trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=True,
        include_comments=OPTIONS["include_comments"],
        include_tables=OPTIONS["include_tables"],
        favor_precision=OPTIONS["favor_precision"],
    )
    if not isinstance(doc, Document) or not doc.text:
        return Miss(Reason.EMPTY_EXTRACTION, "no main text found")
    title = clean_inline(doc.title)
    body = clean_body(doc.text)
    first, _, rest = body.partition("\n")
    if title and first.casefold() == title.casefold():
        body = rest  # the headline is the title field, not the body's first paragraph
    lang = _HTML_LANG.search(html[:4096])
    metas, declared = _head_metadata(html)
    published = _meta_time(metas, _PUBLISHED_KEYS)  # zone-less times only as a guess
    updated = _meta_time(metas, _MODIFIED_KEYS)
    guess = _parse_time(doc.date)
    if len(body) < MIN_BODY_CHARS:
        return Miss(Reason.EMPTY_EXTRACTION, f"only {len(body)} characters of text")
    return Extracted(
        body=body,
        title=title,
        authors=_split_list(doc.author, ";"),
        published=published[0] if published and published[1] else None,
        updated=updated[0] if updated else None,
        language=clean_inline(doc.language or (lang.group(1).lower() if lang else None), 16),
        site_name=clean_inline(doc.sitename, 200),
        tags=_split_list(list(doc.tags or []) + list(doc.categories or []), ","),
        image_url=clean_inline(doc.image, 2048),
        description=clean_inline(doc.description, 2000),
        page_url=declared,
        date_guess=(published[0] if published else None) or (guess[0] if guess else None),
        extractor=EXTRACTOR_VERSION,
    )


#: What hostile markup can make the parsers raise; such a page is a miss, not a crash.
EXTRACTION_ERRORS = (
    ValueError, UnicodeError, OverflowError, LookupError, RecursionError, etree.LxmlError,
)  # fmt: skip


def extract_page(body: bytes, content_type: str | None, url: str | None) -> Extracted | Miss:
    """Extract an article from fetched bytes, or say why there is none."""
    if not is_html(content_type, body):
        return Miss(Reason.NOT_HTML, f"content type {content_type or 'unknown'}")
    try:
        html = decode_html(body, content_type)
        if html is None or not html.strip():
            return Miss(Reason.UNDECODABLE, "empty or undecodable page")
        return extract_document(html, url)
    except EXTRACTION_ERRORS as exc:
        log.warning("extraction of %s failed: %s: %s", url, type(exc).__name__, exc)
        return Miss(Reason.EXTRACT_ERROR, f"{type(exc).__name__}: {exc}"[:300])


def extract_body(html: str, url: str | None) -> str:
    """Return the clean body text of an HTML page ("" when there is none).

    This is the whole extraction stage as the pipeline runs it (extractor and cleanup),
    for benchmarks and outside scorers.
    """
    result = extract_document(html, url)
    return result.body if isinstance(result, Extracted) else ""
