"""CI is any truthy CI: the PostgreSQL (and browser) tests never skip there."""

import pytest

from ci_env import in_ci


@pytest.mark.parametrize("value", ["true", "True", "TRUE", "1", "yes", "on", " true "])
def test_a_truthy_ci_is_ci(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert in_ci()


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off"])
def test_anything_else_is_not(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    assert not in_ci()


def test_unset_is_not(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    assert not in_ci()


@pytest.mark.parametrize(("value", "strict"), [("1", True), ("True", True), ("0", False)])
def test_the_install_script_reads_ci_the_same_way(tmp_path, value, strict):
    """ensure-postgres.sh, with no PostgreSQL and no way to install it, fails only in CI."""
    import os
    import subprocess
    from pathlib import Path

    script = (Path(__file__).parents[2] / "scripts" / "ensure-postgres.sh").read_text()
    # the same script, on a machine where no server exists and none can be installed
    script = script.replace('compgen -G "/usr/lib/postgresql/*/bin/initdb"', "false").replace(
        "command -v initdb >/dev/null", "false").replace('[ "$(id -u)" = 0 ]', "false")  # fmt: skip
    probe = tmp_path / "ensure.sh"
    probe.write_text(script)
    done = subprocess.run(["bash", str(probe)], env={**os.environ, "CI": value},
                          capture_output=True, text=True, check=False)  # fmt: skip
    assert (done.returncode != 0) == strict, done.stderr
