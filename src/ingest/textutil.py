"""Text hygiene: NFC, no NUL or lone surrogates, tidy whitespace; safe to show.

The stages clean what they store; :func:`visible` makes outside text safe to show on a
terminal or in a log line.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_INLINE_SPACE = re.compile(r"[^\S\n]+")  # whitespace other than newline
_MANY_NEWLINES = re.compile(r"\n{2,}")
_WORD = re.compile(r"\w+")


def clean_text(text: str) -> str:
    """NFC-normalise, drop control characters and lone surrogates, tidy whitespace.

    Paragraphs stay one per line; runs of spaces/tabs become one space; blank lines are
    dropped; leading and trailing whitespace goes.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n")
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFC", text)
    lines = (_INLINE_SPACE.sub(" ", line).strip() for line in text.split("\n"))
    return _MANY_NEWLINES.sub("\n", "\n".join(line for line in lines if line)).strip()


def clean_inline(text: str | None, max_chars: int | None = None) -> str | None:
    """Clean a one-line field (title, author...): whitespace collapsed, bounded, None if empty."""
    if text is None:
        return None
    cleaned = " ".join(clean_text(text).split())
    if max_chars is not None and len(cleaned) > max_chars:
        cleaned = cleaned[: max_chars - 1].rstrip() + "\u2026"
    return cleaned or None


def content_hash(body: str) -> str:
    """SHA-256 of a body after case folding and whitespace collapsing (exact-copy identity)."""
    key = " ".join(_WORD.findall(unicodedata.normalize("NFKC", body).casefold()))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def word_count(body: str) -> int:
    """Number of words (runs of word characters) in a body."""
    return len(_WORD.findall(body))


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def has_unstorable(text: str) -> bool:
    """Whether ``text`` holds a NUL byte or a lone surrogate (no database stores them)."""
    # Fast path: ASCII without NUL is always storable; only then run the regex.
    return "\x00" in text or (not text.isascii() and _UNSTORABLE.search(text) is not None)


def strip_unstorable(text: str) -> str:
    """``text`` without NUL bytes and lone surrogates."""
    return _UNSTORABLE.sub("", text)


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of raw bytes."""
    return hashlib.sha256(data).hexdigest()


# What a terminal or a log reader would act on instead of showing: C0 and C1 controls
# (newline, carriage return, ESC sequences), DEL, line and paragraph separators, the bidi
# embeddings and isolates (text that reads in another order than it is stored), and lone
# surrogates (unprintable).
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def visible(text: object) -> str:
    """``str(text)`` on one line, every control or reordering character written as an escape.

    For showing what came from outside (a title, a URL, a header, a path) on a terminal
    or in a log: nothing in it can start a new line, move the cursor or recolour the
    screen. Printable text, including non-ASCII letters, is left as it is.
    """
    shown = str(text)
    if shown.isprintable() and shown.isascii():
        return shown
    return _INVISIBLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), shown)


# Any number of digits (zero padding included). XML needs the ";"; HTML parsers also
# decode a reference without it, so the text form takes both.
_CHAR_REF_BYTES = re.compile(rb"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));")
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9A-Fa-f]+)|([0-9]+));?")

# XML 1.0's Char production: tab, newline, carriage return and these ranges.
_XML_CHAR_RANGES = ((0x20, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF))


def xml_char(code: int) -> bool:
    """Whether XML 1.0 allows the code point as text."""
    return code in (0x9, 0xA, 0xD) or any(low <= code <= high for low, high in _XML_CHAR_RANGES)


def _allowed(hexa: str | None, decimal: str | None) -> bool:
    digits = (hexa or decimal or "0").lstrip("0")
    if len(digits) > (6 if hexa else 7):  # past U+10FFFF whatever the digits (and int() safe)
        return False
    return xml_char(int(digits or "0", 16 if hexa else 10))


def _allowed_bytes(hexa: bytes | None, decimal: bytes | None) -> bool:
    return _allowed(hexa.decode() if hexa else None, decimal.decode() if decimal else None)


def neutralise_references(body: bytes) -> bytes:
    """Character references to what no text can hold become ``&#xFFFD;`` (U+FFFD).

    ``&#xD800;`` (a lone surrogate) or ``&#x110000;`` (past Unicode) in one item's title
    would otherwise make a feed parser fail on the whole feed, and ``&#27;`` or
    ``&#xFFFF;`` in one paragraph makes the page extractor find no text at all; the text
    keeps a replacement character where the reference was. Controls (``&#0;``,
    ``&#27;``) go the same way.
    """
    if b"&#" not in body:
        return body
    return _CHAR_REF_BYTES.sub(
        lambda m: m.group() if _allowed_bytes(*m.groups()) else b"&#xFFFD;", body
    )


def neutralise_text_references(html: str) -> str:
    """:func:`neutralise_references` for decoded text."""
    if "&#" not in html:
        return html
    return _CHAR_REF.sub(lambda m: m.group() if _allowed(*m.groups()) else "&#xFFFD;", html)
