"""Feed parsing: feedparser on bytes we fetched, turned into typed entries.

feedparser never sees a URL (it would fetch it without a timeout). Dates come out as
aware UTC datetimes, links as absolute URLs, and a feed that yields no entries because it
is not a feed at all becomes a :class:`~ingest.models.Miss` with a reason.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin
from xml.sax import SAXException

import feedparser
from lxml import etree

from ingest.errors import CONVERSION_ERRORS, input_fault
from ingest.logs import get_logger
from ingest.models import FeedEntry, Miss, ParsedFeed, Reason
from ingest.textutil import clean_inline, neutralise_references

log = get_logger(__name__)

_BLOCK_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|h[1-6]|tr|td|blockquote)\b[^>]{0,2000}>", re.IGNORECASE
)
_TAG = re.compile(r"<[^>]{0,2000}>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
MAX_SUMMARY_CHARS = 2000
MAX_TTL_MINUTES = 7 * 24 * 60
MAX_FIELD_CHARS = 1000
MAX_DATE_CHARS = 64


def _utc(parsed: time.struct_time | None) -> datetime | None:
    """Feedparser's ``*_parsed`` values are UTC struct_times; make them aware datetimes."""
    if parsed is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _text(value: Any, max_chars: int = MAX_FIELD_CHARS) -> str | None:  # noqa: ANN401 - feedparser values are untyped
    if not isinstance(value, str):
        return None
    text = _TAG.sub("", _BLOCK_TAG.sub(" ", value))
    return clean_inline(html.unescape(text), max_chars)


def _absolute(link: str | None, base: str) -> str | None:
    if not link or not isinstance(link, str):
        return None
    try:
        joined = urljoin(base, _CONTROL.sub("", link.strip()))
    except ValueError:  # e.g. "http://[oops/x": not a URL at all
        return None
    return joined or None


def _first(
    guid: str | None,
    link: str | None,
    seen: set[tuple[str, str]],
    links_of_guid: dict[str, str],
    notes: dict[Reason, str],
) -> tuple[str, str] | None:
    """An entry's (guid, link) if it is kept: it has both and is not an exact repeat.

    A guid seen before on another link is kept, and noted.
    """
    if not link or not guid or (guid, link) in seen:
        return None
    seen.add((guid, link))
    if links_of_guid.setdefault(guid, link) != link:
        notes[Reason.DUPLICATE_GUIDS] = f"guid {guid[:80]!r} on several links"
    return guid, link


def _guid(entry: Any, link: str | None) -> str | None:  # noqa: ANN401 - feedparser entry
    guid = entry.get("id") or entry.get("guid")
    if isinstance(guid, int) and not isinstance(guid, bool):
        guid = str(guid)  # JSON Feed 1.0 allowed numbers
    if isinstance(guid, str) and (guid := _CONTROL.sub("", guid).strip()):
        return guid[:MAX_FIELD_CHARS]
    if link:
        return link
    title = entry.get("title") or ""
    published = entry.get("published") or entry.get("updated") or ""
    if not title and not published:
        return None
    return "sha256:" + hashlib.sha256(f"{title}\n{published}".encode()).hexdigest()


def _ttl(feed: Any) -> int | None:  # noqa: ANN401 - feedparser feed dict
    raw = feed.get("ttl")
    if isinstance(raw, str) and raw.strip().isdigit():
        digits = raw.strip().lstrip("0") or "0"
        # A ttl over a week is a week (and 400 digits must not reach int() or float()).
        return MAX_TTL_MINUTES if len(digits) > 6 else min(int(digits), MAX_TTL_MINUTES)  # noqa: PLR2004 - a million minutes is past any cap
    return None


#: Libraries that read the feed's bytes: anything they raise on it is the feed's fault.
FEED_READERS = ("feedparser", "sgmllib", "xml", "lxml")


