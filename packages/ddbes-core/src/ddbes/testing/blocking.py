"""Blocking bridges over async stores, so that the contract suites run on them unchanged.

The suites in :mod:`ddbes.testing.contracts` call sync ports, from several threads at once in
places. A bridge runs an event loop in a thread of its own and hands every call to it, so an
async store (aiobotocore clients included, which belong to the loop they were made on) is
driven exactly as its own asyncio users drive it. For tests only: production code awaits.

::

    from ddbes.testing.blocking import blocking_commit_store_factory
    from ddbes.testing.contracts import COMMIT_STORE_CHECKS

    @pytest.mark.parametrize("check", COMMIT_STORE_CHECKS.values(), ids=COMMIT_STORE_CHECKS.keys())
    def test_my_async_commit_store(check):
        with blocking_commit_store_factory(
            lambda log_partitions=1: MyAsyncCommitStore(..., log_partitions=log_partitions)
        ) as factory:
            check(factory)

The async store factory is called in the loop's thread, and may be a coroutine function.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

from ddbes.archiving import ArchiveStore, AsyncArchiveStore
from ddbes.async_ports import AsyncCheckpointStore, AsyncCommitStore, AsyncSnapshotStore
from ddbes.model import Commit, ParkedCommit, Snapshot
from ddbes.ports import CheckpointStore, CommitStore, SnapshotStore
from ddbes.testing.contracts import CommitStoreFactory

__all__ = [
    "BlockingArchiveStore",
    "BlockingCheckpointStore",
    "BlockingCommitStore",
    "BlockingSnapshotStore",
    "EventLoopThread",
    "blocking_archive_store_factory",
    "blocking_checkpoint_store_factory",
    "blocking_commit_store_factory",
    "blocking_snapshot_store_factory",
]

T = TypeVar("T")


class EventLoopThread:
    """An event loop running in a daemon thread; :meth:`run` blocks on a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="ddbes-blocking-bridge", daemon=True
        )
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result, run on the loop (raises what it raises)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def call(self, function: Callable[[], Any]) -> Any:
        """``function()`` in the loop's thread, awaited when it returns an awaitable."""

        async def call() -> Any:
            result = function()
            return await result if inspect.isawaitable(result) else result

        return self.run(call())

    def list(self, iterator: AsyncIterator[T]) -> list[T]:
        """Every item of an async iterator."""

        async def collect() -> list[T]:
            return [item async for item in iterator]

        return self.run(collect())

    def close(self) -> None:
        """Stop the loop and its thread."""
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class BlockingCommitStore(CommitStore):
    """A :class:`~ddbes.ports.CommitStore` that drives an async one on ``runner``'s loop."""

    def __init__(self, store: AsyncCommitStore, runner: EventLoopThread) -> None:
        self.store = store
        self._runner = runner

    @property
    def log_partitions(self) -> int:
        return self.store.log_partitions

    def append(self, commit: Commit) -> Commit:
        return self._runner.run(self.store.append(commit))

    def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        return self._runner.run(self.store.append_all(commits))

    def read_commits(
        self,
        aggregate_type: str,
        aggregate_key: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> Iterator[Commit]:
        return iter(
            self._runner.list(
                self.store.read_commits(
                    aggregate_type,
                    aggregate_key,
                    from_version=from_version,
                    to_version=to_version,
                    until=until,
                    descending=descending,
                    limit=limit,
                )
            )
        )

    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        return iter(
            self._runner.list(
                self.store.read_log(after=after, log_partition=log_partition, limit=limit)
            )
        )

    def flush_log(self, timeout: float | None = None) -> None:
        self._runner.run(self.store.flush_log(timeout))

    def head_position(self, log_partition: int = 0) -> int:
        return self._runner.run(self.store.head_position(log_partition))

    def aggregate_keys(self, aggregate_type: str) -> Iterator[str]:
        return iter(self._runner.list(self.store.aggregate_keys(aggregate_type)))

    def add_append_listener(self, listener: Callable[[Commit], object]) -> Callable[[], None]:
        return self.store.add_append_listener(listener)


class BlockingSnapshotStore(SnapshotStore):
    """A :class:`~ddbes.ports.SnapshotStore` that drives an async one on ``runner``'s loop."""

    def __init__(self, store: AsyncSnapshotStore, runner: EventLoopThread) -> None:
        self.store = store
        self._runner = runner

    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        return self._runner.run(self.store.get(aggregate_type, aggregate_key))

    def put(self, snapshot: Snapshot) -> None:
        self._runner.run(self.store.put(snapshot))

    def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        self._runner.run(self.store.delete(aggregate_type, aggregate_key))

    def clear(self, aggregate_type: str | None = None) -> None:
        self._runner.run(self.store.clear(aggregate_type))


class BlockingArchiveStore(ArchiveStore):
    """An :class:`~ddbes.archiving.ArchiveStore` that drives an async one on ``runner``'s
    loop."""

    def __init__(self, store: AsyncArchiveStore, runner: EventLoopThread) -> None:
        self.store = store
        self._runner = runner

    def put(self, key: str, body: bytes) -> None:
        self._runner.run(self.store.put(key, body))

    def get(self, key: str) -> bytes | None:
        return self._runner.run(self.store.get(key))

    def close(self) -> None:
        """Await the async store's ``close()`` on the loop, when it has one (its client)."""
        close = getattr(self.store, "close", None)
        if close is not None:
            self._runner.call(close)


class BlockingCheckpointStore(CheckpointStore):
    """A :class:`~ddbes.ports.CheckpointStore` that drives an async one on ``runner``'s loop."""

    def __init__(self, store: AsyncCheckpointStore, runner: EventLoopThread) -> None:
        self.store = store
        self._runner = runner

    def get(self, name: str, log_partition: int = 0) -> int:
        return self._runner.run(self.store.get(name, log_partition))

    def save(self, name: str, position: int, log_partition: int = 0) -> None:
        self._runner.run(self.store.save(name, position, log_partition))

    def advance(self, name: str, position: int, log_partition: int = 0, *, expected: int) -> None:
        self._runner.run(self.store.advance(name, position, log_partition, expected=expected))

    def reset(self, name: str, log_partition: int = 0, *, position: int = 0) -> None:
        self._runner.run(self.store.reset(name, log_partition, position=position))

    def parked(self, name: str) -> list[ParkedCommit]:
        return self._runner.run(self.store.parked(name))

    def put_parked(self, name: str, parked: ParkedCommit, *, expected: int | None = None) -> bool:
        return self._runner.run(self.store.put_parked(name, parked, expected=expected))

    def hold(self, name: str, aggregate_type: str, aggregate_key: str, position: int) -> bool:
        return self._runner.run(self.store.hold(name, aggregate_type, aggregate_key, position))

    def delete_parked(
        self, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
    ) -> bool:
        return self._runner.run(
            self.store.delete_parked(name, aggregate_type, aggregate_key, expected=expected)
        )


@contextmanager
def blocking_commit_store_factory(
    factory: Callable[..., Any],
) -> Iterator[CommitStoreFactory]:
    """A contract-suite factory of :class:`BlockingCommitStore` over ``factory``'s async stores
    (``factory(log_partitions=n)``, called on the loop); the loop stops on exit."""
    runner = EventLoopThread()

    def make(*, log_partitions: int = 1) -> CommitStore:
        store = runner.call(lambda: factory(log_partitions=log_partitions))
        return BlockingCommitStore(store, runner)

    try:
        yield make
    finally:
        runner.close()


@contextmanager
def blocking_snapshot_store_factory(
    factory: Callable[[], Any],
) -> Iterator[Callable[[], SnapshotStore]]:
    """A contract-suite factory of :class:`BlockingSnapshotStore` (see above)."""
    runner = EventLoopThread()
    try:
        yield lambda: BlockingSnapshotStore(runner.call(factory), runner)
    finally:
        runner.close()


@contextmanager
def blocking_checkpoint_store_factory(
    factory: Callable[[], Any],
) -> Iterator[Callable[[], CheckpointStore]]:
    """A contract-suite factory of :class:`BlockingCheckpointStore` (see above)."""
    runner = EventLoopThread()
    try:
        yield lambda: BlockingCheckpointStore(runner.call(factory), runner)
    finally:
        runner.close()


@contextmanager
def blocking_archive_store_factory(
    factory: Callable[[], Any],
) -> Iterator[Callable[[], ArchiveStore]]:
    """A contract-suite factory of :class:`BlockingArchiveStore` (see above)."""
    runner = EventLoopThread()
    try:
        yield lambda: BlockingArchiveStore(runner.call(factory), runner)
    finally:
        runner.close()
