"""The ``ingest`` command: run the pipeline without Airflow, import OPML, show stats.

Exit codes (docs/operations.md): 0 done; 1 a failure while running (a warehouse that
dropped, items that met a bug, ``feeds --broken`` finding a broken feed); 2 bad input or
configuration (one line on stderr says what and what to do); 130 interrupted. A bug of
ours prints its traceback and exits 1.

Everything shown that came from outside (titles, URLs, reasons, headers, keys, paths)
is printed as plain text, never as console markup, with control characters escaped.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ingest import __version__
from ingest.cliviews import (
    STATUS_STYLE,
    ago,
    console,
    print_feed_problems,
    print_report,
    print_summary,
)
from ingest.errors import ConfigError, IngestError, InternalError
from ingest.textutil import visible

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from sqlalchemy import Engine

    from ingest.settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

errors = Console(stderr=True, markup=False, highlight=False, soft_wrap=True)  # one line each


def _settings(args: argparse.Namespace) -> Settings:
    from ingest.settings import load_settings

    return load_settings(
        warehouse_url=getattr(args, "warehouse", None),
        feeds_file=getattr(args, "feeds", None),
    )


_opened: list[Engine] = []


def _engine(settings: Settings, *, read_only: bool = False) -> Engine:
    """The warehouse, closed by :func:`main` when the command ends (success or not)."""
    from ingest.store.engine import open_warehouse

    engine = open_warehouse(settings.resolved_warehouse_url, read_only=read_only)
    _opened.append(engine)
    return engine


def _close_warehouses() -> None:
    """Close what the command opened now, not at garbage collection.

    SQLite folds its write-ahead log back into the file when the last connection
    closes: closing here makes that happen at the command's end, in its own process.
    """
    while _opened:
        _opened.pop().dispose()


def cmd_run(args: argparse.Namespace) -> int:
    """Run every step once over a feeds file."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.pipeline import run_once
    from ingest.request import RunRequest

    settings = _settings(args)
    if settings.feeds_file is None:
        raise ConfigError("no feeds file: pass --feeds or set INGEST_FEEDS_FILE")
    engine = _engine(settings)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.fields[unit]}"),
        TimeElapsedColumn(),
    )
    bars = {"poll": ("polling feeds", "shards"), "pages": ("fetching pages", "pages")}
    # The bars are drawn on stderr (the summary is stdout's), and log lines go through
    # the bars' console, above them, never across them: see _CurrentStderr.
    drawn = Console(stderr=True, markup=False, highlight=False)
    with Progress(
        *columns, console=drawn, disable=args.no_progress or not drawn.is_terminal,
        redirect_stderr=True, redirect_stdout=False,
    ) as bar:  # fmt: skip
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in bars:  # "fetch" shards: the pages bar says more
                return
            if step not in tasks:
                description, unit = bars[step]
                tasks[step] = bar.add_task(description, total=total, unit=unit)
            bar.update(tasks[step], completed=done, total=total)

        run_id = f"cli__{datetime.now(UTC).strftime('%Y%m%dT%H%M%S.%fZ')}"
        started = time.monotonic()
        try:
            run_once(
                engine, settings, settings.feeds_file, run_id=run_id, progress=progress,
                request=RunRequest(
                    feeds=tuple(args.feed or ()), poll_now=args.poll_now,
                    retry_failed=args.retry_failed,
                ),
            )  # fmt: skip
        except InternalError:
            print_report(engine, run_id, seconds=time.monotonic() - started)
            raise
    print_report(engine, run_id, seconds=time.monotonic() - started)
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    """Backfill history from news sitemaps, CC-NEWS or our archive, then summarise it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ingest.backfill import BackfillRequest, run_backfill
    from ingest.cliviews import print_backfill
    from ingest.pipeline import prepare

    settings = _settings(args)
    if settings.feeds_file is None:
        raise ConfigError("no feeds file: pass --feeds or set INGEST_FEEDS_FILE")
    extra: dict[str, Any] = {}
    if args.source == "ccnews":
        extra = {"max_files": args.max_files}
        if args.base_url:
            extra["base_url"] = args.base_url
    if args.source == "sitemaps":
        extra = {"sites": tuple(args.site or ()), "max_pages": args.max_pages}
    request = BackfillRequest.of_dates(
        args.source, getattr(args, "from"), args.to, feeds=tuple(args.feed or ()),
        budget_s=args.budget_minutes * 60.0, dry_run=args.dry_run, **extra,
    )  # fmt: skip
    engine = _engine(settings)
    prepare(engine, settings.feeds_file)
    units = {"sitemaps": "publishers", "ccnews": "WARC files", "archive": "intervals"}
    items = {"sitemaps": "pages", "ccnews": "records read", "archive": "pages"}
    drawn = Console(stderr=True, markup=False, highlight=False)
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description}"), BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.fields[unit]}"), TimeElapsedColumn(),
        console=drawn, disable=args.no_progress or not drawn.is_terminal,
        redirect_stderr=True, redirect_stdout=False,
    ) as bar:  # fmt: skip
        tasks: dict[str, Any] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                unit = units[args.source] if step == "shards" else items[args.source]
                tasks[step] = bar.add_task(step if step == "shards" else unit, total=None,
                                           unit=unit)  # fmt: skip
            bar.update(tasks[step], completed=done, total=total or None)

        totals, shards, notes = run_backfill(
            engine, settings, request, progress=progress, raise_bugs=False
        )
    print_backfill(args.source, totals, shards, notes, dry_run=args.dry_run,
                   seconds=time.monotonic() - started)  # fmt: skip
    if totals.get("internal_errors"):  # the summary first, then the failure (exit 1)
        raise InternalError(
            f"{totals['internal_errors']} item(s) met a bug of ours and were left to retry "
            "after the fix (traces in the log)"
        )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Print the summary of a run (the latest one by default)."""
    from ingest.store.reports import latest_run_id, run_report

    engine = _engine(_settings(args), read_only=True)
    run_id = args.run_id or latest_run_id(engine)
    if run_id is None:
        raise ConfigError("no run has loaded into this warehouse yet: run `ingest run` first")
    if run_report(engine, run_id)["ledger"] is None:
        raise ConfigError(
            f"no run {visible(run_id)!r} has loaded into this warehouse "
            "(`ingest report` with no --run-id shows the latest)"
        )
    print_report(engine, run_id, articles=args.articles)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """Print warehouse-wide numbers, and what the last ``--hours`` hours did."""
    from ingest.monitor import SilenceRule, summary
    from ingest.store.reports import counts

    settings = _settings(args)
    engine = _engine(settings, read_only=True)
    totals = counts(engine)
    table = Table(title="warehouse", show_header=False, title_justify="left")
    for key in ("feeds", "articles", "sources", "runs"):
        table.add_row(key, str(totals[key]))
    for state, n in sorted(totals["entries"].items()):
        table.add_row(f"entries {visible(state)}", str(n))
    for reason, n in sorted(totals["entry_failures"].items(), key=lambda kv: str(kv[0])):
        table.add_row(f"failed: {visible(reason)}", str(n))
    console.print(table)
    print_summary(summary(engine, args.hours, rule=SilenceRule.of(settings)))
    return 0


