"""HTML, SVG charts and Prometheus text for the dashboard (:mod:`ingest_airflow.web`).

Everything shown that came from the web (titles, URLs, reasons, errors, hosts) is
hostile: templates are autoescaped, long text is clipped, and only an ``http(s)`` URL
ever becomes a link (a ``javascript:`` or ``data:`` one stays text).
"""

from __future__ import annotations

import functools
import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from jinja2 import Environment

    from ingest.monitor import Summary

TEMPLATE_DIR = __file__.rsplit("/", 1)[0] + "/templates"
MAX_SHOWN_CHARS = 300
PALETTE = (
    "#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5",
    "#9c6b4e", "#9498a0",
)  # fmt: skip
CHART_W, CHART_H, BAR_GAP = 720, 160, 2


def clip(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """Text cut to ``limit`` characters (an ellipsis says so); None as a dash."""
    if value is None:
        return "-"
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def href(url: object) -> str | None:
    """``url`` if it may be a link (absolute http or https), else None."""
    if not isinstance(url, str) or len(url) > 4096:  # noqa: PLR2004 - our URL cap
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


def ago(moment: object, now: datetime | None = None) -> str:
    """A time as "5 min ago" / "in 2.0 h" (UTC), or a dash."""
    if not isinstance(moment, datetime):
        return "-"
    seconds = (moment - (now or datetime.now(UTC))).total_seconds()
    span = abs(seconds)
    if span >= 2 * 86400:
        text = f"{span / 86400:.1f} days"
    elif span >= 3600:  # noqa: PLR2004 - an hour
        text = f"{span / 3600:.1f} h"
    else:
        text = f"{span / 60:.0f} min"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def duration(seconds: object) -> str:
    """Seconds as "42 s", "3.5 min", "2.1 h", or a dash."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds):
        return "-"
    span = abs(seconds)
    if span >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    if span >= 120:  # noqa: PLR2004 - two minutes
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def when(moment: object) -> str:
    """A UTC time as ``YYYY-MM-DD HH:MM:SS``."""
    return f"{moment:%Y-%m-%d %H:%M:%S}" if isinstance(moment, datetime) else "-"


@functools.cache
def environment() -> Environment:
    """The Jinja2 environment: autoescaped, strict about undefined names."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
    )
    env.filters.update(clip=clip, href=href, ago=ago, duration=duration, when=when,
                       q=lambda v: quote(str(v), safe=""))  # fmt: skip
    return env


def page(template: str, **values: Any) -> str:  # noqa: ANN401 - template values
    """One page of the dashboard."""
    return environment().get_template(template).render(**values)


# --------------------------------------------------------------------------- charts


def _hours(since: datetime, until: datetime) -> list[str]:
    start = since.replace(minute=0, second=0, microsecond=0)
    out = []
    while start <= until:
        out.append(f"{start:%Y-%m-%d %H}")
        start += timedelta(hours=1)
    return out


def stacked_bars(rows: list[dict[str, Any]], key: str, hours: list[str]) -> dict[str, Any]:
    """An hourly stacked bar chart as drawable parts: bars (with titles) and a legend."""
    per_hour: dict[str, dict[str, int]] = defaultdict(dict)
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        per_hour[row["hour"]][row[key]] = row["count"]
        totals[row[key]] += row["count"]
    series = sorted(totals, key=lambda s: (-totals[s], s))
    shown = series[: len(PALETTE) - 1]
    colour = {s: PALETTE[i] for i, s in enumerate(shown)}
    peak = max((sum(v.values()) for v in per_hour.values()), default=0) or 1
    width = CHART_W / max(len(hours), 1)
    bars = []
    for i, hour in enumerate(hours):
        y = float(CHART_H)
        for name, count in sorted(
            per_hour.get(hour, {}).items(), key=lambda kv: series.index(kv[0])
        ):
            height = count / peak * (CHART_H - 10)
            y -= height
            bars.append({
                "x": round(i * width + BAR_GAP / 2, 2), "y": round(y, 2),
                "w": round(max(width - BAR_GAP, 1), 2), "h": round(height, 2),
                "fill": colour.get(name, PALETTE[-1]),
                "title": f"{hour}:00 UTC, {clip(name, 60)}: {count}",
            })  # fmt: skip
    legend = [{"name": clip(s, 60), "fill": colour[s], "total": totals[s]} for s in shown]
    if len(series) > len(shown):
        legend.append({"name": "other", "fill": PALETTE[-1],
                       "total": sum(totals[s] for s in series[len(shown):])})  # fmt: skip
    return {"bars": bars, "legend": legend, "peak": peak, "w": CHART_W, "h": CHART_H,
            "first": hours[0] if hours else "", "last": hours[-1] if hours else ""}  # fmt: skip


