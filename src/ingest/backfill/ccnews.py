"""CC-NEWS: the WARC files a backfill reads (its plan), and a shard reading one of them."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any, Self

from ingest import archive, fetch, pipeline
from ingest.backfill.counts import ShardCounts
from ingest.backfill.counts import now as _now
from ingest.backfill.request import BackfillRequest, Publisher, publishers
from ingest.logs import get_logger
from ingest.models import (
    FeedEntry,
    Fetched,
    FetchFailure,
    Miss,
    PageJob,
    Reason,
    SourceKind,
)
from ingest.outcomes import FetchRecord, PageFailed, PageOutcome, QueuedEntry
from ingest.pages import PageStage
from ingest.sandbox import Sandbox
from ingest.sources import Capture, ccnews
from ingest.store import backfills, queue
from ingest.store.engine import transaction
from ingest.textutil import sha256_hex
from ingest.urls import host_of, queued_entries

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ingest.settings import Settings

log = get_logger(__name__)


#: At most this many tries of a request Common Crawl answers 503 (one a second at most).
CCNEWS_TRIES = 5


def plan(
    engine: Engine, settings: Settings, request: BackfillRequest, chosen: Sequence[Publisher]
) -> dict[str, Any]:
    """The WARC files to read: listed, chosen by their names' times, less those done before."""
    scope = scope_of(request, chosen)
    done = backfills.done_paths(engine, SourceKind.CCNEWS.value, scope)
    notes: list[str] = []
    files: list[ccnews.WarcFile] = []
    limits = fetch.Limits(
        deadline_s=min(120.0, request.budget_s), max_bytes=ccnews.MAX_PATHS_BYTES,
        connect_timeout_s=settings.connect_timeout_s, accept="*/*",
    )  # fmt: skip
    with fetch.Fetcher(settings.user_agent, allow_loopback=settings.allow_loopback) as fetcher:
        for url in ccnews.listing_urls(
            request.base_url, request.since, request.until, ccnews.DEFAULT_MARGIN
        ):
            result = _retrying_503(partial(fetcher.get, url, limits))
            if isinstance(result, FetchFailure):
                if result.reason is Reason.NOT_FOUND:
                    notes.append(f"{url}: not published (404): no files for that month yet")
                else:
                    notes.append(f"{url}: listing failed: {result.reason.value} {result.detail}")
                continue
            listed = ccnews.parse_paths(result.body)
            if isinstance(listed, Miss):
                notes.append(f"{url}: listing unreadable: {listed.reason.value} {listed.detail}")
                continue
            files.extend(listed)
    files = ccnews.choose(files, request.since, request.until, ccnews.DEFAULT_MARGIN)
    todo = [f for f in files if f.path not in done]
    if len(todo) < len(files):
        notes.append(f"{len(files) - len(todo)} files read and loaded before: skipped")
    # a shard per file, and Airflow maps a task at most max_map_length (1024) times
    most = min(request.max_files, settings.max_shards)
    if len(todo) > most:
        why = (f"max_files {request.max_files}" if most == request.max_files
               else f"INGEST_MAX_SHARDS {settings.max_shards}, a shard per file")  # fmt: skip
        notes.append(f"{len(todo) - most} more files left for a later backfill ({why})")
        todo = todo[:most]
    shards = [
        {"kind": "ccnews", "label": f.path.rsplit("/", 1)[-1], "path": f.path, "scope": scope}
        for f in todo
    ]  # fmt: skip
    for note in notes:
        log.info("plan: %s", note)
    return {"shards": shards, "notes": notes}


def scope_of(request: BackfillRequest, chosen: Sequence[Publisher]) -> str:
    """What files are done for: these publishers (by their feeds) and this range.

    Not their hosts: those grow as live runs store pages, and a resume must find its files.
    """
    return backfills.scope([key for p in chosen for key in p.feeds], request.since, request.until)


def owners_of(chosen: Sequence[Publisher]) -> dict[str, str]:
    """Each publisher host, to the feed its captures are queued under."""
    return {host: p.feed_key for p in chosen for host in p.hosts}


def _retrying_503(
    request: Callable[[], Fetched | FetchFailure], tries: int = CCNEWS_TRIES
) -> Fetched | FetchFailure:
    """Common Crawl's rule: a 503 is retried, at most once a second, a bounded number of times."""
    result = request()
    for _ in range(tries - 1):
        if not (isinstance(result, FetchFailure) and result.status == 503):  # noqa: PLR2004 - HTTP status
            break
        time.sleep(max(1.0, min(result.retry_after_s or 1.0, 60.0)))
        result = request()
    return result


