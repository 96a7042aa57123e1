import pytest

from ingest.errors import ConfigError
from ingest.models import FeedSpec
from ingest.registry import load_registry, parse_opml, parse_registry, to_toml


def test_loads_a_valid_registry(fixtures):
    specs = load_registry(fixtures / "feeds.toml")
    assert specs[0] == FeedSpec(
        key="tribune-top",
        url="https://tribune.example/feeds/top.xml",
        title="Tribune: top stories",
        site="tribune.example",
        tags=("regional", "test"),
        language="en",
    )
    assert specs[1].enabled is False
    assert specs[1].interval_minutes == 30


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[[feeds]]\nkey = "Bad Key"\nurl = "https://x.example/f"',
            "feed #1 ('Bad Key'), field key",
        ),
        ('[[feeds]]\nkey = "a"\nurl = "ftp://x.example/f"', "must be an absolute http(s) URL"),
        ('[[feeds]]\nkey = "a"', "field url: Field required"),
        ('[[feeds]]\nkey = "a"\nurl = "https://x.example/f"\ncolour = "red"', "field colour"),
        (
            '[[feeds]]\nkey = "a"\nurl = "https://x.example/f"\ninterval_minutes = 0',
            "interval_minutes",
        ),
        (
            '[[feeds]]\nkey = "a"\nurl = "https://x.example/f"\nsite = "ftp://x.example"',
            "site: Value error, must be a host (example.org) or an http(s) URL",
        ),
        (
            '[[feeds]]\nkey = "a"\nurl = "https://x.example/f"\nsite = "x.example/news"',
            "must be a host (example.org) or an http(s) URL",
        ),
        ("feeds = [", "not valid TOML"),
        (
            '[[feeds]]\nkey = "a"\nurl = "https://x.example/f"\n[[feeds]]\nkey = "a"\nurl = "https://x.example/g"',
            "duplicate key 'a'",
        ),
        (
            '[[feeds]]\nkey = "a"\nurl = "https://x.example/f"\n[[feeds]]\nkey = "b"\nurl = "https://x.example/f"',
            "duplicate url",
        ),
    ],
)
def test_invalid_registry_names_the_problem(text, message):
    with pytest.raises(ConfigError) as info:
        parse_registry(text, "feeds.toml")
    assert message in str(info.value)
    assert str(info.value).startswith("feeds.toml: ")


@pytest.mark.parametrize("site", ["www.x.example", "127.0.0.2:8080", "https://www.x.example/"])
def test_a_site_is_a_host_or_a_url(site):
    (spec,) = parse_registry(f'[[feeds]]\nkey = "a"\nurl = "https://x.example/f"\nsite = "{site}"')
    assert spec.site == site


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read feeds file"):
        load_registry(tmp_path / "nope.toml")


def test_opml_import_finds_nested_feeds_with_unique_keys(fixtures):
    specs = parse_opml((fixtures / "subscriptions.opml").read_bytes(), existing_keys={"ledger"})
    assert [s.url for s in specs] == [
        "https://tribune.example/feeds/top.xml",
        "https://ledger.example/rss",
        "https://ledger.example/rss/sport",
    ]
    assert [s.key for s in specs] == ["tribune-top-stories", "ledger-2", "ledger-3"]
    assert specs[0].title == "Tribune: top stories"


def test_opml_with_entities_is_refused():
    evil = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><opml><body/></opml>'
    with pytest.raises(ConfigError, match="not valid OPML"):
        parse_opml(evil)


def test_not_opml_is_refused():
    with pytest.raises(ConfigError, match="not <opml>"):
        parse_opml(b"<rss/>")


def test_toml_round_trip(fixtures):
    specs = load_registry(fixtures / "feeds.toml")
    assert parse_registry(to_toml(specs)) == specs
    odd = [FeedSpec(key="q", url="https://x.example/f", title='Quote " and \\ and ü 😀')]
    assert parse_registry(to_toml(odd)) == odd
