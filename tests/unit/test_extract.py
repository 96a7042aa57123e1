from datetime import UTC, datetime

import pytest

from ingest.extract import decode_html, extract_body, extract_page, is_html
from ingest.models import Extracted, Miss, Reason

URL = "https://courier.example/news/harbour-dredging.html"


@pytest.fixture
def page(fixtures) -> bytes:
    return (fixtures / "article.html").read_bytes()


def test_extracts_body_without_boilerplate(page):
    result = extract_page(page, "text/html; charset=utf-8", URL)
    assert isinstance(result, Extracted)
    assert result.body.startswith("Councillors approved the long-delayed plan")
    assert "residents can comment on the disposal site" in result.body
    for junk in (
        "READ MORE",
        "Loading",
        "Share on Facebook",
        "Accept all",
        "Who pays",
        "Privacy",
        "Harbour dredging plan approved\n",
    ):
        assert junk not in result.body


def test_extracts_metadata(page):
    result = extract_page(page, "text/html", URL)
    assert isinstance(result, Extracted)
    assert result.title == "Harbour dredging plan approved"
    assert result.authors == ("Ben Okafor",)
    assert result.published == datetime(2026, 11, 20, 8, 15, tzinfo=UTC)
    assert result.updated == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert result.language == "en"
    assert result.site_name == "Fixture Courier"
    assert "harbour" in result.tags
    assert result.image_url == "https://courier.example/img/dredger.jpg"
    assert result.description.startswith("Councillors backed")
    assert result.page_url == URL
    assert result.extractor.startswith("trafilatura-")


def test_extract_body_is_the_same_stage(page):
    expected = extract_page(page, "text/html", URL)
    assert isinstance(expected, Extracted)
    assert extract_body(page.decode(), URL) == expected.body
    assert extract_body("<html><body><p>hi</p></body></html>", None) == ""


def test_pdf_is_not_html():
    result = extract_page(b"%PDF-1.4\n%...", "application/pdf", "https://x.example/a.pdf")
    assert result == Miss(Reason.NOT_HTML, "content type application/pdf")


def test_page_without_text_is_an_empty_extraction():
    html = b"<html><body><nav><a href='/'>Home</a></nav><p>Short.</p></body></html>"
    result = extract_page(html, "text/html", "https://x.example/")
    assert isinstance(result, Miss)
    assert result.reason is Reason.EMPTY_EXTRACTION


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html", b"", True),
        ("application/xhtml+xml; charset=utf-8", b"", True),
        ("image/png", b"<html>", False),
        (None, b"  <!DOCTYPE html><html>", True),
        ("application/octet-stream", b"<html><body>", True),
        (None, b"%PDF-1.7", False),
    ],
)
def test_is_html(content_type, body, expected):
    assert is_html(content_type, body) is expected


def test_decode_prefers_header_then_meta_charset():
    text = "Café"
    assert decode_html(text.encode("latin-1"), "text/html; charset=ISO-8859-1") == text
    meta = b'<meta charset="windows-1252"><p>Caf\xe9</p>'
    assert "Café" in decode_html(meta, "text/html")
    assert decode_html("naïve".encode(), None) == "naïve"


def _article_page(headline_html: str, paragraphs: list[str], og_title: str = "") -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    meta = f'<meta property="og:title" content="{og_title}">' if og_title else ""
    return (
        f"<html lang='en'><head><title>SEO title | Site</title>{meta}</head><body>"
        f"<nav><a href='/'>Home</a></nav><article>{headline_html}{body}</article></body></html>"
    )


PARAGRAPHS = [
    f"Paragraph {n}: the ferry operator confirmed on Monday that the new timetable will add "
    f"{n + 2} sailings a day from the east quay, with the first boat leaving at six."
    for n in range(10)
]


def test_the_title_is_the_visible_headline_not_the_search_title():
    html = _article_page(
        "<h1>Ferry timetable adds early sailings</h1>", PARAGRAPHS, "Ferries: all you need to know"
    )
    result = extract_page(html.encode(), "text/html", URL)
    assert isinstance(result, Extracted)
    assert result.title == "Ferry timetable adds early sailings"
    assert not result.body.startswith("Ferry timetable")  # the headline is not body text
    # no usable <h1>: the metadata title
    result = extract_page(_article_page("", PARAGRAPHS, "Ferry news").encode(), "text/html", URL)
    assert isinstance(result, Extracted)
    assert result.title == "Ferry news"


def test_a_page_the_quick_pass_finds_little_on_is_extracted_with_the_fallbacks(monkeypatch):
    from ingest import extract

    calls = []
    real = extract._trafilatura

    def spy(tree, url, *, first):
        calls.append(first)
        return real(tree, url, first=first)

    monkeypatch.setattr(extract, "_trafilatura", spy)
    extract_page(_article_page("<h1>A headline here</h1>", PARAGRAPHS).encode(), "text/html", URL)
    assert calls == [True]  # plenty found: one quick pass
    calls.clear()
    extract_page(
        _article_page("<h1>A headline here</h1>", PARAGRAPHS[:2]).encode(), "text/html", URL
    )
    assert calls == [True, False]  # under FALLBACK_BELOW_CHARS: trafilatura again, fallbacks on


def _live_blog(intro: list[str], rendered: list[str], declared: list[tuple[str, str]]) -> bytes:
    import json

    data = {
        "@context": "https://schema.org",
        "@type": "LiveBlogPosting",
        "headline": "Harbour storm: live updates",
        "liveBlogUpdate": [
            {"@type": "BlogPosting", "headline": h, "articleBody": b} for h, b in declared
        ],
    }
    paragraphs = "".join(f"<p>{p}</p>" for p in [*intro, *rendered])
    return (
        "<html lang='en'><head><title>Storm live</title>"
        f"<script type='application/ld+json'>{json.dumps(data)}</script></head><body><article>"
        f"<h1>Harbour storm: live updates</h1>{paragraphs}<div id='updates'></div>"
        "</article></body></html>"
    ).encode()


UPDATES = [
    (
        f"Update {n}: the east quay",
        f"At {n + 1} o'clock the harbour master said that {n * 3 + 4} boats had broken their "
        f"moorings, that crews from {n + 2} stations were out, and that the ferry to the "
        f"islands would stay in port until the wind dropped below {40 - n} knots tonight.",
    )
    for n in range(6)
]


def test_a_live_blog_whose_updates_the_page_renders_by_script_gets_them_from_its_json_ld():
    html = _live_blog(PARAGRAPHS[:3], [], UPDATES)
    result = extract_page(html, "text/html", URL)
    assert isinstance(result, Extracted)
    assert result.body.startswith(PARAGRAPHS[0])
    for headline, text in UPDATES:
        assert headline in result.body and text in result.body


def test_live_updates_already_on_the_page_are_not_added_twice_and_bad_json_is_ignored():
    rendered = [f"{h}. {b}" for h, b in UPDATES]
    html = _live_blog(PARAGRAPHS[:3], rendered, UPDATES)
    result = extract_page(html, "text/html", URL)
    assert isinstance(result, Extracted)
    assert result.body.count(UPDATES[0][1]) == 1
    broken = _live_blog(PARAGRAPHS[:3], [], UPDATES).replace(
        b'"liveBlogUpdate"', b'"liveBlogUpdate" ,,, }'
    )
    result = extract_page(broken, "text/html", URL)
    assert isinstance(result, Extracted)
    assert UPDATES[0][0] not in result.body
