"""Rate-limited warnings: a flood of refused connections logs a line now and then, not each."""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["ThrottledWarning"]


class ThrottledWarning:
    """Logs a warning at most once per ``interval`` seconds, counting the ones it held back.

    Pure but for the logger: the caller passes the time.
    """

    def __init__(
        self, log: logging.Logger | logging.LoggerAdapter[Any], interval: float = 10.0
    ) -> None:
        self._log = log
        self._interval = interval
        self._last: float | None = None
        self._held = 0

    def warn(self, now: float, message: str, *args: Any) -> bool:
        """Log ``message % args`` unless one was logged less than ``interval`` ago; true if
        logged. A line logged after some were held back says how many."""
        if self._last is not None and now - self._last < self._interval:
            self._held += 1
            return False
        if self._held:
            message += " (%d more refused in the last %.0f s)"
            args = (*args, self._held, now - self._last if self._last is not None else 0.0)
        self._log.warning(message, *args)
        self._last = now
        self._held = 0
        return True