def cmd_feeds(args: argparse.Namespace) -> int:
    """Every feed's health and schedule, worst first (``ingest.monitor.feeds_health``)."""
    from ingest.monitor import FeedStatus, SilenceRule, feeds_health, status_counts

    settings = _settings(args)
    now = datetime.now(UTC)
    health = feeds_health(_engine(settings, read_only=True), SilenceRule.of(settings))
    wanted = set(args.status or ())
    if args.broken:
        wanted |= {FeedStatus.BROKEN.value, FeedStatus.FAILING.value}
    rows = [h for h in health if not wanted or h.status.value in wanted]
    counted = ", ".join(f"{n} {status}" for status, n in status_counts(health).items() if n)
    table = Table(title=f"feeds ({len(rows)}): {counted or 'none'}", title_justify="left")
    for column in ("feed", "health", "every", "new/h", "last ok", "next poll"):
        table.add_column(column, no_wrap=True)
    for h in rows:
        interval = h.poll_interval_s
        table.add_row(
            visible(h.feed_key), Text(h.status.value, STATUS_STYLE[h.status.value]),
            f"{interval / 60:.0f}m" if interval else "-",
            f"{h.new_per_hour:.2f}" if h.new_per_hour is not None else "-",
            ago(h.last_success_at, now), ago(h.next_due_at, now),
        )  # fmt: skip
    console.print(table)
    print_feed_problems(
        [{"feed_key": h.feed_key, "status": h.status.value, "why": h.why}
         for h in rows if h.status is not FeedStatus.OK],
        "why, for each feed not ok",
    )  # fmt: skip
    broken = any(h.status is FeedStatus.BROKEN for h in rows)
    return EXIT_FAILED if args.broken and broken else EXIT_OK


