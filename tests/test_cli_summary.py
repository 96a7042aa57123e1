"""`ingest run` read as a newcomer reads it: in a terminal, then its summary.

The run happens in a real pseudo-terminal (so the progress bar is drawn, as for a person
at a terminal): the pages bar counts pages one by one, and the warnings logged meanwhile
print whole, above the bar, never across it. The summary's numbers add up, line by line,
and it names what failed, with URL and reason, one failure a line.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow]

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
INGEST = Path(sys.executable).with_name("ingest")


def run_in_terminal(args: list[str], env: dict[str, str], timeout: float = 240) -> str:
    """Run a command on a 120-column pseudo-terminal; everything it drew, escapes removed."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the terminal closed: the command is done
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, b"".join(chunks)[-3000:]
    return ANSI.sub("", b"".join(chunks).decode("utf-8", "replace"))


@pytest.fixture(scope="module")
def drawn(tmp_path_factory, demo_site):
    home = tmp_path_factory.mktemp("cli-summary")
    feeds = home / "feeds.toml"
    broken = next(f.url for f in demo_site.feeds if f.malformed)
    # one feed a shard, and a broken feed polled last: its warning comes while the bar is up
    feeds.write_text(
        demo_site.feeds_toml() + f'\n[[feeds]]\nkey = "zz-late-broken"\nurl = "{broken}?late"\n'
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("INGEST_")},
        "INGEST_HOME": str(home), "INGEST_PAGE_DEADLINE_S": "2", "INGEST_ALLOW_LOOPBACK": "true",
        "INGEST_POLITENESS_DELAY_S": "0.3", "INGEST_FEED_SHARD_SIZE": "1",
        "TERM": "xterm-256color", "COLUMNS": "120",
    }  # fmt: skip
    url = f"sqlite:///{home / 'warehouse.db'}"
    return run_in_terminal([str(INGEST), "run", "--feeds", str(feeds), "--warehouse", url], env)


def test_the_pages_bar_counts_page_by_page(drawn):
    counts = {(int(done), int(total)) for done, total in re.findall(r"(\d+)/(\d+) pages", drawn)}
    totals = {total for _, total in counts}
    assert len(totals) == 1, counts  # one host shard here: the total is known from the start
    (total,) = totals
    done = sorted(d for d, _ in counts)
    assert done[-1] == total > 20
    assert len(done) >= total // 3, done  # seen moving, not jumping from 0 to the end


def test_warnings_print_whole_above_the_bar_never_across_it(drawn):
    lines = re.split(r"\r\n|\r|\n", drawn)
    warnings = [line for line in lines if " WARNING " in line]
    late = next(i for i, line in enumerate(lines) if "feed zz-late-broken failed" in line)
    assert "(feed_malformed" in lines[late]
    # The bar was up, unfinished, when the last shard's warning came, and was drawn again
    # below it. (The count it shows is the one last drawn, 100 ms at most out of date: it
    # may lag the shards done, never run ahead of them.)
    before = [line for line in lines[:late] if line.strip()][-1]
    after = next(line for line in lines[late + 1 :] if "━" in line)  # past its wrapped tail
    for bar in (before, after):
        assert re.search(r"polling feeds .* [0-6]/7 shards", bar), (before, lines[late], after)
    for line in warnings:
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING ingest\.", line), line
        assert "━" not in line and " shards" not in line and " pages " not in line, line


def summary_rows(drawn: str) -> dict[str, int]:
    """The summary table's rows, the indented ones keyed under their group."""
    rows: dict[str, int] = {}
    group = ""
    for line in drawn.splitlines():
        match = re.match(r"^│ (\s*)([a-z ()]+?)\s*│\s*(\d+) │$", line)
        if not match:
            continue
        indent, name, value = match.groups()
        group = group if indent else name
        rows[f"{group}/{name}" if indent else name] = int(value)
    return rows


def test_the_summarys_numbers_add_up(drawn):
    r = summary_rows(drawn)
    assert r["feeds polled"] == 7 and r["feeds polled/failed"] == 2
    assert r["entries seen"] >= r["entries seen/new"] > 0
    assert r["pages fetched"] == (
        r["pages fetched/extracted"] + r["pages fetched/failed"] + r["pages fetched/deferred"]
    )
    assert r["pages fetched/failed"] == 3  # the 404, the PDF and the slow page
    assert r["articles in the load"] == r["pages fetched/extracted"]
    assert r["articles in the load"] == sum(
        r[f"articles in the load/{k}"]
        for k in ("articles stored (new)", "updated", "unchanged", "duplicates skipped", "rejected")
    )


def test_the_summary_names_each_failure_with_its_url_on_one_line(drawn, demo_site):
    lines = drawn.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("what failed (5)"))
    listed = lines[start + 1 : start + 6]
    for bad in demo_site.bad_links:
        assert any(bad.url in line for line in listed), (bad.url, listed)
    assert any(
        line.strip().startswith("feed_malformed feed ") and "broken.xml" in line for line in listed
    )
    for line in listed:
        reason = line.split()[0]
        assert reason in {"http_404", "not_html", "timeout", "feed_malformed"}, line
