"""The projector for asyncio: :class:`AsyncProjector` keeps read models in step with the global
log as a task of the running event loop, with ``async def`` (or plain) handlers.

It makes the decisions of :class:`~ddbes.projection.projector.Projector` with the same code:
which partition to read next and what a batch moves (:mod:`ddbes.projection._batching`), when
and how a checkpoint advances (:mod:`ddbes.projection._checkpoints`), holding back and parking
per aggregate (:mod:`ddbes.projection._handling`, :mod:`ddbes.projection._parking`), and the
handler retry and failure policy (:mod:`ddbes.projection._handler_retry`). Those are written as
steps that the sync projector runs with blocking calls and this one with awaits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ddbes.aggregates.upcasting import Upcasters
from ddbes.async_ports import AsyncCheckpointStore, AsyncCommitStore
from ddbes.errors import (
    ProjectionFailed,
    ProjectorConflict,
    StoreUnavailable,
)
from ddbes.model import Commit
from ddbes.ports import Clock
from ddbes.projection._async_handler_calls import AsyncHandlerCalls
from ddbes.projection._async_operations import AsyncProjectorOperations
from ddbes.projection._batch_span import open_batch
from ddbes.projection._batching import Move, next_move, read_failed, read_through
from ddbes.projection._checkpoints import PartitionCheckpoints
from ddbes.projection._handler_calls import check_handler_timeout
from ddbes.projection._handler_retry import Abandoned, Handler
from ddbes.projection._handling import handling_steps
from ddbes.projection._options import check_options, refuse_sync_only
from ddbes.projection._parking import Parking
from ddbes.projection._partition import Partition
from ddbes.projection._progress import ProgressReporter, ProjectorProgress, measure_progress
from ddbes.projection._steps import collect, run_async, store_call
from ddbes.projection._typed_handlers import commit_decoder
from ddbes.projection.projector import DEFAULT_RETRY
from ddbes.projection.status import stored_name
from ddbes.retry import RetryPolicy
from ddbes.settings import config
from ddbes.typed_events import EventTypes

__all__ = ["AsyncProjector"]


class AsyncProjector(AsyncProjectorOperations):
    """Hands every commit of the global log to handlers, from a checkpoint, in order, inside
    an event loop: the asyncio twin of :class:`~ddbes.Projector`.

    Handlers may be ``async def`` functions (awaited) or plain functions (called on the
    loop's thread: keep them quick). Commits are handled one at a time, in log order per
    log partition; the checkpoint moves only over commits whose handlers finished, so
    delivery is at least once, as with :class:`~ddbes.Projector`.

    Args:
        handlers: aggregate type -> handler; ``"*"`` receives every commit (after its type's).
        name: the projector's name; its checkpoints are saved under it.
        commit_store: an :class:`~ddbes.async_ports.AsyncCommitStore` (default:
            ``ddbes.config``'s; a store that serves both APIs, as the in-memory one does,
            gives its async view).
        checkpoint_store: an :class:`~ddbes.async_ports.AsyncCheckpointStore` (same default).
        poll_interval: seconds between reads of the log once caught up (an append through
            the same commit store object wakes the projector at once).
        batch_size: commits per read and per checkpoint save.
        retry: how a failing handler, or an unavailable store, is retried (:data:`DEFAULT_RETRY`).
        on_progress: called with a :class:`~ddbes.ProjectorProgress` after every batch, on
            catching up and on stopping.
        handler_timeout: seconds a handler call may take (``None``: no limit). An ``async``
            handler that overruns is cancelled; a plain one then runs in a worker thread and
            is abandoned. Either counts as a failure of the handler.
        version: the projection's version, as for :class:`~ddbes.Projector`.
        on_failure: ``"stop"`` or ``"park"``, as for :class:`~ddbes.Projector`.
        read_model_is_new: as for :class:`~ddbes.Projector`; it may be ``async def``.
        on_new_read_model: as for :class:`~ddbes.Projector`.
        logger: where the projector logs (default: ``ddbes.config``'s).
        clock: the time source (default: ``ddbes.config``'s).
        owner: this projector's identity in messages.
        event_types: typed events for the handlers, as for :class:`~ddbes.Projector`.
        upcasters: upcasters run on the stored events first, as for :class:`~ddbes.Projector`.
        lease_store: sync-only for now: giving it raises :class:`ValueError` (leases run on
            :class:`~ddbes.Projector`).
        slots: sync-only for now (consumer groups), as ``lease_store``.
        parallel: sync-only for now (worker threads); only 1 is accepted.
        inline: sync-only for now (handling in the appending thread), as ``lease_store``.

    Errors: a handler that keeps failing stops the projector with
    :class:`~ddbes.errors.ProjectionFailed`, its checkpoint just before that commit.
    :meth:`run` raises it; after :meth:`start` it is logged, kept in :attr:`error`, returned
    by :meth:`stop` and raised by :meth:`join`.
    """

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        name: str,
        commit_store: AsyncCommitStore | None = None,
        checkpoint_store: AsyncCheckpointStore | None = None,
        poll_interval: float = 0.5,
        batch_size: int = 500,
        retry: RetryPolicy | None = None,
        on_progress: Callable[[ProjectorProgress], object] | None = None,
        handler_timeout: float | None = None,
        logger: Any = None,
        clock: Clock | None = None,
        version: int = 1,
        on_failure: str = "stop",
        read_model_is_new: Callable[[], Any] | None = None,
        on_new_read_model: str = "refuse",
        owner: str | None = None,
        event_types: EventTypes | Iterable[type] | Mapping[str, Any] | None = None,
        upcasters: Upcasters | None = None,
        lease_store: object = None,
        slots: int | None = None,
        parallel: int = 1,
        inline: bool = False,
    ) -> None:
        refuse_sync_only(lease_store=lease_store, slots=slots, parallel=parallel, inline=inline)
        check_options(
            handlers, name=name, poll_interval=poll_interval, lease_ttl=1.0,
            batch_size=batch_size, parallel=1, retry=retry, version=version,
            on_failure=on_failure, on_new_read_model=on_new_read_model,
            read_model_is_new=read_model_is_new, inline=False, slots=None, lease_store=None,
            asynchronous=True,
        )  # fmt: skip
        self.name = name
        self.version = version
        self.stored_name = stored_name(name, version)
        """Where checkpoints and parked commits are saved, as for :class:`~ddbes.Projector`."""
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.on_progress = on_progress
        self._options: dict[str, Any] = {
            "commit_store": commit_store,
            "checkpoint_store": checkpoint_store,
            "clock": clock,
            "logger": logger,
        }
        self._poll_interval = float(poll_interval)
        self._batch_size = batch_size
        self._retry = retry or DEFAULT_RETRY
        self._on_failure = on_failure
        self._is_new = read_model_is_new
        self._on_new = on_new_read_model
        self._calls = AsyncHandlerCalls(
            handlers, projector=self.stored_name, timeout=check_handler_timeout(handler_timeout),
            policy=self._retry, pause=self._pause, stops=on_failure == "stop",
            decode=commit_decoder(event_types, upcasters),
        )  # fmt: skip
        self._clock: Clock = clock or config.get("clock")
        self._log: Any = logger or config.get("logger")
        self._reporter = ProgressReporter(self, self._log)
        self._task: asyncio.Task[None] | None = None
        self._runner: asyncio.Task[Any] | None = None  # the task in _drive
        self._wake: asyncio.Event | None = None
        self._moved: asyncio.Condition | None = None
        self._running = self._stopping = False
        self._error: BaseException | None = None
        self._failure: ProjectionFailed | None = None
        self._parts: list[Partition] = []
        self._parking: Parking | None = None
        self._handled = 0
        self._read_errors: list[BaseException] = []
        self._last_error: str | None = None

    # ---------------------------------------------------------------- public API

    async def run(self) -> ProjectorProgress:
        """Handle every commit up to each partition's head as it was when called, then return.

        Commits appended through the same commit store object before the call are in that head
        (``run`` first awaits :meth:`~ddbes.async_ports.AsyncCommitStore.flush_log`).

        Returns:
            The final :class:`~ddbes.ProjectorProgress`.

        Raises:
            ProjectionFailed: a handler kept failing; the checkpoint stays before that commit.
            RuntimeError: the projector is already running.
            ConfigurationError: no async commit or checkpoint store is given or configured.
            RetriesExhausted: the store kept failing (``errors`` lists every failure).
        """
        commits, checkpoints = self._stores()
        await commits.flush_log()
        await self._begin(commits, checkpoints)
        await self._drive(commits, checkpoints, watch=False)
        return self.progress

    async def start(self, watch: bool = True) -> None:
        """Work in a task of the running loop: keep following the log (``watch=True``), or
        catch up as :meth:`run` does and end. Returns once the task is started.

        Raises:
            RuntimeError: the projector is already running, or no event loop runs.
            ConfigurationError: no async commit or checkpoint store is given or configured.
            StaleCheckpoint: see ``read_model_is_new``.
        """
        commits, checkpoints = self._stores()
        await self._begin(commits, checkpoints)
        self._task = asyncio.get_running_loop().create_task(
            self._drive(commits, checkpoints, watch=watch), name=f"projector-{self.name}"
        )

    async def stop(self, timeout: float | None = None) -> BaseException | None:
        """Stop, and wait until the handler already running has finished and the checkpoint
        is saved; idempotent.

        Returns:
            The error that stopped the projector, if one did (:meth:`join` raises it), or
            ``None``.

        Raises:
            TimeoutError: it still runs after ``timeout`` seconds (it goes on stopping).
        """
        self._stopping = True
        self._notify()
        task, current, moved = self._task, asyncio.current_task(), self._moved
        try:
            if task is not None and task is not current:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            elif self._running and self._runner is not current and moved is not None:
                await asyncio.wait_for(self._stopped(moved), timeout)  # a run() in another task
        except TimeoutError:
            running = self._calls.running
            where = "" if running is None else (
                f": its handler has been on the commit at position {running[0].position} "
                f"for {time.monotonic() - running[2]:.1f} s"
            )  # fmt: skip
            raise TimeoutError(
                f"projector {self.name!r} still runs after {timeout} s{where}"
            ) from None
        except Exception:  # kept in self._error, returned below
            pass
        return self._error

    async def _stopped(self, moved: asyncio.Condition) -> None:
        async with moved:
            await moved.wait_for(lambda: not self._running)

    async def join(self, timeout: float | None = None) -> None:
        """Wait for the task to end; raise the error that stopped it, if any.

        Raises:
            ProjectionFailed: a handler kept failing (or whatever else stopped the projector).
            TimeoutError: it still runs after ``timeout`` seconds.
        """
        task = self._task
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=timeout)
            if not done:
                raise TimeoutError(f"projector {self.name!r} still runs after {timeout} s")
        if self._error is not None:
            raise self._error

    @property
    def running(self) -> bool:
        """Whether :meth:`run` or the task is working."""
        return self._running

    @property
    def error(self) -> BaseException | None:
        """The error that stopped the last run, or ``None``."""
        return self._error

    @property
    def progress(self) -> ProjectorProgress:
        """Positions, heads and lag, now."""
        parts = [(p.number, p.position, max(p.head, p.position), p.last_at) for p in self._parts]
        parking = self._parking
        return measure_progress(
            self.name, parts, self._handled, self._clock.now,
            parked=0 if parking is None else parking.count, last_error=self._last_error,
        )  # fmt: skip

    def __repr__(self) -> str:
        return f"AsyncProjector({sorted(self._calls.handlers)!r}, name={self.name!r})"

    # ---------------------------------------------------------------- the loop

    async def _begin(self, commits: AsyncCommitStore, checkpoints: AsyncCheckpointStore) -> None:
        if self._running:
            raise RuntimeError(f"projector {self.name!r} is already running")
        self._clock = self._options["clock"] or config.get("clock")
        self._log = self._options["logger"] or config.get("logger")
        self._calls.log = self._log
        self._running, self._stopping = True, False
        self._wake, self._moved = asyncio.Event(), asyncio.Condition()
        try:
            await self._check_read_model(commits, checkpoints)
        except BaseException:
            self._running = False
            raise
        self._error = self._failure = None
        self._handled, self._read_errors, self._parts, self._last_error = 0, [], [], None

    async def _drive(
        self, commits: AsyncCommitStore, store: AsyncCheckpointStore, *, watch: bool
    ) -> None:
        self._reporter = ProgressReporter(self, self._log)
        self._runner = asyncio.current_task()
        checkpoints = PartitionCheckpoints(
            store, name=self.stored_name, owner=self.owner, retry=self._retry, nap=self._nap,
            log=self._log, on_save=self._reporter.report,
        )  # fmt: skip
        self._parking = parking = Parking(
            store, name=self.stored_name, clock=self._clock, log=self._log, retry=self._retry,
            nap=self._nap,
        )  # fmt: skip
        remove_listener: Callable[[], None] | None = None
        try:
            if self._on_failure == "park":
                await run_async(parking.load_steps())
            first_head = await self._store_call(commits.head_position, 0)  # opens the store
            self._parts = [Partition(n) for n in range(commits.log_partitions)]
            for part in self._parts:
                part.head = first_head if part.number == 0 else (
                    await self._store_call(commits.head_position, part.number)
                )  # fmt: skip
                part.target = None if watch else part.head
                await run_async(checkpoints.take_steps(part))
            if watch:
                remove_listener = commits.add_append_listener(self._appended)
            self._log.info(
                "projector %r %s: heads %s", self.name, "watching" if watch else "catching up",
                {p.number: p.head for p in self._parts},
            )  # fmt: skip
            try:
                await self._loop(commits, checkpoints, watch)
            finally:
                if remove_listener is not None:
                    remove_listener()
                self._stopping = True
                for part in self._parts:
                    await run_async(checkpoints.save_steps(part, None))
                self._reporter.stopped()
            if self._failure is not None:
                raise self._failure
        except BaseException as exc:
            self._error = exc
            self._last_error = repr(exc)
            if not isinstance(exc, ProjectionFailed | ProjectorConflict | asyncio.CancelledError):
                self._log.exception("projector %r stopped by an unexpected error", self.name)
            in_task = self._task is not None and self._task is asyncio.current_task()
            if not in_task or isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._running = False
            self._runner = None
            self._task = None if self._task is asyncio.current_task() else self._task
            await self._moved_on()

    async def _loop(
        self, commits: AsyncCommitStore, checkpoints: PartitionCheckpoints, watch: bool
    ) -> None:
        wake = self._wake
        assert wake is not None
        while not self._stopping and self._failure is None:
            wake.clear()
            worked = False
            for part in self._parts:
                if self._stopping or self._failure is not None:
                    break
                if part.finished:
                    continue
                move = next_move(part, batch_size=self._batch_size)
                if move is Move.FINISH:
                    await run_async(checkpoints.save_steps(part, None))
                    part.finished = True
                elif move is Move.READ:
                    worked = await self._pump(part, commits) > 0 or worked
                    await run_async(checkpoints.save_steps(part, None))
            caught_up = all(p.position >= p.head for p in self._parts)
            self._reporter.observe(caught_up, self._handled, self._parts)
            if not watch and all(p.finished for p in self._parts):
                return
            if not worked and not self._stopping and self._failure is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), self._poll_interval)

    async def _pump(self, part: Partition, commits: AsyncCommitStore) -> int:
        """Read one batch of a partition and handle it; the number of commits read."""
        try:
            read: list[Commit] = await collect(  # type: ignore[misc]
                commits.read_log(
                    after=part.dispatched,
                    log_partition=part.log_partition,
                    limit=self._batch_size,
                )
            )
            self._read_errors = []
        except StoreUnavailable as exc:
            delay = read_failed(self._read_errors, exc, self._retry)
            self._log.warning("projector %r: reading the log failed (%s); again in %.3f s",
                              self.name, exc, delay)  # fmt: skip
            await self._nap(delay)
            return 0
        last: Commit | None = None
        handled = 0
        parking, park = self._parking, self._on_failure == "park"
        span = open_batch(self.stored_name, part.log_partition)
        error: BaseException | None = None
        try:
            for commit in read:
                if self._stopping:
                    break
                if span is not None:
                    span.add(commit)
                steps = handling_steps(
                    commit, part.log_partition, call=self._calls.handle, parking=parking,
                    park=park,
                )  # fmt: skip
                if not await run_async(steps) and parking is not None:
                    self._last_error = parking.last_error
                last = commit
                handled += 1
        except Abandoned:
            pass
        except ProjectionFailed as exc:
            self._failure = error = exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            if span is not None:
                span.close(error)
            stale = read_through(
                part, None if last is None else (last.position or 0, last.committed_at),
                count=len(read), batch_size=self._batch_size,
            )  # fmt: skip
            self._handled += handled
            if last is not None:
                await self._moved_on()
        if stale:
            part.head = await self._store_call(commits.head_position, part.log_partition)
        return len(read)

    # ---------------------------------------------------------------- helpers

    def _appended(self, commit: Commit) -> None:
        """An append through the commit store object: read the log now, not at the next poll.
        Listeners may be called from another thread (a background sequencer)."""
        wake = self._wake
        if wake is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            wake.set()
        elif self._task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to wake
                self._task.get_loop().call_soon_threadsafe(wake.set)

    def _notify(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def _moved_on(self) -> None:
        moved = self._moved
        if moved is not None:
            async with moved:
                moved.notify_all()

    async def _nap(self, seconds: float) -> None:
        """Sleep, cut short when the running projector is told to stop."""
        wake = self._wake
        if not self._running or wake is None:  # retry() or skip() outside a run
            await asyncio.sleep(seconds)
            return
        if self._stopping:
            return
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            wake.clear()
            try:
                await asyncio.wait_for(wake.wait(), left)
            except TimeoutError:
                return

    async def _pause(self, seconds: float) -> None:
        """Sleep between handler attempts; raise :class:`Abandoned` if told to stop."""
        await self._nap(seconds)
        if self._stopping and self._running:
            raise Abandoned

    async def _store_call(self, function: Callable[..., Any], *args: Any) -> Any:
        return await run_async(store_call(function, *args, policy=self._retry, nap=self._nap))
