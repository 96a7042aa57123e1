"""The Article record and its stored forms: the ``articles`` row and the staged payload.

Both are built from the record's fields, so a new field is a new column without edits
here. The staged payload is JSON; :func:`from_payload` reads payloads written by older
versions too: a field they lack takes its default, a key no field has any more is
dropped. :func:`storable` and :func:`row_problem` are the warehouse's own defences for a
record that did not come through normalisation.
"""

from __future__ import annotations

import dataclasses
import operator
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_

from ingest.errors import WarehouseError
from ingest.logs import get_logger
from ingest.models import Article
from ingest.store.schema import articles
from ingest.textutil import has_unstorable, strip_unstorable

log = get_logger(__name__)

FIELDS = tuple(dataclasses.fields(Article))
FIELD_NAMES = tuple(f.name for f in FIELDS)
#: Columns whose change makes a stored article "changed" (and so rewritten).
CONTENT_COLUMNS = Article.content_fields()
#: Columns a rewrite leaves as they are (identity, first sighting, cluster membership).
KEEP_ON_UPDATE = frozenset({"article_id", "first_seen_at", "cluster_id", "is_representative"})

_HINTS = typing.get_type_hints(Article)


def _kind(hint: object) -> str:
    """How a field's values are stored in JSON: "datetime", "tuple" or "plain"."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    if datetime in args:
        return "datetime"
    if any(typing.get_origin(a) is tuple for a in args):
        return "tuple"
    return "plain"


_KINDS = {f.name: _kind(_HINTS[f.name]) for f in FIELDS}
TUPLE_FIELDS = frozenset(name for name, kind in _KINDS.items() if kind == "tuple")
_TEXT_FIELDS = tuple(
    name
    for name in FIELD_NAMES
    for hint in [_HINTS[name]]
    if hint is str or (isinstance(hint, types.UnionType) and str in typing.get_args(hint))
)
_DATETIME_FIELDS = tuple(name for name, kind in _KINDS.items() if kind == "datetime")


def _values_of(names: Sequence[str]) -> Callable[[Article], tuple[Any, ...]]:
    """A C-level getter of these fields' values, always as a tuple (for any number of names).

    Rows are built for every article of every load, field by field.
    """
    if len(names) > 1:
        return operator.attrgetter(*names)
    if names:
        one = operator.attrgetter(names[0])
        return lambda article: (one(article),)
    return lambda _article: ()


_ALL_VALUES = _values_of(FIELD_NAMES)
_TEXT_VALUES = _values_of(_TEXT_FIELDS)
_TUPLE_VALUES = _values_of(tuple(sorted(TUPLE_FIELDS)))
_DATETIME_VALUES = _values_of(_DATETIME_FIELDS)


def article_row(article: Article, run_id: str, now: datetime) -> dict[str, Any]:
    """The ``articles`` row of a record first stored (or rewritten) by ``run_id`` at ``now``."""
    row = dict(zip(FIELD_NAMES, _ALL_VALUES(article), strict=True))
    for name in TUPLE_FIELDS:
        row[name] = list(row[name])
    row.update(
        cluster_id=article.article_id,  # alone until the clustering pass says otherwise
        is_representative=True,
        first_seen_at=now,
        last_seen_at=now,
        last_run_id=run_id,
    )
    return row


def upsert_articles(insert: Any, columns: Sequence[str]) -> Any:  # noqa: ANN401 - a dialect's Insert
    """``insert`` as an upsert of article rows.

    A stored row is rewritten (except for the columns it keeps) only when one of its
    content columns differs.
    """
    return insert.on_conflict_do_update(
        index_elements=["article_id"],
        set_={c: insert.excluded[c] for c in columns if c not in KEEP_ON_UPDATE},
        where=or_(*(articles.c[c].is_distinct_from(insert.excluded[c]) for c in CONTENT_COLUMNS)),
    )


def same_value(stored: object, new: object) -> bool:
    """Whether a stored column value equals a row value (JSON lists compare as lists)."""
    return bool(stored == (list(new) if isinstance(new, tuple) else new))


def to_payload(article: Article) -> dict[str, Any]:
    """The record as JSON: datetimes in ISO 8601, tuples as lists."""
    payload: dict[str, Any] = {}
    for name in FIELD_NAMES:
        value = getattr(article, name)
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, tuple):
            value = list(value)
        payload[name] = value
    return payload


def from_payload(payload: Mapping[str, Any]) -> Article:
    """The record staged as ``payload``, by this version or an older one."""
    values: dict[str, Any] = {}
    for field in FIELDS:
        if field.name not in payload:
            continue  # staged before the field existed: its default applies
        value = payload[field.name]
        kind = _KINDS[field.name]
        if kind == "datetime" and isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif kind == "tuple" and isinstance(value, list):
            value = tuple(value)
        values[field.name] = value
    dropped = sorted(set(payload) - set(FIELD_NAMES))
    if dropped:
        log.debug("staged payload fields no longer stored, dropped: %s", ", ".join(dropped))
    try:
        return Article(**values)
    except TypeError as exc:  # a required field missing: not a payload of ours
        raise WarehouseError(f"unreadable staged article: {exc}") from None


def storable(article: Article) -> Article:
    """NUL bytes and lone surrogates out of every text field (PostgreSQL rejects them)."""
    texts = [*_TEXT_VALUES(article), *("\n".join(v) for v in _TUPLE_VALUES(article))]
    if not has_unstorable("\n".join(t for t in texts if t)):  # the common case: one check
        return article
    changes: dict[str, Any] = {}
    for name in (*_TEXT_FIELDS, *TUPLE_FIELDS):
        value = getattr(article, name)
        if isinstance(value, str) and has_unstorable(value):
            changes[name] = strip_unstorable(value)
        elif isinstance(value, tuple) and any(has_unstorable(v) for v in value):
            changes[name] = tuple(strip_unstorable(v) for v in value)
    return dataclasses.replace(article, **changes) if changes else article


MAX_STORED_BODY_CHARS = 5_000_000
MAX_STORED_FIELD_CHARS = 100_000


def row_problem(article: Article) -> str | None:  # noqa: PLR0911 - a checklist
    """Why the warehouse refuses this record, or None when it can be stored."""
    if not article.canonical_url.startswith(("http://", "https://")):
        return "canonical URL is not http(s)"
    if len(article.canonical_url) > MAX_STORED_FIELD_CHARS:
        return "canonical URL too long"
    if not article.body.strip():
        return "empty body"
    if len(article.body) > MAX_STORED_BODY_CHARS:
        return f"body of {len(article.body)} characters exceeds {MAX_STORED_BODY_CHARS}"
    if article.title and len(article.title) > MAX_STORED_FIELD_CHARS:
        return f"title of {len(article.title)} characters exceeds {MAX_STORED_FIELD_CHARS}"
    for name, value in zip(_DATETIME_FIELDS, _DATETIME_VALUES(article), strict=True):
        if value is not None and value.tzinfo is None:
            return f"{name} has no time zone"
    return None


__all__ = [
    "CONTENT_COLUMNS", "FIELD_NAMES", "KEEP_ON_UPDATE", "MAX_STORED_BODY_CHARS",
    "TUPLE_FIELDS", "article_row", "from_payload", "row_problem", "same_value", "storable",
    "to_payload", "upsert_articles",
]  # fmt: skip
