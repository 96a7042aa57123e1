import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from ingest.textutil import clean_inline, clean_text, content_hash, word_count


def test_clean_text_removes_nul_controls_and_lone_surrogates():
    assert clean_text("a\x00b\x07c\ud800d") == "abcd"


def test_clean_text_is_nfc_and_tidies_whitespace():
    decomposed = "Cafe\u0301   au\tlait\r\n\r\n\n  second  line  "
    assert clean_text(decomposed) == "Caf\u00e9 au lait\nsecond line"


@given(st.text())
def test_clean_text_output_is_always_storable(text):
    out = clean_text(text)
    assert "\x00" not in out
    assert unicodedata.is_normalized("NFC", out)
    out.encode("utf-8")  # no lone surrogates
    assert clean_text(out) == out


def test_clean_inline_bounds_length():
    assert clean_inline("x" * 50, 10) == "x" * 9 + "\u2026"
    assert clean_inline("   ") is None


def test_content_hash_ignores_case_and_spacing_but_not_words():
    assert content_hash("The council met.\nIt voted.") == content_hash("the  council met. it VOTED")
    assert content_hash("The council met.") != content_hash("The council left.")


def test_word_count():
    assert word_count("One two, three-four.\nFive") == 5
