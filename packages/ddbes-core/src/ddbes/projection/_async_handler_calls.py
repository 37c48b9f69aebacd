"""Handler calls in an event loop: a commit goes to its type's handler and to ``"*"``, awaited
when the handler is ``async def``, timed and retried.

The twin of :mod:`ddbes.projection._handler_calls` for the
:class:`~ddbes.projection.async_projector.AsyncProjector`: the same handlers are chosen
(:func:`~ddbes.projection._handler_calls.handlers_for`) and a failing one is retried by the
same steps (:func:`~ddbes.projection._handler_retry.retry_steps`); only the calls differ. A
coroutine handler under a ``handler_timeout`` is cancelled when it overruns (unlike a thread,
a task can be stopped). A plain function runs on the loop's thread, so it should be quick; with
a timeout it runs in a worker thread (``asyncio.to_thread``) that is abandoned if it overruns.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from ddbes import causation
from ddbes.errors import HandlerTimedOut
from ddbes.model import Commit
from ddbes.projection._handler_calls import handle_span, handlers_for
from ddbes.projection._handler_retry import Handler, commit_label, handler_label, retry_steps
from ddbes.projection._steps import run_async
from ddbes.projection._typed_handlers import CommitDecoder, decoded
from ddbes.retry import RetryPolicy

__all__ = ["AsyncHandlerCalls"]


class AsyncHandlerCalls:
    """One async projector's handlers, and the commit being handled right now.

    Args:
        handlers: aggregate type (or ``"*"``) -> handler, ``async def`` or plain.
        projector: the projector's name, for messages.
        timeout: seconds a handler call may take, or ``None``.
        policy: how a failing handler is retried.
        pause: a coroutine function that sleeps between attempts; it raises ``Abandoned``
            when the projector stops.
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
        pause: Callable[[float], Awaitable[None]],
        stops: bool = True,
        decode: CommitDecoder | None = None,
    ) -> None:
        self.handlers = dict(handlers)
        self._decode = decode
        self.timeout = timeout
        self.running: tuple[Commit, int, float] | None = None
        """(commit, log partition, monotonic start) of the commit in hand, if any."""
        self._table: dict[str, tuple[Handler, ...]] = {}
        self._projector = projector
        self._policy = policy
        self._pause = pause
        self._stops = stops
        self.log: Any = None

    async def handle(self, commit: Commit, log_partition: int) -> None:
        """Hand a commit to its handlers, retrying a failing one by the policy.

        Raises:
            ProjectionFailed: a handler kept failing (or overrunning the timeout).
            Abandoned: the projector stopped during a retry's pause.
        """
        kind = commit.aggregate_type
        handlers = self._table.get(kind)
        if handlers is None:
            handlers = self._table[kind] = handlers_for(self.handlers, kind)
        self.running = (commit, log_partition, time.monotonic())
        if self._decode is not None and handlers:
            commit = decoded(
                self._decode, commit, projector=self._projector, log_partition=log_partition,
                stops=self._stops, log=self.log,
            )  # fmt: skip
        try:
            with causation.handling(commit), handle_span(self._projector, commit):
                for handler in handlers:
                    call = self._caller(log_partition)
                    try:
                        await call(handler, commit)
                    except Exception as exc:
                        steps = retry_steps(
                            handler, commit, log_partition, exc,
                            projector=self._projector, policy=self._policy, log=self.log,
                            pause=self._pause, stops=self._stops, call=call,
                        )  # fmt: skip
                        await run_async(steps)
        finally:
            self.running = None

    def _caller(self, log_partition: int) -> Callable[[Handler, Commit], Awaitable[None]]:
        if self.timeout is None:
            return _call
        timeout = self.timeout

        async def timed(handler: Handler, commit: Commit) -> None:
            started = time.monotonic()
            try:
                async with asyncio.timeout(timeout):
                    if inspect.iscoroutinefunction(handler):
                        await handler(commit)
                    else:  # a plain function cannot be interrupted: run it in a thread
                        result = await asyncio.to_thread(handler, commit)
                        if inspect.isawaitable(result):
                            await result
            except TimeoutError:
                error = HandlerTimedOut(
                    f"projector {self._projector!r}: handler {handler_label(handler)} did not "
                    f"return within handler_timeout={timeout} s "
                    f"({time.monotonic() - started:.1f} s) on the "
                    f"{commit_label(commit, log_partition)}; it was cancelled"
                    + ("" if inspect.iscoroutinefunction(handler) else
                       " (a plain function goes on in its worker thread)")
                )  # fmt: skip
                self.log.error("%s", error)
                raise error from None

        return timed


async def _call(handler: Handler, commit: Commit) -> None:
    result = handler(commit)
    if inspect.isawaitable(result):
        await result
