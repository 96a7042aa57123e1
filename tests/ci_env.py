"""Whether this is a CI run, read the same way by conftest, the tests and ensure-postgres.sh."""

import os


def in_ci() -> bool:
    """Whether this is a CI run: ``CI`` set to any truthy value (true, 1, yes, on)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes", "on"}
