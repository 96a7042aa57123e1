"""The Article record drives its row, its staged payload and the "did it change" rule."""

import dataclasses
import json
import types
import typing
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import JSON, select

from helpers import T0, article, load
from ingest.errors import WarehouseError
from ingest.models import Article
from ingest.store import engine as db
from ingest.store import rows
from ingest.store import schema as wh
from ingest.store.schema import STORE_ONLY_ARTICLE_COLUMNS, UTCDateTime

FIELDS = {f.name: f for f in dataclasses.fields(Article)}
HINTS = typing.get_type_hints(Article)


def test_every_article_field_has_a_column_and_every_column_a_field_or_a_reason():
    columns = {c.name: c for c in wh.articles.columns}
    assert set(FIELDS) <= set(columns), set(FIELDS) - set(columns)
    assert set(columns) - set(FIELDS) == set(STORE_ONLY_ARTICLE_COLUMNS)
    assert all(len(reason) > 20 for reason in STORE_ONLY_ARTICLE_COLUMNS.values())


@pytest.mark.parametrize("name", sorted(FIELDS))
def test_each_fields_type_matches_its_column(name):
    column, hint = wh.articles.c[name], HINTS[name]
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    assert column.nullable == (type(None) in args), "optional field <-> nullable column"
    inner = next(a for a in args if a is not type(None))
    if typing.get_origin(inner) is tuple:
        assert isinstance(column.type, JSON)
    elif inner is datetime:
        assert isinstance(column.type, UTCDateTime)
    else:
        assert column.type.python_type is inner


def test_a_field_with_no_default_is_one_every_article_has():
    """New fields take a default, so payloads staged before them still load."""
    required = [n for n, f in FIELDS.items() if f.default is dataclasses.MISSING
                and f.default_factory is dataclasses.MISSING]  # fmt: skip
    assert required == [
        "article_id", "canonical_url", "url", "final_url", "source", "body", "word_count",
        "content_hash", "fetched_at", "extracted_at", "extractor_version", "pipeline_version",
        "url_rules_version",
    ]  # fmt: skip


def test_the_row_is_every_field_plus_the_stores_own_columns():
    a = article("https://a.example/1", "one")
    row = rows.article_row(a, "run-1", T0)
    # first_listed_at is not the row's: the load sets it after the insert, from the
    # article's feed entries (loads._note_first_listed; test_monitor checks it)
    assert set(row) == {c.name for c in wh.articles.columns} - {"first_listed_at"}
    assert all(row[n] == (list(v) if isinstance(v, tuple) else v)
               for n in FIELDS for v in [getattr(a, n)])  # fmt: skip
    assert (row["cluster_id"], row["is_representative"], row["last_run_id"]) == (
        a.article_id, True, "run-1",
    )  # fmt: skip


def test_content_fields_are_the_ones_marked_in_the_record():
    assert tuple(n for n, f in FIELDS.items() if f.metadata.get("content")) == rows.CONTENT_COLUMNS
    assert {"body", "title", "content_hash", "extractor_version"} <= set(rows.CONTENT_COLUMNS)
    assert not {"raw_hash", "fetched_at", "url"} & set(rows.CONTENT_COLUMNS)


@pytest.mark.parametrize(
    ("change", "rewritten"),
    [
        ({"site_name": "Another masthead"}, True),  # a content field
        ({"tags": ("harbour", "council")}, True),
        ({"raw_hash": "f" * 64}, False),  # not content: the same article, re-fetched
        ({"fetched_at": T0 + timedelta(hours=2)}, False),
    ],
)
def test_only_a_content_field_makes_a_stored_article_changed(engine, change, rewritten):
    a = article("https://a.example/1", "one")
    load(engine, "r1", [a], now=T0)
    again = load(engine, "r2", [replace(a, **change)], now=T0 + timedelta(hours=3))
    assert (again.updated, again.skipped) == ((1, 0) if rewritten else (0, 1))


def test_a_payload_round_trips(engine):
    a = replace(article("https://a.example/ü", "Körper"), authors=("A", "B"), tags=("t",))
    assert rows.from_payload(json.loads(json.dumps(rows.to_payload(a)))) == a


def test_a_payload_staged_by_the_previous_version_still_loads(engine, fixtures):
    payload = json.loads((fixtures / "staged-payload-0.1.0.json").read_text())
    old = rows.from_payload(payload)
    assert old.authors == ("Ben Okafor", "Ana Lima")
    assert old.published_at.utcoffset() == timedelta(0)
    with db.transaction(engine) as conn:
        conn.execute(
            wh.article_staging.insert().values(
                run_id="old", queue_url=old.canonical_url, article_id=old.article_id,
                payload=payload, staged_at=T0,
            )
        )  # fmt: skip
    from ingest import pipeline

    assert pipeline.load_run(engine, "old").inserted == 1
    with engine.connect() as conn:
        assert conn.execute(select(wh.articles.c.title)).scalar_one() == "Flood gates open"


def test_a_payload_without_a_field_added_since_takes_its_default_and_extra_keys_are_dropped():
    payload = rows.to_payload(article("https://a.example/1", "one"))
    del payload["image_url"], payload["tags"]  # fields a newer version added
    payload["legacy_field"] = "dropped"  # a field a newer version removed
    loaded = rows.from_payload(payload)
    assert (loaded.image_url, loaded.tags) == (None, ())


def test_a_payload_missing_a_required_field_is_a_clear_error():
    payload = rows.to_payload(article("https://a.example/1", "one"))
    del payload["body"]
    with pytest.raises(WarehouseError, match="unreadable staged article"):
        rows.from_payload(payload)


def test_text_the_database_cannot_store_is_cleaned_in_every_text_field():
    a = replace(
        article("https://a.example/1", "bo\x00dy"), title="ti\ud800tle",
        authors=("A\x00", "B"), site_name="S\x00",
    )  # fmt: skip
    clean = rows.storable(a)
    assert (clean.body, clean.title, clean.authors, clean.site_name) == (
        "body", "title", ("A", "B"), "S",
    )  # fmt: skip
    untouched = article("https://a.example/2", "fine")
    assert rows.storable(untouched) is untouched


@pytest.mark.parametrize("names", [(), ("title",), ("title", "body")])
def test_field_getters_give_a_tuple_for_any_number_of_fields(names):
    from helpers import article
    from ingest.store.rows import _values_of

    record = article("https://e.example/a", "Body.")
    assert _values_of(names)(record) == tuple(getattr(record, n) for n in names)
