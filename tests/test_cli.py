"""The ``ingest`` command over the demo site: run, second run, report, stats, OPML, validate."""

from __future__ import annotations

import urllib.request

import pytest
from sqlalchemy import func, select

from ingest import cli
from ingest.cli import main
from ingest.registry import load_registry
from ingest.store import engine as db
from ingest.store import schema as wh


@pytest.fixture
def workdir(tmp_path, demo_site, monkeypatch):
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    monkeypatch.setenv("INGEST_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("INGEST_PAGE_DEADLINE_S", "2")
    monkeypatch.setenv("INGEST_ALLOW_LOOPBACK", "true")  # the demo site is on 127.0.0.x
    monkeypatch.setenv("INGEST_POLITENESS_DELAY_S", "0.1")
    return tmp_path


def count(url):
    engine = db.make_engine(url)
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(wh.articles)).scalar_one()


def test_run_twice_stores_everything_once(workdir, demo_site, capsys):
    url = f"sqlite:///{workdir / 'cli.db'}"
    assert (
        main(["run", "--feeds", str(workdir / "feeds.toml"), "--warehouse", url, "--no-progress"])
        == 0
    )
    out = capsys.readouterr().out
    stored = count(url)
    assert stored == len({a.url for a in demo_site.articles if not a.syndicated}) + 1
    assert "articles stored (new)" in out
    assert "http_404" in out and "not_html" in out and "feed_malformed" in out
    assert (
        main(["run", "--feeds", str(workdir / "feeds.toml"), "--warehouse", url, "--no-progress"])
        == 0
    )
    assert count(url) == stored
    engine = db.make_engine(url)
    with engine.connect() as conn:
        ledgers = conn.execute(select(wh.load_ledger).order_by(wh.load_ledger.c.finished_at)).all()
    assert len(ledgers) == 2
    assert (ledgers[1].inserted, ledgers[1].updated) == (0, 0)


def test_report_and_stats(workdir, capsys):
    url = f"sqlite:///{workdir / 'r.db'}"
    main(["run", "--feeds", str(workdir / "feeds.toml"), "--warehouse", url, "--no-progress"])
    capsys.readouterr()
    assert main(["report", "--warehouse", url, "--articles", "1"]) == 0
    assert "feeds polled" in capsys.readouterr().out
    assert main(["stats", "--warehouse", url]) == 0
    out = capsys.readouterr().out
    assert "entries stored" in out and "failed: http_404" in out
    # the window's numbers are the monitor's (the dashboard's), and they add up
    from ingest import monitor

    shown = {
        cells[0]: cells[1]
        for line in out.splitlines()
        if line.count("│") == 3 and (cells := [c.strip() for c in line.split("│")[1:3]])
    }
    s = monitor.summary(db.make_engine(url), 24)
    assert s.stored == count(url) > 0
    assert shown["articles stored"] == str(s.stored)
    assert (
        shown["failed (requests and items)"]
        == str(s.failed)
        == str(sum(int(shown[r]) for r in s.failed_by_reason))
    )
    assert {r: int(shown[r]) for r in s.failed_by_reason} == s.failed_by_reason
    assert "http_404" in s.failed_by_reason and "not_html" in s.failed_by_reason
    assert shown["exact duplicates skipped"] == str(s.dedupe["exact"])
    assert shown["pages pending"] == f"{s.queue['pending']} on {s.queue['hosts']} hosts"
    with pytest.raises(SystemExit) as refused:  # bounded, and said so
        main(["stats", "--hours", "0", "--warehouse", url])
    assert refused.value.code == 2
    assert "hours: a number above 0" in capsys.readouterr().err


def test_feeds_shows_health_and_flags_broken_feeds(workdir, demo_site, capsys, monkeypatch):
    monkeypatch.setenv("INGEST_FEED_BROKEN_AFTER", "1")  # the malformed feed breaks at once
    monkeypatch.setattr(cli.console, "width", 250)  # one table row per line
    url = f"sqlite:///{workdir / 'f.db'}"
    main(["run", "--feeds", str(workdir / "feeds.toml"), "--warehouse", url, "--no-progress"])
    capsys.readouterr()
    assert main(["feeds", "--warehouse", url]) == 0
    out = capsys.readouterr().out
    malformed = next(f.key for f in demo_site.feeds if f.malformed)
    lines = [line for line in out.splitlines() if "│" in line and "feed" not in line.split("│")[1]]
    status = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in lines}
    assert status.pop(malformed) == "broken"
    assert set(status.values()) == {"ok"} and len(status) == len(demo_site.feeds) - 1
    assert f"1 broken, {len(demo_site.feeds) - 1} ok" in out  # the counts per status
    assert main(["feeds", "--broken", "--warehouse", url]) == 1  # an alert can key on this
    out = capsys.readouterr().out
    assert malformed in out and "feed_malformed" in out
    assert "feeds (1)" in out


def test_report_on_an_empty_warehouse_is_a_clear_error(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["db", "upgrade", "--warehouse", url]) == 0
    assert main(["report", "--warehouse", url]) == 2
    assert "no run has loaded" in capsys.readouterr().err


def test_import_opml_appends_new_feeds_only(tmp_path, demo_site):
    opml = tmp_path / "subs.opml"
    with urllib.request.urlopen(demo_site.opml_url, timeout=5) as resp:
        opml.write_bytes(resp.read())
    registry = tmp_path / "feeds.toml"
    assert main(["import-opml", str(opml), "--into", str(registry)]) == 0
    first = load_registry(registry)
    assert {s.url for s in first} == {f.url for f in demo_site.feeds}
    assert main(["import-opml", str(opml), "--into", str(registry)]) == 0
    assert load_registry(registry) == first


def test_run_without_feeds_file_is_a_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("INGEST_HOME", str(tmp_path))
    assert main(["run", "--no-progress"]) == 2
    assert "no feeds file" in capsys.readouterr().err


def test_validate_reports_problems(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[feeds]]\nkey = "x"\nurl = "gopher://x"\n')
    assert main(["validate", str(bad)]) == 2
    assert "must be an absolute http(s) URL" in capsys.readouterr().err


def test_invalid_setting_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("INGEST_PAGE_DEADLINE_S", "soon")
    assert main(["stats", "--warehouse", f"sqlite:///{tmp_path / 'x.db'}"]) == 2
    assert "INGEST_PAGE_DEADLINE_S" in capsys.readouterr().err
