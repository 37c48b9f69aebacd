"""Errors of the websocket stream. Every one derives from :class:`ddbes.errors.DdbesError`;
no websockets exception leaves this package.

::

    DdbesError
     └── StreamError              the stream ended with an error (``code``: close or error code)
          ├── StreamRefused       HTTP 401/403 at connect, or the server refused the filters
          └── StreamUnavailable   the server could not be reached (reconnects exhausted)
"""

from __future__ import annotations

from ddbes.errors import DdbesError

__all__ = ["StreamError", "StreamRefused", "StreamUnavailable"]


class StreamError(DdbesError):
    """The event stream ended with an error.

    Attributes:
        code: the websocket close code (an int) or the error frame's code (a string), if any.
    """

    def __init__(self, message: str, code: int | str | None = None) -> None:
        self.code = code
        super().__init__(message)


class StreamRefused(StreamError):
    """The server refused this client: authentication failed (HTTP 401/403) or the
    authorization hook refused the filters. Retrying the same request will not help."""


class StreamUnavailable(StreamError):
    """The server could not be reached, or stopped answering, and reconnecting gave up."""
