"""``InMemoryArchiveStore``: archive objects in this process's memory, for tests and demos."""

from __future__ import annotations

import threading

from ddbes.archiving.ports import ArchiveStore, AsyncArchiveStore

__all__ = ["InMemoryArchiveStore"]


class InMemoryArchiveStore(ArchiveStore):
    """An :class:`~ddbes.archiving.ArchiveStore` in a dict; thread-safe. Pair it with
    ``InMemoryCommitStore(archive=...)`` to test archiving without AWS."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._objects: dict[str, bytes] = {}

    def put(self, key: str, body: bytes) -> None:
        with self._lock:
            self._objects[key] = bytes(body)

    def get(self, key: str) -> bytes | None:
        with self._lock:
            return self._objects.get(key)

    def object_keys(self) -> list[str]:
        """Every key stored, sorted."""
        with self._lock:
            return sorted(self._objects)

    def as_async(self) -> AsyncArchiveStore:
        """An :class:`~ddbes.archiving.AsyncArchiveStore` view of the same objects."""
        return _AsyncView(self)

    def __repr__(self) -> str:
        return f"InMemoryArchiveStore({len(self._objects)} objects)"


class _AsyncView(AsyncArchiveStore):
    """The objects of an :class:`InMemoryArchiveStore`, awaited."""

    def __init__(self, store: InMemoryArchiveStore) -> None:
        self.store = store

    async def put(self, key: str, body: bytes) -> None:
        self.store.put(key, body)

    async def get(self, key: str) -> bytes | None:
        return self.store.get(key)

    def __repr__(self) -> str:
        return f"{self.store!r}.as_async()"
