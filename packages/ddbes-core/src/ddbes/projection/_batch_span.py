"""The ``ddbes.projector.batch`` span: one per batch a projector reads and handles.

It is opened at the batch's first commit, dated from the start of the read, so that the polls
of a caught-up projector, which read nothing, make no spans. It carries the projector, the log
partition, the first and last positions read and the number of commits. Handled one at a
time, each commit's ``ddbes.projector.handle`` span is its child (and links to the trace that
made the commit); with ``parallel`` workers the batch span covers the read and the hand-over
to them, and the handler spans are roots with their links.

Without an SDK configured, :func:`open_batch` returns ``None`` and the projector does nothing
more per commit than a test of it.
"""

from __future__ import annotations

import time
from typing import Any

from ddbes import telemetry
from ddbes.model import Commit

__all__ = ["BatchSpan", "open_batch"]


class BatchSpan:
    """One batch's span, opened at its first commit and closed by :meth:`close`."""

    __slots__ = ("_attributes", "_count", "_last", "_scope", "_span", "_started")

    def __init__(self, attributes: dict[str, Any]) -> None:
        self._attributes = attributes
        self._started = time.time_ns()
        self._scope: Any = None
        self._span: Any = None
        self._count = 0
        self._last: int | None = None

    def add(self, commit: Commit) -> None:
        """Count a commit read (the first opens the span, current until :meth:`close`)."""
        self._count += 1
        self._last = commit.position
        if self._scope is None:
            self._attributes["ddbes.position.from"] = commit.position
            self._scope = telemetry.span(
                "ddbes.projector.batch",
                self._attributes,
                kind="consumer",
                start_time=self._started,
            )
            self._span = self._scope.__enter__()

    def close(self, error: BaseException | None = None) -> None:
        """End the span (with ``error``, if the batch ended on one), in the thread that read
        the batch."""
        scope = self._scope
        if scope is None:
            return
        self._scope = None
        if self._span is not None:
            self._span.set_attribute("ddbes.position.to", self._last or 0)
            self._span.set_attribute("ddbes.commits", self._count)
        if error is None:
            scope.__exit__(None, None, None)
        else:
            scope.__exit__(type(error), error, error.__traceback__)


def open_batch(projector: str, log_partition: int) -> BatchSpan | None:
    """The span of a batch about to be read, or ``None`` when nothing is traced."""
    if not telemetry.enabled():
        return None
    return BatchSpan({"ddbes.projector": projector, "ddbes.log_partition": log_partition})
