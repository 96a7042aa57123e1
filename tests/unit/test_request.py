"""RunRequest: what a trigger's params may ask, and the messages for what they may not."""

from __future__ import annotations

import pytest

from ingest.errors import ConfigError
from ingest.request import MAX_FEEDS, RunRequest


def test_the_defaults_ask_for_nothing():
    request = RunRequest.of({})
    assert request == RunRequest() == RunRequest.of(None)
    assert (request.only, request.describe()) == (None, "every feed")


def test_a_full_request_is_kept_in_order_without_repeats():
    request = RunRequest.of({"feeds": ["b", "a", "b"], "poll_now": True, "retry_failed": True})
    assert request == RunRequest(feeds=("b", "a"), poll_now=True, retry_failed=True)
    assert request.only == ("b", "a")
    assert request.describe() == "feeds b, a; poll now; retry failed"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"feeds": "a"}, "feeds must be a list of feed keys"),
        ({"feeds": [1]}, "feeds must be a list of feed keys"),
        ({"poll_now": "yes"}, "poll_now must be true or false, not 'yes'"),
        ({"retry_failed": 1}, "retry_failed must be true or false"),
        ({"pol_now": True}, "unknown run option(s) 'pol_now'"),
        ({"feeds": [f"f{i}" for i in range(MAX_FEEDS + 1)]}, f"at most {MAX_FEEDS}"),
    ],
)
def test_bad_values_are_refused_with_a_message(values, message):
    with pytest.raises(ConfigError) as caught:
        RunRequest.of(values)
    assert message in str(caught.value)


def test_unknown_feeds_are_named():
    RunRequest(feeds=("a", "b")).check_feeds({"a", "b", "c"})  # all known: no error
    request = RunRequest(feeds=("a", "x", "y"))
    with pytest.raises(ConfigError, match=r"'x', 'y'$"):
        request.check_feeds({"a"})
    many = RunRequest(feeds=tuple(f"k{i}" for i in range(12)))
    with pytest.raises(ConfigError, match=r"'k9' \.\.\.$"):
        many.check_feeds(set())
