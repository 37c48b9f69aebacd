"""The in-memory key store: for tests, demos and single-process apps."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ddbes.shredding.ports import (
    KeyStore,
    SubjectKey,
    check_aggregate,
    check_key,
    check_subject_id,
)

__all__ = ["InMemoryKeyStore"]


class InMemoryKeyStore(KeyStore):
    """A :class:`~ddbes.shredding.KeyStore` in this process's memory; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, SubjectKey] = {}
        self._aggregates: dict[str, set[tuple[str, str]]] = {}
        self._subjects: dict[tuple[str, str], set[str]] = {}

    def get(self, subject_id: str) -> SubjectKey | None:
        check_subject_id(subject_id)
        with self._lock:
            return self._keys.get(subject_id)

    def create(self, key: SubjectKey) -> SubjectKey:
        check_key(key)
        with self._lock:
            return self._keys.setdefault(key.subject_id, key)

    def delete(self, subject_id: str) -> None:
        check_subject_id(subject_id)
        with self._lock:
            self._keys.pop(subject_id, None)

    def add_aggregate(self, subject_id: str, aggregate_type: str, aggregate_key: str) -> None:
        check_subject_id(subject_id)
        check_aggregate(aggregate_type, aggregate_key)
        ident = (aggregate_type, aggregate_key)
        with self._lock:
            self._aggregates.setdefault(subject_id, set()).add(ident)
            self._subjects.setdefault(ident, set()).add(subject_id)

    def aggregates(self, subject_id: str) -> Iterator[tuple[str, str]]:
        check_subject_id(subject_id)
        with self._lock:
            found = sorted(self._aggregates.get(subject_id, ()))
        return iter(found)

    def subjects(self, aggregate_type: str, aggregate_key: str) -> Iterator[str]:
        with self._lock:
            found = sorted(self._subjects.get((aggregate_type, aggregate_key), ()))
        return iter(found)

    def __repr__(self) -> str:
        return "InMemoryKeyStore()"
