"""Clocks: the system clock adapter of the :class:`~ddbes.ports.Clock` port."""

from __future__ import annotations

from datetime import UTC, datetime

from ddbes.ports import Clock

__all__ = ["SystemClock"]


class SystemClock(Clock):
    """The machine's wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"
