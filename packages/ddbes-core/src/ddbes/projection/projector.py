"""The projector: keeps read models in step with the global log, never skipping a commit.

A :class:`Projector` reads every log partition from its checkpoint in batches, hands each commit
to the handler for its aggregate type and to the ``"*"`` handler, and moves the checkpoint only
over commits whose handlers finished. Delivery is **at least once**: after a crash the commits
handled since the last saved checkpoint (at most one batch per partition) are handled again, so
a handler makes itself idempotent with ``commit.position`` (see ``docs/projectors.md``).

With a :class:`~ddbes.leases.LeaseStore`, projectors of the same name in many processes share the
work: a log partition is handled only by the holder of its lease, and another process takes over
when the holder stops renewing it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any, TypeVar

from ddbes._aggregate_dispatch import AggregateDispatcher
from ddbes.aggregates.upcasting import Upcasters
from ddbes.errors import (
    ProjectionFailed,
    ProjectorConflict,
    StoreUnavailable,
)
from ddbes.model import Commit
from ddbes.ports import CheckpointStore, Clock, CommitStore
from ddbes.projection._batch_span import open_batch
from ddbes.projection._batching import Move, next_move, read_failed, read_through
from ddbes.projection._checkpoints import PartitionCheckpoints
from ddbes.projection._group import Group
from ddbes.projection._group_reading import GroupReading, by_log_partition
from ddbes.projection._handler_calls import HandlerCalls, check_handler_timeout
from ddbes.projection._handler_retry import Abandoned, Handler
from ddbes.projection._handler_timeout import not_stopped
from ddbes.projection._handling import Handling
from ddbes.projection._heads import HeadWatch, subscribe
from ddbes.projection._operations import ProjectorOperations
from ddbes.projection._options import check_options
from ddbes.projection._parking import Parking
from ddbes.projection._partition import Partition
from ddbes.projection._progress import ProgressReporter, ProjectorProgress, measure_progress
from ddbes.projection._read_ahead import ReadAhead
from ddbes.projection._steps import run_sync, store_call
from ddbes.projection._typed_handlers import commit_decoder
from ddbes.projection.leases import LeaseKeeper, LeaseStore
from ddbes.projection.status import ProjectorStatus, stored_name
from ddbes.retry import RetryPolicy
from ddbes.settings import config
from ddbes.typed_events import EventTypes

__all__ = ["DEFAULT_RETRY", "Handler", "Projector", "ProjectorProgress", "ProjectorStatus"]


T = TypeVar("T")

DEFAULT_RETRY = RetryPolicy(max_attempts=8, initial_delay=0.05, backoff=2.0, max_delay=5.0)
"""Tries a failing handler (or store call) 8 times over about 6 s, jittered, before giving up."""


class Projector(ProjectorOperations, GroupReading, Handling):
    """Hands every commit of the global log to handlers, from a checkpoint, in order.

    Args:
        handlers: aggregate type -> handler; the handler under ``"*"`` receives every commit
            (after its type's own handler). Commits of other types are passed over.
        name: the projector's name; its checkpoints and leases are saved under it.
        commit_store: the log to read (default: ``ddbes.config``'s).
        checkpoint_store: where positions are saved (default: ``ddbes.config``'s).
        clock: the time source (default: ``ddbes.config``'s).
        logger: where the projector logs (default: ``ddbes.config``'s).
        poll_interval: seconds between reads of the log once caught up.
        batch_size: commits per read and per checkpoint save.
        parallel: worker threads; above 1, commits of different aggregates are handled
            concurrently while each aggregate's commits stay in order.
        retry: how often and how patiently a failing handler, or a store that is unavailable,
            is retried (:data:`DEFAULT_RETRY`).
        lease_store: shares the work between projectors of this name in many processes.
        lease_ttl: seconds a lease lasts without renewal; renewed every ``lease_ttl / 3``.
        owner: this projector's identity in leases (default: host, pid and a random suffix).
        on_progress: called with a :class:`ProjectorProgress` after every batch, on catching up
            and on stopping (errors in it are logged and ignored); also an attribute, so a CLI
            can attach a progress bar to a projector built elsewhere.
        handler_timeout: seconds a handler call may take (default ``None``: no limit). A call
            that overruns counts as a failure of that handler on that commit, retried by
            ``retry`` and then stopping the projector. Python cannot stop a thread: with a
            timeout each call runs on a helper thread (about 50 µs more per call), and one that
            overruns is abandoned and goes on in the background (see ``docs/projectors.md``).
            It applies whatever ``on_failure`` is.
        slots: makes projectors of this name in many processes a **consumer group**: each log
            partition is cut into ``slots`` hash slots of aggregates, which the members share
            through ``lease_store`` (rebalanced as members join and leave). Every member must
            give the same ``slots``; choose several per member you expect (16 for up to 4).
        version: the projection's version (1). A new version builds beside the live one from
            position 0, under its own checkpoints, leases and parked commits, while the old
            version keeps serving; :meth:`status` reports both.
        on_failure: ``"stop"`` (the default): a handler that keeps failing stops the projector.
            ``"park"``: its commit is parked with its error, the later commits of its aggregate
            are held back, and the projector goes on with the others (:meth:`parked`,
            :meth:`retry`, :meth:`skip`).
        read_model_is_new: a function saying whether the read model is new (an empty table,
            say). When it says so while the checkpoint is not at the start, the projector does
            what ``on_new_read_model`` says at :meth:`run` or :meth:`start`: ``"refuse"``
            (the default: raise :class:`~ddbes.errors.StaleCheckpoint`), ``"warn"`` (log a
            warning and continue from the checkpoint), or ``"reset"`` (start from position 0).
        inline: with :meth:`start` (``watch=True``), also handle each commit appended through
            this commit store object in the appending thread, right after the append, so that
            the read model is current when the command returns (see ``docs/projectors.md`` for
            what it does not guarantee). Needs ``parallel=1``.
        event_types: typed events for the handlers, which then receive each commit with its
            events as instances of their classes: an
            :class:`~ddbes.typed_events.EventTypes` or the event classes (for every commit
            handled), or a mapping of aggregate type (or ``"*"``) to one of those or to an
            aggregate class (its ``event_types`` and ``upcasters``). An event that fits no
            class fails its commit like a handler that keeps failing, at once (it stops the
            projector, or with ``on_failure="park"`` parks the commit), naming the commit.
        upcasters: upcasters run on the stored events before they are decoded (or given to
            the handlers as dicts), as an aggregate's ``upcasters``.

    Errors: a handler that keeps failing stops the projector with
    :class:`~ddbes.errors.ProjectionFailed`, chained to the handler's exception, its checkpoint
    just before that commit. :meth:`run` raises it; after :meth:`start` it is logged, kept in
    :attr:`error`, returned by :meth:`stop` and raised by :meth:`join`. The process never exits.
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        name: str,
        commit_store: CommitStore | None = None,
        checkpoint_store: CheckpointStore | None = None,
        poll_interval: float = 0.5,
        batch_size: int = 500,
        parallel: int = 1,
        retry: RetryPolicy | None = None,
        lease_store: LeaseStore | None = None,
        lease_ttl: float = 30.0,
        owner: str | None = None,
        on_progress: Callable[[ProjectorProgress], object] | None = None,
        handler_timeout: float | None = None,
        logger: Any = None,
        clock: Clock | None = None,
        version: int = 1,
        on_failure: str = "stop",
        read_model_is_new: Callable[[], bool] | None = None,
        on_new_read_model: str = "refuse",
        inline: bool = False,
        slots: int | None = None,
        event_types: EventTypes | Iterable[type] | Mapping[str, Any] | None = None,
        upcasters: Upcasters | None = None,
    ) -> None:
        check_options(
            handlers, name=name, poll_interval=poll_interval, lease_ttl=lease_ttl,
            batch_size=batch_size, parallel=parallel, retry=retry, version=version,
            on_failure=on_failure, on_new_read_model=on_new_read_model,
            read_model_is_new=read_model_is_new, inline=inline, slots=slots,
            lease_store=lease_store,
        )  # fmt: skip
        self._slots = slots
        self._group: Group | None = None
        self._read_ahead = ReadAhead()
        self.name = name
        self.version = version
        self.stored_name = stored_name(name, version)
        """Where checkpoints, leases and parked commits are saved: ``name``, or for versions
        above 1 ``"<name>@v<version>"``."""
        self._on_failure = on_failure
        self._is_new = read_model_is_new
        self._on_new = on_new_read_model
        self._inline = inline
        self._remove_inline: Callable[[], None] | None = None
        self._heads: HeadWatch | None = None
        self._leave_heads: Callable[[], None] | None = None
        self._parking: Parking | None = None
        self._last_error: str | None = None
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._options: dict[str, Any] = {
            "commit_store": commit_store,
            "checkpoint_store": checkpoint_store,
            "clock": clock,
            "logger": logger,
        }
        self._poll_interval = float(poll_interval)
        self._batch_size = batch_size
        self._parallel = parallel
        self._retry = retry or DEFAULT_RETRY
        self._calls = HandlerCalls(
            handlers, projector=self.stored_name, timeout=check_handler_timeout(handler_timeout),
            policy=self._retry, pause=self._pause, on_thread=self._mark_inside,
            stops=on_failure == "stop", decode=commit_decoder(event_types, upcasters),
        )  # fmt: skip
        self._lease_store = lease_store
        self._lease_ttl = float(lease_ttl)
        self.on_progress = on_progress
        self._cond = threading.Condition()
        self._inside = threading.local()
        self._thread: threading.Thread | None = None
        self._running = self._stopping = self._ready = False
        self._error: BaseException | None = None
        self._failure: ProjectionFailed | None = None
        self._parts: list[Partition] = []
        self._units: list[list[Partition]] = []  # per log partition: its units of work
        self._dispatcher: AggregateDispatcher | None = None
        self._keeper: LeaseKeeper | None = None
        self._handled = 0
        self._read_errors: list[BaseException] = []
        self._clock: Clock = clock or config.get("clock")
        self._log: Any = logger or config.get("logger")
        self._reporter = ProgressReporter(self, self._log)

    # ---------------------------------------------------------------- public API

    def run(self) -> ProjectorProgress:
        """Handle every commit up to each partition's head as it was when called, then return.

        Commits appended through the same commit store object before the call are in that head
        (on a store that writes its log in the background, ``run`` first waits for them with
        :meth:`~ddbes.ports.CommitStore.flush_log`). With a lease store, a partition leased by
        another process counts as done once its checkpoint reaches that head. :meth:`stop` from
        another thread ends the run early.

        Returns:
            The final :class:`ProjectorProgress`.

        Raises:
            ProjectionFailed: a handler kept failing; the checkpoint stays before that commit.
            RuntimeError: the projector is already running.
            ConfigurationError: no commit or checkpoint store is given or configured.
            RetriesExhausted: the store kept failing (``errors`` lists every failure).
        """
        self._stores()[0].flush_log()
        commits, checkpoints = self._begin()
        self._drive(commits, checkpoints, watch=False)
        return self.progress

    def start(self, watch: bool = True) -> None:
        """Work in a background thread: keep following the log (``watch=True``), or catch up as
        :meth:`run` does and end.

        Raises:
            RuntimeError: the projector is already running.
            ConfigurationError: no commit or checkpoint store is given or configured.
        """
        commits, checkpoints = self._begin()
        self._thread = threading.Thread(
            target=self._drive,
            args=(commits, checkpoints),
            kwargs={"watch": watch},
            name=f"projector-{self.name}",
            daemon=True,
        )
        self._thread.start()
        if self._inline and watch:  # commits appended once start() returns are handled inline
            with self._cond:
                self._cond.wait_for(lambda: self._ready or not self._running)

    def stop(self, timeout: float | None = None) -> BaseException | None:
        """Stop, and wait until handlers already running have finished, the checkpoint is saved
        and leases are released; idempotent.

        Without ``timeout`` it waits as long as that takes. A handler that never returns keeps
        it waiting unless the projector has a ``handler_timeout``.

        Returns:
            The error that stopped the projector, if one did (it was logged; :meth:`join`
            raises it instead), else ``None``.

        Raises:
            TimeoutError: it still runs after ``timeout`` seconds; the message says which
                commit its handlers are on, and for how long. It goes on stopping.
        """
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            inside = getattr(self._inside, "flag", False)  # a handler must not wait for itself
            if not inside and not self._cond.wait_for(lambda: not self._running, timeout):
                calls = self._calls
                raise not_stopped(self.name, timeout, dict(calls.running), calls.timeout)
        return self._error

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background work to end; raise the error that stopped it, if any.

        Raises:
            ProjectionFailed: a handler kept failing (or whatever else stopped the projector).
            TimeoutError: it still runs after ``timeout`` seconds.
        """
        with self._cond:
            if not self._cond.wait_for(lambda: not self._running, timeout):
                raise TimeoutError(f"projector {self.name!r} still runs after {timeout} s")
        if self._error is not None:
            raise self._error

    @property
    def running(self) -> bool:
        """Whether :meth:`run` or the background thread is working."""
        return self._running

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the last run, or ``None``."""
        return self._error

    @property
    def progress(self) -> ProjectorProgress:
        """Positions, heads and lag, now."""
        keeper = self._keeper
        with self._cond:
            if self._slots is None:
                parts = [
                    (p.number, p.position, max(p.head, p.position), p.last_at) for p in self._parts
                ]
            else:  # a consumer group: per log partition, the slowest unit this member holds
                parts = by_log_partition(
                    [p for p in self._parts if keeper is None or keeper.valid(p.number)]
                )
            handled = self._handled
        parking = self._parking
        return measure_progress(
            self.name, parts, handled, self._clock.now,
            parked=0 if parking is None else parking.count, last_error=self._last_error,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"Projector({sorted(self._calls.handlers)!r}, name={self.name!r})"

    # ---------------------------------------------------------------- the loop

    def _begin(self) -> tuple[CommitStore, CheckpointStore]:
        commits, checkpoints = self._stores()
        self._clock = self._options["clock"] or config.get("clock")
        self._log = self._options["logger"] or config.get("logger")
        with self._cond:
            if self._running:
                raise RuntimeError(f"projector {self.name!r} is already running")
            self._running, self._stopping, self._ready = True, False, False
        try:
            self._check_read_model(commits, checkpoints)
        except BaseException:
            with self._cond:
                self._running = False
            raise
        with self._cond:
            self._error = self._failure = None
            self._handled, self._read_errors = 0, []
            self._parts = []
            self._last_error = None
        return commits, checkpoints

    def _drive(self, commits: CommitStore, store: CheckpointStore, *, watch: bool) -> None:
        self._inside.flag = True
        self._reporter = ProgressReporter(self, self._log)
        slots = self._slots
        work_name = self.stored_name if slots is None else f"{self.stored_name}#g{slots}"
        checkpoints = PartitionCheckpoints(
            store, name=work_name, owner=self.owner, retry=self._retry, nap=self._nap,
            log=self._log, on_save=self._reporter.report,
            seed_name=None if slots is None else self.stored_name,
        )  # fmt: skip
        self._parking = Parking(
            store, name=self.stored_name, clock=self._clock, log=self._log, retry=self._retry,
            nap=self._nap,
        )  # fmt: skip
        try:
            if self._on_failure == "park":
                self._parking.load()
            if slots is None:
                self._parts = [Partition(n) for n in range(commits.log_partitions)]
                self._units = [[p] for p in self._parts]
            else:
                self._units = [
                    [Partition(n * slots + s, log_partition=n, slot=s, slots=slots)
                     for s in range(slots)]
                    for n in range(commits.log_partitions)
                ]  # fmt: skip
                self._parts = [unit for units in self._units for unit in units]
            for part in self._parts:
                part.head = self._store_call(partial(commits.head_position, part.log_partition))
                part.target = None if watch else part.head
                checkpoints.take(part)
            if self._lease_store is not None:
                self._keeper = LeaseKeeper(
                    self._lease_store, work_name, self.owner, ttl=self._lease_ttl,
                    clock=self._clock, logger=self._log,
                    check_interval=min(self._poll_interval, self._lease_ttl / 3),
                )  # fmt: skip
                self._keeper.start()
                if slots is not None:
                    self._group = Group(
                        self._lease_store, name=work_name, owner=self.owner,
                        units=len(self._parts), slots=slots, ttl=self._lease_ttl,
                        clock=self._clock, log=self._log,
                    )  # fmt: skip
                    self._group.join()
            self._calls.open(self._log)
            if watch:
                self._heads, self._leave_heads = subscribe(commits, self._poll_interval, self._wake)
                if self._inline:
                    self._remove_inline = commits.add_append_listener(
                        partial(self._handle_inline, commits, checkpoints)
                    )
            with self._cond:
                self._ready = True
                self._cond.notify_all()
            if self._parallel > 1:
                self._dispatcher = AggregateDispatcher(
                    self._parallel, name=self.name, lock=self._cond, batch_size=self._batch_size,
                    handle=self._handle_on_worker, handled=self._finish,
                )  # fmt: skip
            self._log.info(
                "projector %r %s: heads %s",
                self.name, "watching" if watch else "catching up", self._positions("head"),
            )  # fmt: skip
            try:
                self._loop(commits, checkpoints, watch)
            finally:
                self._shutdown(checkpoints)
            if self._failure is not None:
                raise self._failure
        except BaseException as exc:
            self._error = exc
            self._last_error = repr(exc)
            if not isinstance(exc, ProjectionFailed | ProjectorConflict):
                self._log.exception("projector %r stopped by an unexpected error", self.name)
            if self._thread is None or self._thread is not threading.current_thread():
                raise
        finally:
            self._inside.flag = False
            with self._cond:
                self._running = False
                self._cond.notify_all()

    def _loop(self, commits: CommitStore, checkpoints: PartitionCheckpoints, watch: bool) -> None:
        while not self._stopping and self._failure is None:
            if self._group is not None and self._keeper is not None:
                self._shed(self._group, self._keeper, checkpoints)
            worked = False
            for units in self._units:
                if self._stopping or self._failure is not None:
                    break
                if self._slots is not None:
                    worked = self._step_group(units, commits, checkpoints) or worked
                elif not units[0].finished:
                    worked = self._step(units[0], commits, checkpoints) or worked
            self._observe()
            if not watch and all(p.finished for p in self._parts):
                return
            if not worked:
                with self._cond:
                    if not self._stopping and self._failure is None:
                        self._cond.wait(self._poll_interval)

    def _step(
        self, part: Partition, commits: CommitStore, checkpoints: PartitionCheckpoints
    ) -> bool:
        """Move one partition on by at most one batch; ``True`` if it read commits."""
        keeper = self._keeper
        if not self._hold(part, checkpoints):
            return False
        heads = self._heads
        polled = heads.head(part.log_partition) if heads is not None and heads.polls else None
        move = next_move(part, batch_size=self._batch_size, polled_head=polled)
        if move is Move.FINISH:
            checkpoints.save(part, keeper)
            part.finished = True
            if keeper is not None:
                keeper.release(part.number)
        if move is not Move.READ:
            return False
        with part.reading:
            read = self._pump(part, commits)
        checkpoints.save(part, keeper)
        return read > 0

    def _pump(self, part: Partition, commits: CommitStore) -> int:
        """Read one batch of a partition and handle it (or hand it to the workers)."""
        keeper, dispatcher = self._keeper, self._dispatcher
        count = handled = 0
        last: Commit | None = None
        batch = open_batch(self.stored_name, part.log_partition)
        error: BaseException | None = None
        try:
            read, failure = self._read_batch(
                commits, part.log_partition, part.dispatched, self._batch_size,
                ahead=dispatcher is None,  # parallel workers overlap the reads already
            )  # fmt: skip
            began, cpu = time.perf_counter(), time.thread_time()
            handle, log_partition = self._handler(), part.log_partition
            for commit in read:
                if self._stopping or (keeper is not None and not keeper.valid(part.number)):
                    break
                count += 1
                if batch is not None:
                    batch.add(commit)
                if dispatcher is not None:
                    dispatcher.submit(part, commit)
                    continue
                handle(commit, log_partition)
                last = commit
                handled += 1
            else:
                if failure is not None:  # after the commits that came before it
                    raise failure
            self._read_ahead.handled(time.perf_counter() - began, time.thread_time() - cpu)
            self._read_errors = []
        except Abandoned:
            pass
        except ProjectionFailed as exc:
            self._failure = error = exc
        except StoreUnavailable as exc:  # keep what was handled; read again after a pause
            self._read_failed(exc)
            error = exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            if batch is not None:
                batch.close(error)
            with self._cond:
                stale = read_through(
                    part, None if last is None else (last.position or 0, last.committed_at),
                    count=count, batch_size=self._batch_size,
                )  # fmt: skip
                if last is not None:
                    self._handled += handled
                    self._cond.notify_all()
        if stale:
            part.head = self._store_call(lambda: commits.head_position(part.log_partition))
        return count

    def _pause(self, seconds: float) -> None:
        """Sleep, unless the projector is told to stop: then raise :class:`Abandoned`."""
        with self._cond:  # retry() and skip() outside a run just sleep
            if self._cond.wait_for(lambda: self._stopping and self._running, timeout=seconds):
                raise Abandoned

    def _read_failed(self, error: StoreUnavailable) -> None:
        delay = read_failed(self._read_errors, error, self._retry)
        self._log.warning("projector %r: reading the log failed (%s); again in %.3f s",
                          self.name, error, delay)  # fmt: skip
        self._nap(delay)

    # ---------------------------------------------------------------- stopping

    def _shutdown(self, checkpoints: PartitionCheckpoints) -> None:
        for leave in (self._remove_inline, self._leave_heads):
            if leave is not None:
                leave()
        self._remove_inline = self._leave_heads = None
        self._heads = None
        with self._cond:
            self._stopping = True  # workers drop the commits they have not started
            self._cond.notify_all()
        if self._dispatcher is not None:
            self._dispatcher.shutdown()
            self._dispatcher = None
        self._calls.close()
        try:
            for part in self._parts:
                checkpoints.save(part, self._keeper)
        finally:
            if self._keeper is not None:
                self._keeper.stop()
                self._keeper.release_all()
                self._keeper = None
            if self._group is not None:
                self._group.leave()
                self._group = None
            self._read_ahead.drop()
            self._reporter.stopped()

    def _store_call(self, action: Callable[[], T]) -> T:
        """Call a store, retried by the policy while it is unavailable."""
        return run_sync(store_call(action, policy=self._retry, nap=self._nap))  # type: ignore[no-any-return]

    def _nap(self, seconds: float) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._stopping, timeout=seconds)

    # ---------------------------------------------------------------- observability

    def _positions(self, which: str) -> dict[int, int]:
        return {p.number: getattr(p, which) for p in self._parts}

    def _observe(self) -> None:
        """Log when the projector catches up (and tell ``on_progress``)."""
        keeper = self._keeper
        held = [p for p in self._parts if keeper is None or keeper.valid(p.number)]
        caught_up = bool(held) and all(p.in_flight == 0 and p.position >= p.head for p in held)
        self._reporter.observe(caught_up, self._handled, self._parts)
