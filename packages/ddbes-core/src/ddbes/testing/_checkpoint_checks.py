"""The :class:`~ddbes.ports.CheckpointStore` contract suite (re-exported by
:mod:`ddbes.testing.contracts`): ``CHECKPOINT_STORE_CHECKS``, each ``check(factory)``."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable

from ddbes.errors import CheckpointConflict
from ddbes.ports import CheckpointStore
from ddbes.testing._assertions import raises as _raises

__all__ = ["CHECKPOINT_STORE_CHECKS"]


# -------------------------------------------------------------- checkpoint store


def checkpoint_starts_at_zero_and_moves_forward(factory: Callable[[], CheckpointStore]) -> None:
    store = factory()
    assert store.get("proj") == 0
    store.save("proj", 5)
    assert store.get("proj") == 5
    store.save("proj", 5)
    store.save("proj", 9)
    assert store.get("proj") == 9
    _raises(CheckpointConflict, lambda: store.save("proj", 3))
    assert store.get("proj") == 9
    _raises(ValueError, lambda: store.save("proj", -1))


def checkpoint_names_and_partitions_are_independent(factory: Callable[[], CheckpointStore]) -> None:
    store = factory()
    store.save("a", 3)
    store.save("a", 7, log_partition=1)
    store.save("a:0", 11)
    store.save("b", 1)
    assert (store.get("a"), store.get("a", 1), store.get("a", 2)) == (3, 7, 0)
    assert (store.get("a:0"), store.get("b")) == (11, 1)


def checkpoint_concurrent_saves_never_go_back(factory: Callable[[], CheckpointStore]) -> None:
    store = factory()
    positions = list(range(1, 41))
    random.Random(7).shuffle(positions)
    chunks = [positions[i::4] for i in range(4)]

    def saver(chunk: list[int]) -> None:
        for position in chunk:
            with contextlib.suppress(CheckpointConflict):
                store.save("race", position)

    workers = [threading.Thread(target=saver, args=(chunk,)) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert store.get("race") == 40


def checkpoint_advance_moves_only_from_the_expected_position(
    factory: Callable[[], CheckpointStore],
) -> None:
    store = factory()
    store.advance("proj", 4, expected=0)
    store.advance("proj", 4, expected=4)
    store.advance("proj", 6, log_partition=1, expected=0)
    conflict = _raises(CheckpointConflict, lambda: store.advance("proj", 9, expected=0))
    assert isinstance(conflict, CheckpointConflict) and conflict.current == 4
    assert "'proj'" in str(conflict) and "another projector" in str(conflict)
    _raises(CheckpointConflict, lambda: store.advance("proj", 9, expected=5))
    assert (store.get("proj"), store.get("proj", 1)) == (4, 6)
    _raises(ValueError, lambda: store.advance("proj", 3, expected=4))
    _raises(ValueError, lambda: store.advance("proj", -1, expected=0))
    store.advance("proj", 9, expected=4)
    assert store.get("proj") == 9


def checkpoint_concurrent_advances_from_one_position_have_one_winner(
    factory: Callable[[], CheckpointStore],
) -> None:
    store = factory()
    store.save("race", 10)
    winners: list[int] = []
    barrier = threading.Barrier(4)

    def advancer(position: int) -> None:
        barrier.wait()
        with contextlib.suppress(CheckpointConflict):
            store.advance("race", position, expected=10)
            winners.append(position)

    workers = [threading.Thread(target=advancer, args=(20 + i,)) for i in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(winners) == 1 and store.get("race") == winners[0]


CHECKPOINT_STORE_CHECKS: dict[str, Callable[[Callable[[], CheckpointStore]], None]] = {
    name.removeprefix("checkpoint_"): check
    for name, check in list(globals().items())
    if name.startswith("checkpoint_") and callable(check)
}
