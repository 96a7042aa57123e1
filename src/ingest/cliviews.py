"""What the CLI prints: a run's report, the window's summary, the feeds that need a look.

Every text from feeds and pages goes through :func:`ingest.textutil.visible`, so markup and
control characters are shown, not obeyed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ingest.textutil import visible

if TYPE_CHECKING:
    from sqlalchemy import Engine

# markup=False: a title holding "[/]" or "[red]" is text, not a style (or a crash).
console = Console(markup=False, highlight=False)


def print_report(
    engine: Engine, run_id: str, *, seconds: float | None = None, articles: int = 3
) -> None:
    """Print a run's summary and a few stored articles."""
    from ingest.store.reports import counts, latest_articles, run_report

    report = run_report(engine, run_id)
    ledger = report["ledger"]
    if ledger is None:
        console.print(f"run {visible(run_id)} has not loaded anything (no ledger row)", style="red")
        return
    console.print(Text.assemble(("run ", "bold"), visible(run_id)))
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in ledger_rows(ledger):
        table.add_row(name, str(value))
    if seconds is not None:
        table.add_row("seconds", f"{seconds:.1f}")
    console.print(table)
    if report["failures"]:
        fails = Table(title="failures by reason", title_justify="left")
        fails.add_column("reason")
        fails.add_column("count", justify="right")
        for reason, count in report["failures"].items():
            fails.add_row(visible(reason), str(count))
        console.print(fails)
    _print_run_failures(engine, run_id)
    totals = counts(engine)
    console.print(
        f"warehouse: {totals['articles']} articles from {totals['sources']} sources, "
        f"{totals['feeds']} feeds, {totals['runs']} loads"
    )
    for row in latest_articles(engine, articles):
        body = visible(" ".join(row["body"].split())[:300])
        title, source = visible(row["title"]), visible(row["source"])
        if row["published_at"]:
            about = (
                f"{source} | {row['published_at']:%Y-%m-%d %H:%M} UTC | "
                f"{visible(', '.join(row['authors']))} | {row['word_count']} words"
            )
            console.print(
                Text.assemble("\n", (title, "bold"), "\n", (about, "dim"), f"\n{body}...")
            )
        else:
            console.print(Text.assemble("\n", (title, "bold"), f" ({source})"))


def ledger_rows(ledger: dict[str, Any]) -> list[tuple[str, int]]:
    """A ledger row as the summary's lines: each indented group sums to the line above it.

    Pages the run took up were extracted, failed or deferred (back in the queue: a host
    asked us to wait, the time budget ran out, a redirect to another host); the articles
    the load received were stored, updated, unchanged, duplicates or rejected.
    """
    return [
        ("feeds polled", ledger["feeds_polled"]),
        ("  failed", ledger["feeds_failed"]),
        ("entries seen", ledger["entries_seen"]),
        ("  new", ledger["entries_new"]),
        ("pages fetched", ledger["pages_fetched"]),
        ("  extracted", ledger["pages_extracted"]),
        ("  failed", ledger["pages_failed"]),
        ("  deferred", ledger["pages_deferred"]),
        ("articles in the load", ledger["rows_in"]),
        ("  articles stored (new)", ledger["inserted"]),
        ("  updated", ledger["updated"]),
        ("  unchanged", ledger["skipped"]),
        ("  duplicates skipped", ledger["duplicates"]),
        ("  rejected", ledger["rejected"]),
    ]


