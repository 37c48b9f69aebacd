"""A commit store that encrypts personal data on the way in and decrypts it on the way out."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes.shredding._commits import with_events

if TYPE_CHECKING:
    from ddbes.shredding.shredder import Shredder

__all__ = ["EncryptingCommitStore"]


def _as_given(
    stored: Commit, given: Commit, sealed: Commit, open_commit: Callable[[Commit], Commit]
) -> Commit:
    """The stored commit with the events it was given (decrypted when a retry returned the
    commit stored first)."""
    if stored.events is sealed.events or stored.events == sealed.events:
        return with_events(stored, given.events)
    return open_commit(stored)


class EncryptingCommitStore(CommitStore):
    """A :class:`~ddbes.ports.CommitStore` in front of another: ``append`` encrypts the
    personal fields the shredder's policy names, every read decrypts them (or gives the
    placeholder for a forgotten subject). Aggregates, projectors and stream servers use it as
    any commit store; it keeps every guarantee of ``inner``.

    * A retried append (same ``commit_id``) is stored once: stores recognise a retry by its
      ``commit_id``, not its bytes, so a fresh nonce changes nothing.
    * The subject's key is fetched, or created once, *before* anything is written: when the
      key store is unreachable, ``append`` raises ``StoreUnavailable`` and writes nothing.
    * Append listeners hear the decrypted commit.

    Attributes of ``inner`` that are not part of the port (``create_table``, ``close``, ...)
    are reached through this store.

    Raises (besides what ``inner`` raises):
        InvalidEvent: from ``append``, for an event whose subject is missing or not a string.
        CiphertextUnreadable: from reads, for a ciphertext that was altered.
    """

    def __init__(self, inner: CommitStore, shredder: Shredder) -> None:
        self.inner = inner
        self.shredder = shredder

    def __repr__(self) -> str:
        return f"EncryptingCommitStore({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("inner", "shredder"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def log_partitions(self) -> int:
        return self.inner.log_partitions

    def append(self, commit: Commit) -> Commit:
        shredder = self.shredder
        sealed, subjects = shredder.seal_commit(commit)
        if not subjects:
            return self.inner.append(commit)
        shredder.index(subjects, commit.aggregate_type, commit.aggregate_key)
        stored = self.inner.append(sealed)
        if stored.events is sealed.events or stored.events == sealed.events:
            return with_events(stored, commit.events)
        opened = shredder.open_commit(stored)  # a retry: the stored commit, as stored first
        assert opened is not None
        return opened

    def append_all(self, commits: Sequence[Commit]) -> list[Commit]:
        """An atomic unit: each commit sealed as :meth:`append` seals it (every subject's key
        fetched or created first), then the unit written by ``inner`` in one transaction."""
        shredder = self.shredder
        sealed_unit: list[Commit] = []
        for commit in commits:
            sealed, subjects = shredder.seal_commit(commit)
            if subjects:
                shredder.index(subjects, commit.aggregate_type, commit.aggregate_key)
            sealed_unit.append(sealed)
        stored = self.inner.append_all(sealed_unit)
        return [
            _as_given(one, commit, sealed, self._open)
            for one, commit, sealed in zip(stored, commits, sealed_unit, strict=True)
        ]

    def _open(self, commit: Commit) -> Commit:
        opened = self.shredder.open_commit(commit)
        assert opened is not None
        return opened

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
        commits = self.inner.read_commits(
            aggregate_type,
            aggregate_key,
            from_version=from_version,
            to_version=to_version,
            until=until,
            descending=descending,
            limit=limit,
        )
        return map(self._open, commits)

    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        return map(
            self._open, self.inner.read_log(after=after, log_partition=log_partition, limit=limit)
        )

    def flush_log(self, timeout: float | None = None) -> None:
        self.inner.flush_log(timeout)

    def head_position(self, log_partition: int = 0) -> int:
        return self.inner.head_position(log_partition)

    def aggregate_keys(self, aggregate_type: str) -> Iterator[str]:
        return self.inner.aggregate_keys(aggregate_type)

    def add_append_listener(self, listener: Callable[[Commit], object]) -> Callable[[], None]:
        return self.inner.add_append_listener(lambda commit: listener(self._open(commit)))
