import pytest

from ingest.errors import ConfigError
from ingest.settings import load_settings


def test_defaults_work_on_a_laptop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.home == tmp_path / "var"
    assert settings.resolved_warehouse_url == f"sqlite:///{tmp_path / 'var' / 'warehouse.db'}"
    assert settings.resolved_archive_dir == tmp_path / "var" / "archive"
    assert (settings.connect_timeout_s, settings.page_deadline_s, settings.max_redirects) == (
        10,
        30,
        5,
    )


def test_environment_and_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("INGEST_PAGE_DEADLINE_S", "4.5")
    monkeypatch.setenv("INGEST_WAREHOUSE_URL", "sqlite:///env.db")
    settings = load_settings(warehouse_url="sqlite:///arg.db", home=tmp_path)
    assert settings.page_deadline_s == 4.5
    assert settings.resolved_warehouse_url == "sqlite:///arg.db"


def test_invalid_value_names_the_variable(monkeypatch):
    monkeypatch.setenv("INGEST_MAX_REDIRECTS", "-1")
    with pytest.raises(ConfigError, match="INGEST_MAX_REDIRECTS"):
        load_settings()


def test_unknown_variable_is_an_error_with_a_suggestion(monkeypatch):
    monkeypatch.setenv("INGEST_PAGE_DEADLINE", "3")
    with pytest.raises(ConfigError, match="did you mean INGEST_PAGE_DEADLINE_S"):
        load_settings()
