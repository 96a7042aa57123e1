"""The shape of the code stays easy to change: small modules, dialects in their modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src" / "ingest"
MODULES = sorted(
    p for p in SRC.rglob("*.py") if not {"demosite", "migrations"} & set(p.relative_to(SRC).parts)
)
MAX_LINES = 600


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_is_longer_than_600_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_only_the_dialect_modules_ask_which_database_they_are_on():
    """Elsewhere the store calls ingest.store.dialects.of(conn), and nothing else branches."""
    asks = re.compile(
        r"dialect\.name\s*[=!]=|get_backend_name\(\)\s*[=!]=|==\s*[\"'](sqlite|postgresql)[\"']"
    )
    dialects = SRC / "store" / "dialects"
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for p in MODULES
        if dialects not in p.parents
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if asks.search(line)
    ]
    assert offenders == []


def test_there_is_a_dialect_module_per_supported_database():
    from ingest.store import dialects

    assert {d.name for d in dialects._registry().values()} == {"sqlite", "postgresql"}
    assert sorted(p.stem for p in (SRC / "store" / "dialects").glob("[!_]*.py")) == [
        "postgresql", "sqlite",
    ]  # fmt: skip
