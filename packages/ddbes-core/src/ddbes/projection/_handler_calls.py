"""Handler calls: a commit goes to its type's handler and to ``"*"``, timed and retried.

:class:`HandlerCalls` picks a commit's handlers, calls them (under the projector's handler
timeout, if it has one: :mod:`ddbes.projection._handler_timeout`), retries a failing one by the
policy (:mod:`ddbes.projection._handler_retry`), and knows which commits are being handled right
now, so that a projector that does not stop in time can say why.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from functools import partial
from threading import get_ident
from time import monotonic
from typing import Any

from ddbes import causation, telemetry
from ddbes.causation import enter_handling, exit_handling
from ddbes.model import Commit
from ddbes.projection._handler_retry import Handler, retry_handler
from ddbes.projection._handler_timeout import TimedHandlers
from ddbes.projection._typed_handlers import CommitDecoder, decoded
from ddbes.retry import RetryPolicy
from ddbes.telemetry import tracing

__all__ = ["HandlerCalls", "check_handler_timeout", "handle_span", "handlers_for"]


def handlers_for(handlers: Mapping[str, Handler], aggregate_type: str) -> tuple[Handler, ...]:
    """The handlers of a commit of ``aggregate_type``, in order: its type's, then ``"*"``."""
    return tuple(h for h in (handlers.get(aggregate_type), handlers.get("*")) if h)


def handle_span(projector: str, commit: Commit) -> AbstractContextManager[Any]:
    """The ``ddbes.projector.handle`` span of ``commit``'s handling, linked to the trace that
    made the commit (see :func:`ddbes.telemetry.span`)."""
    return telemetry.span(
        "ddbes.projector.handle",
        {
            "ddbes.projector": projector,
            "ddbes.aggregate.type": commit.aggregate_type,
            "ddbes.aggregate.key": commit.aggregate_key,
            "ddbes.version": commit.version,
            "ddbes.position": commit.position,
            "ddbes.correlation_id": commit.metadata.get(causation.CORRELATION_ID),
        },
        kind="consumer",
        links=telemetry.link_from(commit.metadata),
    )


def check_handler_timeout(value: object) -> float | None:
    """``handler_timeout`` as seconds, or ``None``.

    Raises:
        ValueError: it is neither ``None`` nor a positive number.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(
            f"handler_timeout must be None or a positive number of seconds, got {value!r}"
        )
    return float(value)


class HandlerCalls:
    """One projector's handlers, and the calls of them in progress.

    Args:
        handlers: aggregate type (or ``"*"``) -> handler.
        projector: the projector's name, for messages.
        timeout: seconds a handler call may take, or ``None``.
        policy: how a failing handler is retried.
        pause: sleeps between attempts; raises ``Abandoned`` when the projector stops.
        on_thread: run first on every thread that calls handlers for the projector.
        stops: whether a handler that keeps failing stops the projector (else it is parked).
        decode: upcasts and decodes a commit's events for the handlers (``event_types``).
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        projector: str,
        timeout: float | None,
        policy: RetryPolicy,
        pause: Callable[[float], None],
        on_thread: Callable[[], None],
        stops: bool = True,
        decode: CommitDecoder | None = None,
    ) -> None:
        self.handlers = dict(handlers)
        self._decode = decode
        self.timeout = timeout
        self.running: dict[int, tuple[Commit, int, float]] = {}
        """Thread id -> (commit, log partition, monotonic start) of the commits in hand."""
        self._table: dict[str, tuple[Handler, ...]] = {}
        self._projector = projector
        self._policy = policy
        self._pause = pause
        self._on_thread = on_thread
        self._stops = stops
        self._timed: TimedHandlers | None = None
        self._log: Any = None

    def open(self, log: Any) -> None:
        """Get ready for a run that logs to ``log``."""
        self._log = log
        if self.timeout is not None:
            self._timed = TimedHandlers(
                self.timeout, projector=self._projector, log=log, on_start=self._on_thread
            )

    def close(self) -> None:
        """End a run: let idle helper threads go."""
        if self._timed is not None:
            self._timed.close()
            self._timed = None

    def handle(self, commit: Commit, log_partition: int) -> None:
        """Hand a commit to its handlers, retrying a failing one by the policy.

        Raises:
            ProjectionFailed: a handler kept failing (or overrunning the timeout).
            Abandoned: the projector stopped during a retry's pause.
        """
        # Once per commit, so no context manager but the span's, and that only when tracing.
        running, thread = self.running, get_ident()
        running[thread] = (commit, log_partition, monotonic())
        caused = enter_handling(commit)
        try:
            if tracing():
                with handle_span(self._projector, commit):
                    self._handle(commit, log_partition)
            else:
                self._handle(commit, log_partition)
        finally:
            exit_handling(caused)
            del running[thread]

    def _handle(self, commit: Commit, log_partition: int) -> None:
        timed = self._timed
        # Handlers on another thread (a timeout) run in this thread's context: they see the
        # commit being handled (ddbes.causation) and the active span.
        captured = contextvars.copy_context() if timed is not None else None
        handlers = self._table.get(commit.aggregate_type)
        if handlers is None:
            handlers = self._handlers_for(commit)
        if self._decode is not None and handlers:
            commit = decoded(
                self._decode, commit, projector=self._projector, log_partition=log_partition,
                stops=self._stops, log=self._log,
            )  # fmt: skip
        for found in handlers:
            handler = found if captured is None else _in_context(captured, found)
            try:
                if timed is None:
                    handler(commit)
                else:
                    timed.call(handler, commit, log_partition)
            except Exception as exc:
                retry_handler(
                    handler, commit, log_partition, exc,
                    projector=self._projector, policy=self._policy, log=self._log,
                    pause=self._pause, stops=self._stops,
                    call=partial(timed.call, log_partition=log_partition) if timed else _call,
                )  # fmt: skip

    def _handlers_for(self, commit: Commit) -> tuple[Handler, ...]:
        kind = commit.aggregate_type
        found = self._table[kind] = handlers_for(self.handlers, kind)
        return found


def _call(handler: Handler, commit: Commit) -> object:
    return handler(commit)


def _in_context(context: contextvars.Context, handler: Handler) -> Handler:
    """``handler``, run in a fresh copy of ``context`` at each call (a handler thread then
    sees the commit being handled and the active span)."""

    @functools.wraps(handler)  # its name stays in messages
    def run(commit: Commit) -> object:
        return context.copy().run(handler, commit)

    return run
