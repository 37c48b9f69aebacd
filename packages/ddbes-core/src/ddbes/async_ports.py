"""The asyncio ports: the twins of :mod:`ddbes.ports` for code that runs in an event loop.

Each async port has the methods of its sync twin, with the same names, arguments, results,
errors and guarantees (the sync docstrings are the specification); the methods that do I/O are
coroutines, and the ones that return many items return async iterators, fetching further pages
lazily. A table or bucket written through one API is read by the other: adapters of the two
kinds share their storage layout.

An async aggregate needs async stores, and a sync aggregate sync ones; mixing them is refused
at once with an error that says which to use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from datetime import datetime

from ddbes.model import Commit, ParkedCommit, Snapshot
from ddbes.ports import AppendListeners

__all__ = ["AsyncCheckpointStore", "AsyncCommitStore", "AsyncSnapshotStore"]


class AsyncCommitStore(AppendListeners, ABC):
    """The commit log, for asyncio: see :class:`ddbes.ports.CommitStore` for the guarantees
    every implementation gives and the errors each method raises."""

    @property
    @abstractmethod
    def log_partitions(self) -> int:
        """The number of global log partitions (fixed when the store is created)."""

    @abstractmethod
    async def append(self, commit: Commit) -> Commit:
        """Store ``commit`` atomically: :meth:`ddbes.ports.CommitStore.append`."""

    async def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        """Store ``commits`` on different aggregates, all or none:
        :meth:`ddbes.ports.CommitStore.append_all` (this default raises
        ``NotImplementedError``)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot append atomic units: implement "
            "AsyncCommitStore.append_all, or use the in-memory store's as_async() or "
            "ddbes_dynamodb.AsyncDynamoDBCommitStore"
        )

    @abstractmethod
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
    ) -> AsyncIterator[Commit]:
        """One aggregate's commits, ordered by version:
        :meth:`ddbes.ports.CommitStore.read_commits`.

        Implemented as an ``async def`` generator: ``async for c in store.read_commits(...)``.
        """

    @abstractmethod
    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> AsyncIterator[Commit]:
        """The global log of one partition after ``after``, in order:
        :meth:`ddbes.ports.CommitStore.read_log`."""

    async def flush_log(self, timeout: float | None = None) -> None:
        """Wait until every commit appended through this store object is in the global log:
        :meth:`ddbes.ports.CommitStore.flush_log`. This default returns at once (a store that
        gives positions as part of the append has nothing to wait for)."""
        return None

    @abstractmethod
    async def head_position(self, log_partition: int = 0) -> int:
        """The position of the newest commit in a log partition; 0 when it is empty."""

    @abstractmethod
    def aggregate_keys(self, aggregate_type: str) -> AsyncIterator[str]:
        """The keys of every aggregate of ``aggregate_type`` that has a commit, each once,
        sorted: :meth:`ddbes.ports.CommitStore.aggregate_keys`."""


class AsyncSnapshotStore(ABC):
    """The latest snapshot of each aggregate, for asyncio: see
    :class:`ddbes.ports.SnapshotStore`. A cache: losing one only costs a replay."""

    fetch_in_parallel: bool = False
    """True for a store whose ``get()`` waits on the network: a load then reads the aggregate's
    newest commits while the snapshot is fetched, instead of after it."""

    @abstractmethod
    async def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        """The latest snapshot of an aggregate, or ``None`` if there is none."""

    @abstractmethod
    async def put(self, snapshot: Snapshot) -> None:
        """Store ``snapshot``, replacing the aggregate's previous one."""

    @abstractmethod
    async def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        """Remove an aggregate's snapshot; no error when there is none."""

    @abstractmethod
    async def clear(self, aggregate_type: str | None = None) -> None:
        """Remove every snapshot of ``aggregate_type``, or every snapshot this store holds."""


class AsyncCheckpointStore(ABC):
    """Where projectors keep their position in each log partition, for asyncio: see
    :class:`ddbes.ports.CheckpointStore`."""

    @abstractmethod
    async def get(self, name: str, log_partition: int = 0) -> int:
        """The saved position of projector ``name`` in a log partition; 0 when none is saved."""

    @abstractmethod
    async def save(self, name: str, position: int, log_partition: int = 0) -> None:
        """Move the checkpoint forward to ``position``."""

    @abstractmethod
    async def advance(
        self, name: str, position: int, log_partition: int = 0, *, expected: int
    ) -> None:
        """Move the checkpoint to ``position``, only if it is still at ``expected``."""

    async def reset(self, name: str, log_partition: int = 0, *, position: int = 0) -> None:
        """Set the checkpoint to ``position``, backwards too; 0 deletes it:
        :meth:`ddbes.ports.CheckpointStore.reset`. This default cannot."""
        raise NotImplementedError(f"{type(self).__name__} cannot reset checkpoints")

    async def parked(self, name: str) -> list[ParkedCommit]:
        """The commits projector ``name`` parked: :meth:`ddbes.ports.CheckpointStore.parked`.
        This default cannot park commits."""
        raise NotImplementedError(f"{type(self).__name__} cannot park commits")

    async def put_parked(
        self, name: str, parked: ParkedCommit, *, expected: int | None = None
    ) -> bool:
        """Park a commit, or replace a parked one:
        :meth:`ddbes.ports.CheckpointStore.put_parked`. This default cannot."""
        raise NotImplementedError(f"{type(self).__name__} cannot park commits")

    async def hold(self, name: str, aggregate_type: str, aggregate_key: str, position: int) -> bool:
        """Hold back a later commit of a parked aggregate:
        :meth:`ddbes.ports.CheckpointStore.hold`. This default cannot."""
        raise NotImplementedError(f"{type(self).__name__} cannot park commits")

    async def delete_parked(
        self, name: str, aggregate_type: str, aggregate_key: str, *, expected: int
    ) -> bool:
        """Unpark an aggregate if nothing was held back since:
        :meth:`ddbes.ports.CheckpointStore.delete_parked`. This default cannot."""
        raise NotImplementedError(f"{type(self).__name__} cannot park commits")