def backfill_rows(source: str, totals: dict[str, Any], *, dry_run: bool) -> list[tuple[str, int]]:
    """A backfill's totals as the summary's lines: each indented group sums to the line above.

    Sitemaps: the pages taken up were extracted, failed or deferred (left for a later
    backfill: the time budget, a host asking us to wait). CC-NEWS: the captures kept (a
    publisher's 2xx responses in range) were stored before (not extracted again),
    extracted or failed. Then the articles the loads received, as for a run.
    """

    def get(name: str) -> int:
        return int(totals.get(name, 0))

    rows: list[tuple[str, int]] = []
    if source == "sitemaps":
        rows += [
            ("publishers", get("shards")),
            ("sitemap files read", get("sitemaps_read")),
            ("sitemap files failed", get("sitemaps_failed")),
            ("listed out of range or undated", get("urls_out_of_range") + get("urls_undated")),
            ("pages listed in range", get("urls_in_range")),
        ]
        refused = ("  refused (a URL we do not fetch)", get("refused"))
        if dry_run:
            before = get("urls_in_range") - get("would_fetch") - get("refused")
            return [
                *rows,
                ("  to fetch (not queued, not stored)", get("would_fetch")),
                ("  queued or stored before", before),
                refused,
            ]
        rows += [
            ("  new to the queue", get("entries_new")),
            ("  queued before", get("urls_in_range") - get("entries_new") - get("refused")),
            refused,
            ("pages fetched", get("pages_fetched")),
            ("  extracted", get("articles_extracted")),
            ("  failed", get("pages_failed")),
            ("  deferred (left for later)", get("pages_deferred")),
        ]
    elif source == "ccnews":
        if dry_run:
            return [("WARC files to read", get("shards")),
                    ("  their bytes", get("would_read_bytes"))]  # fmt: skip
        kept = get("captures")
        rows += [
            ("WARC files planned", get("shards")),
            ("  read to the end (done)", get("files_read")),
            ("  not read to the end (to do)", get("shards") - get("files_read")),
            ("response records read", get("records")),
            ("captures kept (publishers' 2xx in range)", kept),
            ("  stored before", get("already_stored")),
            ("  extracted", get("articles_extracted")),
            ("  failed", get("pages_failed")),
            ("  refused (a URL we do not fetch)", get("refused")),
            ("passed over: too large, not HTTP, not 2xx",
             get("skipped_too_large") + get("skipped_not_http") + get("skipped_status")),
        ]  # fmt: skip
    else:
        if dry_run:
            return [("archived pages to re-extract", get("would_read"))]
        rows += [
            ("archived pages re-extracted", get("pages_fetched")),
            ("  extracted", get("articles_extracted")),
            ("  failed", get("pages_failed")),
        ]
    rows += [
        ("articles in the loads", get("rows_in")),
        ("  articles stored (new)", get("inserted")),
        ("  updated", get("updated")),
        ("  unchanged", get("unchanged")),
        ("  duplicates skipped", get("duplicates")),
        ("  rejected", get("rejected")),
    ]
    return rows


