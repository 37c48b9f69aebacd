"""Per-connection budgets on filter work, so one client's filters never slow the others.

Each connection may spend ``rate`` seconds of filter work per second, with at most ``burst``
seconds saved up (a token bucket). The fan-out runs a connection's filter on each new commit
only while its budget lasts; a connection over budget leaves the shared fan-out and gets its
commits from its own reads, paced to its budget (``_reader.LogReader.catch_up``): it is slowed,
the others are not.
"""

from __future__ import annotations

__all__ = ["FilterBudget"]


class FilterBudget:
    """A token bucket of filter work, in seconds. Pure: the caller passes the time.

    ``rate`` may be lowered while the connection is paced (``share``), so that many paced
    connections together never take more than a fixed share of the event loop.
    """

    __slots__ = ("_balance", "_burst", "_rate", "_updated", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        if rate <= 0 or burst <= 0:
            raise ValueError("a filter budget's rate and burst must be positive")
        self._rate = self.rate = rate
        self._burst = burst
        self._balance = burst
        self._updated = now

    def share(self, total: float, sharing: int) -> None:
        """Use at most ``total / sharing`` (and never more than the budget's own rate)."""
        self._rate = min(self.rate, total / max(1, sharing))

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self._balance = min(self._burst, self._balance + (now - self._updated) * self._rate)
            self._updated = now

    def charge(self, seconds: float, now: float) -> None:
        """Spend ``seconds`` of work (the balance may go below zero: a debt paid by waiting)."""
        self._refill(now)
        self._balance -= seconds

    def exhausted(self, now: float) -> bool:
        """Whether the budget is spent (the next filter run must wait)."""
        self._refill(now)
        return self._balance <= 0

    def wait(self, now: float) -> float:
        """Seconds until the budget is positive again (0 if it is)."""
        self._refill(now)
        return 0.0 if self._balance > 0 else (-self._balance) / self._rate + 1e-4
