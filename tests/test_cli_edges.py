"""Bad input at the ``ingest`` command's edges: a clear error or a correct result, never a
traceback, and the user's files and warehouse left as they were (issue 13).

Each finding of the review that filed the issue is a named test here; the property tests
at the end generate such input instead of listing it.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, update
from werkzeug import Response

from helpers import T0, article, load
from ingest import cli
from ingest.cli import main
from ingest.errors import ConfigError
from ingest.logs import get_logger
from ingest.registry import KEY_PATTERN, load_registry
from ingest.settings import Settings, load_settings
from ingest.store import engine as db
from ingest.store import schema as wh
from ingest.textutil import visible

HOSTILE_TITLE = "Mayor [/] resigns [red]at once[/red] [bold]now"


def page(title: str) -> str:
    paragraphs = "".join(
        f"<p>The council met on day {i} and heard {i * 7} questions about the harbour wall, "
        f"the ferry timetable and the library's opening hours before the vote.</p>"
        for i in range(8)
    )
    return (
        f"<html><head><title>{title}</title></head><body><article><h1>{title}</h1>"
        f"{paragraphs}</article></body></html>"
    )


def rss(items: list[tuple[str, str]]) -> str:
    body = "".join(
        f"<item><title>{t}</title><link>{u}</link><guid>{u}</guid></item>" for t, u in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'
    )


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("INGEST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INGEST_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("INGEST_POLITENESS_DELAY_S", "0")
    monkeypatch.setenv("INGEST_PAGE_DEADLINE_S", "5")
    monkeypatch.setattr(cli.console, "width", 400)  # one table row per line
    return tmp_path


def err_line(capsys) -> str:
    """The one line a failed command printed on stderr (and nothing else there)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, err
    return lines[0]


# 1. Outside text is data, never markup


