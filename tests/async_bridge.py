"""A small blocking bridge: runs an async store's coroutines on an event loop in a thread, so
the existing ``ddbes.testing`` contract checks (sync) run on the async adapters unchanged.

Temporary: the core's bridge in ``ddbes.testing`` replaces it once it is merged.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from datetime import datetime
from typing import Any, TypeVar

from ddbes.async_ports import AsyncCheckpointStore, AsyncCommitStore, AsyncSnapshotStore
from ddbes.model import Commit, Snapshot
from ddbes.ports import CheckpointStore, CommitStore, SnapshotStore

T = TypeVar("T")


class LoopThread:
    """An event loop running in a daemon thread; :meth:`run` waits for a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        async def following() -> T:
            return await anext(items)

        while True:
            try:
                yield self.run(following())
            except StopAsyncIteration:
                return

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)
        self.loop.close()


async def _awaited(awaitable: Awaitable[T]) -> T:
    return await awaitable


class BlockingCommitStore(CommitStore):
    """A :class:`CommitStore` whose every call runs an :class:`AsyncCommitStore`'s coroutine."""

    def __init__(self, store: AsyncCommitStore, loop: LoopThread) -> None:
        self.store = store
        self._loop = loop

    def add_append_listener(self, listener: Callable[[Commit], object]) -> Callable[[], None]:
        return self.store.add_append_listener(listener)

    @property
    def log_partitions(self) -> int:
        return self.store.log_partitions

    def append(self, commit: Commit) -> Commit:
        return self._loop.run(self.store.append(commit))

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
        return self._loop.iterate(
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

    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        return self._loop.iterate(
            self.store.read_log(after=after, log_partition=log_partition, limit=limit)
        )

    def flush_log(self, timeout: float | None = None) -> None:
        self._loop.run(self.store.flush_log(timeout))

    def head_position(self, log_partition: int = 0) -> int:
        return self._loop.run(self.store.head_position(log_partition))

    def aggregate_keys(self, aggregate_type: str) -> Iterator[str]:
        return self._loop.iterate(self.store.aggregate_keys(aggregate_type))


class BlockingSnapshotStore(SnapshotStore):
    """A :class:`SnapshotStore` on an :class:`AsyncSnapshotStore`."""

    def __init__(self, store: AsyncSnapshotStore, loop: LoopThread) -> None:
        self.store = store
        self._loop = loop

    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        return self._loop.run(_awaited(self.store.get(aggregate_type, aggregate_key)))

    def put(self, snapshot: Snapshot) -> None:
        self._loop.run(_awaited(self.store.put(snapshot)))

    def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        self._loop.run(_awaited(self.store.delete(aggregate_type, aggregate_key)))

    def clear(self, aggregate_type: str | None = None) -> None:
        self._loop.run(_awaited(self.store.clear(aggregate_type)))


class BlockingCheckpointStore(CheckpointStore):
    """A :class:`CheckpointStore` on an :class:`AsyncCheckpointStore`."""

    def __init__(self, store: AsyncCheckpointStore, loop: LoopThread) -> None:
        self.store = store
        self._loop = loop

    def get(self, name: str, log_partition: int = 0) -> int:
        return self._loop.run(_awaited(self.store.get(name, log_partition)))

    def save(self, name: str, position: int, log_partition: int = 0) -> None:
        self._loop.run(_awaited(self.store.save(name, position, log_partition)))

    def advance(self, name: str, position: int, log_partition: int = 0, *, expected: int) -> None:
        self._loop.run(
            _awaited(self.store.advance(name, position, log_partition, expected=expected))
        )
