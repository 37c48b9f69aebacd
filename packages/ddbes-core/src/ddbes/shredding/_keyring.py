"""Subjects' data keys for one process: fetched, created once, unwrapped and cached.

The cache is bounded twice: at most ``cache_size`` keys (least recently used go first), each
for at most ``cache_ttl`` seconds, after which the key store is asked again. So a subject
forgotten by another process stops being readable here within ``cache_ttl``; in the process
that forgets, at once. Key ids found forgotten are remembered (a key id is never reused), so
reading a forgotten subject's events costs no request after the first.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from ddbes.errors import ConfigurationError
from ddbes.shredding._cipher import KEY_BYTES, forget_ciphers, new_key
from ddbes.shredding.errors import CiphertextUnreadable
from ddbes.shredding.ports import KeyStore, KeyWrapper, SubjectKey, check_subject_id

__all__ = ["Keyring"]


@dataclass(frozen=True, slots=True)
class _Cached:
    key_id: str
    key: bytes
    expires: float


class Keyring:
    """The data keys one process uses, over a :class:`KeyStore`."""

    def __init__(
        self,
        store: KeyStore,
        *,
        wrapper: KeyWrapper | None = None,
        cache_size: int = 10_000,
        cache_ttl: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(cache_size, int) or cache_size < 0:
            raise ValueError(f"cache_size must be an int >= 0, got {cache_size!r}")
        if not isinstance(cache_ttl, (int, float)) or cache_ttl < 0:
            raise ValueError(f"cache_ttl must be seconds >= 0, got {cache_ttl!r}")
        self.store = store
        self.wrapper = wrapper
        self.cache_size = cache_size
        self.cache_ttl = float(cache_ttl)
        self._now = monotonic
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._forgotten: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._read_at: OrderedDict[str, float] = OrderedDict()

    # ------------------------------------------------------------------ cache

    def _cached(self, subject_id: str) -> _Cached | None:
        with self._lock:
            found = self._cache.get(subject_id)
            if found is None:
                return None
            if found.expires <= self._now():
                del self._cache[subject_id]
                return None
            self._cache.move_to_end(subject_id)
            return found

    def _remember(self, subject_id: str, key_id: str, key: bytes) -> None:
        if self.cache_size == 0:
            return
        with self._lock:
            self._cache[subject_id] = _Cached(key_id, key, self._now() + self.cache_ttl)
            self._cache.move_to_end(subject_id)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _mark_forgotten(self, subject_id: str, key_id: str) -> None:
        with self._lock:
            self._forgotten[(subject_id, key_id)] = None
            while len(self._forgotten) > max(self.cache_size, 1_000):
                self._forgotten.popitem(last=False)

    def cached_key(self, subject_id: str, key_id: str) -> bytes | None:
        """The key for ``(subject_id, key_id)`` if it is in the cache; no I/O."""
        found = self._cached(subject_id)
        return found.key if found is not None and found.key_id == key_id else None

    def known_forgotten(self, subject_id: str, key_id: str) -> bool:
        """Whether ``key_id`` is known to be forgotten; no I/O."""
        with self._lock:
            return (subject_id, key_id) in self._forgotten

    # ------------------------------------------------------------------ keys

    def _unwrap(self, stored: SubjectKey) -> bytes:
        if not stored.wrapping:
            material = stored.material
        elif self.wrapper is not None and self.wrapper.name == stored.wrapping:
            material = self.wrapper.unwrap(stored.material, stored.subject_id)
        else:
            configured = self.wrapper.name if self.wrapper is not None else "none"
            raise ConfigurationError(
                f"the key of subject {stored.subject_id!r} is wrapped by {stored.wrapping!r}, "
                f"but this shredder's key wrapper is {configured}: configure that wrapper"
            )
        if len(material) != KEY_BYTES:
            raise CiphertextUnreadable(
                f"the key of subject {stored.subject_id!r} is not a {KEY_BYTES}-byte key"
            )
        return material

    def for_writing(self, subject_id: str) -> tuple[str, bytes]:
        """``(key_id, key)`` of the subject's current key, created (once) when it has none.

        Raises:
            StoreUnavailable, ConfigurationError: from the key store or the wrapper.
        """
        found = self._cached(subject_id)
        if found is not None:
            return found.key_id, found.key
        stored = self.store.get(subject_id)
        if stored is None:
            material = new_key()
            wrapped = material
            wrapping = ""
            if self.wrapper is not None:
                wrapped = self.wrapper.wrap(material, subject_id)
                wrapping = self.wrapper.name
            fresh = SubjectKey(
                subject_id=subject_id,
                key_id=os.urandom(12).hex(),
                material=wrapped,
                wrapping=wrapping,
            )
            stored = self.store.create(fresh)
            key = material if stored == fresh else self._unwrap(stored)
        else:
            key = self._unwrap(stored)
        self._remember(subject_id, stored.key_id, key)
        return stored.key_id, key

    def current(self, subject_id: str) -> tuple[str, bytes] | None:
        """``(key_id, key)`` of the subject's current key, or ``None``; never creates one."""
        found = self._cached(subject_id)
        if found is not None:
            return found.key_id, found.key
        stored = self.store.get(subject_id)
        if stored is None:
            return None
        key = self._unwrap(stored)
        self._remember(subject_id, stored.key_id, key)
        return stored.key_id, key

    def for_reading(self, subject_id: str, key_id: str) -> bytes | None:
        """The key ``key_id`` of the subject, or ``None`` when it was forgotten.

        Raises:
            StoreUnavailable, ConfigurationError: from the key store or the wrapper.
        """
        now = self._now()
        with self._lock:  # one lock for the hot path: a cached key
            read_at = self._read_at
            read_at[subject_id] = now
            read_at.move_to_end(subject_id)
            if len(read_at) > max(self.cache_size, 1_000):
                read_at.popitem(last=False)
            if (subject_id, key_id) in self._forgotten:
                return None
            found = self._cache.get(subject_id)
            if found is not None and found.key_id == key_id and found.expires > now:
                self._cache.move_to_end(subject_id)
                return found.key
        stored = self.store.get(subject_id)
        if stored is None or stored.key_id != key_id:
            self._mark_forgotten(subject_id, key_id)
            return None
        key = self._unwrap(stored)
        self._remember(subject_id, key_id, key)
        return key

    def read_recently(self, subject_id: str) -> bool:
        """Whether this process decrypted the subject's data within ``cache_ttl`` seconds (so
        a state built here may hold its plaintext although its key is gone)."""
        with self._lock:
            at = self._read_at.get(subject_id)
        return at is not None and self._now() - at <= self.cache_ttl

    def forget(self, subject_id: str) -> None:
        """Delete the subject's key from the store and from this process's cache.

        Raises:
            ValueError: an invalid subject id.
            StoreUnavailable, ConfigurationError: from the key store; retry.
        """
        check_subject_id(subject_id)
        stored = self.store.get(subject_id)
        self.store.delete(subject_id)
        with self._lock:
            cached = self._cache.pop(subject_id, None)
        for key_id in {k.key_id for k in (stored, cached) if k is not None}:
            self._mark_forgotten(subject_id, key_id)
        forget_ciphers()
