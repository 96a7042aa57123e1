"""Loggers whose lines outside text cannot forge.

A title with a newline in it must not start a log line of its own, and one with an ESC
sequence must not recolour the reader's terminal: every message of an ``ingest`` logger is
written on one line, its control characters escaped (:func:`ingest.textutil.visible`).
The traceback of a logged exception is left as it is: it is ours.
"""

from __future__ import annotations

import logging

from ingest.textutil import visible


class OneLine(logging.Filter):
    """Rewrites a record's message with its control characters escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Escape the message in place; never drops a record."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format: the handler reports it as usual
            return True
        safe = visible(message)
        if safe != message:
            record.msg, record.args = safe, None
        return True


_ONE_LINE = OneLine()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, its messages kept on one line."""
    logger = logging.getLogger(name)
    if _ONE_LINE not in logger.filters:
        logger.addFilter(_ONE_LINE)
    return logger