def parse_feed(
    body: bytes, url: str, content_type: str | None = None, *, max_entries: int = 1000
) -> ParsedFeed | Miss:
    """Parse feed bytes fetched from ``url``; relative links resolve against it.

    A feed that is not parseable at all, or that makes the parser raise, is a Miss. A bug
    of ours (:func:`~ingest.errors.input_fault` says which is which) raises.
    """
    try:
        return _parse_feed(body, url, content_type, max_entries)
    except Exception as exc:
        if not input_fault(exc, FEED_READERS, (SAXException, etree.LxmlError)):
            raise  # a bug of ours: the sandbox reports it as one
        log.warning("feed %s could not be parsed: %s: %s", url, type(exc).__name__, exc,
                    exc_info=not isinstance(exc, CONVERSION_ERRORS))  # fmt: skip
        return Miss(Reason.FEED_MALFORMED, f"{type(exc).__name__}: {exc}"[:300])


_XML_DECL_ENCODING = re.compile(
    rb"^(\s*<\?xml[^>]{0,200}?encoding=[\"'])([A-Za-z0-9._-]{1,40})", re.IGNORECASE
)
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]{1,40})", re.IGNORECASE)
_SINGLE_BYTE = re.compile(
    r"^(?:iso-?8859-?1|latin-?1|l1|windows-1252|cp1252|us-ascii|ascii)$", re.IGNORECASE
)


def _fix_encoding_lie(body: bytes, content_type: str | None) -> tuple[bytes, str | None, bool]:
    """Relabel as UTF-8 a feed that declares Latin-1 but is valid, non-ASCII UTF-8.

    Such bytes are vanishingly unlikely in real Latin-1 text, and left alone its titles
    come out as mojibake ("CafÃ©"). Returns (body, content type, relabelled).
    """
    declared = []
    match = _XML_DECL_ENCODING.match(body)
    if match:
        declared.append(match.group(2).decode("ascii"))
    header = _CHARSET.search(content_type or "")
    if header:
        declared.append(header.group(1))
    if not declared or not all(_SINGLE_BYTE.match(d) for d in declared) or body.isascii():
        return body, content_type, False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return body, content_type, False
    if match:
        body = body[: match.start(2)] + b"utf-8" + body[match.end(2) :]
    if header and content_type:
        content_type = content_type[: header.start(1)] + "utf-8" + content_type[header.end(1) :]
    return body, content_type, True


_ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,40}:)?(?:item|entry)[\s>/]")
_FEED_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def _first_entries(body: bytes, keep: int) -> tuple[bytes, int] | None:
    """The feed with only its first ``keep`` entries, and how many it had.

    feedparser reads every entry of a feed (dates and all: 16 s of CPU for 50,000 items),
    though only the first ``keep`` are used. lxml finds the entries (the items or entries
    of the root or its channel) in a fraction of that, so a long feed costs what its
    first ``keep`` entries cost. None when there is nothing to cut, or when the feed is not
    well-formed XML (feedparser's forgiving parser then reads it all, under the budget).
    Entities are neither expanded nor fetched here.
    """
    tags = _ENTRY_TAG.finditer(body)
    if sum(1 for _ in zip(tags, range(keep + 1), strict=False)) <= keep:
        return None
    try:
        root = etree.fromstring(body, _FEED_XML)
    except (etree.XMLSyntaxError, ValueError):
        return None
    containers = [root, *root.findall("{*}channel")]
    entries = [
        child
        for container in containers
        for child in container
        if isinstance(child.tag, str) and etree.QName(child).localname in ("item", "entry")
    ]
    if len(entries) <= keep:
        return None
    for child in entries[keep:]:
        child.getparent().remove(child)
    # ASCII, every other character a reference, and said so: the bytes read the same
    # whatever charset the response headers claim (feedparser would prefer those).
    return etree.tostring(root.getroottree(), encoding="us-ascii", xml_declaration=True), len(
        entries
    )


_XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"


def _resolve_bases(body: bytes, url: str) -> bytes | None:
    """The feed with each item's (entry's) own base made explicit and absolute.

    feedparser keeps an item's ``xml:base`` for the items after it: an item without one
    had its relative link resolved against the previous item's base. lxml resolves each
    element's base from its own ancestors (the feed URL at the top); written on every
    item, it leaves feedparser nothing to carry over, and everything else (guids, nested
    bases) is resolved as before. None when there is no ``xml:base`` or the feed is not
    well-formed XML (feedparser's forgiving parser then reads it as it is).
    """
    if b"xml:base" not in body:
        return None
    try:
        root = etree.fromstring(body, _FEED_XML, base_url=url)
    except (etree.XMLSyntaxError, ValueError):
        return None
    for element in root.iter("{*}item", "{*}entry"):
        element.set(_XML_BASE, element.base or url)
    out: bytes = etree.tostring(root.getroottree(), encoding="us-ascii", xml_declaration=True)
    return out


