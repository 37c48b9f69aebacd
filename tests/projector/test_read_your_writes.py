"""Read your writes (wait_for, inline) and the idle cost of watching projectors."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ddbes.errors import CommitParked
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection.projector import Projector
from tests.projector.helpers import FAST_RETRY, commit, fill


def test_wait_for_returns_once_the_commit_is_handled(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    seen: list[str] = []
    p = Projector({"Cart": lambda c: seen.append(c.commit_id)}, name="p", commit_store=store,
                  checkpoint_store=checkpoints, poll_interval=5)  # fmt: skip
    p.start(watch=True)
    try:
        for version in range(1, 20):
            stored = store.append(commit("Cart", "a", version))
            p.wait_for(stored, timeout=5)  # far below the poll interval: the head watch wakes it
            assert seen[-1] == stored.commit_id
        with pytest.raises(TimeoutError, match="has not handled the commit at position 99"):
            p.wait_for(99, timeout=0.05)
    finally:
        p.stop()
    p.wait_for(1, timeout=1)  # handled before it stopped
    with pytest.raises(RuntimeError, match="not running"):
        p.wait_for(100, timeout=1)


def test_wait_for_a_commit_of_a_parked_aggregate_raises(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    def handle(c: Commit) -> None:
        if c.aggregate_key == "bad":
            raise ValueError("poison")

    p = Projector({"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
                  retry=FAST_RETRY, on_failure="park")  # fmt: skip
    p.start(watch=True)
    try:
        bad = store.append(commit("Cart", "bad", 1))
        with pytest.raises(CommitParked, match="parked"):
            p.wait_for(bad, timeout=5)
        p.wait_for(store.append(commit("Cart", "good", 1)), timeout=5)
    finally:
        p.stop()


def test_inline_handles_the_commit_before_append_returns(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 5, keys=1)
    seen: list[int] = []
    p = Projector({"Cart": lambda c: seen.append(c.position or 0)}, name="p", commit_store=store,
                  checkpoint_store=checkpoints, poll_interval=30, inline=True)  # fmt: skip
    p.start(watch=True)
    try:
        for version in range(6, 40):
            stored = store.append(commit("Cart", "k0", version))
            assert seen[-1] == stored.position  # no waiting at all
    finally:
        p.stop()
    assert seen == list(range(1, 40))
    assert checkpoints.get("p") == 39


class CountingStore(InMemoryCommitStore):
    """Counts the reads a projector makes of the log."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self._counting = threading.Lock()

    def _count(self) -> None:
        with self._counting:
            self.reads += 1

    def read_log(
        self, *, after: int = 0, log_partition: int = 0, limit: int | None = None
    ) -> Iterator[Commit]:
        self._count()
        return super().read_log(after=after, log_partition=log_partition, limit=limit)

    def head_position(self, log_partition: int = 0) -> int:
        self._count()
        return super().head_position(log_partition)


def idle_reads(projectors: int, seconds: float = 0.4, poll: float = 0.02) -> int:
    store = CountingStore()
    fill(store, 10)
    running = [
        Projector(
            {"*": lambda c: None},
            name=f"p{i}",
            commit_store=store,
            checkpoint_store=InMemoryCheckpointStore(),
            poll_interval=poll,
        )
        for i in range(projectors)
    ]
    for p in running:
        p.start(watch=True)
    for p in running:
        p.wait_for(10, timeout=5)
    before = store.reads
    time.sleep(seconds)
    reads = store.reads - before
    for p in running:
        p.stop()
    return reads


def test_ten_idle_projectors_share_one_poll_of_the_heads() -> None:
    one, ten = idle_reads(1), idle_reads(10)
    assert one <= 0.4 / 0.02 + 5  # one read of one head per poll
    assert ten <= one * 1.5 + 5  # not ten times as many


class HeadsCounted(InMemoryCommitStore):
    """Counts the reads of the log heads."""

    def __init__(self) -> None:
        super().__init__()
        self.head_reads = 0

    def head_position(self, log_partition: int = 0) -> int:
        self.head_reads += 1
        return super().head_position(log_partition)


def test_a_projector_catching_up_is_its_own_poll_of_the_head() -> None:
    store = HeadsCounted()
    fill(store, 2000)
    handled: list[int] = []

    def handle(commit: Commit) -> None:
        time.sleep(0.0005)  # a little work: the catch-up spans many poll intervals
        handled.append(commit.position or 0)

    projector = Projector(
        {"*": handle},
        name="p",
        commit_store=store,
        checkpoint_store=InMemoryCheckpointStore(),
        poll_interval=0.01,
        batch_size=10,
    )
    projector.start(watch=True)
    try:
        began = time.monotonic()
        before = store.head_reads
        projector.wait_for(2000, timeout=30)
        took, polls = time.monotonic() - began, store.head_reads - before
        fill(store, 10, start=2000)  # caught up: the polls of the head see these
        projector.wait_for(2010, timeout=5)
    finally:
        projector.stop()
    intervals = took / 0.01
    assert intervals > 20  # many poll intervals went by, but full reads came back within
    assert polls < intervals / 4  # each: the watch did not poll (141 reads for 141 before)
    assert handled == list(range(1, 2011))
