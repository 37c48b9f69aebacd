"""A snapshot store that encrypts the states of aggregates holding personal data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ddbes.model import Snapshot
from ddbes.ports import SnapshotStore

if TYPE_CHECKING:
    from ddbes.shredding.shredder import Shredder

__all__ = ["EncryptingSnapshotStore"]


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
        snapshot = self.inner.get(aggregate_type, aggregate_key)
        if snapshot is None:
            return None
        opened = self.shredder.open_snapshot(snapshot)
        if opened is None:
            self.inner.delete(aggregate_type, aggregate_key)
        return opened

    def put(self, snapshot: Snapshot) -> None:
        sealed = self.shredder.seal_snapshot(snapshot)
        if sealed is not None:
            self.inner.put(sealed)

    def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        self.inner.delete(aggregate_type, aggregate_key)

    def clear(self, aggregate_type: str | None = None) -> None:
        self.inner.clear(aggregate_type)