def _with_bases_resolved(
    body: bytes, content_type: str | None, url: str
) -> tuple[bytes, str | None]:
    """:func:`_resolve_bases` applied; rewritten bytes declare their own encoding.

    Not when the response's charset and the document's declaration disagree: feedparser
    decodes by the charset, lxml by the declaration, and a rewrite must not change which.
    """
    declared = _XML_DECL_ENCODING.match(body)
    header = _CHARSET.search(content_type or "")
    if declared and header and declared.group(2).decode().lower() != header.group(1).lower():
        return body, content_type
    resolved = _resolve_bases(body, url)
    if resolved is None:
        return body, content_type
    return resolved, content_type.split(";", 1)[0] if content_type else None


def _cut(
    body: bytes, content_type: str | None, max_entries: int
) -> tuple[bytes, str | None, int | None]:
    """The feed cut to its first entries, its content type, and how many it listed.

    See :func:`_first_entries`; ``None`` entries listed when it was not cut. Cut bytes
    declare their own encoding, so the content type loses its charset.
    """
    cut = _first_entries(body, max_entries)
    if cut is None:
        return body, content_type, None
    return cut[0], content_type.split(";", 1)[0] if content_type else None, cut[1]


def _parse_feed(
    body: bytes, url: str, content_type: str | None, max_entries: int
) -> ParsedFeed | Miss:
    if _is_json(body):
        return _parse_json_feed(body, url, max_entries)
    body = neutralise_references(body)
    body, content_type, relabelled = _fix_encoding_lie(body, content_type)
    body, content_type = _with_bases_resolved(body, content_type, url)
    body, content_type, listed = _cut(body, content_type, max_entries)
    # No content-location header: feedparser would "resolve" plain guids against it.
    # xml:base was resolved above (or, in a feed that is not well-formed, by feedparser);
    # remaining relative links are joined to the feed URL.
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False)
    raw_entries = parsed.get("entries") or []
    version = parsed.get("version") or ""
    if not raw_entries and (parsed.get("bozo") or not version):
        problem = parsed.get("bozo_exception")
        detail = f"{type(problem).__name__}: {problem}" if problem else "not a recognised feed"
        return Miss(Reason.FEED_MALFORMED, detail[:300])
    feed = parsed.get("feed") or {}
    base = feed.get("link") if isinstance(feed.get("link"), str) else None
    entries: list[FeedEntry] = []
    seen: set[tuple[str, str]] = set()
    links_of_guid: dict[str, str] = {}
    notes: dict[Reason, str] = {}
    if relabelled:
        notes[Reason.ENCODING_MISMATCH] = "declared a single-byte charset; read as UTF-8"
    listed = listed or len(raw_entries)
    if listed > max_entries:
        notes[Reason.FEED_TRUNCATED] = f"{listed} entries; the first {max_entries} read"
    for raw in raw_entries[:max_entries]:
        link = _absolute(raw.get("link"), url)
        guid = _guid(raw, link)
        kept = _first(guid, link, seen, links_of_guid, notes)
        if kept is None:
            log.debug("feed %s: entry without link/guid, or repeated, skipped", url)
            continue
        guid, link = kept
        published = _utc(dict.get(raw, "published_parsed") or dict.get(raw, "created_parsed"))
        updated = _utc(dict.get(raw, "updated_parsed"))
        # dict.get: FeedParserDict.get maps updated<->published with a warning.
        for field in ("published", "updated", "created"):
            text = dict.get(raw, field)
            if text and not _utc(dict.get(raw, f"{field}_parsed")):
                notes[Reason.BAD_DATES] = f"unreadable {field} date {str(text)[:60]!r}"
        entries.append(
            FeedEntry(
                guid=guid,
                link=link,
                title=_text(raw.get("title")),
                published=published or updated,
                updated=updated,
                summary=_text(raw.get("summary"), MAX_SUMMARY_CHARS),
                author=_text(raw.get("author")),
            )
        )
    if parsed.get("bozo"):
        problem = parsed.get("bozo_exception")
        notes[Reason.FEED_RECOVERED] = f"{type(problem).__name__}: {problem}"[:300]
    return ParsedFeed(
        title=_text(feed.get("title")),
        link=_absolute(base, url),
        entries=tuple(entries),
        warning="; ".join(f"{r.value}: {d}" for r, d in notes.items())[:500] or None,
        ttl_minutes=_ttl(feed),
        warnings=tuple(notes),
    )


