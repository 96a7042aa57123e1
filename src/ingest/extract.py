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
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.IGNORECASE
)
_HTML_SNIFF = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)", re.IGNORECASE | re.DOTALL
)
_PUBLISHED_META = re.compile(
    r"""<meta[^>]+(?:property|name|itemprop)\s*=\s*["'](?:article:published_time|datePublished|"""
    r"""pubdate|publishdate|date)["'][^>]*>""",
    re.IGNORECASE,
)
_MODIFIED_META = re.compile(
    r"""<meta[^>]+(?:property|name|itemprop)\s*=\s*["'](?:article:modified_time|dateModified|"""
    r"""og:updated_time)["'][^>]*>""",
    re.IGNORECASE,
)
_HTML_LANG = re.compile(
    r"""<html\b[^>]*?\slang\s*=\s*["']?([a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{2,8})?)""", re.IGNORECASE
)
_CONTENT_ATTR = re.compile(r"""content\s*=\s*["']([^"']{4,64})["']""", re.IGNORECASE)
_CANONICAL = re.compile(
    r"""<link[^>]+rel\s*=\s*["']canonical["'][^>]*>|<meta[^>]+property\s*=\s*["']og:url["'][^>]*>""",
    re.IGNORECASE,
)
_HREF_OR_CONTENT = re.compile(r"""(?:href|content)\s*=\s*["']([^"']{1,2048})["']""", re.IGNORECASE)

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
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("cp1252", errors="replace")


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = dateparser.isoparse(value.strip())
    except (ValueError, OverflowError):
        try:
            parsed = dateparser.parse(value.strip())
        except (ValueError, OverflowError):
            return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _meta_time(html: str, pattern: re.Pattern[str]) -> datetime | None:
    for tag in pattern.findall(html[:200_000]):
        content = _CONTENT_ATTR.search(tag)
        if content and (parsed := _parse_time(content.group(1))):
            return parsed
    return None


def _declared_url(html: str) -> str | None:
    for tag in _CANONICAL.findall(html[:200_000]):
        found = _HREF_OR_CONTENT.search(tag)
        if found:
            return found.group(1).strip()
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
    if len(body) < MIN_BODY_CHARS:
        return Miss(Reason.EMPTY_EXTRACTION, f"only {len(body)} characters of text")
    return Extracted(
        body=body,
        title=title,
        authors=_split_list(doc.author, ";"),
        published=_meta_time(html, _PUBLISHED_META),
        updated=_meta_time(html, _MODIFIED_META),
        language=clean_inline(doc.language or (lang.group(1).lower() if lang else None), 16),
        site_name=clean_inline(doc.sitename, 200),
        tags=_split_list(list(doc.tags or []) + list(doc.categories or []), ","),
        image_url=clean_inline(doc.image, 2048),
        description=clean_inline(doc.description, 2000),
        page_url=_declared_url(html),
        date_guess=_parse_time(doc.date),
        extractor=EXTRACTOR_VERSION,
    )


def extract_page(body: bytes, content_type: str | None, url: str | None) -> Extracted | Miss:
    """Extract an article from fetched bytes, or say why there is none."""
    if not is_html(content_type, body):
        return Miss(Reason.NOT_HTML, f"content type {content_type or 'unknown'}")
    html = decode_html(body, content_type)
    if html is None or not html.strip():
        return Miss(Reason.UNDECODABLE, "empty or undecodable page")
    return extract_document(html, url)


def extract_body(html: str, url: str | None) -> str:
    """Return the clean body text of an HTML page ("" when there is none).

    This is the whole extraction stage as the pipeline runs it (extractor and cleanup),
    for benchmarks and outside scorers.
    """
    result = extract_document(html, url)
    return result.body if isinstance(result, Extracted) else ""
