"""The asyncio twin of :class:`~ddbes.shredding.EncryptingCommitStore`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ddbes.async_ports import AsyncCommitStore
from ddbes.model import Commit
from ddbes.shredding._commits import with_events

if TYPE_CHECKING:
    from ddbes.shredding.shredder import Shredder

__all__ = ["AsyncEncryptingCommitStore"]


class AsyncEncryptingCommitStore(AsyncCommitStore):
    """An :class:`~ddbes.async_ports.AsyncCommitStore` in front of another, with the behaviour
    of :class:`~ddbes.shredding.EncryptingCommitStore` and the same encryption code. The key
    store is synchronous: a key that is not in the shredder's cache is fetched on a worker
    thread, so the event loop never waits on it; cached keys cost no thread hop on reads.
    """

    def __init__(self, inner: AsyncCommitStore, shredder: Shredder) -> None:
        self.inner = inner
        self.shredder = shredder

    def __repr__(self) -> str:
        return f"AsyncEncryptingCommitStore({self.inner!r})"

    @property
    def log_partitions(self) -> int:
        return self.inner.log_partitions

    def _seal(self, commit: Commit) -> tuple[Commit, tuple[str, ...]]:
        sealed, subjects = self.shredder.seal_commit(commit)
        if subjects:
            self.shredder.index(subjects, commit.aggregate_type, commit.aggregate_key)
        return sealed, subjects

    async def append(self, commit: Commit) -> Commit:
        if not self.shredder.policy.covers(commit.aggregate_type):
            self.shredder.seal_commit(commit)  # validates, refuses reserved fields; no I/O
            return await self.inner.append(commit)
        sealed, subjects = await asyncio.to_thread(self._seal, commit)
        if not subjects:
            return await self.inner.append(commit)
        stored = await self.inner.append(sealed)
        if stored.events is sealed.events or stored.events == sealed.events:
            return with_events(stored, commit.events)
        return await self._open(stored)

    async def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        """An atomic unit, each commit sealed as :meth:`append` seals it (keys fetched on a
        worker thread), written by ``inner`` in one transaction."""
        sealed_unit = []
        for commit in commits:
            if self.shredder.policy.covers(commit.aggregate_type):
                sealed, _ = await asyncio.to_thread(self._seal, commit)
            else:
                self.shredder.seal_commit(commit)  # validates, refuses reserved fields
                sealed = commit
            sealed_unit.append(sealed)
        stored = await self.inner.append_all(sealed_unit)
        given = []
        for one, commit, sealed in zip(stored, commits, sealed_unit, strict=True):
            if one.events is sealed.events or one.events == sealed.events:
                given.append(with_events(one, commit.events))
            else:
                given.append(await self._open(one))
        return given

    async def _open(self, commit: Commit) -> Commit:
        opened = self.shredder.open_commit(commit, cached_only=True)
        if opened is None:
            opened = await asyncio.to_thread(self.shredder.open_commit, commit)
        assert opened is not None
        return opened

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
        async for commit in self.inner.read_commits(
            aggregate_type,
            aggregate_key,
            from_version=from_version,
            to_version=to_version,
            until=until,
            descending=descending,
            limit=limit,
        ):
            yield await self._open(commit)

    async def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> AsyncIterator[Commit]:
        async for commit in self.inner.read_log(
            after=after, log_partition=log_partition, limit=limit
        ):
            yield await self._open(commit)

    async def flush_log(self, timeout: float | None = None) -> None:
        await self.inner.flush_log(timeout)

    async def head_position(self, log_partition: int = 0) -> int:
        return await self.inner.head_position(log_partition)

    def aggregate_keys(self, aggregate_type: str) -> AsyncIterator[str]:
        return self.inner.aggregate_keys(aggregate_type)

    def add_append_listener(self, listener: Callable[[Commit], object]) -> Callable[[], None]:
        def hear(commit: Commit) -> None:
            opened = self.shredder.open_commit(commit)
            assert opened is not None
            listener(opened)

        return self.inner.add_append_listener(hear)