def shard(
    engine: Engine,
    settings: Settings,
    request: BackfillRequest,
    shard: dict[str, Any],
    run_id: str,
    on_progress: Callable[[int, int], None] | None,
) -> dict[str, Any]:
    """Read one WARC file: its publishers' captures in range, extracted and loaded."""
    counts = ShardCounts()
    path: str = shard["path"]
    if path in backfills.done_paths(engine, SourceKind.CCNEWS.value, shard["scope"]):
        counts.misses.append(f"{path}: read and loaded before (a retry): skipped")
        counts.extra["files_read"] = 1  # done
        return counts.result(None)
    owners = owners_of(publishers(engine, request))
    url = request.base_url.rstrip("/") + "/" + path
    limits = fetch.Limits(
        deadline_s=request.budget_s, max_bytes=0, connect_timeout_s=settings.connect_timeout_s,
        accept="*/*",
    )  # fmt: skip
    skipped = ccnews.Skipped()
    with (
        archive.RawArchive(
            settings.archive_root, max_file_bytes=settings.archive_file_bytes
        ) as raw,
        fetch.Fetcher(settings.user_agent, allow_loopback=settings.allow_loopback) as fetcher,
        Sandbox(settings.workers, settings.worker_memory_mb) as box,
        _Extractor(engine, settings, PageStage(settings, box, raw), run_id, counts) as extractor,
    ):
        complete = _read_file(
            fetcher.stream, url, limits, request, path, owners, settings, skipped, extractor,
            counts, on_progress,
        )  # fmt: skip
    counts.extra.update(
        files_read=int(complete), records=skipped.responses, captures=extractor.captures,
        already_stored=extractor.known, refused=extractor.refused,
        skipped_too_large=skipped.too_large, skipped_not_http=skipped.not_http,
        skipped_status=extractor.not_ok,
    )  # fmt: skip
    if request.dry_run:
        return counts.result(None)
    then = None
    if complete and not counts.stats.internal_errors:  # a page a bug met: the file stays to do
        then = backfills.mark_done(
            SourceKind.CCNEWS.value, shard["scope"], path, run_id=run_id,
            records=skipped.responses, captures=extractor.captures, now=_now(),
        )  # fmt: skip
    loaded = pipeline.load_run(
        engine, run_id, interval=(request.since, request.until),
        steps=[counts.stats.as_dict()], then=then,
    )  # fmt: skip
    return counts.result(loaded.summary())


def _read_file(
    stream: Callable[[str, fetch.Limits], Any],
    url: str,
    limits: fetch.Limits,
    request: BackfillRequest,
    path: str,
    owners: dict[str, str],
    settings: Settings,
    skipped: ccnews.Skipped,
    extractor: _Extractor,
    counts: ShardCounts,
    on_progress: Callable[[int, int], None] | None,
) -> bool:
    """Stream the file (a 503 retried as Common Crawl asks); True when read to its end."""
    for attempt in range(CCNEWS_TRIES):
        with stream(url, limits) as opened:
            if isinstance(opened, FetchFailure):
                if opened.status == 503 and attempt + 1 < CCNEWS_TRIES:  # noqa: PLR2004 - HTTP status
                    time.sleep(max(1.0, min(opened.retry_after_s or 1.0, 60.0)))
                    continue
                counts.misses.append(f"{path}: {opened.reason.value} {opened.detail}"[:300])
                counts.stats.failures[opened.reason.value] += 1
                return False
            if request.dry_run:
                counts.extra["would_read_bytes"] = opened.length or 0
                return False
            captures = ccnews.captures(
                opened.body, path, set(owners), request.since, request.until,
                max_body=settings.page_max_bytes, skipped=skipped, expected_bytes=opened.length,
            )  # fmt: skip
            while True:
                try:  # only the reading is the file's: a bug of ours below stays a bug
                    capture = next(captures, None)
                except (OSError, ValueError) as exc:  # cut short, a broken stream, no WARC
                    _cut(counts, path, exc)
                    return False
                if capture is None:
                    return True
                extractor.add(capture, owners[host_of(capture.url)])
                if on_progress is not None:
                    on_progress(skipped.responses, 0)
    return False


def _cut(counts: ShardCounts, path: str, exc: Exception) -> None:
    reason = Reason.TIMEOUT if "deadline" in str(exc) else Reason.WARC_MALFORMED
    counts.misses.append(f"{path}: {reason.value}: {exc}"[:300])
    counts.stats.failures[reason.value] += 1
    log.warning("WARC %s not read to its end (%s): it stays to do", path, exc)


