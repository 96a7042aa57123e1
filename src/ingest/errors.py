"""The project's error types: one base and a few named subclasses.

Expected misses (a 404, a page that is not HTML, an empty extraction) are not errors:
they are values carrying a :class:`~ingest.models.Reason` and get counted. What raises is
what should stop a task so that Airflow retries it: bad configuration, a broken
warehouse, a bug.
"""


class IngestError(Exception):
    """Base class for every error raised on purpose by news-ingest."""


class ConfigError(IngestError):
    """Settings or the feeds registry are invalid; the message says where and why."""


class WarehouseError(IngestError):
    """The warehouse cannot be reached or is not at the expected schema revision."""


class WarehouseUnavailable(WarehouseError):  # noqa: N818 - names a state, like TimeoutError's kin
    """The warehouse connection failed or dropped; retrying the transaction may succeed."""


class InternalError(IngestError):
    """Items met a bug in our own code; the step saved the rest, then fails (shows red).

    The items that met the bug were left as they were, to be retried after the fix.
    """


class UrlRejected(IngestError):  # noqa: N818 - reads as a verdict: "URL rejected"
    """A string that cannot be used as an http(s) URL; ``reason`` is a Reason code."""

    def __init__(self, reason: str, url: str) -> None:
        shown = url if len(url) <= 120 else url[:117] + "..."  # noqa: PLR2004 - log width
        super().__init__(f"{reason}: {shown!r}")
        self.reason = reason
