"""Who sequences, and when: the background thread of a store on a table sequenced in the
background, and :meth:`SequencingService.flush`.

Every process that uses such a table (to append, or to read its log) runs one thread per store
that sequences the partitions it touched, **under a lease** per partition
(``lease#ddbes-sequencer``): one process sequences a partition at a time, so writer processes do
not race each other for log positions. An append in the lease holder's process wakes its thread
at once; the holder also polls the to-do index, every :data:`BUSY_POLL` seconds while there is
work and backing off to :data:`IDLE_POLL` when there is none, so commits of other processes
enter the log within about one poll. An append in another process leaves its thread asleep:
nothing there would come of waking it. When the holder dies its lease expires after
:data:`LEASE_TTL` seconds and another process takes over. The lease is an optimisation, never a
guarantee: the sequencer's conditions keep the log exact whoever writes it.

A thread with nothing to do for :data:`IDLE_EXIT` seconds (no append, no log read, no work)
releases its leases and ends; the next use starts it again. At interpreter exit each store
sequences what it appended (for up to :data:`EXIT_FLUSH` seconds) and releases its leases.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from typing import Any

from ddbes.errors import ConfigurationError, DdbesError, StoreUnavailable
from ddbes.model import Commit
from ddbes.projection.leases import LeaseStore
from ddbes_dynamodb._errors import Caller, deadline_within
from ddbes_dynamodb._items import pad
from ddbes_dynamodb._sequencer import MAX_BATCH, Sequencer

__all__ = ["LEASE_NAME", "SequencingService", "stop_all"]

LEASE_NAME = "ddbes-sequencer"
LEASE_TTL = 6.0
BUSY_POLL = 0.005
IDLE_POLL = 0.1
WARN_EVERY = 60.0
LINGER = 0.02
"""After a partial batch, or a wake-up by an append, wait this long so that the next batch
gathers more commits: fewer, fuller transactions for a little lag."""
IDLE_EXIT = 30.0
EXIT_FLUSH = 5.0
FAILURE_PAUSE = 5.0
"""The longest pause of the thread after failures (it doubles from :data:`IDLE_POLL`)."""
FLUSH_HANDOFF = 1.0
"""Seconds a flush leaves a partition to the process holding its lease (which logs a commit
within tens of milliseconds) before it sequences the partition itself: processes that flush
at once then do not all race for the same positions."""
RELEASE_DEADLINE = 2.0
"""How long releasing the leases may take (they expire by themselves anyway)."""
PENDING_CHECK = 10_000
"""Pending commits remembered for :meth:`SequencingService.flush` before the oldest are checked.

