"""A clock that moves only when told to."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta

from ddbes.ports import Clock

__all__ = ["ManualClock"]


class ManualClock(Clock):
    """A :class:`~ddbes.ports.Clock` for tests: ``now()`` moves only by :meth:`advance`/:meth:`set`
    and by its sleeps, which return at once.

    Args:
        start: the initial time (aware; converted to UTC). Default: 2020-01-01T00:00:00Z.
    """

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2020, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware start time")
        self._now = start.astimezone(UTC)
        self._start = self._now
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta = timedelta(seconds=1)) -> datetime:
        """Move the clock by ``delta`` (may be negative, to simulate a skewed clock)."""
        with self._lock:
            self._now += delta
            return self._now

    def monotonic(self) -> float:
        """Seconds since the start time: moves with :meth:`advance`, :meth:`set` and sleeps."""
        with self._lock:
            return (self._now - self._start).total_seconds()

    def sleep(self, seconds: float) -> None:
        """Returns at once, having moved the clock ``seconds`` forward."""
        self.advance(timedelta(seconds=seconds))

    async def async_sleep(self, seconds: float) -> None:
        """Moves the clock ``seconds`` forward and lets other tasks run once."""
        self.advance(timedelta(seconds=seconds))
        await asyncio.sleep(0)

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware)."""
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs aware times")
        with self._lock:
            self._now = moment.astimezone(UTC)

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"
