"""The hand-rolled loop issue 17 compares us with: feedparser, an httpx thread pool,
trafilatura, ``INSERT OR IGNORE`` into SQLite. No politeness, no robots.txt, no limits.

It stores every page a feed links to that answers 200, keyed by its URL as listed, with
trafilatura's text: what such a loop usually does, and what it gets wrong (the same
article twice under two URLs, a PDF, a page of any size).

    python bench/handrolled.py FEEDS_FILE SQLITE_FILE   # FEEDS_FILE: one feed URL a line
"""

from __future__ import annotations

import sqlite3
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import feedparser
import httpx
import trafilatura

THREADS = 16


def main(feeds_file: Path, db_file: Path) -> int:
    feeds = [line.strip() for line in feeds_file.read_text().splitlines() if line.strip()]
    db = sqlite3.connect(db_file, check_same_thread=False)
    db.execute(
        "CREATE TABLE IF NOT EXISTS articles (url TEXT PRIMARY KEY, title TEXT, text TEXT, "
        "content_type TEXT, bytes INTEGER)"
    )
    lock = threading.Lock()
    local = threading.local()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(follow_redirects=True, timeout=30)
        return local.client

    def poll(url: str) -> list[tuple[str, str]]:
        parsed = feedparser.parse(client().get(url).content)
        return [(e.get("link", ""), e.get("title", "")) for e in parsed.entries if e.get("link")]

    def fetch(link: str, title: str) -> None:
        resp = client().get(link)
        if resp.status_code != 200:
            return
        text = trafilatura.extract(resp.content, url=link)
        with lock:
            db.execute(
                "INSERT OR IGNORE INTO articles VALUES (?, ?, ?, ?, ?)",
                (link, title, text, resp.headers.get("content-type"), len(resp.content)),
            )

    with ThreadPoolExecutor(THREADS) as pool:
        entries = [e for found in pool.map(poll, feeds) for e in found]
        list(pool.map(lambda e: fetch(*e), entries))
    db.commit()
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