def cmd_import_opml(args: argparse.Namespace) -> int:
    """Add the feeds of an OPML file to a registry file (skipping feeds it already has).

    The merged registry is built and validated in memory, then written atomically with the
    previous file kept as ``<name>.bak``: on any error the registry is left as it was.
    """
    from ingest.registry import (
        feed_identity,
        merged_registry,
        parse_opml,
        parse_registry,
        read_registry_text,
        write_registry,
    )

    target: Path = args.into
    if not target.parent.is_dir():
        raise ConfigError(f"--into {visible(target)}: no folder {visible(target.parent)}")
    if target.exists() and not target.is_file():
        raise ConfigError(f"--into {visible(target)}: not a file")
    existing_text = read_registry_text(target) if target.exists() else None
    existing = parse_registry(existing_text, str(target)) if existing_text is not None else []
    try:
        opml = args.opml.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {visible(args.opml)}: {exc.strerror}") from None
    imported = parse_opml(opml, str(args.opml), [s.key for s in existing])
    known = {feed_identity(spec.url) for spec in existing}
    fresh = []
    for spec in imported:  # one feed per identity: the first outline naming it wins
        if feed_identity(spec.url) not in known:
            known.add(feed_identity(spec.url))
            fresh.append(spec)
    backup = None
    if fresh:
        backup = write_registry(target, merged_registry(existing_text, fresh, str(target)))
    console.print(
        f"{len(fresh)} feeds added to {visible(target)} "
        f"({len(imported) - len(fresh)} already there)"
        + (f"; the previous file is {visible(backup)}" if backup else "")
    )
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate a registry file."""
    from ingest.registry import load_registry

    specs = load_registry(args.feeds_file)
    console.print(f"{visible(args.feeds_file)}: {len(specs)} feeds, valid")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Apply the warehouse migrations."""
    from ingest.store.engine import upgrade

    upgrade(_engine(_settings(args)))
    console.print("warehouse schema is at the latest revision")
    return 0


def cmd_rekey(args: argparse.Namespace) -> int:
    """Apply the current URL rules to rows stored under older ones (merging coinciding ones)."""
    from ingest.pipeline import rekey_urls
    from ingest.urls import RULES_VERSION

    title = f"re-key to URL rules v{RULES_VERSION}"
    return _maintain(
        args, title, lambda engine, _settings: rekey_urls(engine, dry_run=args.dry_run)
    )


def cmd_recluster(args: argparse.Namespace) -> int:
    """Sign stored articles again and decide their story clusters by the current rules."""
    from ingest.neardup import SIGNATURE_VERSION
    from ingest.pipeline import recluster_stories

    title = f"re-cluster by signature v{SIGNATURE_VERSION}"
    return _maintain(
        args,
        title,
        lambda engine, settings: recluster_stories(engine, settings, dry_run=args.dry_run),
    )


