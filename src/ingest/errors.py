"""The project's error types (one base and a few named subclasses), and whose fault one is.

Expected misses (a 404, a page that is not HTML, an empty extraction) are not errors:
they are values carrying a :class:`~ingest.models.Reason` and get counted. What raises is
what should stop a task so that Airflow retries it: bad configuration, a broken
warehouse, a bug.
"""


class IngestError(Exception):
    """Base class for every error raised on purpose by news-ingest."""


class ConfigError(IngestError):
    """Settings or the feeds registry are invalid; the message says where and why."""


class NotAWarehouse(ConfigError):  # noqa: N818 - a verdict on what the URL names
    """The URL names no database, another application's, or one at a revision we can't use."""


class WarehouseError(IngestError):
    """The warehouse cannot be reached or is not at the expected schema revision."""


class WarehouseUnavailable(WarehouseError):  # noqa: N818 - names a state, like TimeoutError's kin
    """The warehouse connection failed or dropped; retrying the transaction may succeed."""


class InternalError(IngestError):
    """Items met a bug in our own code; the step saved the rest, then fails (shows red).

    The items that met the bug were left as they were, to be retried after the fix.
    ``counts`` is what the step did all the same (its StepStats as a dict), so that the
    run's ledger still counts it.
    """

    def __init__(self, message: str, *, counts: dict[str, object] | None = None) -> None:
        super().__init__(message)
        self.counts: dict[str, object] = counts or {}


class RunUnhealthy(IngestError):  # noqa: N818 - a verdict on the run
    """A run did its work but its outcome breaks a health rule (``ingest.monitor.check_run``).

    Not a bug and not bad input: the run's articles are stored; the run shows red so that
    someone looks. The message lists each rule broken.
    """


class AlertUndelivered(IngestError):  # noqa: N818 - a verdict on one alert
    """A channel could not take an alert (the SMTP server refused it, Slack answered 500).

    The alert waits in the warehouse and goes out with the next check; the other
    channels are not held up.
    """


class UrlRejected(IngestError):  # noqa: N818 - reads as a verdict: "URL rejected"
    """A string that cannot be used as an http(s) URL; ``reason`` is a Reason code."""

    def __init__(self, reason: str, url: str) -> None:
        shown = url if len(url) <= 120 else url[:117] + "..."  # noqa: PLR2004 - log width
        super().__init__(f"{reason}: {shown!r}")
        self.reason = reason


def raised_by_library(exc: BaseException, libraries: tuple[str, ...]) -> bool:
    """Whether ``exc`` escaped from one of ``libraries`` while our code had called it.

    The last frame of ours (``ingest.*``) in the traceback called into one of those
    packages: a parser choking on hostile input (feedparser's ``TypeError`` on a stray end
    tag, say) is the input's fault, not ours. An exception raised in our own frames, or
    anywhere else, is a bug.
    """
    modules: list[str] = []
    tb = exc.__traceback__
    while tb is not None:
        modules.append(str(tb.tb_frame.f_globals.get("__name__", "")))
        tb = tb.tb_next
    ours = [i for i, name in enumerate(modules) if name == "ingest" or name.startswith("ingest.")]
    if not ours or ours[-1] == len(modules) - 1:
        return False
    callee = modules[ours[-1] + 1]
    return any(callee == lib or callee.startswith(lib + ".") for lib in libraries)


#: What a hostile value raises wherever it is converted, in our own frames too: a number
#: or date out of range, undecodable bytes, nesting too deep.
CONVERSION_ERRORS = (ValueError, OverflowError, RecursionError)


def input_fault(
    exc: BaseException,
    libraries: tuple[str, ...],
    errors: tuple[type[BaseException], ...] = (),
) -> bool:
    """Whether ``exc``, raised while reading hostile input, is the input's fault.

    It is when one of ``libraries`` raised it (see :func:`raised_by_library`), when it is
    one of their ``errors`` (which a compiled library may raise without a frame), or a
    conversion error (``int()``, ``datetime()`` or ``bytes.decode`` on a hostile value),
    or a bare ``LookupError`` (the codecs' answer to an unknown encoding name). Anything
    else raised in our own frames, ``KeyError``, ``IndexError``, ``TypeError`` and
    ``AttributeError`` included, is a bug.
    """
    if type(exc) is LookupError or isinstance(exc, (*CONVERSION_ERRORS, *errors)):
        return True
    return raised_by_library(exc, libraries)
