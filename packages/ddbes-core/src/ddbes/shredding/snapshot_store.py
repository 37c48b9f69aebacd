"""A snapshot store that encrypts the states of aggregates holding personal data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ddbes.model import Commit, Snapshot
from ddbes.ports import CommitStore, SnapshotStore
from ddbes.shredding.commit_store import EncryptingCommitStore
from ddbes.snapshot_tip import SnapshotTip, TipSnapshotStore

if TYPE_CHECKING:
    from ddbes.shredding.shredder import Shredder

__all__ = ["EncryptingSnapshotStore", "EncryptingTipSnapshotStore"]


class EncryptingSnapshotStore(SnapshotStore):
    """A :class:`~ddbes.ports.SnapshotStore` in front of another that never lets a forgotten
    subject's plaintext survive in a snapshot.

    ``put`` encrypts the state of an aggregate that holds data of one or more subjects (the key
    store's index says which) under a key derived from all of their keys: once any of them is
    forgotten, the snapshot no longer decrypts, and ``get`` deletes it and returns ``None`` (a
    load then replays the commits, with placeholders). A state that may have been built from a
    subject forgotten meanwhile is not written at all. :meth:`Shredder.forget` also deletes the
    forgotten subject's snapshots at once. States of aggregates without personal data are
    stored as they are.
    """

    def __init__(self, inner: SnapshotStore, shredder: Shredder) -> None:
        self.inner = inner
        self.shredder = shredder
        shredder._serve_snapshots(inner)

    def __repr__(self) -> str:
        return f"EncryptingSnapshotStore({self.inner!r})"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("inner", "shredder"):
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def fetch_in_parallel(self) -> bool:  # type: ignore[override]
        return self.inner.fetch_in_parallel

    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        return self._open(self.inner.get(aggregate_type, aggregate_key))

    def _open(self, snapshot: Snapshot | None) -> Snapshot | None:
        if snapshot is None:
            return None
        opened = self.shredder.open_snapshot(snapshot)
        if opened is None:
            self.inner.delete(snapshot.aggregate_type, snapshot.aggregate_key)
        return opened

    def put(self, snapshot: Snapshot) -> None:
        sealed = self.shredder.seal_snapshot(snapshot)
        if sealed is not None:
            self.inner.put(sealed)

    def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        self.inner.delete(aggregate_type, aggregate_key)

    def clear(self, aggregate_type: str | None = None) -> None:
        self.inner.clear(aggregate_type)


class EncryptingTipSnapshotStore(EncryptingSnapshotStore, TipSnapshotStore):
    """:class:`EncryptingSnapshotStore` over a :class:`~ddbes.snapshot_tip.TipSnapshotStore`
    (``DynamoDBSnapshotStore``): a load through an :class:`EncryptingCommitStore` of the same
    table keeps its one read of the snapshot and the newest commits, both decrypted."""

    inner: TipSnapshotStore

    def __init__(self, inner: TipSnapshotStore, shredder: Shredder) -> None:
        super().__init__(inner, shredder)

    def serves(self, commit_store: CommitStore) -> bool:
        return isinstance(commit_store, EncryptingCommitStore) and self.inner.serves(
            commit_store.inner
        )

    def read_tip(self, aggregate_type: str, aggregate_key: str, *, commits: int) -> SnapshotTip:
        tip = self.inner.read_tip(aggregate_type, aggregate_key, commits=commits)
        opened: list[Commit] = []
        for commit in tip.commits:
            plain = self.shredder.open_commit(commit)
            assert plain is not None
            opened.append(plain)
        return SnapshotTip(commits=tuple(opened), snapshot=lambda: self._open(tip.snapshot()))
