"""`ingest backfill` read as a newcomer reads it: in a terminal, then its summary.

A sitemaps backfill of the demo site, then a CC-NEWS one from a local mirror of it: the
bars are drawn, the summary's indented lines add up to the line above them, and what
failed is named (the hostile sitemap, by its URL and reason).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime

import pytest

from ingest.demosite.ccnews import write_mirror
from mirror import base_of, mirror_server
from test_cli_summary import INGEST, run_in_terminal

pytestmark = [pytest.mark.slow]


def rows_of(drawn: str, title: str) -> dict[str, int]:
    """The rows of the summary table under ``title``, indented ones keyed under their group."""
    rows: dict[str, int] = {}
    group = ""
    drawn = drawn.replace("\r\n", "\n")
    text = drawn[drawn.index(title) :]
    for line in text.splitlines():
        match = re.match(r"^│ (\s*)(\S.*?)\s*│\s*([\d.]+) │$", line)
        if not match:
            if rows and line.startswith("└"):
                break
            continue
        indent, name, value = match.groups()
        group = group if indent else name
        rows[f"{group}/{name}" if indent else name] = int(float(value))
    return rows


@pytest.fixture(scope="module")
def terminal(tmp_path_factory, demo_site):
    home = tmp_path_factory.mktemp("cli-backfill")
    feeds = home / "feeds.toml"
    feeds.write_text(demo_site.feeds_toml())
    write_mirror(home / "mirror", demo_site.pages(), datetime(2026, 11, 1, tzinfo=UTC))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INGEST_")},
        "INGEST_HOME": str(home), "INGEST_PAGE_DEADLINE_S": "2", "INGEST_ALLOW_LOOPBACK": "true",
        "INGEST_POLITENESS_DELAY_S": "0.2", "TERM": "xterm-256color", "COLUMNS": "120",
    }  # fmt: skip
    common = ["--feeds", str(feeds), "--from", "2026-11-01", "--to", "2026-11-30"]
    with mirror_server(home / "mirror") as server:

        def run(*args: str) -> str:
            return run_in_terminal([str(INGEST), "backfill", *args, *common], env)

        yield run, base_of(server)


def test_a_sitemaps_backfill_draws_its_bars_and_its_summary_adds_up(terminal, demo_site):
    run, _ = terminal
    dry = run("sitemaps", "--dry-run")
    r = rows_of(dry, "backfill from sitemaps (dry run")
    assert r["pages listed in range"] == len(demo_site.articles)
    assert r["pages listed in range"] == (
        r["pages listed in range/to fetch (not queued, not stored)"]
        + r["pages listed in range/queued or stored before"]
    )
    drawn = run("sitemaps")
    assert re.search(r"shards .* [0-4]/4 publishers", drawn), drawn[-2000:]
    assert re.search(r"pages .* \d+/\d+ pages", drawn), drawn[-2000:]
    r = rows_of(drawn, "backfill from sitemaps\n")
    assert r["publishers"] == 4
    assert (
        r["pages listed in range"]
        == r["pages listed in range/new to the queue"] + r["pages listed in range/queued before"]
    )
    assert r["pages fetched"] == len(demo_site.articles)
    assert r["pages fetched"] == sum(
        r[f"pages fetched/{k}"] for k in ("extracted", "failed", "deferred (left for later)")
    )
    assert r["articles in the loads"] == r["pages fetched/extracted"]
    assert r["articles in the loads"] == sum(
        r[f"articles in the loads/{k}"]
        for k in ("articles stored (new)", "updated", "unchanged", "duplicates skipped", "rejected")
    )
    assert r["sitemap files failed"] == 1
    named = [line for line in drawn.splitlines() if "hostile.xml" in line]
    assert named and "sitemap_malformed" in named[0], named


def test_a_ccnews_backfill_after_it_extracts_only_what_is_not_stored(terminal):
    run, base = terminal
    drawn = run("ccnews", "--base-url", base)
    r = rows_of(drawn, "backfill from ccnews")
    assert r["WARC files planned"] == r["WARC files planned/read to the end (done)"] > 0
    kept = r["captures kept (publishers' 2xx in range)"]
    assert kept == sum(
        r[f"captures kept (publishers' 2xx in range)/{k}"]
        for k in ("stored before", "extracted", "failed")
    )
    assert r["captures kept (publishers' 2xx in range)/stored before"] > 0  # the sitemaps' run
    assert r["articles in the loads/articles stored (new)"] == 0
    assert "not published (404)" in drawn  # December's listing: a note, not a failure
    again = rows_of(run("ccnews", "--base-url", base), "backfill from ccnews")
    assert again["WARC files planned"] == 0