def print_backfill(
    source: str,
    totals: dict[str, Any],
    shards: list[dict[str, Any]],
    notes: list[str],
    *,
    dry_run: bool,
    seconds: float,
) -> None:
    """Print a backfill's summary: its totals, each shard's, what failed and why."""
    title = f"backfill from {source}" + (" (dry run: nothing stored)" if dry_run else "")
    console.print(Text(title, style="bold"))
    table = Table(show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in backfill_rows(source, totals, dry_run=dry_run):
        table.add_row(name, str(value))
    table.add_row("seconds", f"{seconds:.1f}")
    console.print(table)
    if len(shards) > 1:
        _print_shards(shards, dry_run=dry_run)
    if totals.get("failures"):
        fails = Table(title="failures by reason", title_justify="left")
        fails.add_column("reason")
        fails.add_column("count", justify="right")
        for reason, count in totals["failures"].items():
            fails.add_row(visible(reason), str(count))
        console.print(fails)
    problems = [(str(s.get("label", "?")), m) for s in shards for m in s.get("misses") or ()]
    if problems:
        console.print(Text(f"what failed or was cut short ({len(problems)}):", style="bold"))
        for label, miss in problems[:MAX_FAILURES_LISTED]:
            console.print(Text(f"  {visible(label)}: {visible(miss)}", style="red"), soft_wrap=True)
    for note in notes:
        console.print(Text(f"note: {visible(note)}", style="dim"), soft_wrap=True)


def _print_shards(shards: list[dict[str, Any]], *, dry_run: bool) -> None:
    """One line per shard (publisher or file): what it took up and what it stored."""
    columns = {
        "taken up": "pages_fetched", "extracted": "articles_extracted",
        "failed": "pages_failed", "stored (new)": "inserted",
    }  # fmt: skip
    if dry_run:
        columns = {"to fetch": "would_fetch", "bytes to read": "would_read_bytes"}
    per = Table(title="per shard", title_justify="left")
    per.add_column("shard", overflow="fold")
    for column in columns:
        per.add_column(column, justify="right")
    for shard in shards:
        counts = {**shard, **(shard.get("load") or {})}
        values = [str(counts.get(name, 0)) for name in columns.values()]
        per.add_row(visible(str(shard.get("label", "?"))), *values)
    console.print(per)


MAX_FAILURES_LISTED = 20
MAX_URL_SHOWN = 160


def _print_run_failures(engine: Engine, run_id: str) -> None:
    """What failed in the run, each with its URL, feed and reason (the first few)."""
    from ingest.monitor import run_view

    view = run_view(engine, run_id)
    if not view.failures:
        return
    total = sum(view.failed_by_reason.values())
    shown = view.failures[:MAX_FAILURES_LISTED]
    more = f", the first {len(shown)} listed" if total > len(shown) else ""
    console.print(Text(f"what failed ({total}{more}):", style="bold"))
    for f in shown:
        line = Text(f"  {visible(f['reason'])} ", style="red")
        url = (
            f["url"] if len(f["url"]) <= MAX_URL_SHOWN else f["url"][: MAX_URL_SHOWN - 1] + "\u2026"
        )
        line.append(f"{f['kind']} {visible(url)}")
        if f["feed_key"]:
            line.append(f" (feed {visible(f['feed_key'])})", style="dim")
        if f["detail"]:
            line.append(f": {visible(f['detail'][:200])}")
        console.print(line, soft_wrap=True)  # one failure, one line: the URL stays whole


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    span = abs(value)
    if span >= 2 * 3600:
        return f"{value / 3600:.1f}h"
    return f"{value / 60:.1f}m" if span >= 120 else f"{value:.0f}s"  # noqa: PLR2004 - 2 min


def print_summary(s: Any) -> None:  # noqa: ANN401 - an ingest.monitor.Summary
    """Print a monitoring summary: the numbers the dashboard shows, the same way."""
    table = Table(title=f"last {s.window.hours:g} hours", show_header=False, title_justify="left")
    rows = [
        ("articles stored", s.stored),
        *((f"  from {visible(src)}", n) for src, n in s.stored_by_source.items()),
        ("failed (requests and items)", s.failed),
        *((f"  {visible(reason)}", n) for reason, n in s.failed_by_reason.items()),
        ("exact duplicates skipped", s.dedupe["exact"]),
        ("near-duplicates joined a story", s.dedupe["near"]),
        ("stories they joined", s.dedupe["clusters"]),
        ("pages pending", f"{s.queue['pending']} on {s.queue['hosts']} hosts"),
        ("oldest pending page", _seconds(s.queue["oldest_age_s"])),
        ("lag seen -> stored p50/p95", f"{_seconds(s.lag_seen.p50_s)} / {_seconds(s.lag_seen.p95_s)}"),
        ("lag published -> stored p50/p95",
         f"{_seconds(s.lag_published.p50_s)} / {_seconds(s.lag_published.p95_s)}"),
        ("feeds", ", ".join(f"{n} {status}" for status, n in s.feeds.items() if n) or "none"),
    ]  # fmt: skip
    for name, value in rows:
        table.add_row(name, str(value))
    hosts = s.hosts
    for h in hosts["throttled"]:
        table.add_row(f"throttled {visible(h['host'])}", f"until {h['until']:%H:%M:%S} UTC")
    for h in hosts["robots_unreachable"]:
        table.add_row(f"robots.txt unreachable {visible(h['host'])}", str(h["robots_status"]))
    for h in hosts["robots_refused"]:
        table.add_row(f"robots.txt refused on {visible(h['host'])}", f"{h['pages']} pages")
    for h in hosts["crawl_delayed"]:
        table.add_row(f"crawl delay {visible(h['host'])}", f"{h['crawl_delay_s']:g}s")
    console.print(table)
    shown = len(s.problem_feeds)
    unhealthy = sum(
        s.feeds.get(status, 0) for status in ("broken", "failing", "silent", "degraded")
    )
    more = f", the worst {shown} named" if shown < unhealthy else ""
    print_feed_problems(s.problem_feeds, f"{unhealthy} feed(s) need attention{more}")


def print_feed_problems(problems: list[dict[str, Any]], title: str) -> None:
    """Each feed in ``problems`` on a line of its own, with why, in full."""
    if problems:
        console.print(Text(f"{title}:"))
    for f in problems:
        line = Text(f"  {visible(f['feed_key'])} ", style="bold")
        line.append(f["status"], style=STATUS_STYLE[f["status"]])
        line.append(f": {visible(f['why'][:1000])}")
        console.print(line)


STATUS_STYLE = {
    "broken": "bold red", "failing": "yellow", "silent": "magenta", "degraded": "yellow",
    "never_polled": "dim", "ok": "green", "disabled": "dim",
}  # fmt: skip


def ago(moment: object, now: datetime) -> str:
    """How long ago (or, in the future, in how long) ``moment`` is, in a few characters."""
    if not isinstance(moment, datetime):
        return "-"
    seconds = (moment - now).total_seconds()
    span = abs(seconds)
    text = f"{span / 3600:.1f}h" if span >= 3600 else f"{span / 60:.0f}m"  # noqa: PLR2004 - an hour
    return f"in {text}" if seconds > 0 else f"{text} ago"


__all__ = [
    "STATUS_STYLE", "ago", "console", "ledger_rows", "print_feed_problems", "print_report",
    "print_summary",
]  # fmt: skip
