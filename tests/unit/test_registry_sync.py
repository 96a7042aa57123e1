"""A registry file is synced into the warehouse; the same file again is not re-read."""

from __future__ import annotations

import logging

from sqlalchemy import select

from ingest import pipeline, registry
from ingest.models import FeedSpec
from ingest.store import feeds as store_feeds
from ingest.store import schema as wh

SPECS = [FeedSpec(key=f"f{i}", url=f"https://h{i}.example/feed") for i in range(3)]


def titles(engine):
    with engine.connect() as conn:
        return dict(conn.execute(select(wh.feeds.c.feed_key, wh.feeds.c.title)).all())


def test_an_unchanged_registry_is_not_read_again_and_any_change_is_synced(engine, tmp_path, caplog):
    path = tmp_path / "feeds.toml"
    path.write_text(registry.to_toml(SPECS))
    caplog.set_level(logging.INFO, logger="ingest.pipeline")
    assert pipeline.prepare(engine, path) == 3
    assert pipeline.prepare(engine, path) == 3
    assert "unchanged since its last sync" in caplog.records[-1].getMessage()
    # an edit is synced
    path.write_text(registry.to_toml([SPECS[0], FeedSpec(key="f1", url=SPECS[1].url, title="New")]))
    assert pipeline.prepare(engine, path) == 2
    assert "unchanged since its last sync" not in caplog.records[-1].getMessage()
    assert titles(engine)["f1"] == "New"
    # a sync that knows no file (another tool) makes the next run read its file again
    store_feeds.sync(engine, SPECS, pipeline._now())
    assert titles(engine)["f1"] is None
    assert pipeline.prepare(engine, path) == 2
    assert "unchanged since its last sync" not in caplog.records[-1].getMessage()
    assert titles(engine)["f1"] == "New"


def test_new_url_rules_or_a_new_version_read_the_same_file_again(
    engine, tmp_path, monkeypatch, caplog
):
    path = tmp_path / "feeds.toml"
    path.write_text(registry.to_toml(SPECS))
    caplog.set_level(logging.INFO, logger="ingest.pipeline")
    pipeline.prepare(engine, path)
    monkeypatch.setattr(registry, "RULES_VERSION", registry.RULES_VERSION + 1)
    pipeline.prepare(engine, path)
    assert "unchanged since its last sync" not in caplog.records[-1].getMessage()
    monkeypatch.setattr(registry, "PIPELINE_VERSION", "9.9.9")
    pipeline.prepare(engine, path)
    assert "unchanged since its last sync" not in caplog.records[-1].getMessage()
    pipeline.prepare(engine, path)
    assert "unchanged since its last sync" in caplog.records[-1].getMessage()
