"""One poll of the log heads per commit store object, shared by every watching projector of a
process.

A caught-up projector does not read the log to learn that nothing is new: it waits until the
shared :class:`HeadWatch` of its commit store says a head moved. The watch reads each log
partition's head once per poll interval (the shortest of its subscribers'), whatever the number
of projectors, and hears at once of commits appended through the same store object (an append
listener), so a projector in the process that commits sees them without waiting for a poll.

A read of the log is a poll of its head too: a subscriber tells the watch what its reads
showed (:meth:`HeadWatch.read`), and while reads of a partition come back full (a projector
catching up reads on at once) the watch does not poll that partition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ddbes.errors import StoreUnavailable
from ddbes.model import Commit
from ddbes.ports import CommitStore

__all__ = ["HeadWatch", "subscribe"]

_lock = threading.Lock()
_watches: dict[int, HeadWatch] = {}


class HeadWatch:
    """The heads of one commit store's log partitions, polled in one background thread."""

    def __init__(self, store: CommitStore) -> None:
        self._store = store
        self._heads = [0] * store.log_partitions
        self._read_full_at = [float("-inf")] * store.log_partitions  # monotonic times
        self._subscribers: dict[object, tuple[float, Callable[[], None]]] = {}
        self._wake = threading.Event()
        self._remove_listener = store.add_append_listener(self._appended)
        self._thread = threading.Thread(target=self._poll, name="ddbes-head-watch", daemon=True)
        self._stopped = False
        self.polls = 0

    def head(self, log_partition: int) -> int:
        """The newest position known of a log partition."""
        return self._heads[log_partition]

    def read(self, log_partition: int, newest: int, *, full: bool) -> None:
        """What a subscriber's read of a log partition showed: ``newest``, its last commit's
        position, and whether the read came back ``full`` (then the next poll of the
        partition is skipped: the reader reads on at once)."""
        if full:
            self._read_full_at[log_partition] = time.monotonic()
        if newest > self._heads[log_partition]:
            self._heads[log_partition] = newest
            self._notify()

    def _appended(self, commit: Commit) -> None:
        part, position = commit.log_partition, commit.position or 0
        if position > self._heads[part]:
            self._heads[part] = position
            self._notify()

    def _notify(self) -> None:
        for _, notify in list(self._subscribers.values()):
            notify()

    def _poll(self) -> None:
        due = time.monotonic()
        while not self._stopped:
            subscribers = list(self._subscribers.values())
            interval = min((i for i, _ in subscribers), default=0.5)
            due = max(due + interval, time.monotonic())  # a fixed rate, however slow the reads
            moved = False
            try:
                now = time.monotonic()
                for part in range(len(self._heads)):
                    if now - self._read_full_at[part] < interval:
                        continue  # a reader is catching up here: its reads are the polls
                    head = self._store.head_position(part)
                    if head > self._heads[part]:
                        self._heads[part] = head
                        moved = True
                self.polls += 1
            except StoreUnavailable as exc:
                logging.getLogger("ddbes").warning("reading the log heads failed: %s", exc)
            except Exception:
                logging.getLogger("ddbes").exception("reading the log heads failed")
            if moved:
                self._notify()
            if self._wake.wait(max(0.0, due - time.monotonic())):
                due = time.monotonic()  # a new subscriber: poll now
            self._wake.clear()

    def _close(self) -> None:
        self._stopped = True
        self._remove_listener()
        self._wake.set()


def subscribe(
    store: CommitStore, interval: float, notify: Callable[[], None]
) -> tuple[HeadWatch, Callable[[], None]]:
    """Watch ``store``'s heads every ``interval`` seconds (or sooner, for other subscribers);
    ``notify()`` is called (from the watch's thread, or an appending one) when a head moves.

    Returns:
        The watch, and a function that ends the subscription (the watch stops with its last).
    """
    key = id(store)
    with _lock:
        watch = _watches.get(key)
        if watch is None or watch._store is not store:
            watch = _watches[key] = HeadWatch(store)
            watch._thread.start()
        token = object()
        watch._subscribers[token] = (interval, notify)
        watch._wake.set()

    def leave() -> None:
        with _lock:
            watch._subscribers.pop(token, None)
            if not watch._subscribers:
                watch._close()
                if _watches.get(key) is watch:
                    del _watches[key]

    return watch, leave
