"""What a projector does next with a log partition, batch by batch: the decisions both the
sync and the async projector take, as pure functions of the partition's bookkeeping.

A run moves each partition on by one batch at a time. Before a batch, :func:`next_move` says
whether to read, to wait, or that the partition is done; after it, :func:`read_through` moves
the partition's positions over what was handled and says whether the head must be read again.
A log that cannot be read is retried by the projector's policy (:func:`read_failed`).
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

from ddbes.errors import RetriesExhausted, StoreUnavailable
from ddbes.projection._partition import Partition
from ddbes.retry import RetryPolicy

__all__ = ["Move", "next_move", "read_failed", "read_through"]


class Move(Enum):
    """What to do with a partition now."""

    READ = "read"
    """Read the next batch."""
    WAIT = "wait"
    """Nothing to read now (commits in hand, or nothing new): look again later."""
    FINISH = "finish"
    """A catch-up run reached its target and every commit read is handled: save and stop."""


def next_move(part: Partition, *, batch_size: int, polled_head: int | None = None) -> Move:
    """What to do with ``part`` now.

    Args:
        part: the partition.
        batch_size: the projector's batch size; more commits than that in hand is a wait.
        polled_head: the partition's head as a shared poll last saw it, or ``None`` when no
            poll has run (then the log is read to find out).
    """
    if part.target is not None and part.dispatched >= part.target:
        return Move.FINISH if part.in_flight == 0 else Move.WAIT
    if part.in_flight > batch_size:
        return Move.WAIT
    if polled_head is not None and part.dispatched >= max(part.head, polled_head):
        return Move.WAIT  # the shared poll of the heads saw nothing new: no read
    return Move.READ


def read_through(
    part: Partition, last: tuple[int, datetime] | None, *, count: int, batch_size: int
) -> bool:
    """Record a batch read and handled in order: ``last`` is the ``(position, committed_at)``
    of the last commit handled (``None`` if none was), ``count`` how many commits were read.

    Returns:
        Whether the partition's head must be read again: a full batch ended at the head the
        projector knew, so the log has likely moved on.
    """
    if last is not None:
        part.position = part.dispatched = last[0]
        part.last_at = last[1]
    part.head = max(part.head, part.dispatched)
    return count >= batch_size and part.head == part.dispatched


def read_failed(errors: list[BaseException], error: StoreUnavailable, policy: RetryPolicy) -> float:
    """Count a failed read of the log (``errors`` holds the failures since the last read that
    worked) and say how long to wait before the next.

    Raises:
        RetriesExhausted: the policy's attempts are used up; ``errors`` lists every failure.
    """
    errors.append(error)
    if len(errors) >= policy.max_attempts:
        raise RetriesExhausted(list(errors)) from error
    return policy.delay(len(errors))