def _maintain(args: argparse.Namespace, title: str, job: Callable[[Engine, Settings], Any]) -> int:
    """Run a maintenance job (migrating first unless a dry run) and print its counts."""
    from dataclasses import asdict

    from ingest.store.engine import upgrade

    settings = _settings(args)
    if args.dry_run:  # the warehouse must be there, ours and current: nothing is migrated
        _engine(settings, read_only=True)
    engine = _engine(settings)
    if not args.dry_run:
        upgrade(engine)
    result = job(engine, settings)
    console.print(title + (" (dry run: nothing written)" if args.dry_run else ""), style="bold")
    table = Table(show_header=False)
    for key, value in asdict(result).items():
        table.add_row(key.replace("_", " "), str(value))
    console.print(table)
    return 0


def _hours(text: str) -> float:
    from ingest.monitor import MAX_WINDOW_HOURS

    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_WINDOW_HOURS:
        raise argparse.ArgumentTypeError(f"hours: a number above 0, at most {MAX_WINDOW_HOURS}")
    return value


def _warehouse_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--warehouse", help="SQLAlchemy URL (default: INGEST_WAREHOUSE_URL or the SQLite file)"
    )


def _add_backfill(sub: Any) -> None:  # noqa: ANN401 - argparse's subparsers action
    """``ingest backfill sitemaps|ccnews|archive``."""
    warehouse_arg = _warehouse_arg
    backfill = sub.add_parser(
        "backfill",
        help="history: a publisher's past articles from sitemaps, CC-NEWS or our archive",
    )
    kinds = backfill.add_subparsers(dest="source", required=True)
    for name, text in (
        ("sitemaps", "the publishers' news sitemaps (fetched politely, like any page)"),
        ("ccnews", "Common Crawl's CC-NEWS WARC files (streamed; a killed one resumes)"),
        ("archive", "the pages we captured in the range, re-extracted from our raw archive"),
    ):
        kind = kinds.add_parser(name, help=text, description=text)
        kind.add_argument("--feeds", type=Path, help="feeds registry (default: INGEST_FEEDS_FILE)")
        warehouse_arg(kind)
        kind.add_argument("--from", required=True, metavar="YYYY-MM-DD", help="first day (UTC)")
        kind.add_argument(
            "--to", required=True, metavar="YYYY-MM-DD", help="last day (UTC), included"
        )
        kind.add_argument(
            "--feed", action="append", metavar="KEY",
            help="only the publisher of this feed (repeat for more); default: every one",
        )  # fmt: skip
        kind.add_argument(
            "--budget-minutes", type=float, default=60.0,
            help="time for each publisher or file (default 60)",
        )  # fmt: skip
        kind.add_argument(
            "--dry-run", action="store_true",
            help="count what would be fetched or read; store nothing",
        )  # fmt: skip
        kind.add_argument("--no-progress", action="store_true", help="no progress bars")
        if name == "sitemaps":
            kind.add_argument(
                "--site", action="append", metavar="URL",
                help="only this publisher's site (a host or URL; repeat for more)",
            )  # fmt: skip
            kind.add_argument(
                "--max-pages", type=int, default=1000, help="pages per publisher (default 1000)"
            )
        if name == "ccnews":
            kind.add_argument(
                "--base-url", help="where crawl-data/CC-NEWS/ is (default: Common Crawl's host)"
            )
            kind.add_argument(
                "--max-files", type=int, default=50, help="WARC files to read (default 50)"
            )
        kind.set_defaults(func=cmd_backfill)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    from ingest.models import FeedStatus

    parser = argparse.ArgumentParser(prog="ingest", description=__doc__)
    parser.add_argument("--version", action="version", version=f"news-ingest {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)

    warehouse_arg = _warehouse_arg
    run = sub.add_parser("run", help="poll feeds, fetch, extract, dedupe and load once")
    run.add_argument("--feeds", type=Path, help="feeds registry (default: INGEST_FEEDS_FILE)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument(
        "--feed", action="append", metavar="KEY",
        help="only this feed (repeat for more): its polls and its pages",
    )  # fmt: skip
    run.add_argument("--poll-now", action="store_true", help="poll the feeds, due or not")
    run.add_argument(
        "--retry-failed", action="store_true", help="put failed pages back in the queue first"
    )
    warehouse_arg(run)
    run.set_defaults(func=cmd_run)

    _add_backfill(sub)

    report = sub.add_parser("report", help="summary of a run and a few stored articles")
    report.add_argument("--run-id", help="default: the latest run")
    report.add_argument("--articles", type=int, default=3, help="how many articles to show")
    warehouse_arg(report)
    report.set_defaults(func=cmd_report)

    stats = sub.add_parser("stats", help="warehouse-wide numbers, and the last hours' work")
    stats.add_argument(
        "--hours", type=_hours, default=24.0, help="the window to summarise (default 24)"
    )
    warehouse_arg(stats)
    stats.set_defaults(func=cmd_stats)

    feeds = sub.add_parser("feeds", help="each feed's health and schedule")
    feeds.add_argument(
        "--broken", action="store_true",
        help="only failing and broken feeds; exit status 1 when any is broken",
    )  # fmt: skip
    feeds.add_argument(
        "--status", action="append", choices=[s.value for s in FeedStatus],
        help="only feeds of this status (repeatable)",
    )  # fmt: skip
    warehouse_arg(feeds)
    feeds.set_defaults(func=cmd_feeds)

    opml = sub.add_parser("import-opml", help="add the feeds of an OPML file to a registry")
    opml.add_argument("opml", type=Path)
    opml.add_argument("--into", type=Path, required=True, help="registry file to append to")
    opml.set_defaults(func=cmd_import_opml)

    validate = sub.add_parser("validate", help="check a feeds registry file")
    validate.add_argument("feeds_file", type=Path)
    validate.set_defaults(func=cmd_validate)

    rekey = sub.add_parser(
        "rekey", help="apply the current URL rules to stored articles and entries"
    )
    rekey.add_argument(
        "--dry-run", action="store_true", help="count what would change; write nothing"
    )
    warehouse_arg(rekey)
    rekey.set_defaults(func=cmd_rekey)

    recluster = sub.add_parser(
        "recluster", help="decide every stored article's story cluster again (new rules)"
    )
    recluster.add_argument(
        "--dry-run", action="store_true", help="count what would change, write nothing"
    )
    warehouse_arg(recluster)
    recluster.set_defaults(func=cmd_recluster)

    db = sub.add_parser("db", help="warehouse schema")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply migrations")
    warehouse_arg(up)
    up.set_defaults(func=cmd_db_upgrade)
    return parser


class _CurrentStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler that writes to ``sys.stderr`` as it is at each line.

    ``logging.StreamHandler()`` keeps the stream it was made with; while the progress bar
    runs, ``sys.stderr`` is the bar's proxy, which prints each line above the bar instead
    of across it.
    """

    @property
    def stream(self) -> Any:  # noqa: ANN401 - a text stream
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        del value  # always the current sys.stderr


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ingest`` script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=[_CurrentStderr()],
    )
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        errors.print(
            "interrupted: what was saved stays, nothing half-done was kept; "
            "run the command again to go on",
            style="red",
        )
        return EXIT_INTERRUPTED
    except ConfigError as exc:  # the user's to fix: say what, and how, on one line
        errors.print(Text.assemble(("error: ", "red"), visible(exc)))
        return EXIT_USAGE
    except IngestError as exc:  # a failure while running: the warehouse, a bug's count
        errors.print(Text.assemble(("failed: ", "red"), visible(exc)))
        return EXIT_FAILED
    finally:
        _close_warehouses()


if __name__ == "__main__":
    sys.exit(main())
