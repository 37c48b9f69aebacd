"""Handler timeouts: a projection handler that does not return in time counts as a failure.

Python cannot stop a thread. So, with a timeout, each handler call runs on a helper thread
while the projector's thread (or parallel worker) waits for it at most ``timeout`` seconds. A
call that overruns is **abandoned**: the projector raises
:class:`~ddbes.errors.HandlerTimedOut`, which goes through the handler retry path like any
other failure, and the next call gets a fresh helper thread. The abandoned thread goes on
running the hung call; if that call ever returns, its result is thrown away and the thread
ends. Helper threads are daemon threads, so a hung one never keeps the process from exiting.

Each handler call then crosses threads, which costs about 50 µs on a busy 2-core machine:
this is why the projector has no timeout unless one is given.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from ddbes.errors import HandlerTimedOut
from ddbes.model import Commit
from ddbes.projection._handler_retry import Handler, commit_label, handler_label

__all__ = ["TimedHandlers"]

_Request = tuple[Handler, Commit] | None


class _Helper:
    """A daemon thread that runs the handler calls handed to it, one at a time."""

    def __init__(self, name: str, on_start: Callable[[], None]) -> None:
        self.requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self.replies: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._on_start = on_start
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self._on_start()
        while (request := self.requests.get()) is not None:
            handler, commit = request
            try:
                handler(commit)
            except BaseException as exc:  # handed to the caller, who raises it
                self.replies.put(exc)
            else:
                self.replies.put(None)


class TimedHandlers:
    """Calls handlers on helper threads (one per calling thread), giving up after ``timeout``.

    Args:
        timeout: seconds a handler call may take.
        projector: the projector's name, for threads and messages.
        log: the projector's logger.
        on_start: run first on every helper thread (the projector marks its threads with it).
    """

    def __init__(
        self, timeout: float, *, projector: str, log: Any, on_start: Callable[[], None]
    ) -> None:
        self.timeout = timeout
        self._projector = projector
        self._log = log
        self._on_start = on_start
        self._local = threading.local()
        self._lock = threading.Lock()
        self._helpers: list[_Helper] = []
        self._count = 0
        self.abandoned: list[threading.Thread] = []
        """The helper threads left running a call that overran (some may have ended since)."""

    def call(self, handler: Handler, commit: Commit, log_partition: int) -> None:
        """Call ``handler(commit)`` on this thread's helper and wait at most ``timeout``.

        Raises:
            HandlerTimedOut: the call did not return in time; its thread is abandoned.
            Exception: whatever the handler raised.
        """
        helper: _Helper | None = getattr(self._local, "helper", None)
        if helper is None:
            with self._lock:
                self._count += 1
                name = f"projector-{self._projector}-handler-{self._count}"
                helper = _Helper(name, self._on_start)
                self._helpers.append(helper)
            self._local.helper = helper
        started = time.monotonic()
        helper.requests.put((handler, commit))
        try:
            outcome = helper.replies.get(timeout=self.timeout)
        except queue.Empty:
            raise self._abandon(helper, handler, commit, log_partition, started) from None
        if outcome is not None:
            raise outcome

    def close(self) -> None:
        """Let the helper threads that are not running a call end."""
        with self._lock:
            helpers, self._helpers = self._helpers, []
        for helper in helpers:
            helper.requests.put(None)

    def _abandon(
        self, helper: _Helper, handler: Handler, commit: Commit, log_partition: int, started: float
    ) -> HandlerTimedOut:
        self._local.helper = None
        helper.requests.put(None)  # the thread ends if the call ever returns
        with self._lock:
            if helper in self._helpers:
                self._helpers.remove(helper)
            self.abandoned.append(helper.thread)
            hung = sum(thread.is_alive() for thread in self.abandoned)
        error = HandlerTimedOut(
            f"projector {self._projector!r}: handler {handler_label(handler)} did not return "
            f"within handler_timeout={self.timeout} s ({time.monotonic() - started:.1f} s) on "
            f"the {commit_label(commit, log_partition)}. Python cannot stop a thread: the call "
            f"goes on in thread {helper.thread.name!r}, which the projector abandons "
            f"({hung} abandoned handler thread(s) still running)"
        )
        self._log.error("%s", error)
        return error


def not_stopped(
    projector: str,
    timeout: float | None,
    running: dict[int, tuple[Commit, int, float]],
    handler_timeout: float | None,
) -> TimeoutError:
    """The error of a ``stop(timeout=...)`` that waited in vain, saying what the projector is on.

    ``running``: thread id -> (commit, log partition, monotonic start) of the handler calls
    in progress.
    """
    message = f"projector {projector!r} did not stop within {timeout} s: "
    if running:
        commit, log_partition, started = min(running.values(), key=lambda call: call[2])
        message += (
            f"its handlers have been on the {commit_label(commit, log_partition)} for "
            f"{time.monotonic() - started:.1f} s. It stops once they return"
        )
        if handler_timeout is None:
            message += (
                "; Python cannot interrupt a thread, so give Projector(handler_timeout=...) "
                "to bound every handler call"
            )
        else:
            message += f" or overrun handler_timeout={handler_timeout} s"
    else:
        message += "it is reading the log or saving a checkpoint (is the store answering?)"
    return TimeoutError(message + ". Call stop() again to wait, or join() to wait and see why")
