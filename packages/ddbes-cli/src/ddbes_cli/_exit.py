"""The ddbes command's exit codes: each says what kind of thing went wrong."""

from __future__ import annotations

__all__ = [
    "CONFIGURATION",
    "CONFLICT",
    "FAILED",
    "INTERRUPTED",
    "NOT_FOUND",
    "OK",
    "UNAVAILABLE",
    "USAGE",
    "exit_code_for",
]

OK = 0
"""Success (and the normal end of ``local``, ``serve`` and ``tail`` by Ctrl-C or SIGTERM)."""
FAILED = 1
"""An operation failed: a projector handler kept failing, a store error, an unexpected error."""
USAGE = 2
"""Bad command line: unknown option, malformed JSON, a bad filter or event, a bad MODULE:NAME,
a ``tail --after`` that does not fit the server's log."""
CONFIGURATION = 3
"""Bad or incomplete configuration: unknown backend, missing adapter, missing table or bucket."""
NOT_FOUND = 4
"""``inspect``: the aggregate has no commits (at that version or time)."""
UNAVAILABLE = 5
"""A store or server cannot be reached, or kept failing or throttling: try again later."""
CONFLICT = 6
"""``append --expected-version``: another commit holds that version."""
INTERRUPTED = 130
"""A finite command was interrupted by Ctrl-C."""


def exit_code_for(error: BaseException) -> int:
    """The exit code for an error that ended a command."""
    from ddbes.errors import (  # noqa: PLC0415 (``ddbes --help`` does not import ddbes)
        AggregateNotFound,
        ConcurrencyError,
        ConfigurationError,
        DdbesError,
        InvalidEvent,
        InvalidFilter,
        RetriesExhausted,
        StoreUnavailable,
    )

    if isinstance(error, RetriesExhausted) and error.errors:
        return exit_code_for(error.errors[-1])
    if isinstance(error, (InvalidFilter, InvalidEvent)) or getattr(error, "code", None) in (
        # ddbes_ws.StreamError: the server refused the request's filters or position
        "invalid_filter",
        "invalid_position",
    ):
        return USAGE
    if isinstance(error, ConfigurationError):
        return CONFIGURATION
    if isinstance(error, AggregateNotFound):
        return NOT_FOUND
    if isinstance(error, StoreUnavailable) or any(
        # ddbes_ws.StreamUnavailable, without importing the optional adapter
        klass.__name__ == "StreamUnavailable"
        for klass in type(error).__mro__
    ):
        return UNAVAILABLE
    if isinstance(error, ConcurrencyError):
        return CONFLICT
    if isinstance(error, DdbesError):
        return FAILED
    return FAILED
