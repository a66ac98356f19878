"""Silence one sqlglot warning that our callers already report in their own words.

sqlglot logs "contains unsupported syntax. Falling back to parsing as a 'Command'" whenever it keeps
a statement as an opaque Command. The reviewer turns that into a finding, and the completion parser
into an extraction error, so the log line is noise (thousands of lines in a GRPO run on garbage
completions). :func:`install` adds a filter that drops only that message; every other sqlglot log
record passes. It is idempotent.
"""
from __future__ import annotations

import logging

MESSAGE = "Falling back to parsing as a 'Command'"


class DropCommandFallbackWarning(logging.Filter):
    """Drops sqlglot's Command-fallback warning and nothing else."""

    def filter(self, record: logging.LogRecord) -> bool:
        return MESSAGE not in record.getMessage()


def install() -> None:
    """Attach the filter to the ``sqlglot`` logger (once)."""
    logger = logging.getLogger("sqlglot")
    if not any(isinstance(f, DropCommandFallbackWarning) for f in logger.filters):
        logger.addFilter(DropCommandFallbackWarning())
