"""Command line for the demo news site: ``serve`` it on loopback or dump its ``pages`` to files."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ingest.demosite.content import DEFAULT_SEED
from ingest.demosite.live import TICK_S
from ingest.demosite.server import DEFAULT_HOSTS, build_site, serve

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.2


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"not a positive number of seconds: {text!r}")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m ingest.demosite", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve the demo site until SIGINT/SIGTERM")
    run.add_argument(
        "--port", type=int, default=8765, help="port on every host (0 picks a free one)"
    )
    run.add_argument("--seed", type=int, default=DEFAULT_SEED)
    run.add_argument("--slow-seconds", type=float, default=8.0, help="how long the slow page drips")
    run.add_argument("--feeds-out", type=Path, help="write the feed registry TOML here")
    run.add_argument("--opml-out", type=Path, help="write the OPML subscription list here")
    run.add_argument(
        "--live",
        action="store_true",
        help="keep publishing: new stories every 90 s, a feed failing and a host throttling "
        "for a while every hour (ingest.demosite.live)",
    )
    run.add_argument(
        "--tick-seconds", type=_positive, default=TICK_S, metavar="S",
        help="with --live: a new story every S seconds (default %(default)s)",
    )  # fmt: skip
    run.add_argument("-v", "--verbose", action="store_true", help="log every request")
    dump = commands.add_parser("pages", help="write every article page to DIR (no server)")
    dump.add_argument("--out", type=Path, required=True)
    dump.add_argument("--port", type=int, default=8765, help="port used in the generated URLs")
    dump.add_argument("--seed", type=int, default=DEFAULT_SEED)
    return parser


def _serve(args: argparse.Namespace) -> int:
    # The handler only records the signal: taking a lock (Event.set) inside a signal handler can
    # deadlock against the main thread that was interrupted while holding that same lock.
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with serve(
            port=args.port, seed=args.seed, slow_seconds=args.slow_seconds, live=args.live,
            live_tick_s=args.tick_seconds,
        ) as site:  # fmt: skip
            if args.feeds_out is not None:
                args.feeds_out.parent.mkdir(parents=True, exist_ok=True)
                args.feeds_out.write_text(site.feeds_toml(), encoding="utf-8")
            if args.opml_out is not None:
                args.opml_out.parent.mkdir(parents=True, exist_ok=True)
                args.opml_out.write_text(site.opml(), encoding="utf-8")
            for publisher in site.publishers:
                print(f"{publisher.name:<22} {publisher.base_url}/", flush=True)
            print(f"{'OPML':<22} {site.opml_url}", flush=True)
            for feed in site.feeds:
                note = "  (malformed)" if feed.malformed else ""
                print(f"  feed {feed.key:<28} {feed.url}{note}", flush=True)
            if args.live:
                print(f"live: a new story every {args.tick_seconds:g} s; coastline-daily-news fails in minutes 15-35 "
                      "and northfield-courier throttles in minutes 40-50 of each hour", flush=True)  # fmt: skip
            print("serving; press Ctrl+C to stop", flush=True)
            while not received:
                time.sleep(_POLL_SECONDS)
            logger.info("received signal %d, shutting down", received[0])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", flush=True)
    return 0


def _pages(args: argparse.Namespace) -> int:
    site, _router = build_site(
        [f"http://{host}:{args.port}" for host in DEFAULT_HOSTS], seed=args.seed
    )
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    pages = site.pages()
    for article in site.articles:
        parts = urlsplit(article.url)
        name = parts.path.strip("/").replace("/", "_") or "index"
        target = out / article.publisher / f"{name}.html"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pages[article.url])
        manifest.append(
            {
                "url": article.url,
                "file": str(target.relative_to(out)),
                "publisher": article.publisher,
            }
        )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(manifest)} pages to {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the demo site command line."""
    args = _parser().parse_args(argv)
    verbose = bool(getattr(args, "verbose", False))
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if args.command == "serve":
        return _serve(args)
    return _pages(args)


if __name__ == "__main__":
    sys.exit(main())
