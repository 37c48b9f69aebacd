"""Operating an :class:`~ddbes.projection.async_projector.AsyncProjector`: its stores (async
ones, or the async view of a store that serves both APIs), ``status``, read-your-writes
(``wait_for``), parked commits (``parked``, ``retry``, ``skip``), ``reset``, and the check
that a new read model does not meet an old checkpoint.

:class:`AsyncProjectorOperations` is a base of the async projector, whose attributes these are;
releasing parked aggregates and reading the status run the same steps as the sync projector's
(:func:`~ddbes.projection._parking.release_steps`,
:func:`~ddbes.projection.status.read_status_steps`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from ddbes.aggregates._base import AggregateBase
from ddbes.async_ports import AsyncCheckpointStore, AsyncCommitStore
from ddbes.errors import CommitParked, ConfigurationError, ProjectionFailed, StaleCheckpoint
from ddbes.model import Commit, ParkedCommit
from ddbes.ports import CheckpointStore, CommitStore
from ddbes.projection._async_handler_calls import AsyncHandlerCalls
from ddbes.projection._operations import not_in_log, stored_commit
from ddbes.projection._parking import Parking, release_steps
from ddbes.projection._partition import Partition
from ddbes.projection._steps import run_async
from ddbes.projection.status import ProjectorStatus, read_status_steps
from ddbes.settings import config

__all__ = ["AsyncProjectorOperations"]


class AsyncProjectorOperations:
    """The operations of an async projector (mixed into
    :class:`~ddbes.projection.async_projector.AsyncProjector`)."""

    name: str
    version: int
    stored_name: str
    _options: dict[str, Any]
    _parts: list[Partition]
    _running: bool
    _stopping: bool
    _error: BaseException | None
    _failure: ProjectionFailed | None
    _parking: Parking | None
    _calls: AsyncHandlerCalls
    _moved: asyncio.Condition | None
    _is_new: Callable[[], Any] | None
    _on_new: str
    _log: Any
    _last_error: str | None

    def _stores(self) -> tuple[AsyncCommitStore, AsyncCheckpointStore]:
        """The async commit and checkpoint stores, given or configured.

        Raises:
            ConfigurationError: one is missing, or sync with no async view.
        """
        found = []
        for option, port, sync_port, example in (
            ("commit_store", AsyncCommitStore, CommitStore, "AsyncDynamoDBCommitStore"),
            ("checkpoint_store", AsyncCheckpointStore, CheckpointStore,
             "AsyncDynamoDBCheckpointStore"),
        ):  # fmt: skip
            store = self._options[option] or config.get(option)
            if store is None:
                raise ConfigurationError(
                    f"projector {self.name!r} has no {option}: pass {option}=... to "
                    f"AsyncProjector() or call ddbes.config.update({option}=...) at startup "
                    "(store.as_async() of a ddbes.memory store serves tests)"
                )
            if isinstance(store, sync_port) and not isinstance(store, port):
                view = getattr(store, "as_async", None)
                if not callable(view):
                    raise ConfigurationError(
                        f"AsyncProjector {self.name!r} got a sync {option} {store!r}: give it "
                        f"an async one (ddbes.async_ports.{port.__name__}, such as "
                        f"ddbes_dynamodb.{example}), or use ddbes.Projector with this store"
                    )
                store = view()
            found.append(store)
        return found[0], found[1]

    def _notify(self) -> None:
        raise NotImplementedError

    async def _store_call(self, function: Callable[..., Any], *args: Any) -> Any:
        raise NotImplementedError

    async def wait_for(
        self, commit_or_position: Commit | AggregateBase | int, *, log_partition: int = 0,
        timeout: float | None = None,
    ) -> None:  # fmt: skip
        """Return once this projector, running in this loop, has handled a commit: for an
        HTTP handler that commits and then reads the read model.

        Args:
            commit_or_position: a stored :class:`~ddbes.model.Commit` (as ``append()``
                returns it), an aggregate instance (its newest commit: the one
                ``await instance.commit(...)`` just made), or a position of ``log_partition``.
            timeout: seconds to wait at most (``None``: no limit).

        Raises:
            CommitParked: the projector went past the commit but its aggregate is parked.
            TimeoutError: not handled after ``timeout`` seconds.
            RuntimeError: the projector is not running, or stopped before handling it.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        position, part_number = await self._position_of(commit_or_position, log_partition)
        while True:
            part = next((p for p in self._parts if p.number == part_number), None)
            if part is not None and part.position >= position:
                break
            if not self._running or self._stopping or self._moved is None:
                raise RuntimeError(
                    f"projector {self.stored_name!r} is not running: it cannot handle the "
                    f"commit at position {position} of log partition {part_number}"
                ) from self._error
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                raise TimeoutError(
                    f"projector {self.stored_name!r} has not handled the commit at position "
                    f"{position} of log partition {part_number} after {timeout} s (it is at "
                    f"{0 if part is None else part.position})"
                )
            self._notify()  # read now rather than at the next poll
            moved = self._moved
            async with moved:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(moved.wait(), left)
        parking, commit = self._parking, commit_or_position
        if isinstance(commit, Commit) and parking and parking.is_parked(commit.aggregate_id):
            raise CommitParked(
                f"projector {self.stored_name!r} did not handle {commit.aggregate_id} version "
                f"{commit.version}: the aggregate is parked (await projector.parked() says "
                "why; retry() or skip() releases it)",
                position=position, aggregate_id=commit.aggregate_id,
                version=commit.version, log_partition=part_number,
            )  # fmt: skip

    async def status(self) -> ProjectorStatus:
        """Where this projector stands, as :meth:`ddbes.Projector.status` says it: per log
        partition its position and the head, lag in commits and seconds, parked commits, the
        last error; for ``version > 1`` the previous version's status too.

        Raises:
            ConfigurationError: no async commit or checkpoint store is given or configured.
            StoreUnavailable: a store cannot be reached.
        """
        commits, checkpoints = self._stores()
        await self._store_call(commits.head_position, 0)  # opens the store
        live = {p.number: p.position for p in self._parts} if self._running else None
        steps = read_status_steps(
            self.name, version=self.version, commits=commits, checkpoints=checkpoints,
            clock=self._options["clock"] or config.get("clock"), positions=live,
            running=self._running, error=self._last_error,
        )  # fmt: skip
        return await run_async(steps)

    async def parked(self) -> list[ParkedCommit]:
        """The commits this projector parked (``on_failure="park"``), one per aggregate."""
        _, checkpoints = self._stores()
        return await checkpoints.parked(self.stored_name)

    async def retry(self, aggregate_id: str | None = None) -> list[ParkedCommit]:
        """Hand parked commits to the handlers again, each followed by the commits of its
        aggregate held back behind it, as :meth:`ddbes.Projector.retry` does.

        Returns:
            The aggregates still parked among those it retried.

        Raises:
            KeyError: ``aggregate_id`` is not parked.
        """
        return await self._release(aggregate_id, skip=False)

    async def skip(self, aggregate_id: str) -> ParkedCommit | None:
        """Give up on an aggregate's parked commit and hand the commits held back behind it
        to the handlers, as :meth:`ddbes.Projector.skip` does.

        Returns:
            ``None`` once the aggregate is unparked; the commit parked in its place if a later
            one failed too.

        Raises:
            KeyError: ``aggregate_id`` is not parked.
        """
        left = await self._release(aggregate_id, skip=True)
        return left[0] if left else None

    async def reset(self) -> None:
        """Start again from position 0: delete this projector's checkpoints and parked
        commits, as :meth:`ddbes.Projector.reset` does.

        Raises:
            RuntimeError: the projector runs.
        """
        if self._running:
            raise RuntimeError(f"projector {self.stored_name!r} runs: stop it before reset()")
        commits, checkpoints = self._stores()
        await self._reset_stores(commits, checkpoints)

    # ---------------------------------------------------------------- helpers

    async def _position_of(
        self, target: Commit | AggregateBase | int, log_partition: int
    ) -> tuple[int, int]:
        if isinstance(target, int) and not isinstance(target, bool):
            return target, log_partition
        kind, key, version = stored_commit(target)
        if isinstance(target, Commit) and target.position is not None:
            return target.position, target.log_partition
        commits, _ = self._stores()
        await commits.flush_log()  # a store that writes its log in the background
        async for stored in commits.read_commits(
            kind, key, from_version=version, to_version=version
        ):
            if stored.position is not None:
                return stored.position, stored.log_partition
        raise not_in_log(kind, key, version)

    async def _release(self, aggregate_id: str | None, *, skip: bool) -> list[ParkedCommit]:
        commits, checkpoints = self._stores()
        parked = await checkpoints.parked(self.stored_name)
        if aggregate_id is not None:
            parked = [p for p in parked if p.aggregate_id == aggregate_id]
            if not parked:
                raise KeyError(f"projector {self.stored_name!r} has no parked {aggregate_id}")
        log = self._calls.log = self._options["logger"] or config.get("logger")
        clock = self._options["clock"] or config.get("clock")
        left: list[ParkedCommit] = []
        for entry in parked:

            async def handle(commit: Commit, partition: int = entry.log_partition) -> None:
                await self._calls.handle(commit, partition)

            again = await run_async(
                release_steps(
                    entry,
                    name=self.stored_name,
                    skip=skip,
                    handle=handle,
                    commits=commits,
                    store=checkpoints,
                    clock=clock,
                )
            )
            action = "skipped" if skip else "retried"
            if again is None:
                log.info("projector %r: %s %s and unparked it",
                         self.stored_name, action, entry.aggregate_id)  # fmt: skip
            else:
                log.error("projector %r: %s %s, which failed again at version %d: %s",
                          self.stored_name, action, entry.aggregate_id, again.version,
                          again.error)  # fmt: skip
                left.append(again)
        return left

    async def _check_read_model(
        self, commits: AsyncCommitStore, checkpoints: AsyncCheckpointStore
    ) -> None:
        """Refuse, warn or reset when the read model looks new but the checkpoint is not."""
        if self._is_new is None:
            return
        key = self.stored_name
        await self._store_call(commits.head_position, 0)  # opens the store
        saved = {p: await self._store_call(checkpoints.get, key, p)
                 for p in range(commits.log_partitions)}  # fmt: skip
        if not any(saved.values()):
            return
        is_new = self._is_new()
        if asyncio.iscoroutine(is_new):
            is_new = await is_new
        if not is_new:
            return
        if self._on_new == "reset":
            self._log.warning(
                "projector %r: the read model is new but the checkpoints are at %s: "
                "starting again from position 0 (on_new_read_model='reset')", key, saved,
            )  # fmt: skip
            await self._reset_stores(commits, checkpoints)
            return
        message = (
            f"projector {key!r}: the read model looks new (read_model_is_new() said so) but "
            f"the saved checkpoints are at {saved} (log partition: position), so the commits "
            "before them would never reach it. Rebuild it from the start with "
            "await projector.reset(), or pass on_new_read_model='reset' (or 'warn' to carry "
            "on regardless)"
        )
        if self._on_new == "refuse":
            raise StaleCheckpoint(message)
        self._log.warning("%s; carrying on from the checkpoints (on_new_read_model='warn')",
                          message)  # fmt: skip

    async def _reset_stores(
        self, commits: AsyncCommitStore, checkpoints: AsyncCheckpointStore
    ) -> None:
        key = self.stored_name
        await self._store_call(commits.head_position, 0)  # opens the store
        for part in range(commits.log_partitions):
            await self._store_call(checkpoints.reset, key, part)
        for parked in await self._store_call(checkpoints.parked, key):
            await checkpoints.delete_parked(
                key, parked.aggregate_type, parked.aggregate_key, expected=parked.held_through
            )
        self._log.info("projector %r reset: it starts again from position 0", key)