def test_a_headline_with_markup_is_stored_and_shown_as_it_is(env, httpserver, capsys):
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([("t", httpserver.url_for("/a"))]), content_type="application/rss+xml"
    )
    html = page(HOSTILE_TITLE)
    httpserver.expect_request("/a").respond_with_data(html, content_type="text/html")
    feeds = env / "feeds.toml"
    feeds.write_text(f'[[feeds]]\nkey = "f"\nurl = "{httpserver.url_for("/feed.xml")}"\n')
    url = f"sqlite:///{env / 'w.db'}"
    assert main(["run", "--feeds", str(feeds), "--warehouse", url, "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "articles stored (new)" in out
    assert HOSTILE_TITLE in out  # literally, not as styles
    assert main(["report", "--warehouse", url]) == 0
    assert "Mayor [/] resigns" in capsys.readouterr().out


def test_a_hostile_content_encoding_header_is_shown_by_every_feed_command(env, httpserver, capsys):
    httpserver.expect_request("/feed.xml").respond_with_response(
        Response(b"x", headers={"Content-Encoding": "[/]"}, content_type="application/rss+xml")
    )
    feeds = env / "feeds.toml"
    feeds.write_text(f'[[feeds]]\nkey = "f"\nurl = "{httpserver.url_for("/feed.xml")}"\n')
    url = f"sqlite:///{env / 'w.db'}"
    env_broken = {"INGEST_FEED_BROKEN_AFTER": "1"}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env_broken.items():
            mp.setenv(k, v)
        assert main(["run", "--feeds", str(feeds), "--warehouse", url, "--no-progress"]) == 0
        capsys.readouterr()
        assert main(["stats", "--warehouse", url]) == 0
        assert "'[/]'" in capsys.readouterr().out
        assert main(["feeds", "--warehouse", url]) == 0
        assert "'[/]'" in capsys.readouterr().out
        assert main(["feeds", "--broken", "--warehouse", url]) == 1  # broken, and said so
        out = capsys.readouterr().out
        assert "1 broken" in out and "'[/]'" in out


def test_a_registry_key_with_markup_is_a_clear_error_naming_the_pattern(env, capsys):
    registry = env / "feeds.toml"
    registry.write_text('[[feeds]]\nkey = "[/x]"\nurl = "https://example.org/feed.xml"\n')
    assert main(["validate", str(registry)]) == 2
    line = err_line(capsys)
    assert "[/x]" in line and KEY_PATTERN in line  # the pattern is shown whole


def test_a_log_line_cannot_be_forged_with_a_newline_or_an_escape(caplog):
    log = get_logger("ingest.tests.forgery")
    with caplog.at_level(logging.INFO, logger="ingest.tests.forgery"):
        log.info("title %s", "harmless\n2026-12-02 INFO ingest: all fine\x1b[2J")
    (record,) = caplog.records
    assert "\n" not in record.getMessage() and "\x1b" not in record.getMessage()
    assert record.getMessage() == "title harmless\\n2026-12-02 INFO ingest: all fine\\x1b[2J"


def test_every_ingest_logger_keeps_its_lines_on_one_line():
    import pkgutil

    import ingest

    names = [m.name for m in pkgutil.walk_packages(ingest.__path__, "ingest.")]
    for name in names:
        module = __import__(name, fromlist=["_"])
        for attr in ("log", "logger"):
            logger = getattr(module, attr, None)
            if isinstance(logger, logging.Logger) and "demosite" not in name:
                assert any(type(f).__name__ == "OneLine" for f in logger.filters), name


# 2. The registry file is the user's: never left broken


def opml_with(*outlines: tuple[str, str]) -> bytes:
    from xml.sax.saxutils import quoteattr

    body = "".join(
        f"<outline type='rss' title={quoteattr(t)} xmlUrl={quoteattr(u)}/>" for t, u in outlines
    )
    return f"<?xml version='1.0'?><opml version='2.0'><body>{body}</body></opml>".encode()


def import_into(tmp_path, registry_bytes: bytes | None, *outlines) -> tuple[int, Path]:
    registry = tmp_path / "feeds.toml"
    if registry_bytes is not None:
        registry.write_bytes(registry_bytes)
    opml = tmp_path / "subs.opml"
    opml.write_bytes(opml_with(*outlines))
    return main(["import-opml", str(opml), "--into", str(registry)]), registry


@pytest.mark.parametrize(
    ("name", "before"),
    [
        ("comment-without-final-newline", b"# my feeds, reviewed weekly"),
        ("crlf", b'[[feeds]]\r\nkey = "old"\r\nurl = "https://old.example/feed"\r\n'),
        ("bom", b'\xef\xbb\xbf[[feeds]]\nkey = "old"\nurl = "https://old.example/feed"\n'),
        ("empty", b""),
        ("none", None),
    ],
)
def test_import_opml_keeps_the_registry_valid(tmp_path, capsys, name, before):
    code, registry = import_into(
        tmp_path, before, ("Night \x7f desk", "https://news.example/rss"),
        ("Sport", "https://news.example/sport.xml"),
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    specs = load_registry(registry)
    assert {s.url for s in specs} >= {"https://news.example/rss", "https://news.example/sport.xml"}
    assert next(s for s in specs if s.url.endswith("/rss")).title == "Night desk"
    after = registry.read_bytes()
    if before:
        assert after.startswith(before)  # the user's text, comments included, stays
        assert Path(f"{registry}.bak").read_bytes() == before
    if name == "crlf":
        assert after.count(b"\n") == after.count(b"\r\n")


@pytest.mark.parametrize(
    ("name", "before", "outline", "expected"),
    [
        ("inline-array", b'feeds = [{key = "a", url = "https://a.example/f"}]\n',
         ("New", "https://b.example/f"), "inline array"),
        ("not-utf8", b'[[feeds]]\nkey = "a"\ntitle = "caf\xe9"\nurl = "https://a.example/f"\n',
         ("New", "https://b.example/f"), "not UTF-8"),
        ("space-in-host", b"", ("Spaced", "https://exa mple.org/feed"), "Spaced"),
        ("not-toml", b"[[feeds]\n", ("New", "https://b.example/f"), "not valid TOML"),
    ],
)  # fmt: skip
def test_import_opml_refuses_and_changes_nothing(tmp_path, capsys, name, before, outline, expected):
    code, registry = import_into(tmp_path, before, outline)
    assert code == 2
    assert expected in err_line(capsys)
    assert registry.read_bytes() == before
    assert not Path(f"{registry}.bak").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".feeds")] == []


def test_urls_that_differ_only_by_case_or_the_url_rules_are_one_feed(tmp_path, capsys):
    before = b'[[feeds]]\nkey = "a"\nurl = "https://News.Example/rss?utm_source=x"\n'
    code, registry = import_into(tmp_path, before, ("Same", "HTTPS://news.example/rss"))
    assert code == 0
    assert "0 feeds added" in capsys.readouterr().out
    assert registry.read_bytes() == before
    twice = tmp_path / "twice.toml"
    twice.write_text(
        '[[feeds]]\nkey = "a"\nurl = "https://x.example/f"\n'
        '[[feeds]]\nkey = "b"\nurl = "https://X.EXAMPLE/f"\n'
    )
    assert main(["validate", str(twice)]) == 2
    assert "duplicate url" in err_line(capsys)


def test_import_opml_names_a_missing_file_or_folder(tmp_path, capsys):
    assert (
        main(["import-opml", str(tmp_path / "nope.opml"), "--into", str(tmp_path / "f.toml")]) == 2
    )
    assert "nope.opml" in err_line(capsys)
    opml = tmp_path / "subs.opml"
    opml.write_bytes(opml_with(("A", "https://a.example/f")))
    assert main(["import-opml", str(opml), "--into", str(tmp_path / "no" / "f.toml")]) == 2
    assert "no folder" in err_line(capsys)
    assert not (tmp_path / "no").exists()


# 3. Settings are validated once, at the edge

NUMERIC = [
    name for name, field in Settings.model_fields.items() if field.annotation in (int, float)
]


@pytest.mark.parametrize("name", NUMERIC)
@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e309", "-inf", "ten"])
def test_every_numeric_setting_refuses_what_would_break_a_run(monkeypatch, name, value):
    variable = f"INGEST_{name.upper()}"
    monkeypatch.setenv(variable, value)
    zero_allowed = any(getattr(b, "ge", None) == 0 for b in Settings.model_fields[name].metadata)
    if value == "0" and zero_allowed:  # documented: 0 turns the delay or cap off
        assert getattr(load_settings(), name) == 0
        return
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert f"{variable}='{value}'" in str(caught.value)
    assert "allowed: " in str(caught.value) and "value <=" in str(caught.value)


def test_a_min_above_max_names_both_variables(monkeypatch):
    monkeypatch.setenv("INGEST_FEED_MIN_INTERVAL_MINUTES", "100")
    monkeypatch.setenv("INGEST_FEED_MAX_INTERVAL_MINUTES", "50")
    with pytest.raises(
        ConfigError, match=r"INGEST_FEED_MIN_INTERVAL_MINUTES \(100\) is above INGEST_FEED_MAX"
    ):
        load_settings()


# 4. No traceback for a user's mistake


@pytest.mark.parametrize(
    ("url", "expected"),
    [("sqlite:/x.db", "not a usable warehouse URL"), ("sqlit:///", "unsupported"),
     ("postgresql://u:secret@localhost:abc/db", "u:***@localhost")],
)  # fmt: skip
def test_a_mistyped_warehouse_url_is_one_line(env, capsys, url, expected):
    assert main(["stats", "--warehouse", url]) == 2
    line = err_line(capsys)
    assert expected in line and "secret" not in line


@pytest.mark.parametrize(
    ("data", "code", "expected"),
    [(b'[[feeds]]\nkey = "a"\ntitle = "caf\xe9"\nurl = "https://a.example/f"\n', 2, "not UTF-8"),
     (b'\xef\xbb\xbf[[feeds]]\nkey = "a"\nurl = "https://a.example/f"\n', 0, None),
     (b'[[feeds]]\r\nkey = "a"\r\nurl = "https://a.example/f"\r\n', 0, None)],
)  # fmt: skip
def test_a_registry_in_the_wrong_encoding_is_named(tmp_path, capsys, data, code, expected):
    registry = tmp_path / "feeds.toml"
    registry.write_bytes(data)
    assert main(["validate", str(registry)]) == code
    if expected:
        assert expected in err_line(capsys)


def test_an_unusable_home_is_one_line(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("INGEST_HOME", str(blocker / "home"))
    feeds = tmp_path / "feeds.toml"
    feeds.write_text('[[feeds]]\nkey = "a"\nurl = "https://a.example/f"\n')
    assert main(["run", "--feeds", str(feeds), "--no-progress"]) == 2
    assert "INGEST_HOME" in err_line(capsys)


def test_a_warehouse_a_newer_version_migrated_is_refused(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert main(["db", "upgrade", "--warehouse", url]) == 0
    with sqlite3.connect(tmp_path / "w.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    capsys.readouterr()
    for command in (["stats"], ["db", "upgrade"], ["rekey", "--dry-run"], ["rekey"]):
        assert main([*command, "--warehouse", url]) == 2, command
        assert "upgrade news-ingest" in err_line(capsys)


def test_ctrl_c_exits_130_with_one_line(env, capsys, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_stats", interrupted)
    assert main(["stats"]) == 130
    assert "interrupted" in err_line(capsys)


def test_a_bug_of_ours_still_shows_its_traceback(env, monkeypatch):
    from ingest.store import reports

    def buggy(_engine):
        return {}["feeds"]

    url = f"sqlite:///{env / 'w.db'}"
    assert main(["db", "upgrade", "--warehouse", url]) == 0
    monkeypatch.setattr(reports, "counts", buggy)
    with pytest.raises(KeyError):
        main(["stats", "--warehouse", url])


# 5. Read-only commands never write


@pytest.mark.parametrize(
    "command", [["stats"], ["feeds"], ["feeds", "--broken"], ["report"], ["rekey", "--dry-run"]]
)
def test_a_read_only_command_on_a_mistyped_path_creates_nothing(tmp_path, capsys, command):
    missing = tmp_path / "typo" / "warehouse.db"
    assert main([*command, "--warehouse", f"sqlite:///{missing}"]) == 2
    assert f"no warehouse at {missing}" in err_line(capsys)
    assert not missing.parent.exists()


@pytest.mark.parametrize(
    "command",
    [["stats"], ["feeds"], ["report"], ["rekey", "--dry-run"], ["run"], ["db", "upgrade"]],
)
def test_another_applications_database_is_refused_untouched(tmp_path, capsys, command):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE feeds (name TEXT)")
        conn.execute("INSERT INTO feeds VALUES ('mine')")
    before = other.read_bytes()
    feeds = tmp_path / "feeds.toml"
    feeds.write_text('[[feeds]]\nkey = "a"\nurl = "https://a.example/f"\n')
    extra = ["--feeds", str(feeds), "--no-progress"] if command == ["run"] else []
    assert main([*command, *extra, "--warehouse", f"sqlite:///{other}"]) == 2
    assert "is not a news-ingest warehouse" in err_line(capsys)
    assert other.read_bytes() == before  # no table added, not switched to WAL
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feeds.toml", "other.db"]


def test_random_bytes_as_the_warehouse_are_refused(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x00\xffnot sqlite" * 300)
    assert main(["stats", "--warehouse", f"sqlite:///{junk}"]) == 2
    assert "is not a news-ingest warehouse" in err_line(capsys)


def test_read_only_commands_leave_the_warehouse_file_as_it_was(tmp_path, capsys):
    path = tmp_path / "w.db"
    url = f"sqlite:///{path}"
    assert main(["db", "upgrade", "--warehouse", url]) == 0
    before = path.read_bytes()
    for command in (["stats"], ["feeds"], ["rekey", "--dry-run"]):
        assert main([*command, "--warehouse", url]) == 0, command
    assert path.read_bytes() == before


def test_report_of_an_unknown_run_id_fails(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert main(["db", "upgrade", "--warehouse", url]) == 0
    capsys.readouterr()
    assert main(["report", "--run-id", "nope", "--warehouse", url]) == 2
    assert "'nope'" in err_line(capsys)


# 9. The class, not the cases: generated hostile text through every printing path

HOSTILE = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
    max_size=60,
) | st.sampled_from(["[/]", "[red]", "[/x]", "[bold]x[/bold", "\x1b[2J", "a\nb\r", "\u202e"])  # fmt: skip


@pytest.fixture(scope="module")
def printing_warehouse(tmp_path_factory):
    from ingest.models import FeedSpec
    from ingest.store import feeds as store_feeds

    path = tmp_path_factory.mktemp("print") / "w.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine)
    store_feeds.sync(engine, [FeedSpec(key="k", url="https://a.example/f")], T0)
    return path, engine


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=HOSTILE, source=HOSTILE, error=HOSTILE, reason=HOSTILE)
def test_hostile_text_in_the_warehouse_is_printed_as_text(
    printing_warehouse, capsys, monkeypatch, title, source, error, reason
):
    """Titles, sources, feed errors and failure reasons, whatever they hold, are shown as
    text by report, stats and feeds: no crash, no markup, no escape reaching the terminal."""
    path, engine = printing_warehouse
    monkeypatch.setattr(cli.console, "width", 2000)
    now = datetime.now(UTC)
    url = f"https://a.example/{now.timestamp()}"  # a new article each time: the latest
    story = replace(
        article(url, f"Body {now.timestamp()}", published=now), title=title, source=source
    )
    run_id = f"r-{now.timestamp()}"
    load(engine, run_id, [story], now=now)
    with db.transaction(engine) as conn:
        conn.execute(update(wh.feeds).values(broken=True, consecutive_failures=5,
                                             failure_kind="hard", last_error=error))  # fmt: skip
        conn.execute(insert(wh.fetch_log).values(
            run_id=run_id, kind="page", url=url, reason=reason, fetched_at=now))  # fmt: skip
    where = f"sqlite:///{path}"
    capsys.readouterr()
    assert main(["report", "--warehouse", where, "--articles", "1"]) == 0
    assert main(["stats", "--warehouse", where]) == 0
    assert main(["feeds", "--broken", "--warehouse", where]) == 1
    out = capsys.readouterr().out
    flat = " ".join(out.split())
    for text in (title, source, reason, error):
        assert " ".join(visible(text).split())[:70] in flat
    assert not any(c in out for c in ("\x1b", "\u202e", "\r"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(title=HOSTILE, url=HOSTILE | st.just("https://b.example/f"), registry=st.sampled_from([
    b"", b"# c", b'[[feeds]]\nkey = "a"\nurl = "https://a.example/f"\n',
    b'[[feeds]]\r\nkey = "a"\r\nurl = "https://a.example/f"\r\n']))  # fmt: skip
def test_any_opml_import_gives_a_valid_registry_or_changes_nothing(
    tmp_path_factory, capsys, title, url, registry
):
    where = tmp_path_factory.mktemp("opml")
    code, path = import_into(where, registry, (title, url))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if code == 0:
        load_registry(path)
    else:
        assert code == 2 and len(err.strip().split("\n")) == 1, err
        assert path.read_bytes() == registry


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.binary(max_size=200)
    | HOSTILE.map(
        lambda s: f'[[feeds]]\nkey = "{s}"\nurl = "{s}"\n'.encode("utf-8", "surrogatepass")
    )
)
def test_any_registry_file_validates_or_is_refused_in_one_line(tmp_path_factory, capsys, text):
    path = tmp_path_factory.mktemp("reg") / "feeds.toml"
    path.write_bytes(text)
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert len(err.strip().split("\n")) == 1, err
    assert path.read_bytes() == text


def test_a_read_only_warehouse_refuses_writes_on_each_backend(warehouse_url, capsys):
    from sqlalchemy import text

    from ingest.errors import WarehouseError

    assert main(["db", "upgrade", "--warehouse", warehouse_url]) == 0
    engine = db.open_warehouse(warehouse_url, read_only=True)
    with db.reading(engine) as conn:
        assert conn.execute(text("SELECT count(*) FROM feeds")).scalar_one() == 0
    with pytest.raises(WarehouseError), db.transaction(engine) as conn:
        conn.execute(text("DELETE FROM feeds"))
    engine.dispose()
    assert main(["stats", "--warehouse", warehouse_url]) == 0


def test_a_database_that_is_not_ours_is_refused_on_each_backend(warehouse_url, capsys):
    from sqlalchemy import text

    raw = db.make_engine(warehouse_url)
    with db.transaction(raw) as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER)"))
    raw.dispose()
    for command in (["stats"], ["db", "upgrade"]):
        assert main([*command, "--warehouse", warehouse_url]) == 2
        assert "is not a news-ingest warehouse" in err_line(capsys)
    raw = db.make_engine(warehouse_url)
    with db.reading(raw) as conn:  # nothing was added to it
        from sqlalchemy import inspect

        assert inspect(conn).get_table_names() == ["invoices"]
    raw.dispose()


def test_the_run_summary_names_what_failed_with_its_url_and_feed(env, httpserver, capsys):
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    gone, good = httpserver.url_for("/gone"), httpserver.url_for("/a")
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([("t", gone), ("u", good), ("s", "javascript:alert(1)")]),
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/gone").respond_with_data("no", status=404)
    httpserver.expect_request("/a").respond_with_data(page("Fine"), content_type="text/html")
    feeds = env / "feeds.toml"
    feeds.write_text(f'[[feeds]]\nkey = "f"\nurl = "{httpserver.url_for("/feed.xml")}"\n')
    url = f"sqlite:///{env / 'w.db'}"
    assert main(["run", "--feeds", str(feeds), "--warehouse", url, "--no-progress"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # rich wraps long lines
    assert "what failed (2):" in out
    assert f"http_404 page {gone} (feed f): HTTP 404" in out
    assert "bad_scheme entry javascript:alert(1) (feed f)" in out
    assert good not in out.split("what failed")[1]  # the page that landed is not listed
