"""Building logs for projector tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from ddbes.errors import CorruptItem
from ddbes.memory import InMemoryCommitStore
from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes.retry import RetryPolicy

T0 = datetime(2024, 1, 1, tzinfo=UTC)

FAST_RETRY = RetryPolicy(max_attempts=4, initial_delay=0.001, backoff=2.0, max_delay=0.004)
"""Four attempts within a few milliseconds."""


def commit(
    aggregate_type: str, key: str, version: int, *, events: int = 1, at: datetime | None = None
) -> Commit:
    """A deterministic commit: the same arguments always give the same commit."""
    return Commit(
        commit_id=f"{aggregate_type}-{key}-{version}",
        aggregate_type=aggregate_type,
        aggregate_key=key,
        version=version,
        committed_at=at or T0 + timedelta(milliseconds=version),
        events=tuple({"type": "Added", "n": version, "i": i} for i in range(events)),
    )


def fill(
    store: CommitStore,
    count: int,
    *,
    keys: int = 10,
    types: tuple[str, ...] = ("Cart",),
    events: int = 1,
    start: int = 0,
) -> list[Commit]:
    """Append ``count`` commits spread round-robin over ``keys`` aggregates of each type.

    ``start`` continues a log an earlier call began (pass how many commits it appended).
    """
    stored = []
    for number in range(start, start + count):
        kind = types[number % len(types)]
        key = f"k{(number // len(types)) % keys}"
        version = number // (len(types) * keys) + 1
        stored.append(store.append(commit(kind, key, version, events=events)))
    return stored


class ReadsSeen(InMemoryCommitStore):
    """Records which thread made each read of the log; finds a damaged item after position
    ``damaged_after`` (when set)."""

    def __init__(self, damaged_after: int | None = None) -> None:
        super().__init__()
        self.threads: list[str] = []
        self.damaged_after = damaged_after

    def read_log(  # type: ignore[override]
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        self.threads.append(threading.current_thread().name)
        for found in super().read_log(after=after, log_partition=log_partition, limit=limit):
            if self.damaged_after is not None and (found.position or 0) > self.damaged_after:
                raise CorruptItem("t", "l#0", "damaged", position=found.position)
            yield found
