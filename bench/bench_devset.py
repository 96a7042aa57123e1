"""Extraction quality on the dev set: the pipeline's stage against bare extractors, same run.

The dev set (``../shared/devset/news-dev``, or ``INGEST_DEVSET``) holds real news pages
with ground-truth bodies and some metadata. Each extractor runs in its own child process
(so its peak memory is its own), ``ROUNDS`` times interleaved with the others; quality
comes from the first round (extraction is deterministic), docs/s is the median over the
rounds of documents / summed extraction time. The score is ``extraction_metric`` (the
definition in METRIC.md); when the reference scorer is present its ``--score-only`` is run
on the pipeline's predictions and must agree.

    uv run python bench/bench_devset.py            # prints the section
    make bench-extract                             # and merges it into docs/benchmarks.md
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from extraction_metric import score, tokens

ROOT = Path(__file__).parents[1]
DEVSET = Path(os.environ.get("INGEST_DEVSET", ROOT.parent / "shared" / "devset" / "news-dev"))
REFERENCE = ROOT.parent / "shared" / "tools" / "score_extraction.py"
ROUNDS = int(os.environ.get("INGEST_BENCH_ROUNDS", "3"))
PARTS = {"fundus": "fundus-", "readability": "rdb-", "wcxb": "wcxb-"}

Extractor = Callable[[str, str | None], str]


def _pipeline() -> Extractor:
    from ingest.extract import extract_body  # noqa: PLC0415 - imported in the worker only

    return extract_body


def _trafilatura(**options: bool) -> Callable[[], Extractor]:
    def factory() -> Extractor:
        import trafilatura  # noqa: PLC0415

        def run(html: str, url: str | None) -> str:  # noqa: ARG001 - as the reference runs it
            return trafilatura.extract(html, include_comments=False, **options) or ""

        return run

    return factory


def _readability() -> Extractor:
    import html_text  # noqa: PLC0415
    from readability import Document  # noqa: PLC0415

    def run(html: str, url: str | None) -> str:  # noqa: ARG001 - it takes none
        return str(html_text.extract_text(Document(html).summary(html_partial=True)))

    return run


EXTRACTORS: dict[str, tuple[str, Callable[[], Extractor]]] = {
    "pipeline": ("ingest.extract.extract_body", _pipeline),
    "trafilatura": ("trafilatura, defaults", _trafilatura(favor_precision=False)),
    "trafilatura_precision": ("trafilatura, favor_precision", _trafilatura(favor_precision=True)),
    "trafilatura_recall": ("trafilatura, favor_recall", _trafilatura(favor_recall=True)),
    "readability": ("readability-lxml + html-text", _readability),
}


# --------------------------------------------------------------------------- corpus


def load_truth(devset: Path = DEVSET) -> dict[str, dict[str, Any]]:
    """Document id -> ground truth, for the documents that have a page."""
    truth = {}
    for path in sorted((devset / "truth").glob("*.json")):
        if (devset / "html" / f"{path.stem}.html").exists():
            truth[path.stem] = json.loads(path.read_text(encoding="utf-8"))
    return truth


# --------------------------------------------------------------------------- worker


def _worker(name: str, devset: Path, out: Path) -> None:
    truth = load_truth(devset)
    pages = {i: (devset / "html" / f"{i}.html").read_text(encoding="utf-8") for i in truth}
    extract = EXTRACTORS[name][1]()
    output: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for doc_id, html in pages.items():
        started = time.perf_counter()
        output[doc_id] = extract(html, truth[doc_id].get("url")) or ""
        seconds[doc_id] = time.perf_counter() - started
    metadata = _metadata(name, pages, truth) if name in ("pipeline", "trafilatura") else {}
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.write_text(json.dumps({"output": output, "seconds": seconds, "peak_mb": peak_mb,
                               "metadata": metadata}))  # fmt: skip


def _metadata(name: str, pages: dict[str, str], truth: dict[str, Any]) -> dict[str, Any]:
    """Untimed: the metadata each document yields (pipeline, or bare trafilatura's)."""
    found: dict[str, Any] = {}
    if name == "pipeline":
        from ingest.extract import extract_document  # noqa: PLC0415
        from ingest.models import Extracted  # noqa: PLC0415

        for doc_id, html in pages.items():
            doc = extract_document(html, truth[doc_id].get("url"))
            if isinstance(doc, Extracted):
                when = doc.published or doc.date_guess
                found[doc_id] = {
                    "title": doc.title, "authors": list(doc.authors),
                    "date": when.isoformat() if when else None,
                    "language": doc.language, "site_name": doc.site_name,
                }  # fmt: skip
        return found
    import trafilatura  # noqa: PLC0415

    for doc_id, html in pages.items():
        doc = trafilatura.bare_extraction(html, url=truth[doc_id].get("url"), with_metadata=True)
        if doc is not None:
            found[doc_id] = {
                "title": doc.title, "authors": [a.strip() for a in (doc.author or "").split(";")
                                                if a.strip()],
                "date": doc.date, "language": doc.language, "site_name": doc.sitename,
            }  # fmt: skip
    return found


# --------------------------------------------------------------------------- metadata accuracy


def _norm(text: str | None) -> str:
    return " ".join(tokens(unicodedata.normalize("NFKC", text or "").casefold()))


def _title_ok(want: str, got: str | None) -> bool:
    """Same words, or ours is the truth with the site's name left on (``A - Site``)."""
    w, g = _norm(want), _norm(got)
    return bool(g) and (w == g or (g.startswith(w + " ") and len(w) > 0.6 * len(g)))


def _name_tokens(text: str) -> list[str]:
    return [t for t in _norm(re.sub(r"(?i)^\s*by\s+", "", text)).split() if not t.isdigit()]


def _author_ok(want: str, got: list[str]) -> bool:
    """The truth's first name's words all appear among our authors' words."""
    first = re.split(r",|\band\b|;|\|", want, maxsplit=1)[0]
    need = _name_tokens(first)
    have = set(_name_tokens(" ".join(got)))
    return bool(need) and all(t in have for t in need)


def _date_ok(want: str, got: str | None) -> bool:
    return bool(got) and got[:10] == want[:10]


def _lang_ok(want: str, got: str | None) -> bool:
    return bool(got) and got.lower().replace("_", "-").split("-")[0] == want.lower().split("-")[0]


FIELDS: dict[
    str, tuple[Callable[[dict[str, Any]], str | None], Callable[[str, Any], bool], str]
] = {
    "title": (lambda t: t.get("title"), lambda w, m: _title_ok(w, m.get("title")), "title"),
    "authors": (
        lambda t: t.get("author") or t.get("byline"),
        lambda w, m: _author_ok(w, m.get("authors") or []),
        "author or byline",
    ),
    "published date": (
        lambda t: t.get("publish_date"),
        lambda w, m: _date_ok(w, m.get("date")),
        "publish_date",
    ),
    "language": (lambda t: t.get("lang"), lambda w, m: _lang_ok(w, m.get("language")), "lang"),
    "site name": (
        lambda t: t.get("siteName"),
        lambda w, m: _norm(w) == _norm(m.get("site_name")),
        "siteName",
    ),
}


def metadata_accuracy(truth: dict[str, Any], found: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """Field -> (correct, documents with that field in the truth)."""
    out = {}
    for field, (want_of, ok, _) in FIELDS.items():
        docs = [(i, want_of(t)) for i, t in truth.items() if want_of(t)]
        out[field] = (sum(ok(w, found.get(i, {})) for i, w in docs), len(docs))
    return out


# --------------------------------------------------------------------------- parent


def _run_worker(name: str, devset: Path, tmp: Path) -> dict[str, Any]:
    out = tmp / f"{name}.json"
    subprocess.run([sys.executable, __file__, "--worker", name, str(devset), str(out)], check=True)
    return dict(json.loads(out.read_text()))


def _reference_agrees(truth: dict[str, Any], output: dict[str, str], ours: Any) -> str:  # noqa: ANN401
    if not REFERENCE.exists():
        return "reference scorer not found: not checked"
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump({"version": "pipeline", "output": {
            i: {"articleBody": output.get(i, "")} for i in truth}}, f)  # fmt: skip
    text = subprocess.run(
        [sys.executable, str(REFERENCE), "--data", str(DEVSET), "--score-only", f.name],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    Path(f.name).unlink()
    line = next(ln for ln in text.splitlines() if ln.startswith("4-shingle"))
    numbers = [float(x) for x in re.findall(r"\d\.\d{3}", line)]
    mine = [ours.f1, ours.f1_std, ours.precision, ours.precision_std, ours.recall, ours.recall_std]
    same = [round(x, 3) for x in mine] == numbers[:6]
    return f"reference `score_extraction.py --score-only` on the same predictions: {line.strip()} ({'agrees' if same else 'DISAGREES'})"


def run(devset: Path = DEVSET, rounds: int = ROUNDS) -> list[str]:
    """Run every extractor ``rounds`` times interleaved; return the report section."""
    if not (devset / "truth").is_dir():
        raise SystemExit(f"the dev set is not at {devset} (set INGEST_DEVSET)")
    truth = load_truth(devset)
    bodies = {i: t.get("articleBody") or "" for i, t in truth.items()}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in EXTRACTORS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(rounds):
            for name in EXTRACTORS:
                runs[name].append(_run_worker(name, devset, Path(tmp)))
                print(f"  round {round_ + 1}/{rounds}: {name}", flush=True)
    rows, scores = [], {}
    bare_rate = statistics.median(
        len(truth) / sum(r["seconds"].values()) for r in runs["trafilatura"]
    )
    for name, (label, _) in EXTRACTORS.items():
        first = runs[name][0]
        result, _ = score(bodies, first["output"])
        scores[name] = (result, first["output"])
        rate = statistics.median(len(truth) / sum(r["seconds"].values()) for r in runs[name])
        peak = max(r["peak_mb"] for r in runs[name])
        parts = []
        for prefix in PARTS.values():
            part = {i: b for i, b in bodies.items() if i.startswith(prefix)}
            parts.append(f"{score(part, first['output'], bootstrap=0)[0].f1:.3f}")
        rows.append(
            f"| {label} | {result.f1:.3f} ± {result.f1_std:.3f} | {result.precision:.3f} | "
            f"{result.recall:.3f} | {' / '.join(parts)} | {rate:.1f} | {rate / bare_rate:.2f}x | "
            f"{peak:.0f} |"
        )
    pipeline, bare = runs["pipeline"][0]["metadata"], runs["trafilatura"][0]["metadata"]
    ours, theirs = metadata_accuracy(truth, pipeline), metadata_accuracy(truth, bare)
    meta_rows = [
        f"| {field} | {ours[field][1]} ({FIELDS[field][2]}) | {ours[field][0] / ours[field][1]:.3f} "
        f"| {theirs[field][0] / theirs[field][1]:.3f} |"
        for field in FIELDS if ours[field][1]
    ]  # fmt: skip
    reference = _reference_agrees(truth, runs["pipeline"][0]["output"], scores["pipeline"][0])
    return [
        "## Extraction quality on the dev set",
        "",
        f"{len(truth)} real news pages with ground truth (`../shared/devset/news-dev`: "
        "fundus, Mozilla readability and WCXB parts). Score: word 4-gram precision/recall "
        "averaged over documents, F1 of the averages, ± bootstrap std "
        "(`bench/extraction_metric.py`, METRIC.md). Each extractor in its own process, "
        f"{rounds} interleaved rounds; docs/s is the median over rounds of documents / "
        "summed extraction time, *vs bare* its ratio to bare trafilatura's in the same run; "
        "peak MB is the worker's max RSS. The pipeline row is "
        "`ingest.extract.extract_body(html, url)`, the whole stage as the pipeline runs it; "
        "the bare rows are called as the reference scorer calls them (no URL).",
        "",
        "| extractor | F1 | P | R | F1 fundus / readability / wcxb | docs/s | vs bare | peak MB |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        reference + ".",
        "",
        "Metadata, where the dev set has ground truth (title: same words, or ours with the "
        "site's name appended; authors: the first named author's words all among ours; date: "
        "same calendar day as `publish_date`, ours in UTC; language: same primary subtag; "
        "site name: same words):",
        "",
        "| field | documents with truth | pipeline accuracy | bare trafilatura metadata |",
        "|---|---|---|---|",
        *meta_rows,
        "",
    ]


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
    else:
        print("\n".join(run()))
