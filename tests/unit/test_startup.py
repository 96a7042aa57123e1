"""Cheap starts (issue 17): a task imports only what its step needs.

Each check runs in a fresh interpreter and looks at ``sys.modules``: what a module pulls in
is a fact that regresses with one careless import line, where a timing only drifts.
bench/bench_startup.py has the timings.
"""

import json
import subprocess
import sys

import pytest

#: Never loaded by a task's start: scipy came with datasketch's package import; alembic
#: only migrates, and a warehouse at the head revision is not migrated.
NEVER = {"scipy", "datasketch", "alembic"}

#: What each step of ingest.pipeline must not load (beyond NEVER) when a task imports it.
NOT_FOR = {
    "prepare": {"trafilatura", "feedparser", "numpy", "httpx", "warcio", "ingest.sandbox"},
    "rekey_urls": {"trafilatura", "feedparser", "numpy", "pydantic", "ingest.registry"},
    "plan_feed_shards": {"trafilatura", "feedparser", "numpy", "httpx", "ingest.sandbox"},
    "plan_page_shards": {"trafilatura", "feedparser", "numpy", "httpx", "ingest.sandbox"},
    "poll_shard": {"trafilatura", "numpy", "warcio", "ingest.extract"},
    "fetch_shard": {"feedparser", "numpy", "ingest.parse", "ingest.neardup"},
    "reprocess_interval": {"sqlalchemy", "trafilatura", "warcio", "ingest.sandbox"},  # a live run's
    "load_run": {"trafilatura", "feedparser", "numpy", "httpx", "ingest.neardup"},
    "housekeeping": {"trafilatura", "feedparser", "numpy", "httpx"},
    "cluster_stories": {"trafilatura", "feedparser", "httpx", "ingest.sandbox", "ingest.alerts"},
    "check_run": {"trafilatura", "feedparser", "numpy", "httpx", "ingest.neardup"},
    "run_once": {"trafilatura", "feedparser", "httpx"},  # until there is work to fetch
}


def _loaded(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def _packages(modules: set[str]) -> set[str]:
    """``modules`` and every package above each one (``a.b.c`` also counts as ``a.b``, ``a``)."""
    return {m.rsplit(".", i)[0] for m in modules for i in range(m.count(".") + 1)}


def test_importing_the_pipeline_loads_no_stage_and_no_library():
    loaded = _loaded("import ingest.pipeline")
    stages = {m for m in loaded if m.startswith("ingest.") and m != "ingest.pipeline"}
    assert stages <= {"ingest.errors", "ingest.models", "ingest.textutil"}
    assert not {"sqlalchemy", "pydantic", "numpy", "httpx", "lxml"} & _packages(loaded)


@pytest.mark.parametrize("step", sorted(NOT_FOR))
def test_a_step_loads_only_its_own_stages(step):
    loaded = _packages(_loaded(f"from ingest.pipeline import {step}"))
    assert (NEVER | NOT_FOR[step]) & loaded == set()


def test_the_steps_modules_load_none_of_the_costly_libraries_none_needs():
    everything = "\n".join(f"from ingest.pipeline import {step}" for step in NOT_FOR)
    assert NEVER & _packages(_loaded(everything)) == set()


def test_the_backfill_package_leaves_its_shards_stages_to_the_shards():
    """The news_backfill DAG imports it at parse time (its form), and so do its light tasks."""
    code = "from ingest.backfill import BackfillRequest, finish, plan, publishers"
    heavy = {
        "trafilatura",
        "httpx",
        "warcio",
        "ingest.sandbox",
        "lxml",
        "ingest.fetch",
        "ingest.pages",
    }
    assert (NEVER | heavy) & _packages(_loaded(code)) == set()


def test_the_cli_starts_without_the_warehouse_or_a_stage():
    loaded = _packages(_loaded("import ingest.cli"))
    assert not {"sqlalchemy", "ingest.pipeline", "ingest.store", "numpy"} & loaded


def test_a_warehouse_at_the_head_is_opened_and_checked_without_alembic(engine):
    url = engine.url.render_as_string(hide_password=False)
    code = (
        "from ingest.store import engine as db\n"
        f"url = {url!r}\n"
        "db.upgrade(db.make_engine(url))\n"
        "db.open_warehouse(url).dispose()\n"
        "db.open_warehouse(url, read_only=True).dispose()\n"
    )
    assert "alembic" not in _packages(_loaded(code))


def test_the_revisions_read_from_the_scripts_are_alembics():
    from alembic.script import ScriptDirectory

    from ingest.store import engine as db

    scripts = ScriptDirectory.from_config(db._alembic_config())
    assert db._revisions() == {s.revision: s.down_revision for s in scripts.walk_revisions()}
    assert db.head_revision() == scripts.get_current_head()


def test_the_current_revision_is_the_one_alembic_reads(engine):
    from alembic.migration import MigrationContext

    from ingest.store import engine as db

    with engine.connect() as conn:
        assert (
            db.current_revision(engine) == MigrationContext.configure(conn).get_current_revision()
        )


def test_a_database_not_created_yet_has_no_revision(tmp_path):
    from ingest.store import engine as db

    assert db.current_revision(db.make_engine(f"sqlite:///{tmp_path / 'new.db'}")) is None
