"""A projector reads a partition's next batch in a thread while it handles one: the handlers
see every commit once, in order, and a damaged item still stops it after the ones before."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from ddbes.errors import CorruptItem
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection.projector import Projector
from tests.projector.helpers import ReadsSeen, fill


def _projector(
    store: InMemoryCommitStore, seen: dict[str, list[int]], *, wait: float = 0.0, **options: object
) -> Projector:
    lock = threading.Lock()

    def handle(commit: Commit) -> None:
        if wait:
            time.sleep(wait)  # a remote write
        with lock:
            seen[commit.aggregate_key].append(commit.version)

    return Projector(
        {"Cart": handle}, name="p", commit_store=store,
        checkpoint_store=InMemoryCheckpointStore(), batch_size=50, **options,  # type: ignore[arg-type]
    )  # fmt: skip


def _ahead(store: ReadsSeen) -> int:
    return sum(1 for name in store.threads if name.startswith("ddbes-read-ahead"))


def test_a_projector_whose_handlers_wait_reads_the_next_batch_while_it_handles_one() -> None:
    store, seen = ReadsSeen(), defaultdict(list)
    fill(store, 600, keys=40)
    _projector(store, seen, wait=0.0005).run()
    assert dict(seen) == {f"k{n}": list(range(1, 16)) for n in range(40)}  # once, in order
    assert _ahead(store) >= 9  # of 12 full batches, nearly all read while the one before ran


@pytest.mark.parametrize("parallel", [1, 4])
def test_handlers_that_compute_or_parallel_workers_get_no_read_ahead(parallel: int) -> None:
    store, seen = ReadsSeen(), defaultdict(list)
    fill(store, 1000, keys=40)
    _projector(store, seen, parallel=parallel).run()  # the handler only appends to a list
    assert dict(seen) == {f"k{n}": list(range(1, 26)) for n in range(40)}
    assert _ahead(store) == 0  # a read in a thread would only take turns for the GIL


def test_a_projector_handles_what_came_before_a_damaged_item_then_stops() -> None:
    store, seen = ReadsSeen(damaged_after=130), defaultdict(list)
    fill(store, 200, keys=10)
    with pytest.raises(CorruptItem):
        _projector(store, seen).run()
    assert sum(len(v) for v in seen.values()) == 130
