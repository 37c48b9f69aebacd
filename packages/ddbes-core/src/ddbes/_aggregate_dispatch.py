"""Parallel dispatch: commits of different aggregates on worker threads, each aggregate's in order.

An aggregate has at most one worker at a time: its later commits queue behind the one being
handled and that worker takes them in turn. When a commit is left unhandled (the projector stops,
loses the lease or a handler failed), the aggregate's queued commits are dropped with it, so that
none overtakes it; they are read again from the checkpoint.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ddbes.model import Commit
from ddbes.projection._partition import Partition

__all__ = ["AggregateDispatcher"]


class AggregateDispatcher:
    """Hands commits to a thread pool, one aggregate's commits at a time and in order.

    Args:
        workers: worker threads.
        name: the projector's name, for the threads' names.
        lock: the projector's lock; guards the queues and the partitions' bookkeeping.
        batch_size: the projector's batch size; the reader is woken when a partition's
            ``in_flight`` drops to it.
        handle: handles one commit on a worker thread; ``True`` if it was handled.
        handled: counts a handled commit; called under ``lock``.
    """

    def __init__(
        self,
        workers: int,
        *,
        name: str,
        lock: threading.Condition,
        batch_size: int,
        handle: Callable[[Partition, Commit], bool],
        handled: Callable[[Partition, Commit], None],
    ) -> None:
        self._pool = ThreadPoolExecutor(workers, f"projector-{name}")
        self._queues: dict[str, deque[tuple[Partition, Commit]]] = {}
        self._cond = lock
        self._batch_size = batch_size
        self._handle = handle
        self._handled = handled

    def submit(self, part: Partition, commit: Commit) -> None:
        """Queue a commit behind its aggregate's, or give it to a worker."""
        key = commit.aggregate_id
        part.dispatched = commit.position or 0
        with self._cond:
            part.in_flight += 1
            queue = self._queues.get(key)
            if queue is not None:
                queue.append((part, commit))
                return
            self._queues[key] = deque()
        self._pool.submit(self._work, key, part, commit)

    def shutdown(self) -> None:
        """Wait for the workers to end."""
        self._pool.shutdown(wait=True)

    def _work(self, key: str, part: Partition, commit: Commit) -> None:
        """Handle one aggregate's queued commits in order, then let the aggregate go."""
        while True:
            finished = self._handle(part, commit)
            with self._cond:
                queue = self._queues[key]
                before, dropped = part.in_flight, 1
                if finished:
                    self._handled(part, commit)
                else:  # this aggregate's later commits must not overtake this one
                    dropped += len(queue)
                    queue.clear()
                part.in_flight -= dropped
                if (
                    not finished
                    or part.in_flight == 0
                    or before > self._batch_size >= part.in_flight
                ):
                    self._cond.notify_all()
                if not queue:
                    del self._queues[key]
                    return
                part, commit = queue.popleft()
