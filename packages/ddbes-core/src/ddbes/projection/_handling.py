"""How a projector hands one commit to its handlers: holding it back behind a parked aggregate,
parking it when its handler keeps failing (``on_failure="park"``), and the bookkeeping of the
worker threads in parallel mode.

:class:`Handling` is a base of :class:`~ddbes.projection.projector.Projector`, whose attributes
these are.
"""

from __future__ import annotations

import threading
from typing import Any

from ddbes.errors import ProjectionFailed
from ddbes.model import Commit
from ddbes.projection._handler_calls import HandlerCalls
from ddbes.projection._handler_retry import Abandoned, worker_failure
from ddbes.projection._parking import Parking
from ddbes.projection._partition import Partition
from ddbes.projection.leases import LeaseKeeper

__all__ = ["Handling"]


class Handling:
    """Handling commits, for :class:`~ddbes.projection.projector.Projector`."""

    name: str
    _calls: HandlerCalls
    _parking: Parking | None
    _on_failure: str
    _last_error: str | None
    _keeper: LeaseKeeper | None
    _stopping: bool
    _failure: ProjectionFailed | None
    _inside: threading.local
    _cond: threading.Condition
    _handled: int
    _log: Any

    def _handle(self, commit: Commit, log_partition: int) -> None:
        """Hand one commit to its handlers, or hold it back behind its parked aggregate; with
        ``on_failure="park"`` a handler that keeps failing parks the commit instead of raising.
        """
        parking = self._parking
        if parking is not None and parking.holds(commit):
            return
        try:
            self._calls.handle(commit, log_partition)
        except ProjectionFailed as failure:
            if self._on_failure != "park" or parking is None:
                raise
            parking.park(commit, log_partition, failure)
            self._last_error = parking.last_error

    def _handle_on_worker(self, part: Partition, commit: Commit) -> bool:
        """Handle one commit on a worker thread; ``True`` if every handler finished."""
        self._mark_inside()
        keeper = self._keeper
        if (
            self._stopping
            or self._failure is not None
            or (keeper is not None and not keeper.valid(part.number))
        ):
            return False
        try:
            self._handle(commit, part.number)
            return True
        except Abandoned:
            pass
        except ProjectionFailed as exc:
            self._failure = self._failure or exc
        except BaseException as exc:  # keep the bookkeeping right whatever happens
            self._log.exception("projector %r: a worker failed", self.name)
            self._failure = self._failure or worker_failure(self.name, exc, commit, part.number)
        return False

    def _mark_inside(self) -> None:
        """Mark this thread as one of the projector's, where :meth:`stop` must not wait."""
        self._inside.flag = True

    def _finish(self, part: Partition, commit: Commit) -> None:
        """Count a handled commit (under the lock); move ``position`` over contiguous ones."""
        self._handled += 1
        part.handled(commit.position or 0, commit.committed_at)
        self._cond.notify_all()