def charts(summary: Summary) -> dict[str, dict[str, Any]]:
    """The dashboard's two charts: articles stored per hour by source, failures by reason."""
    hours = _hours(summary.window.since, summary.window.until)
    return {
        "stored": stacked_bars(summary.stored_per_hour, "source", hours),
        "failures": stacked_bars(summary.failures_per_hour, "reason", hours),
    }


# --------------------------------------------------------------------------- metrics


def prometheus(hour: Summary, day: Summary) -> tuple[bytes, str]:  # noqa: C901 - one flat list of families
    """Prometheus text exposition of the last hour's and day's numbers."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    def collect() -> list[GaugeMetricFamily]:
        feeds = GaugeMetricFamily(
            "news_ingest_feeds", "Feeds per health status.", labels=["status"]
        )
        for status, n in day.feeds.items():
            feeds.add_metric([status], n)
        stored = GaugeMetricFamily(
            "news_ingest_articles_stored",
            "Articles first stored in the window.",
            labels=["window", "source"],
        )
        failed = GaugeMetricFamily(
            "news_ingest_failures",
            "Failed requests and items in the window.",
            labels=["window", "reason"],
        )
        dupes = GaugeMetricFamily(
            "news_ingest_duplicates", "Deduplication in the window.", labels=["window", "kind"]
        )
        lag = GaugeMetricFamily(
            "news_ingest_lag_seconds",
            "Seconds to storing, over the window's articles.",
            labels=["window", "since", "quantile"],
        )
        for window, s in (("1h", hour), ("24h", day)):
            stored.add_metric([window, ""], s.stored)
            for source, n in s.stored_by_source.items():
                stored.add_metric([window, source], n)
            for reason, n in s.failed_by_reason.items():
                failed.add_metric([window, reason], n)
            for kind, n in s.dedupe.items():
                dupes.add_metric([window, kind], n)
            for since, value in (("seen", s.lag_seen), ("published", s.lag_published)):
                for q, v in (("0.5", value.p50_s), ("0.95", value.p95_s)):
                    if v is not None:
                        lag.add_metric([window, since, q], v)
        queue = GaugeMetricFamily("news_ingest_queue_pending_pages", "Pages waiting to be fetched.")
        queue.add_metric([], day.queue["pending"])
        oldest = GaugeMetricFamily(
            "news_ingest_queue_oldest_age_seconds", "Age of the oldest pending page."
        )
        oldest.add_metric([], day.queue["oldest_age_s"] or 0)
        held = GaugeMetricFamily("news_ingest_hosts_held", "Hosts held back now.", labels=["why"])
        for why in ("throttled", "robots_unreachable", "crawl_delayed"):
            held.add_metric([why], len(day.hosts[why]))
        return [feeds, stored, failed, dupes, lag, queue, oldest, held]  # fmt: skip

    class _Collector:
        def collect(self) -> list[GaugeMetricFamily]:
            return collect()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return generate_latest(registry), CONTENT_TYPE_LATEST


__all__ = ["ago", "charts", "clip", "duration", "href", "page", "prometheus", "stacked_bars"]
