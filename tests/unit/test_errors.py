"""Whose fault an exception is: the input's (a library choked on it) or ours (a bug)."""

import pytest

from ingest import extract, parse
from ingest.errors import input_fault, raised_by_library
from ingest.models import Miss, Reason

PAGE = (
    "<html><head><title>Harbour</title></head><body><article><h1>Harbour</h1>"
    + "".join(
        f"<p>Paragraph {i} about the harbour plan and its many details.</p>" for i in range(9)
    )
    + "</article></body></html>"
).encode()


def as_library(module: str, name: str, message: str):
    """A function whose frames belong to ``module``: a stand-in for a library's own bug."""
    namespace = {"__name__": module}
    exec(f"def {name}(*args, **kwargs):\n    raise TypeError({message!r})", namespace)  # noqa: S102 - test stand-in
    return namespace[name]


def test_a_feed_that_makes_feedparser_raise_is_malformed_not_a_bug():
    stray_end_tag = (
        b'<rss version="2.0"><channel><title>t</title><image><url>http://e.example/i.png</url>'
        b"</width></image><item><title>a</title><link>http://e.example/a</link></item>"
        b"</channel></rss>"
    )  # feedparser 6.0.14 raises TypeError on it (its own issue)
    result = parse.parse_feed(stray_end_tag, "http://e.example/f", "application/rss+xml")
    assert isinstance(result, Miss), result
    assert result.reason is Reason.FEED_MALFORMED
    assert result.detail.startswith("TypeError")


def test_a_page_that_makes_the_extractor_library_raise_is_an_extraction_error(monkeypatch):
    crash = as_library("trafilatura.core", "bare_extraction", "'NoneType' has no len()")
    monkeypatch.setattr(extract.trafilatura, "bare_extraction", crash)
    result = extract.extract_page(PAGE, "text/html", "https://e.example/a")
    assert isinstance(result, Miss)
    assert result.reason is Reason.EXTRACT_ERROR
    assert "TypeError" in result.detail


def test_an_exception_raised_in_our_own_code_is_a_bug_and_escapes(monkeypatch):
    def broken(*_args, **_kwargs):
        raise TypeError("a bug of ours")

    monkeypatch.setattr(extract, "main_text", broken)
    with pytest.raises(TypeError, match="a bug of ours"):
        extract.extract_page(PAGE, "text/html", "https://e.example/a")
    monkeypatch.setattr(parse, "_parse_feed", broken)
    with pytest.raises(TypeError, match="a bug of ours"):
        parse.parse_feed(b"<rss/>", "http://e.example/f")


def test_whose_fault_is_read_from_the_frame_our_code_called():
    from ingest import textutil

    with pytest.raises(AttributeError) as ours:
        textutil.clean_text(None)  # our code meets None: the failing frame is ours
    assert not raised_by_library(ours.value, ("re", "unicodedata"))
    crash = as_library("feedparser.api", "parse", "boom")
    with pytest.raises(TypeError) as nobodys:
        crash()  # called from here, not from ingest: nobody of ours called it
    assert not raised_by_library(nobodys.value, ("feedparser",))


@pytest.mark.parametrize("bug", [KeyError, IndexError, AttributeError, TypeError])
def test_a_lookup_or_type_bug_deep_in_our_extraction_escapes(monkeypatch, bug):
    """Inside the extractor's own try: our cleanup, our metadata reading, our feed loop."""

    def broken(*_args, **_kwargs):
        raise bug("a bug of ours")

    monkeypatch.setattr(extract.cleanup, "clean_body", broken)
    with pytest.raises(bug):
        extract.extract_page(PAGE, "text/html", "https://e.example/a")
    monkeypatch.setattr(parse, "_first_entries", broken)
    with pytest.raises(bug):
        parse.parse_feed(b"<rss><channel><item/></channel></rss>", "http://e.example/f")


def test_a_hostile_value_converted_in_our_code_is_the_inputs_fault():
    def convert(kind):
        if kind == "int":
            return int("9" * 5000)  # ValueError: digits past the interpreter's limit
        if kind == "date":
            from datetime import datetime

            return datetime(10000, 1, 1)  # noqa: DTZ001 - ValueError: year out of range
        if kind == "encoding":
            return b"x".decode("no-such-codec")  # LookupError from the codecs
        return b"\xff".decode("utf-8")  # UnicodeDecodeError

    for kind in ("int", "date", "encoding", "bytes"):
        with pytest.raises((ValueError, LookupError)) as caught:
            convert(kind)
        assert input_fault(caught.value, ()), kind
    with pytest.raises(KeyError) as bug:
        {}["missing"]
    assert not input_fault(bug.value, ())
