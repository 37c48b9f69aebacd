"""Async views of the in-memory stores: the same data, served to asyncio code.

``InMemoryCommitStore().as_async()`` returns an :class:`AsyncInMemoryCommitStore` over the
store's own data (one view per store), and the view's :meth:`~AsyncInMemoryCommitStore.as_sync`
returns the store, so one test store serves ``Aggregate`` and ``AsyncAggregate`` at once. An
aggregate of either kind given an in-memory store of the other kind takes the matching view by
itself. The in-memory stores never block on I/O, so the views call them directly; they keep
every guarantee (and pass the same contract suites) because the data and its locks are the
sync store's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime

from ddbes.async_ports import AsyncCheckpointStore, AsyncCommitStore, AsyncSnapshotStore
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore, InMemorySnapshotStore
from ddbes.model import Commit, ParkedCommit, Snapshot

__all__ = ["AsyncInMemoryCheckpointStore", "AsyncInMemoryCommitStore", "AsyncInMemorySnapshotStore"]


class AsyncInMemoryCommitStore(AsyncCommitStore):
    """An :class:`~ddbes.async_ports.AsyncCommitStore` over an :class:`InMemoryCommitStore`'s
    data. Append listeners are the store's: they hear the commits of both APIs.

    Args:
        store: the store whose data this view serves (a new empty one by default).
    """

    db_system = "memory"
    """The ``db.system`` of this store's telemetry spans."""

    def __init__(self, store: InMemoryCommitStore | None = None) -> None:
        self._store = InMemoryCommitStore() if store is None else store

    def as_sync(self) -> InMemoryCommitStore:
        """The sync store this view serves."""
        return self._store

    @property
    def log_partitions(self) -> int:
        return self._store.log_partitions

    async def append(self, commit: Commit) -> Commit:
        return self._store.append(commit)

    async def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        return self._store.append_all(commits)

    async def read_commits(
        self,
        aggregate_type: str,
        aggregate_key: str,
        *,
        from_version: int = 1,
        to_version: int | None = None,
        until: datetime | None = None,
        descending: bool = False,
        limit: int | None = None,
    ) -> AsyncIterator[Commit]:
        for commit in self._store.read_commits(
            aggregate_type,
            aggregate_key,
            from_version=from_version,
            to_version=to_version,
            until=until,
            descending=descending,
            limit=limit,
        ):
            yield commit

    async def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> AsyncIterator[Commit]:
        for commit in self._store.read_log(after=after, log_partition=log_partition, limit=limit):
            yield commit

    async def head_position(self, log_partition: int = 0) -> int:
        return self._store.head_position(log_partition)

    async def aggregate_keys(self, aggregate_type: str) -> AsyncIterator[str]:
        for key in self._store.aggregate_keys(aggregate_type):
            yield key

    def add_append_listener(self, listener: Callable[[Commit], object]) -> Callable[[], None]:
        return self._store.add_append_listener(listener)

    def __repr__(self) -> str:
        return f"{self._store!r}.as_async()"


class AsyncInMemorySnapshotStore(AsyncSnapshotStore):
    """An :class:`~ddbes.async_ports.AsyncSnapshotStore` over an :class:`InMemorySnapshotStore`'s
    data (a new empty one by default)."""

    db_system = "memory"
    """The ``db.system`` of this store's telemetry spans."""

    def __init__(self, store: InMemorySnapshotStore | None = None) -> None:
        self._store = InMemorySnapshotStore() if store is None else store

    @property
    def fetch_in_parallel(self) -> bool:  # type: ignore[override]
        return self._store.fetch_in_parallel

    def as_sync(self) -> InMemorySnapshotStore:
        """The sync store this view serves."""
        return self._store

    async def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        return self._store.get(aggregate_type, aggregate_key)

    async def put(self, snapshot: Snapshot) -> None:
        self._store.put(snapshot)

    async def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        self._store.delete(aggregate_type, aggregate_key)

    async def clear(self, aggregate_type: str | None = None) -> None:
        self._store.clear(aggregate_type)

    def __repr__(self) -> str:
        return f"{self._store!r}.as_async()"


class AsyncInMemoryCheckpointStore(AsyncCheckpointStore):
    """An :class:`~ddbes.async_ports.AsyncCheckpointStore` over an
    :class:`InMemoryCheckpointStore`'s data (a new empty one by default)."""

    def __init__(self, store: InMemoryCheckpointStore | None = None) -> None:
        self._store = InMemoryCheckpointStore() if store is None else store

    def as_sync(self) -> InMemoryCheckpointStore:
        """The sync store this view serves."""
        return self._store

    async def get(self, name: str, log_partition: int = 0) -> int:
        return self._store.get(name, log_partition)

    async def save(self, name: str, position: int, log_partition: int = 0) -> None:
        self._store.save(name, position, log_partition)

    async def advance(
        self, name: str, position: int, log_partition: int = 0, *, expected: int
    ) -> None:
        self._store.advance(name, position, log_partition, expected=expected)

    async def reset(self, name: str, log_partition: int = 0, *, position: int = 0) -> None:
        self._store.reset(name, log_partition, position=position)

    async def parked(self, name: str) -> list[ParkedCommit]:
        return self._store.parked(name)

    async def put_parked(
        self, name: str, parked: ParkedCommit, *, expected: int | None = None
    ) -> bool:
        return self._store.put_parked(name, parked, expected=expected)

    async def hold(self, name: str, aggregate_type: str, aggregate_key: str, position: int) -> bool:
        return self._store.hold(name, aggregate_type, aggregate_key, position)

    async def delete_parked(
        self, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
    ) -> bool:
        return self._store.delete_parked(name, aggregate_type, aggregate_key, expected=expected)

    def __repr__(self) -> str:
        return f"{self._store!r}.as_async()"
