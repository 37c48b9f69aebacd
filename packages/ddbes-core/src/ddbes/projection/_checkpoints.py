"""Projector checkpoints: read when a projector takes a log partition, saved as it moves on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ddbes.errors import CheckpointConflict, ProjectorConflict, StoreUnavailable
from ddbes.ports import CheckpointStore
from ddbes.projection._partition import Partition
from ddbes.projection.leases import LeaseKeeper
from ddbes.retry import RetryPolicy, call_with_retries

__all__ = ["PartitionCheckpoints"]

T = TypeVar("T")


class PartitionCheckpoints:
    """One projector run's checkpoints in a :class:`~ddbes.ports.CheckpointStore`.

    Store calls are retried by ``retry`` while the store is unavailable, sleeping with ``nap``.
    A checkpoint is saved only forward, only from where this run last read or saved it, and
    only while the projector holds the partition's lease. One that another process moved is read
    back and the lease given up; with no lease store, the run stops with
    :class:`~ddbes.errors.ProjectorConflict` (two projectors of one name are at work).

    Args:
        store: the checkpoint store.
        name: the projector's name, under which its checkpoints are saved.
        owner: the projector's identity, for error messages.
        retry, nap: the retry policy for store calls, and how to sleep between attempts.
        log: the projector's logger.
        on_save: called after every save attempt (the projector reports its progress).
        seed_name: in a consumer group, the projector's own name: a unit without a checkpoint
            starts at the checkpoint its log partition has under that name (a projector that
            becomes a group does not start again from 0).
    """

    def __init__(
        self,
        store: CheckpointStore,
        *,
        name: str,
        owner: str,
        retry: RetryPolicy,
        nap: Callable[[float], None],
        log: Any,
        on_save: Callable[[], None],
        seed_name: str | None = None,
    ) -> None:
        self._store = store
        self._name = name
        self._owner = owner
        self.conflict: ProjectorConflict | None = None
        self._retry = retry
        self._nap = nap
        self._log = log
        self._on_save = on_save
        self._seed_name = seed_name

    def read(self, log_partition: int) -> int:
        """The saved checkpoint of a log partition."""
        return self._call(lambda: self._store.get(self._name, log_partition))

    def take(self, part: Partition, *, leased: bool = False) -> None:
        """Start on a partition from its saved checkpoint (``leased``: its lease is held, so
        a consumer group's unit may be seeded)."""
        saved = self.read(part.number)
        if not saved and leased and self._seed_name is not None:
            seed_name = self._seed_name
            saved = self._call(lambda: self._store.get(seed_name, part.log_partition))
            if saved:
                self._call(lambda: self._store.reset(self._name, part.number, position=saved))
        part.position = part.saved = part.dispatched = saved
        part.head = max(part.head, saved)
        part.done.clear()

    def save(self, part: Partition, keeper: LeaseKeeper | None) -> None:
        """Save the partition's ``position`` if it moved on and the lease is still held.

        The save succeeds only from the position last read or saved (``part.saved``), so a
        checkpoint moved by another process is noticed: with a lease, the lease is given up;
        without one, a second projector of this name is at work, and this one stops.

        Raises:
            ProjectorConflict: no lease store, and another projector moved the checkpoint.
        """
        position = part.position
        if self.conflict is not None:
            return
        if position <= part.saved or (keeper is not None and not keeper.valid(part.number)):
            return
        expected = part.saved
        try:
            self._call(
                lambda: self._store.advance(self._name, position, part.number, expected=expected)
            )
            part.saved = position
        except CheckpointConflict as conflict:
            current = conflict.current
            part.saved = self.read(part.number) if current is None else current
            if keeper is None:
                self.conflict = self._duplicate(part, expected)
                self._log.error("%s", self.conflict)
                raise self.conflict from conflict
            self._log.warning(
                "projector %r: another process moved the checkpoint of log partition %d to %d "
                "(from %d); giving its lease up",
                self._name, part.number, part.saved, expected,
            )  # fmt: skip
            keeper.lose(part.number)
        self._on_save()

    def _duplicate(self, part: Partition, expected: int) -> ProjectorConflict:
        name = self._name
        return ProjectorConflict(
            f"projector {name!r} ({self._owner}) stopped: another projector named {name!r} "
            f"moved the checkpoint of log partition {part.number} from {expected} to "
            f"{part.saved} while this one ran, so both were handling the same commits (those "
            f"after position {expected} may have been handled twice). Run one projector per "
            f"name, or give every projector named {name!r} the same lease_store=... "
            "(ddbes.projection.leases) so that they share the work",
            name=name,
            log_partition=part.number,
            current=part.saved,
        )

    def _call(self, action: Callable[[], T]) -> T:
        return call_with_retries(action, self._retry, retry_on=StoreUnavailable, sleep=self._nap)