A process learns for free that its commits are in the log only where it holds the lease (its
sequencer logged them); elsewhere they wait in memory for a flush, or, past this many, are
checked with one strongly consistent read each."""
CHECKED_PER_TURN = 1_000
"""The most pending commits checked per turn of the thread when there are too many."""

_KEYS = "p, s, n"

logger = logging.getLogger("ddbes.dynamodb")

_services: weakref.WeakSet[SequencingService] = weakref.WeakSet()
_exit_hook = threading.Lock()
_exit_registered = False


def _at_exit() -> None:
    for service in list(_services):
        service.close(flush_timeout=EXIT_FLUSH)


def stop_all() -> None:
    """Stop every sequencing thread of this process, sequencing nothing more (for tests that
    stop the database before the interpreter exits)."""
    for service in list(_services):
        service.close()
        service.forget(pending=True)


class SequencingService:
    """Runs the sequencers of one store: in a background thread under leases, or right away in
    :meth:`flush`."""

    def __init__(
        self,
        *,
        table: str,
        call: Caller,
        client: Any,
        leases: LeaseStore,
        read_head: Callable[[int], int],
        on_sequenced: Callable[[Callable[[], list[Commit]]], None],
        log_pages: Callable[[], bool],
    ) -> None:
        self._table = table
        self._log_pages = log_pages
        self._call = call
        self._client = client
        self._leases = leases
        self._read_head = read_head
        self._on_sequenced = on_sequenced
        self._sequencers: dict[int, Sequencer] = {}
        self._owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._last_use = time.monotonic()
        self._partitions: set[int] = set()
        self._held: dict[int, float] = {}  # partition -> when to renew the lease
        self._refused: dict[int, float] = {}  # partition -> when to ask for the lease again
        # partition -> the (pk, version) appended here and not yet known in the log, oldest first
        self._pending: dict[int, dict[tuple[str, int], None]] = {}
        self._failing_since: float | None = None
        self._warned_at = 0.0
        self._failures = 0

    def _sequencer(self, partition: int) -> Sequencer:
        sequencer = self._sequencers.get(partition)
        if sequencer is None:
            with self._lock:
                sequencer = self._sequencers.get(partition)
                if sequencer is None:
                    sequencer = self._sequencers[partition] = Sequencer(
                        partition=partition,
                        table=self._table,
                        call=self._call,
                        client=self._client,
                        read_head=self._read_head,
                        on_sequenced=self._on_sequenced,
                        pages=self._log_pages(),
                    )
        return sequencer

    def forget(self, *, pending: bool) -> None:
        """Forget heads and what is known to be in the log (the table may have been made anew),
        and with ``pending`` the commits waiting for it too (the table was deleted)."""
        with self._lock:
            self._sequencers.clear()
            if pending:
                self._pending.clear()

    # -- what the store tells it ----------------------------------------------------------

    def appended(self, pk: str, version: int, partition: int) -> None:
        """A commit was stored without a position: sequence it soon."""
        with self._lock:
            self._pending.setdefault(partition, {})[(pk, version)] = None
        self._use(partition)
        if partition in self._held:  # else another process sequences it: no use waking
            self._wake.set()

    def reading(self, partition: int) -> None:
        """The log of ``partition`` is read in this process: keep it moving."""
        self._use(partition)

    def _use(self, partition: int) -> None:
        self._last_use = time.monotonic()
        if partition in self._partitions and self._thread is not None:
            return
        global _exit_registered
        with self._lock:
            self._partitions.add(partition)
            if self._stopping or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._run, name=f"ddbes-sequencer {self._table}", daemon=True
            )
            self._thread.start()
        _services.add(self)
        with _exit_hook:
            if not _exit_registered:
                atexit.register(_at_exit)
                _exit_registered = True

    # -- the background thread ------------------------------------------------------------

    def _run(self) -> None:
        idle_poll = BUSY_POLL
        try:
            while not self._stopping:
                counts = [
                    self._sequence(partition)
                    for partition in sorted(self._partitions)
                    if self._may_sequence(partition)
                ]
                self._forget_sequenced()
                if any(count >= MAX_BATCH for count in counts):
                    continue  # more is waiting: no pause
                if any(counts):
                    self._last_use = time.monotonic()
                    idle_poll = BUSY_POLL
                    time.sleep(LINGER)  # let the next batch gather
                    continue
                if time.monotonic() - self._last_use > IDLE_EXIT:
                    with self._lock:
                        if not self._waiting():
                            self._thread = None  # a use from now on starts a new thread
                            break
                woken = self._wake.wait(idle_poll)
                self._wake.clear()
                if woken:
                    time.sleep(LINGER)
                idle_poll = BUSY_POLL if woken else min(idle_poll * 2, IDLE_POLL)
        finally:
            self._release_all()
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _sequence(self, partition: int) -> int:
        try:
            count = self._sequencer(partition).run_once()
        except ConfigurationError as exc:  # the table is gone: nothing to sequence
            logger.debug("sequencer of table %r stops: %s", self._table, exc)
            self._stopping = True
            return 0
        except Exception as exc:  # the thread must outlive any failure; it retries
            self._failed(f"sequencing log partition {partition}", exc)
            return 0
        self._recovered()
        return count

    def _failed(self, what: str, exc: Exception) -> None:
        """Log a failure of the thread once (again every :data:`WARN_EVERY` s while it
        lasts), and pause, longer after each failure."""
        now = time.monotonic()
        self._failures += 1
        if self._failing_since is None:
            self._failing_since = now
        if now - self._warned_at >= WARN_EVERY:
            self._warned_at = now
            logger.warning(
                "the background sequencer of table %r keeps failing (%s; retrying quietly, "
                "commits stay stored and enter the log once it recovers): %s",
                self._table,
                what,
                exc,
                exc_info=not isinstance(exc, DdbesError),
            )
        else:
            logger.debug("sequencer of table %r: %s failed: %s", self._table, what, exc)
        self._wake.wait(min(IDLE_POLL * 2 ** min(self._failures, 10), FAILURE_PAUSE))
        self._wake.clear()

    def _recovered(self) -> None:
        if self._failing_since is not None:
            logger.info(
                "the background sequencer of table %r works again after %.0f s",
                self._table,
                time.monotonic() - self._failing_since,
            )
        self._failing_since = None
        self._failures = 0
        self._warned_at = 0.0

    def _may_sequence(self, partition: int) -> bool:
        now = time.monotonic()
        if now < self._held.get(partition, 0.0):
            return True
        if now < self._refused.get(partition, 0.0):
            return False
        try:
            held = self._leases.acquire(LEASE_NAME, partition, self._owner, LEASE_TTL)
        except DdbesError as exc:
            self._failed(f"taking the lease of log partition {partition}", exc)
            held = False
        else:
            self._recovered()
        now = time.monotonic()
        if held:
            self._held[partition] = now + LEASE_TTL / 3
            self._refused.pop(partition, None)
        else:
            self._held.pop(partition, None)
            self._refused[partition] = now + LEASE_TTL / 4
        return held

    def _release_all(self) -> None:
        with deadline_within(RELEASE_DEADLINE):
            for partition in list(self._held):
                with contextlib.suppress(DdbesError):  # else it expires by itself
                    self._leases.release(LEASE_NAME, partition, self._owner)
        self._held.clear()

    # -- flush ----------------------------------------------------------------------------

    def _waiting(self) -> bool:
        """Whether commits appended here are not yet known to be in the log."""
        return any(self._pending.values())

    def _forget_sequenced(self, *, everywhere: bool = False) -> None:
        """Drop pending commits that this process's sequencers put in the log: of the
        partitions it holds (``everywhere``: of all). Check the oldest when there are many.

        Only a holder's sequencer learns what enters its partition's log, so the thread does
        not go through the others' pending commits at every turn."""
        with self._lock:
            mine = {
                partition: list(keys)
                for partition, keys in self._pending.items()
                if keys and (everywhere or partition in self._held)
            }
            count = sum(map(len, self._pending.values()))
            over = min(count - PENDING_CHECK + MAX_BATCH, CHECKED_PER_TURN)
            oldest = (
                list(itertools.islice(itertools.chain(*self._pending.values()), over))
                if count > PENDING_CHECK
                else []
            )
        done = [
            key
            for partition, keys in mine.items()
            for key in keys
            if self._sequencer(partition).in_log(key[0], key[1])
        ]
        if count - len(done) > PENDING_CHECK:
            done += self._in_log(oldest)
        self._drop_pending(done)

    def _drop_pending(self, keys: list[tuple[str, int]]) -> None:
        if keys:
            with self._lock:
                for key in keys:
                    for pending in self._pending.values():
                        pending.pop(key, None)

    def _in_log(self, keys: list[tuple[str, int]]) -> list[tuple[str, int]]:
        """Which of ``keys`` have a log position, read strongly consistently."""
        found: list[tuple[str, int]] = []
        wanted = [{"p": {"S": pk}, "s": {"S": pad(version)}} for pk, version in keys]
        while wanted:
            chunk, wanted = wanted[:100], wanted[100:]
            request: dict[str, Any] = {
                self._table: {"Keys": chunk, "ConsistentRead": True, "ProjectionExpression": _KEYS}
            }
            while request:
                response = self._call(
                    self._client.batch_get_item, "checking log positions", RequestItems=request
                )
                for item in response.get("Responses", {}).get(self._table, []):
                    if "n" in item:
                        found.append((item["p"]["S"], int(item["s"]["S"])))
                request = response.get("UnprocessedKeys") or {}
        return found

    def flush(self, timeout: float | None) -> None:
        """Return once every commit appended through this store is in the log; sequence them
        here: at once where this process holds the lease, else if the holder has not done it
        within :data:`FLUSH_HANDOFF`. Every call to DynamoDB inside
        ends by ``timeout`` too (but for an attempt in flight, bounded by the read timeout)."""
        with deadline_within(timeout):
            self._flush(timeout)

    def _flush(self, timeout: float | None) -> None:
        began = time.monotonic()
        deadline = None if timeout is None else began + timeout
        delay = 0.002
        while True:
            self._forget_sequenced(everywhere=True)
            with self._lock:
                partitions = sorted(p for p, keys in self._pending.items() if keys)
            if not partitions:
                return
            for partition in partitions:
                if self._may_sequence(partition) or time.monotonic() - began > FLUSH_HANDOFF:
                    self._sequencer(partition).run_once()
            self._forget_sequenced(everywhere=True)
            with self._lock:
                keys = [key for pending in self._pending.values() for key in pending]
            if not keys:
                return
            self._drop_pending(self._in_log(keys))
            with self._lock:
                left = sum(map(len, self._pending.values()))
                if not left:
                    return
            if deadline is not None and time.monotonic() > deadline:
                raise StoreUnavailable(
                    f"{left} commits stored in table {self._table!r} were not in its global log "
                    f"after {timeout} s; they are stored and will be sequenced by the next "
                    "process that uses the table"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    def close(self, flush_timeout: float | None = None) -> None:
        """Stop the thread; sequence pending commits first when ``flush_timeout`` is given."""
        if flush_timeout is not None and self._waiting():
            try:
                self.flush(flush_timeout)
            except DdbesError as exc:
                logger.info("closing the sequencer of table %r: %s", self._table, exc)
        self._stopping = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
        self._release_all()
        with self._lock:
            self._stopping = False
