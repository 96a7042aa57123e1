"""The documentation keeps up with the code it describes."""

import re
from pathlib import Path

import pytest

from ingest.settings import Settings
from ingest.store import schema as wh

DOCS = Path(__file__).parents[1] / "docs"


def section(text: str, heading: str) -> str:
    match = re.search(rf"^## `{heading}`\n(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    assert match, f"docs/schema.md has no section for {heading}"
    return match.group(1)


@pytest.mark.parametrize("table", sorted(wh.metadata.tables))
def test_every_column_is_documented(table):
    body = section((DOCS / "schema.md").read_text(), table)
    documented = set(re.findall(r"^\| `(\w+)` \|", body, re.MULTILINE))
    assert documented == {c.name for c in wh.metadata.tables[table].columns}


def test_every_setting_is_documented():
    text = (DOCS / "configuration.md").read_text()
    for name in Settings.model_fields:
        assert f"`INGEST_{name.upper()}`" in text, name