# ------------------------------------------------------------------------------ JSON Feed

#: JSON Feed 1.0 and 1.1 (https://www.jsonfeed.org/version/1.1/); feedparser cannot read it.
JSON_FEED_VERSION = "https://jsonfeed.org/version/1"


def _is_json(body: bytes) -> bool:
    """By the body: a feed served as JSON that is XML is read as XML (and the reverse)."""
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _parse_json_feed(body: bytes, url: str, max_entries: int) -> ParsedFeed | Miss:
    """A JSON Feed as the same typed entries an RSS or Atom feed gives."""
    try:
        doc = json.loads(body)  # bytes: UTF-8, -16 or -32, with or without a BOM
    except (ValueError, RecursionError) as exc:  # not JSON, or nested past the stack
        return Miss(Reason.FEED_MALFORMED, f"JSON: {type(exc).__name__}: {exc}"[:300])
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, str) or not version.startswith(JSON_FEED_VERSION):
        return Miss(
            Reason.FEED_MALFORMED, "not a recognised feed (JSON without a JSON Feed version)"
        )
    items = doc.get("items")
    if not isinstance(items, list):
        return Miss(Reason.FEED_MALFORMED, "JSON Feed without an items list")
    notes: dict[Reason, str] = {}
    if len(items) > max_entries:
        notes[Reason.FEED_TRUNCATED] = f"{len(items)} entries; the first {max_entries} read"
    entries: list[FeedEntry] = []
    seen: set[tuple[str, str]] = set()
    links_of_guid: dict[str, str] = {}
    for raw in items[:max_entries]:
        if not isinstance(raw, dict):
            continue
        link = _absolute(raw.get("url") or raw.get("external_url"), url)
        guid = _guid(raw, link)
        kept = _first(guid, link, seen, links_of_guid, notes)
        if kept is None:
            continue
        guid, link = kept
        published = _json_time(raw, "date_published", notes)
        updated = _json_time(raw, "date_modified", notes)
        summary = raw.get("summary") or raw.get("content_text") or raw.get("content_html")
        entries.append(
            FeedEntry(
                guid=guid,
                link=link,
                title=_text(raw.get("title")),
                published=published or updated,
                updated=updated,
                summary=_text(summary, MAX_SUMMARY_CHARS),
                author=_json_author(raw) or _json_author(doc),
            )
        )
    return ParsedFeed(
        title=_text(doc.get("title")),
        link=_absolute(doc.get("home_page_url"), url),
        entries=tuple(entries),
        warning="; ".join(f"{r.value}: {d}" for r, d in notes.items())[:500] or None,
        warnings=tuple(notes),
    )


def _json_time(item: dict[str, Any], key: str, notes: dict[Reason, str]) -> datetime | None:
    """An RFC 3339 time as aware UTC (one without an offset is taken as UTC)."""
    text = item.get(key)
    if text is None:
        return None
    try:
        readable = isinstance(text, str) and len(text) <= MAX_DATE_CHARS
        when = datetime.fromisoformat(text.upper()) if readable else None
    except ValueError:
        when = None
    if when is None:
        notes[Reason.BAD_DATES] = f"unreadable {key} {str(text)[:60]!r}"
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _json_author(obj: dict[str, Any]) -> str | None:
    """The first author's name: ``authors`` (1.1) or ``author`` (1.0)."""
    authors = obj.get("authors")
    first = authors[0] if isinstance(authors, list) and authors else obj.get("author")
    return _text(first.get("name")) if isinstance(first, dict) else None
