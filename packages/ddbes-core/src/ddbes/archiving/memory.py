"""``InMemoryArchiveStore``: archive objects in this process's memory, for tests and demos."""

from __future__ import annotations

import threading

from ddbes.archiving.ports import ArchiveStore

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

    def __repr__(self) -> str:
        return f"InMemoryArchiveStore({len(self._objects)} objects)"
