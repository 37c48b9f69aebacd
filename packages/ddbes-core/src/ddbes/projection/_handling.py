"""How a projector hands one commit to its handlers: holding it back behind a parked aggregate,
parking it when its handler keeps failing (``on_failure="park"``), and the bookkeeping of the
worker threads in parallel mode.

:func:`handling_steps` is that decision, written once for both projectors;
:class:`Handling` is a base of :class:`~ddbes.projection.projector.Projector`, whose attributes
these are.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ddbes.errors import ProjectionFailed
from ddbes.model import Commit
from ddbes.projection._handler_calls import HandlerCalls
from ddbes.projection._handler_retry import Abandoned, worker_failure
from ddbes.projection._parking import Parking
from ddbes.projection._partition import Partition
from ddbes.projection._steps import Call, Steps, run_sync
from ddbes.projection.leases import LeaseKeeper

__all__ = ["Handling", "handling_steps"]


def handling_steps(
    commit: Commit,
    log_partition: int,
    *,
    call: Callable[[Commit, int], Any],
    parking: Parking | None,
    park: bool,
) -> Steps[bool]:
    """Hand one commit to its handlers with ``call(commit, log_partition)``, or hold it back
    behind its parked aggregate; with ``park`` a handler that keeps failing parks the commit
    instead of raising.

    Returns:
        ``True`` if the handlers ran to the end; ``False`` if the commit was held back or
        parked.

    Raises:
        ProjectionFailed: a handler kept failing, and ``park`` is off.
    """
    if parking is not None and parking.count and (yield from parking.holds_steps(commit)):
        return False
    try:
        yield Call(call, (commit, log_partition))
        return True
    except ProjectionFailed as failure:
        if not park or parking is None:
            raise
        yield from parking.park_steps(commit, log_partition, failure)
        return False


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
        if self._plain():
            self._calls.handle(commit, log_partition)  # the usual case: no generator per commit
            return
        parking = self._parking
        steps = handling_steps(
            commit, log_partition, call=self._calls.handle, parking=parking,
            park=self._on_failure == "park",
        )  # fmt: skip
        if not run_sync(steps) and parking is not None:
            self._last_error = parking.last_error

    def _handler(self) -> Callable[[Commit, int], None]:
        """What hands the commits of a batch to their handlers, chosen before the batch:
        :meth:`_handle`, or the handler calls themselves when nothing is parked or parks.

        Once per batch is enough: without ``on_failure="park"`` no aggregate is parked in a
        run (parked ones are not even read), so the choice holds to the batch's end.
        """
        return self._calls.handle if self._plain() else self._handle

    def _plain(self) -> bool:
        """Whether a commit goes straight to its handlers: nothing parked, nothing parks."""
        parking = self._parking
        return self._on_failure != "park" and (parking is None or not parking.count)

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
