"""Units of work under leases: taking one (``_hold``, for every projector with a lease store),
and a consumer-group member's reads and hand-overs.

A consumer-group member reads each log partition once for all the units (hash slots) it holds
there, and hands each commit to the handlers only for the unit of its aggregate.

Every held unit has its own position (and checkpoint): the read starts after the lowest, a
commit is handled only if its unit has not passed it yet, and every held unit moves past each
commit read (handled, or another unit's). So a unit taken over behind the others is caught up by
the same reads, and a member's read cost does not grow with the slots it holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ddbes.errors import ProjectionFailed, StoreUnavailable
from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes.projection._batch_span import open_batch
from ddbes.projection._checkpoints import PartitionCheckpoints
from ddbes.projection._group import Group, slot_of
from ddbes.projection._handler_retry import Abandoned
from ddbes.projection._heads import HeadWatch
from ddbes.projection._parking import Parking
from ddbes.projection._partition import Partition
from ddbes.projection._read_ahead import Read, ReadAhead
from ddbes.projection.leases import LeaseKeeper

__all__ = ["MAX_READ_FACTOR", "GroupReading", "by_log_partition", "unit_label"]

MAX_READ_FACTOR = 16
"""A member reads at most this many times ``batch_size`` commits of the log per step."""


class GroupReading:
    """Leases and the group step of :class:`~ddbes.projection.projector.Projector` (whose
    attributes these are)."""

    name: str
    stored_name: str
    owner: str
    _log: Any
    _parts: list[Partition]
    _keeper: LeaseKeeper | None
    _heads: HeadWatch | None
    _cond: threading.Condition
    _stopping: bool
    _failure: ProjectionFailed | None
    _handled: int
    _batch_size: int
    _handler: Callable[[], Callable[[Commit, int], None]]
    _group: Group | None
    _parking: Parking | None
    _on_failure: str
    _poll_interval: float
    _read_failed: Callable[[StoreUnavailable], None]
    _store_call: Callable[[Callable[[], Any]], Any]
    _read_ahead: ReadAhead

    def _step_group(
        self, units: list[Partition], commits: CommitStore, checkpoints: PartitionCheckpoints
    ) -> bool:
        """Move the held units of one log partition on by at most one batch; ``True`` if it
        read commits."""
        keeper, group = self._keeper, self._group
        assert keeper is not None and group is not None
        loads = group.loads
        active: list[Partition] = []
        for unit in units:
            if unit.finished or not self._hold(unit, checkpoints):
                continue
            if unit.target is not None and unit.dispatched >= unit.target:  # run(): done
                checkpoints.save(unit, keeper)
                unit.finished = True
                keeper.release(unit.number)
                continue
            active.append(unit)
        if not active:
            return False
        log_partition, slots = active[0].log_partition, active[0].slots
        after = min(unit.dispatched for unit in active)
        head = max(unit.head for unit in active)
        heads = self._heads
        if heads is not None and heads.polls and after >= max(head, heads.head(log_partition)):
            return False  # the shared poll of the heads saw nothing new: no read
        by_slot = {unit.slot: unit for unit in active}
        # About ``batch_size`` commits of the held units per step: a member that holds a
        # quarter of the slots reads four times as far (its checkpoints move past the rest).
        limit = self._batch_size * min(MAX_READ_FACTOR, max(1, slots // len(active)))
        count = handled = 0
        batch = open_batch(self.stored_name, log_partition)
        error: BaseException | None = None
        try:
            read, failure = self._read_batch(commits, log_partition, after, limit, ahead=True)
            began, cpu = time.perf_counter(), time.thread_time()
            numbers = {unit.number for unit in active}
            handle = self._handler()
            for commit in read:
                if self._stopping or group.should_pause(numbers):
                    break  # the rest is read again: positions move commit by commit
                if batch is not None:
                    batch.add(commit)
                position = commit.position or 0
                slot = slot_of(commit, slots)
                owner = by_slot.get(slot)
                loads.saw(log_partition, slot, position)
                if owner is not None and position > owner.dispatched:
                    if not keeper.valid(owner.number):  # lost: leave it where it is
                        del by_slot[owner.slot]
                    else:
                        handle(commit, log_partition)
                        handled += 1
                count += 1
                with self._cond:
                    for passing in by_slot.values():
                        if passing.dispatched < position:
                            passing.dispatched = passing.position = position
                            passing.last_at = commit.committed_at
            else:
                if failure is not None:  # after the commits that came before it
                    raise failure
            self._read_ahead.handled(time.perf_counter() - began, time.thread_time() - cpu)
        except Abandoned:
            pass
        except ProjectionFailed as exc:
            self._failure = error = exc
        except StoreUnavailable as exc:
            self._read_failed(exc)
            error = exc
        except BaseException as exc:
            error = exc
            raise
        finally:
            if batch is not None:
                batch.close(error)
            with self._cond:
                self._handled += handled
                self._cond.notify_all()
        newest = max(part.dispatched for part in active)
        if count >= limit and head <= newest:
            head = self._store_call(lambda: commits.head_position(log_partition))
        for part in active:
            part.head = max(part.head, newest, head)
            checkpoints.save(part, keeper)
        return count > 0

    def _read_batch(
        self, commits: CommitStore, log_partition: int, after: int, limit: int, *, ahead: bool
    ) -> Read:
        """One batch of a log partition (the one read ahead for it, if any): what it showed
        goes to the shared head watch, and when it came back full and ``ahead``, the next
        batch is read ahead (if the handlers mostly wait)."""
        read, failure = self._read_ahead.read(commits, log_partition, after, limit)
        newest = read[-1].position if read else None
        full = failure is None and len(read) >= limit and newest is not None
        if self._heads is not None and newest is not None:
            self._heads.read(log_partition, newest, full=full)
        if full and ahead and newest is not None:
            self._read_ahead.start(commits, log_partition, newest, limit)
        return read, failure

    def _hold(self, part: Partition, checkpoints: PartitionCheckpoints) -> bool:
        """Whether this projector may work on ``part`` now: with a lease store, it holds the
        lease, or took it just now (then it starts from the saved checkpoint)."""
        keeper = self._keeper
        if keeper is None or keeper.valid(part.number):
            return True
        now = time.monotonic()
        if part.in_flight or now < part.next_acquire:
            return False
        part.next_acquire = now + self._poll_interval
        group = self._group
        if group is not None and not group.may_take(part.number, keeper.held()):
            return False
        if not keeper.acquire(part.number):
            if part.target is not None:  # run(): done once the holder got there
                saved = checkpoints.read(part.number)
                part.position = max(part.position, saved)
                part.finished = saved >= part.target
            return False
        checkpoints.take(part, leased=True)
        if self._parking is not None and self._on_failure == "park":
            self._parking.load()  # another process may have parked aggregates here
        self._log.info(
            "projector %r (%s) holds %s from position %d",
            self.name, self.owner, unit_label(part), part.position,
        )  # fmt: skip
        return True

    def _shed(self, group: Group, keeper: LeaseKeeper, checkpoints: PartitionCheckpoints) -> None:
        """Give up the units beyond this member's fair share (saved first)."""
        held = [p.number for p in self._parts if keeper.valid(p.number)]
        for number in group.surplus(held):
            part = self._parts[number]
            with part.reading:
                checkpoints.save(part, keeper)
                keeper.release(number)
            self._log.info("projector %r (%s) hands %s over (%d members)",
                           self.name, self.owner, unit_label(part), group.members)  # fmt: skip


def unit_label(part: Partition) -> str:
    """A unit of work, for messages."""
    if part.slot is None:
        return f"log partition {part.number}"
    return f"slot {part.slot}/{part.slots} of log partition {part.log_partition}"


def by_log_partition(
    units: list[Partition],
) -> list[tuple[int, int, int, datetime | None]]:
    """Units of a consumer group as log partitions: each at its slowest unit's position."""
    slowest: dict[int, Partition] = {}
    heads: dict[int, int] = {}
    for unit in units:
        number = unit.log_partition
        heads[number] = max(heads.get(number, 0), unit.head, unit.position)
        if number not in slowest or unit.position < slowest[number].position:
            slowest[number] = unit
    return [(n, u.position, heads[n], u.last_at) for n, u in sorted(slowest.items())]
