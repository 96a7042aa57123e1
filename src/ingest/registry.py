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

import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
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

from ingest import PIPELINE_VERSION
from ingest.errors import ConfigError, UrlRejected
from ingest.models import FeedSpec
from ingest.textutil import clean_inline, visible
from ingest.urls import RULES_VERSION, canonical_url

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

KEY_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,199}$"
_BAD_HOST = re.compile(r"[\s\x00-\x1f\x7f]")
_TOML_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # TOML strings must escape these
_SLUG_STRIP = re.compile(r"[^a-z0-9]+")
_SITE_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,250}[A-Za-z0-9])?(?::\d{1,5})?")


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
        try:
            parts = urlsplit(value)
            host = parts.hostname
        except ValueError:
            raise ValueError("must be an absolute http(s) URL") from None
        if parts.scheme.lower() not in ("http", "https") or not host:
            raise ValueError("must be an absolute http(s) URL")
        if _BAD_HOST.search(host):
            raise ValueError("its host holds a space or a control character")
        canonical = _canonical(value)
        if isinstance(canonical, UrlRejected):
            raise ValueError(f"not a usable URL ({canonical.args[0]})") from None  # noqa: TRY004 - pydantic's error
        return value

    @field_validator("site")
    @classmethod
    def _host_or_url(cls, value: str | None) -> str | None:
        if value is None or _SITE_HOST.fullmatch(value):
            return value
        try:
            parts = urlsplit(value)
            scheme, host = parts.scheme.lower(), parts.hostname
        except ValueError:
            scheme, host = "", None
        if scheme not in ("http", "https") or not host or _BAD_HOST.search(host):
            raise ValueError("must be a host (example.org) or an http(s) URL")
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


@functools.lru_cache(maxsize=1 << 17)
def _canonical(url: str) -> str | UrlRejected:
    """The URL rules' canonical form of a registry URL, or why they refuse it.

    Cached: validation and the uniqueness check both ask for each URL, and a registry
    can hold tens of thousands.
    """
    try:
        return canonical_url(url)
    except UrlRejected as exc:
        return exc.with_traceback(None)  # kept in the cache: no frames with it


def feed_identity(url: str) -> str:
    """What makes two registry URLs one feed: the canonical form, when the URL has one."""
    canonical = _canonical(url)
    return url if isinstance(canonical, UrlRejected) else canonical


def parse_registry(text: str, source: str = "<feeds>") -> list[FeedSpec]:
    """Validate registry TOML text; raise ConfigError naming every problem."""
    text = text.removeprefix("\ufeff")  # a BOM some editors write
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
    keys: set[str] = set()
    urls: dict[str, str] = {}
    for spec in specs:
        if spec.key in keys:
            problems.append(f"duplicate key {spec.key!r}")
        keys.add(spec.key)
        identity = feed_identity(spec.url)
        if identity in urls:
            same = "" if urls[identity] == spec.url else f" (the same feed as {urls[identity]!r})"
            problems.append(f"duplicate url {spec.url!r}{same}")
        urls.setdefault(identity, spec.url)
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))


def read_registry_text(path: Path) -> str:
    """A registry file's text: UTF-8 (a BOM is allowed), or a ConfigError saying why not."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read feeds file {path}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 4]
        raise ConfigError(
            f"{path}: not UTF-8 (byte {exc.start}: {bad!r}); save the file as UTF-8"
        ) from None


#: How a registry is read and synced; bump it when that changes (see :func:`digest`).
FORMAT = 1


def digest(text: str) -> str:
    """What identifies a registry's content for this code.

    Its text, the URL rules, the pipeline version and :data:`FORMAT` (bumped with any
    change to how a registry is read or synced): any of the last three changing may
    change what the same text means.
    """
    data = f"{FORMAT}\0{PIPELINE_VERSION}\0{RULES_VERSION}\0{text}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def load_registry(path: Path) -> list[FeedSpec]:
    """Read and validate a registry file."""
    return parse_registry(read_registry_text(path), str(path))


def merged_registry(existing: str | None, fresh: Sequence[FeedSpec], source: str) -> str:
    """The text of registry ``existing`` with the ``fresh`` feeds appended, validated whole.

    The existing text is kept as it is (comments, order, a BOM) and the new tables use its
    line endings. Raises ConfigError, naming the problem, when the result would not load,
    such as when the file lists its feeds as an inline ``feeds = [...]`` array, which
    TOML cannot extend with ``[[feeds]]`` tables.
    """
    text = existing or ""
    newline = "\r\n" if "\r\n" in text else "\n"
    body = to_toml(fresh).replace("\n", newline)
    if text.strip("\ufeff \t\r\n"):
        text = text if text.endswith("\n") else text + newline
        text += newline
    merged = text + body
    try:
        parse_registry(merged, source)
    except ConfigError as exc:
        inline = existing is not None and re.search(r"(?m)^\s*feeds\s*=", existing)
        if inline:
            raise ConfigError(
                f"{source} lists its feeds as an inline array (feeds = [...]); write them "
                "as [[feeds]] tables to import into it. Nothing was changed."
            ) from None
        raise ConfigError(f"{exc}. Nothing was changed.") from None
    return merged


def write_registry(path: Path, text: str) -> Path | None:
    """Replace the registry file at ``path`` with ``text`` atomically; returns the backup.

    The previous file, if any, is copied to ``<name>.bak`` first. The new text goes to a
    temporary file beside it, is flushed to disk and renamed over the old one, so a crash
    leaves either the old file or the new one, never a mix.
    """
    backup = None
    try:
        if path.exists():
            backup = path.with_name(path.name + ".bak")
            shutil.copy2(path, backup)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            if backup is not None:
                shutil.copymode(backup, tmp)
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}. Nothing was changed.") from None
    return backup


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
        title = clean_inline(outline.get("title") or outline.get("text") or None, 1000)
        try:
            host, path = urlsplit(url).hostname or "", urlsplit(url).path
        except ValueError:
            problems.append(f"outline {visible(title or url)!r}: not a URL")
            continue
        base = slugify(title or host + path)
        key, n = base, 2
        while key in taken:
            key, n = f"{base}-{n}", n + 1
        try:
            model = _FeedModel(key=key, url=url, title=title, site=host or None)
        except ValidationError as exc:
            problems.append(f"outline {visible(title or url)!r}: {exc.errors()[0]['msg']}")
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
        text = json.dumps(str(v), ensure_ascii=False)  # a TOML basic string, but for DEL
        return _TOML_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", text)

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
