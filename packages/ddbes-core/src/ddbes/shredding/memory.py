"""The in-memory key store: for tests, demos and single-process apps."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from ddbes._validation import MAX_KEY_BYTES, MAX_TYPE_AND_KEY_BYTES
from ddbes.shredding.ports import KeyStore, SubjectKey, check_subject_id

__all__ = ["InMemoryKeyStore"]


def check_key(key: SubjectKey) -> None:
    """Refuse a key that no store may hold (what every key store checks before writing)."""
    check_subject_id(key.subject_id)
    if not isinstance(key.key_id, str) or not key.key_id:
        raise ValueError(f"a key id must be a non-empty string, got {key.key_id!r}")
    if not isinstance(key.material, bytes) or not key.material:
        raise ValueError("key material must be non-empty bytes")
    if not isinstance(key.wrapping, str):
        raise ValueError(f"a key's wrapping must be a string, got {key.wrapping!r}")


def check_aggregate(aggregate_type: str, aggregate_key: str) -> None:
    """Refuse an aggregate id that no commit could have (the commit stores' limits)."""
    sizes = []
    for label, value in (("aggregate_type", aggregate_type), ("aggregate_key", aggregate_key)):
        if not isinstance(value, str) or not value:
            raise ValueError(f"{label} must be a non-empty string, got {value!r}")
        try:
            sizes.append(len(value.encode()))
        except UnicodeEncodeError:
            raise ValueError(f"{label} {value[:40]!r} is not valid Unicode") from None
    if sizes[1] > MAX_KEY_BYTES or sum(sizes) > MAX_TYPE_AND_KEY_BYTES:
        raise ValueError(
            f"aggregate {aggregate_type[:40]!r}:{aggregate_key[:40]!r} is over the limits of an "
            f"aggregate id ({MAX_KEY_BYTES} bytes of key, {MAX_TYPE_AND_KEY_BYTES} of type and "
            "key): no commit can have it"
        )


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
