import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.errors import UrlRejected
from ingest.urls import RULES_VERSION, article_id_for, canonical_url


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM:80/a?utm_source=rss&id=3#frag", "http://example.com/a?id=3"),
        ("https://example.com:443/", "https://example.com/"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://example.com/a?b=2&a=1&fbclid=xyz&gclid=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/news/story/amp", "https://example.com/news/story"),
        ("https://example.com/news/story.amp", "https://example.com/news/story"),
        ("https://example.com/%7euser/%2f", "https://example.com/~user/%2F"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://example.com./x", "https://example.com/x"),
    ],
)
def test_canonical_url_rules(raw, expected):
    assert canonical_url(raw) == expected


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("ftp://example.com/file", "bad_scheme"),
        ("javascript:alert(1)", "bad_scheme"),
        ("http:///nohost", "bad_url"),
        ("https://example.com:99999/", "bad_url"),
        ("https://example.com/" + "a" * 3000, "url_too_long"),
    ],
)
def test_canonical_url_rejects_with_a_typed_reason(raw, reason):
    with pytest.raises(UrlRejected) as info:
        canonical_url(raw)
    assert info.value.reason == reason


@given(st.text(max_size=300))
def test_canonical_url_never_raises_anything_but_a_rejection(text):
    try:
        result = canonical_url(text)
    except UrlRejected:
        return
    assert result.startswith(("http://", "https://"))


@given(
    st.sampled_from(["http", "https", "HTTP"]),
    st.from_regex(r"[a-z]{1,10}(\.[a-z]{2,5}){1,2}", fullmatch=True),
    st.lists(st.from_regex(r"[A-Za-z0-9._~%-]{0,8}", fullmatch=True), max_size=4),
    st.lists(
        st.tuples(
            st.sampled_from(["utm_source", "id", "q", "fbclid", "p"]),
            st.from_regex(r"[a-z0-9]{0,5}", fullmatch=True),
        ),
        max_size=4,
    ),
    st.sampled_from(["", "#x", "#"]),
)
def test_canonical_url_is_idempotent(scheme, host, segments, params, fragment):
    query = "&".join(f"{k}={v}" for k, v in params)
    url = f"{scheme}://{host}/{'/'.join(segments)}" + (f"?{query}" if query else "") + fragment
    try:
        once = canonical_url(url)
    except UrlRejected:
        return
    assert canonical_url(once) == once


def test_tracking_variants_share_one_article_id():
    a = canonical_url("https://news.example/story?utm_medium=feed&utm_source=rss")
    b = canonical_url("https://NEWS.example:443/story#comments")
    assert a == b
    assert article_id_for(a) == article_id_for(b)
    assert len(article_id_for(a)) == 32
    assert RULES_VERSION >= 1


@pytest.mark.parametrize(
    "query",
    ["guccounter=1", "guce_referrer=aHR0cHM6Ly9", "smid=tw-share", "ncid=rss", "fb_ref=top",
     "ns_mchannel=social&ns_source=twitter", "WT.mc_id=email", "__twitter_impression=true"],
)  # fmt: skip
def test_rules_v2_tracking_parameters_are_removed(query):
    assert RULES_VERSION >= 2
    assert canonical_url(f"https://news.example/story?id=7&{query}") == (
        "https://news.example/story?id=7"
    )


@pytest.mark.parametrize(
    "link",
    ["https://Bücher.Example/x", "https://example.com./x", "HTTPS://WWW.EXAMPLE.COM:443/x?a=1",
     "https://xn--bcher-kva.example/x"],
)  # fmt: skip
def test_a_raw_link_and_its_canonical_url_name_the_same_host(link):
    """The queue keys a page by its canonical URL's host, the crawler by its link's."""
    from ingest.urls import host_of

    assert host_of(link) == host_of(canonical_url(link))
    assert host_of(link).isascii() and not host_of(link).endswith(".")
