"""Running until Ctrl-C or SIGTERM, for the long-running commands."""

from __future__ import annotations

import signal
import threading
from types import FrameType

__all__ = ["stop_requested"]


def stop_requested() -> threading.Event:
    """An event set by the first SIGINT or SIGTERM (handlers installed now, main thread only)."""
    event = threading.Event()

    def handler(_signum: int, _frame: FrameType | None) -> None:
        event.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return event
