"""Bare ``trafilatura.extract`` against the pipeline's extract+normalise stage, same pages."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime

import trafilatura

from ingest.demosite import serve
from ingest.extract import extract_page
from ingest.models import Extracted, Fetched, PageJob
from ingest.normalise import normalise
from ingest.textutil import sha256_hex
from ingest.urls import canonical_url

PASSES = 15


def _bare(pages: dict[str, bytes]) -> int:
    done = 0
    for url, html in pages.items():
        if trafilatura.extract(html, url=url):
            done += 1
    return done


def _pipeline(pages: dict[str, bytes]) -> int:
    now = datetime.now(UTC)
    done = 0
    for url, html in pages.items():
        result = extract_page(html, "text/html; charset=utf-8", url)
        if not isinstance(result, Extracted):
            continue
        job = PageJob("e", "bench", url, url, canonical_url(url))
        fetched = Fetched(url, url, 200, "text/html", html, sha256_hex(html), None, None, 0.0)
        normalise(job, fetched, result, now=now)
        done += 1
    return done


def run() -> list[str]:
    with serve(port=0) as site:
        pages = site.pages()
    n = len(pages)
    _bare(pages), _pipeline(pages)  # warm caches and imports
    bare_times, pipe_times = [], []
    for _ in range(PASSES):  # interleaved, so drift hits both alike
        t = time.perf_counter()
        bare_ok = _bare(pages)
        bare_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        pipe_ok = _pipeline(pages)
        pipe_times.append(time.perf_counter() - t)
    bare_rate = n / statistics.median(bare_times)
    pipe_rate = n / statistics.median(pipe_times)
    ratio = pipe_rate / bare_rate
    print(f"bare trafilatura.extract: {bare_rate:7.1f} docs/s ({bare_ok}/{n} with text)")
    print(f"pipeline extract+normalise: {pipe_rate:7.1f} docs/s ({pipe_ok}/{n} articles)")
    print(f"ratio pipeline/bare: {ratio:.2f}x")
    return [
        "## Extraction stage vs bare trafilatura (demo site pages)",
        "",
        f"{n} article pages of the bundled demo site, {PASSES} interleaved passes each, median "
        "pass time. *Bare* is `trafilatura.extract(html, url=url)`; *pipeline* is "
        "`ingest.extract.extract_page` (trafilatura with metadata, our boilerplate cleanup, "
        "date and canonical-URL reading) plus `ingest.normalise.normalise`.",
        "",
        "| stage | docs/s | with text |",
        "|---|---:|---:|",
        f"| bare trafilatura.extract | {bare_rate:.1f} | {bare_ok}/{n} |",
        f"| pipeline extract+normalise | {pipe_rate:.1f} | {pipe_ok}/{n} |",
        f"| **ratio pipeline/bare** | **{ratio:.2f}x** | |",
        "",
    ]
