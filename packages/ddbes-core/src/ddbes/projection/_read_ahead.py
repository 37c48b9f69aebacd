"""Reading a log partition's next batch while this one is handled.

A projector's read at each batch boundary stalls its handlers for a round trip (for a
consumer-group member, which handles only its slots' share of what it reads, a query of up to
16 batches' worth of commits). When a batch comes back full (more is likely waiting) and the
handlers mostly waited (their thread used under :data:`WAITING` of the time on the CPU over
the last :data:`WINDOW` of handling: remote writes, not computation), :class:`ReadAhead` starts
the read of the batch after it in a thread; the next step takes that read if it asks for the
same ``after`` and ``limit``, and otherwise it is dropped. With handlers that compute there is
nothing to overlap: a read in another thread would only take turns with them for the GIL, so
it is not made. The log below its head never changes, so a read made a moment early returns
what a read made now would (or fewer commits, when the log grew meanwhile: the next read takes
them).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

from ddbes.model import Commit
from ddbes.ports import CommitStore

__all__ = ["WAITING", "WINDOW", "Read", "ReadAhead"]

WINDOW = 0.05
"""Seconds of handling (one batch or several) over which the handlers' CPU share is judged: a
short batch that the scheduler preempted once looks like waiting; over tens of milliseconds
the preemptions of a busy machine even out."""

WAITING = 0.25
"""Handlers "mostly waited" when their thread spent under this fraction of :data:`WINDOW` on
the CPU: a quarter rather than a half, so that on a busy machine, where a computing thread gets
about half a core, computation does not pass for waiting."""

Read = tuple[list[Commit], Exception | None]
"""A read: the commits it returned, and what it raised after them (a damaged item, a failed
request), if anything. The caller handles the commits, then raises."""


def _read(commits: CommitStore, log_partition: int, after: int, limit: int) -> Read:
    got: list[Commit] = []
    try:
        for commit in commits.read_log(after=after, log_partition=log_partition, limit=limit):
            got.append(commit)
    except Exception as exc:  # the caller raises it after handling what came before
        return got, exc
    return got, None


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _reader_pool() -> ThreadPoolExecutor:
    """The threads every projector of the process reads ahead from."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(4, thread_name_prefix="ddbes-read-ahead")
        return _pool


class ReadAhead:
    """At most one read ahead per log partition, for one projector (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reads: dict[int, tuple[int, int, Future[Read]]] = {}
        self._handlers_wait = False
        self._wall = self._cpu = 0.0  # handling since the last judgement

    def handled(self, seconds: float, cpu_seconds: float) -> None:
        """Record how long the handling of a batch took, and how much of it its thread spent
        on the CPU; every :data:`WINDOW` seconds of handling, judge whether the handlers
        mostly wait."""
        self._wall += seconds
        self._cpu += cpu_seconds
        if self._wall >= WINDOW:
            self._handlers_wait = self._cpu < WAITING * self._wall
            self._wall = self._cpu = 0.0

    def start(self, commits: CommitStore, log_partition: int, after: int, limit: int) -> None:
        """Read up to ``limit`` commits of ``log_partition`` after ``after``, in a thread, if
        the handlers mostly waited when last judged."""
        if not self._handlers_wait:
            return
        future = _reader_pool().submit(_read, commits, log_partition, after, limit)
        with self._lock:
            self._reads[log_partition] = (after, limit, future)

    def read(self, commits: CommitStore, log_partition: int, after: int, limit: int) -> Read:
        """A read of ``log_partition`` after ``after``: the one made ahead for exactly this,
        else one made now."""
        with self._lock:
            ahead = self._reads.pop(log_partition, None)
        if ahead is not None and ahead[:2] == (after, limit):
            return ahead[2].result()
        return _read(commits, log_partition, after, limit)

    def drop(self) -> None:
        """Forget every read made ahead (a stopped projector, a lost lease)."""
        with self._lock:
            self._reads.clear()
