"""Projector checkpoints: read when a projector takes a log partition, saved as it moves on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ddbes._projector_partition import Partition
from ddbes.errors import CheckpointConflict, StoreUnavailable
from ddbes.leases import LeaseKeeper
from ddbes.ports import CheckpointStore
from ddbes.retry import RetryPolicy, call_with_retries

__all__ = ["PartitionCheckpoints"]

T = TypeVar("T")


class PartitionCheckpoints:
    """One projector run's checkpoints in a :class:`~ddbes.ports.CheckpointStore`.

    Store calls are retried by ``retry`` while the store is unavailable, sleeping with ``nap``.
    A checkpoint is saved only forward, and only while the projector holds the partition's
    lease; one that another process moved is read back, and the lease given up.

    Args:
        store: the checkpoint store.
        name: the projector's name, under which its checkpoints are saved.
        retry, nap: the retry policy for store calls, and how to sleep between attempts.
        log: the projector's logger.
        on_save: called after every save attempt (the projector reports its progress).
    """

    def __init__(
        self,
        store: CheckpointStore,
        *,
        name: str,
        retry: RetryPolicy,
        nap: Callable[[float], None],
        log: Any,
        on_save: Callable[[], None],
    ) -> None:
        self._store = store
        self._name = name
        self._retry = retry
        self._nap = nap
        self._log = log
        self._on_save = on_save

    def read(self, log_partition: int) -> int:
        """The saved checkpoint of a log partition."""
        return self._call(lambda: self._store.get(self._name, log_partition))

    def take(self, part: Partition) -> None:
        """Start on a partition from its saved checkpoint."""
        saved = self.read(part.number)
        part.position = part.saved = part.dispatched = saved
        part.head = max(part.head, saved)
        part.done.clear()

    def save(self, part: Partition, keeper: LeaseKeeper | None) -> None:
        """Save the partition's ``position`` if it moved on and the lease is still held."""
        position = part.position
        if position <= part.saved or (keeper is not None and not keeper.valid(part.number)):
            return
        try:
            self._call(lambda: self._store.save(self._name, position, part.number))
            part.saved = position
        except CheckpointConflict:
            part.saved = self.read(part.number)
            self._log.warning(
                "projector %r: another process moved the checkpoint of log partition %d to %d "
                "(a second projector of this name without a lease store?)",
                self._name, part.number, part.saved,
            )  # fmt: skip
            if keeper is not None:
                keeper.lose(part.number)
        self._on_save()

    def _call(self, action: Callable[[], T]) -> T:
        return call_with_retries(action, self._retry, retry_on=StoreUnavailable, sleep=self._nap)
