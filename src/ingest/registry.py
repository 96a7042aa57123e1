"""The feeds registry: a reviewed TOML file, plus OPML import, validated with clear errors.

File format (docs/configuration.md)::

    [[feeds]]
    key = "harbour-gazette-top"      # unique slug, the feed's id in the warehouse
    url = "https://example.org/feeds/top.xml"
    title = "Top stories"            # optional
    site = "example.org"             # optional
    enabled = true                   # optional, default true
    tags = ["regional"]              # optional
    language = "en"                  # optional hint
    interval_minutes = 30            # optional: a fixed poll interval for this feed
    min_interval_minutes = 10        # optional: bounds of the adaptive interval
    max_interval_minutes = 360       #   (defaults: INGEST_FEED_MIN/MAX_INTERVAL_MINUTES)
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ingest.errors import ConfigError
from ingest.models import FeedSpec

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,199}$"
_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


class _FeedModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    key: Annotated[str, Field(pattern=KEY_PATTERN)]
    url: Annotated[str, Field(min_length=10, max_length=2048)]
    title: Annotated[str | None, Field(max_length=1000)] = None
    site: Annotated[str | None, Field(max_length=200)] = None
    enabled: bool = True
    tags: tuple[Annotated[str, Field(max_length=100)], ...] = ()
    language: Annotated[str | None, Field(max_length=16)] = None
    interval_minutes: Annotated[int | None, Field(ge=1, le=7 * 24 * 60)] = None
    min_interval_minutes: Annotated[int | None, Field(ge=1, le=7 * 24 * 60)] = None
    max_interval_minutes: Annotated[int | None, Field(ge=1, le=7 * 24 * 60)] = None

    @model_validator(mode="after")
    def _ordered_bounds(self) -> _FeedModel:
        low, high = self.min_interval_minutes, self.max_interval_minutes
        if low is not None and high is not None and low > high:
            raise ValueError("min_interval_minutes is above max_interval_minutes")
        return self

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL")
        return value


class _RegistryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    feeds: list[_FeedModel] = Field(default_factory=list)


def _describe(exc: ValidationError, raw: dict[str, object]) -> str:
    lines = []
    feeds = raw.get("feeds")
    for err in exc.errors():
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        head, index, *rest = [*loc, None, None]
        if head == "feeds" and isinstance(index, int) and isinstance(feeds, list):
            entry = feeds[index] if index < len(feeds) else {}
            key = entry.get("key") if isinstance(entry, dict) else None
            field = ".".join(str(p) for p in rest if p is not None) or "(entry)"
            where = f"feed #{index + 1}" + (f" ({key!r})" if key else "") + f", field {field}"
        lines.append(f"{where}: {err['msg']}")
    return "; ".join(lines)


def parse_registry(text: str, source: str = "<feeds>") -> list[FeedSpec]:
    """Validate registry TOML text; raise ConfigError naming every problem."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        model = _RegistryModel.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_describe(exc, raw)}") from None
    specs = [FeedSpec(**feed.model_dump()) for feed in model.feeds]
    _check_unique(specs, source)
    return specs


def _check_unique(specs: Sequence[FeedSpec], source: str) -> None:
    problems = []
    for attr in ("key", "url"):
        seen: set[str] = set()
        for spec in specs:
            value = getattr(spec, attr)
            if value in seen:
                problems.append(f"duplicate {attr} {value!r}")
            seen.add(value)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def load_registry(path: Path) -> list[FeedSpec]:
    """Read and validate a registry file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read feeds file {path}: {exc.strerror}") from None
    return parse_registry(text, str(path))


def slugify(text: str) -> str:
    """A registry key from free text."""
    slug = _SLUG_STRIP.sub("-", text.lower()).strip("-")
    return slug[:80] or "feed"


def parse_opml(
    data: bytes, source: str = "<opml>", existing_keys: Iterable[str] = ()
) -> list[FeedSpec]:
    """Feeds listed in an OPML document (entity expansion refused), with unique keys."""
    try:
        root = ElementTree.fromstring(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException) as exc:
        raise ConfigError(f"{source}: not valid OPML: {exc}") from None
    if root.tag != "opml":
        raise ConfigError(f"{source}: root element is <{root.tag}>, not <opml>")
    taken = set(existing_keys)
    specs: list[FeedSpec] = []
    problems: list[str] = []
    for outline in root.iter("outline"):
        url = (outline.get("xmlUrl") or "").strip()
        if not url:
            continue
        title = outline.get("title") or outline.get("text") or None
        base = slugify(title or (urlsplit(url).hostname or "") + urlsplit(url).path)
        key, n = base, 2
        while key in taken:
            key, n = f"{base}-{n}", n + 1
        try:
            model = _FeedModel(key=key, url=url, title=title, site=urlsplit(url).hostname)
        except ValidationError as exc:
            problems.append(f"outline {title or url!r}: {exc.errors()[0]['msg']}")
            continue
        taken.add(key)
        specs.append(FeedSpec(**model.model_dump()))
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    _check_unique(specs, source)
    return specs


def to_toml(specs: Sequence[FeedSpec]) -> str:
    """Registry TOML for ``specs`` (stable field order; defaults left out)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, tuple):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v), ensure_ascii=False)

    blocks = []
    for spec in specs:
        lines = ["[[feeds]]"]
        for name in (
            "key",
            "url",
            "title",
            "site",
            "enabled",
            "tags",
            "language",
            "interval_minutes",
            "min_interval_minutes",
            "max_interval_minutes",
        ):
            v = getattr(spec, name)
            if v is None or v == () or (name == "enabled" and v is True):
                continue
            lines.append(f"{name} = {value(v)}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
