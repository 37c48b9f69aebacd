"""A log partition as a projector works through it: what was read, handled and saved."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Partition"]


@dataclass(eq=False)
class Partition:
    """One log partition's place in a projector run.

    In parallel mode ``in_flight``, ``done``, ``position`` and ``last_at`` change on worker
    threads, under the projector's lock.
    """

    number: int  # the unit of work: the log partition, or in a consumer group a hash slot of one
    position: int = 0  # every commit up to here is handled
    saved: int = 0  # the checkpoint as last saved or read
    dispatched: int = 0  # the last position read (handed to workers in parallel mode)
    head: int = 0
    target: int | None = None  # run(): the head when it started
    finished: bool = False
    next_acquire: float = 0.0  # monotonic time of the next lease attempt
    in_flight: int = 0
    done: dict[int, datetime] = field(default_factory=dict)  # handled, beyond ``position``
    last_at: datetime | None = None  # committed_at of the commit at ``position``
    reading: threading.Lock = field(default_factory=threading.Lock)  # one reader: loop or inline
    log_partition: int = -1  # the log partition it reads (``number`` unless in a group)
    slot: int | None = None  # in a consumer group: the hash slot of the aggregates it handles
    slots: int = 1

    def __post_init__(self) -> None:
        if self.log_partition < 0:
            self.log_partition = self.number

    def handled(self, position: int, committed_at: datetime) -> None:
        """Record a commit handled out of order; move ``position`` over contiguous ones."""
        self.done[position] = committed_at
        while self.position + 1 in self.done:
            self.position += 1
            self.last_at = self.done.pop(self.position)
