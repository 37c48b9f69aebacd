"""Projector checkpoints: read when a projector takes a log partition, saved as it moves on.

Each operation is written once as steps (:mod:`ddbes.projection._steps`): the sync projector
runs them on a :class:`~ddbes.ports.CheckpointStore`, the async one on an
:class:`~ddbes.async_ports.AsyncCheckpointStore`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ddbes.errors import CheckpointConflict, ProjectorConflict
from ddbes.projection._partition import Partition
from ddbes.projection._steps import Steps, run_sync, store_call
from ddbes.projection.leases import LeaseKeeper
from ddbes.retry import RetryPolicy

__all__ = ["PartitionCheckpoints"]


class PartitionCheckpoints:
    """One projector run's checkpoints in a :class:`~ddbes.ports.CheckpointStore` (or, through
    the ``*_steps`` methods only, an :class:`~ddbes.async_ports.AsyncCheckpointStore`).

    Store calls are retried by ``retry`` while the store is unavailable, sleeping with ``nap``.
    A checkpoint is saved only forward, only from where this run last read or saved it, and
    only while the projector holds the partition's lease. One that another process moved is read
    back and the lease given up; with no lease store, the run stops with
    :class:`~ddbes.errors.ProjectorConflict` (two projectors of one name are at work).

    Args:
        store: the checkpoint store.
        name: the projector's name, under which its checkpoints are saved.
        owner: the projector's identity, for error messages.
        retry, nap: the retry policy for store calls, and how to sleep between attempts (a
            coroutine function for an async store).
        log: the projector's logger.
        on_save: called after every save attempt (the projector reports its progress).
        seed_name: in a consumer group, the projector's own name: a unit without a checkpoint
            starts at the checkpoint its log partition has under that name (a projector that
            becomes a group does not start again from 0).
    """

    def __init__(
        self,
        store: Any,
        *,
        name: str,
        owner: str,
        retry: RetryPolicy,
        nap: Callable[[float], Any],
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
        return run_sync(self.read_steps(log_partition))

    def take(self, part: Partition, *, leased: bool = False) -> None:
        """Start on a partition from its saved checkpoint (``leased``: its lease is held, so
        a consumer group's unit may be seeded)."""
        run_sync(self.take_steps(part, leased=leased))

    def save(self, part: Partition, keeper: LeaseKeeper | None) -> None:
        """Save the partition's ``position`` if it moved on and the lease is still held:
        :meth:`save_steps`."""
        run_sync(self.save_steps(part, keeper))

    def read_steps(self, log_partition: int) -> Steps[int]:
        """The saved checkpoint of a log partition."""
        return (yield from self._call(self._store.get, self._name, log_partition))  # type: ignore[no-any-return]

    def take_steps(self, part: Partition, *, leased: bool = False) -> Steps[None]:
        """Start on a partition from its saved checkpoint."""
        saved = yield from self.read_steps(part.number)
        if not saved and leased and self._seed_name is not None:
            saved = yield from self._call(self._store.get, self._seed_name, part.log_partition)
            if saved:
                yield from self._call(self._reset, part.number, saved)
        part.position = part.saved = part.dispatched = saved
        part.head = max(part.head, saved)
        part.done.clear()

    def save_steps(self, part: Partition, keeper: LeaseKeeper | None) -> Steps[None]:
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
            yield from self._call(self._advance, position, part.number, expected)
            part.saved = position
        except CheckpointConflict as conflict:
            current = conflict.current
            if current is None:
                current = yield from self.read_steps(part.number)
            part.saved = current
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

    def _reset(self, number: int, position: int) -> Any:
        return self._store.reset(self._name, number, position=position)

    def _advance(self, position: int, number: int, expected: int) -> Any:
        return self._store.advance(self._name, position, number, expected=expected)

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

    def _call(self, function: Callable[..., Any], *args: Any) -> Steps[Any]:
        return store_call(function, *args, policy=self._retry, nap=self._nap)