class _Extractor:
    """Captures queued, extracted in the sandbox (as many at once as it has workers), saved.

    A capture whose page is stored already is counted and passed over; a non-2xx
    capture is counted and passed over (a crawler's redirect or error page is no article).
    """

    BATCH = 50

    def __init__(
        self, engine: Engine, settings: Settings, stage: PageStage, run_id: str, counts: ShardCounts
    ) -> None:
        self.engine, self.settings, self.stage = engine, settings, stage
        self.run_id, self.counts = run_id, counts
        self.pool = ThreadPoolExecutor(max_workers=max(1, settings.workers),
                                       thread_name_prefix="extract")  # fmt: skip
        self.waiting: list[tuple[Capture, str]] = []
        self.running: deque[Future[PageOutcome]] = deque()
        self.done: list[PageOutcome] = []
        self.captures = self.known = self.not_ok = self.refused = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        try:
            if exc_type is None:
                self._submit()
            for running in self.running:
                self.done.append(running.result())
            self._save()
        finally:
            self.pool.shutdown(wait=True)

    def add(self, capture: Capture, feed_key: str) -> None:
        if not 200 <= capture.status < 300:  # noqa: PLR2004 - HTTP status class
            self.not_ok += 1
            return
        self.captures += 1
        self.waiting.append((capture, feed_key))
        if len(self.waiting) >= self.BATCH:
            self._submit()

    def _submit(self) -> None:
        """Queue the waiting captures' entries; extract the ones not stored yet."""
        batch, self.waiting = self.waiting, []
        jobs: list[tuple[PageJob, Capture]] = []
        with transaction(self.engine) as conn:
            now = _now()
            for capture, feed_key in batch:
                source = capture.source
                entry = FeedEntry(guid=capture.url, link=capture.url)
                ok, bad = queued_entries(
                    feed_key, [entry], max_length=self.settings.max_url_length, source=source
                )
                if bad:
                    queue.insert_refused(conn, feed_key, bad, run_id=self.run_id, now=now,
                                         source=source)  # fmt: skip
                    self.counts.stats.failures.update(reason for _, reason in bad)
                    self.refused += 1
                    continue
                self.counts.stats.entries_seen += 1
                self.counts.stats.entries_new += queue.insert_entries(
                    conn, feed_key, ok, run_id=self.run_id, now=now
                )
                jobs.append((_job(ok[0], feed_key), capture))
            stored = queue.articles_by_url(conn, [job.canonical_url for job, _ in jobs])
        for job, capture in jobs:
            if job.canonical_url in stored:
                self.known += 1
                continue
            while len(self.running) >= 2 * max(1, self.settings.workers):
                self.done.append(self.running.popleft().result())
            self.running.append(self.pool.submit(self._process, job, capture))
        if len(self.done) >= self.settings.flush_every:
            self._save()

    def _process(self, job: PageJob, capture: Capture) -> PageOutcome:
        fetched = Fetched(
            url=capture.url, final_url=capture.url, status=capture.status,
            content_type=_header(capture.headers, "content-type"), body=capture.body,
            body_hash=sha256_hex(capture.body), etag=None, last_modified=None, elapsed_s=0.0,
            headers=capture.headers,
        )  # fmt: skip
        try:
            return self.stage(job, fetched, kind="capture", fetched_at=capture.captured_at)
        except Exception as exc:  # a bug of ours: this capture only, the shard fails
            log.exception("capture of %s met a bug of ours", capture.url)
            detail = f"{type(exc).__name__}: {exc}"[:300]
            record = FetchRecord.of("capture", fetched, _now(), reason=Reason.INTERNAL_ERROR,
                                    detail=detail)  # fmt: skip
            return PageFailed(job, Reason.INTERNAL_ERROR, detail, record)

    def _save(self) -> None:
        done, self.done = self.done, []
        for outcome in done:
            self.counts.stats.add_page(outcome)
        if done:
            # A capture is tried again only by reading its file again, and a file read
            # whole is done: a soft failure (a worker killed under it) ends the capture
            # here, as a hard one does. A bug of ours uses no attempt and keeps the file
            # to do (internal_errors), so its captures stay pending for that read.
            queue.save_pages(
                self.engine, self.run_id, done, max_attempts=1, now=_now(),
                fail_sources=(SourceKind.CCNEWS,),
            )  # fmt: skip


def _job(queued: QueuedEntry, feed_key: str) -> PageJob:
    entry = queued.entry
    return PageJob(
        entry_id=queued.entry_id, feed_key=feed_key, guid=entry.guid, link=entry.link,
        canonical_url=queued.canonical_url, title=entry.title, published=entry.published,
        updated=entry.updated,
    )  # fmt: skip


def _header(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key.lower() == name), None)
