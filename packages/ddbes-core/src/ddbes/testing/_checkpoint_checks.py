"""The :class:`~ddbes.ports.CheckpointStore` contract suites (re-exported by
:mod:`ddbes.testing.contracts`): ``CHECKPOINT_STORE_CHECKS`` and
``CHECKPOINT_OPERATIONS_CHECKS``, each ``check(factory)``."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from ddbes.errors import CheckpointConflict
from ddbes.model import PARKED_ERROR_CHARS, ParkedCommit
from ddbes.ports import MAX_NAME_BYTES, CheckpointStore
from ddbes.testing._assertions import raises as _raises

__all__ = ["CHECKPOINT_OPERATIONS_CHECKS", "CHECKPOINT_STORE_CHECKS"]


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


def operations_reset_sets_or_deletes_in_either_direction(
    factory: Callable[[], CheckpointStore],
) -> None:
    store = factory()
    store.save("proj", 9)
    store.save("proj", 4, log_partition=1)
    store.reset("proj", position=3)
    assert (store.get("proj"), store.get("proj", 1)) == (3, 4)
    store.advance("proj", 5, expected=3)
    store.reset("proj")
    store.reset("proj")  # no checkpoint: still fine
    store.reset("proj", 1)
    assert (store.get("proj"), store.get("proj", 1)) == (0, 0)
    store.advance("proj", 2, expected=0)
    store.reset("other", position=12)
    assert (store.get("proj"), store.get("other")) == (2, 12)
    _raises(ValueError, lambda: store.reset("proj", position=-1))
    _raises(ValueError, lambda: store.reset("x" * (MAX_NAME_BYTES + 1)))
    assert store.get("proj") == 2


def _parked(key: str, position: int, *, held_through: int | None = None) -> ParkedCommit:
    return ParkedCommit(
        aggregate_type="Cart",
        aggregate_key=key,
        log_partition=0,
        position=position,
        version=position,
        commit_id=f"c{position}",
        error="ValueError('boom')",
        parked_at=datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC),
        held_through=position if held_through is None else held_through,
    )


def operations_park_one_commit_per_aggregate_and_hold_later_ones(
    factory: Callable[[], CheckpointStore],
) -> None:
    store = factory()
    assert store.parked("proj") == []
    first = _parked("a", 5)
    assert store.put_parked("proj", first) is True
    assert store.put_parked("proj", _parked("a", 7)) is False  # one per aggregate
    assert store.put_parked("proj", _parked("b", 3)) is True
    assert store.put_parked("other", _parked("a", 1)) is True
    assert [p.aggregate_key for p in store.parked("proj")] == ["b", "a"]  # by position
    assert store.parked("proj")[1] == first
    assert store.hold("proj", "Cart", "a", 8) is True
    assert store.hold("proj", "Cart", "a", 8) is True  # again after a crash: counted once
    assert store.hold("proj", "Cart", "a", 6) is True
    assert store.hold("proj", "Cart", "zzz", 9) is False
    assert store.hold("proj", "User", "a", 9) is False
    held = store.parked("proj")[1]
    assert (held.position, held.held_through, held.held) == (5, 8, 1)
    assert store.delete_parked("proj", "Cart", "a", expected=5) is False  # held since
    assert store.delete_parked("proj", "Cart", "zzz", expected=0) is False
    moved = _parked("a", 8, held_through=8)
    assert store.put_parked("proj", moved, expected=7) is False
    assert store.put_parked("proj", moved, expected=8) is True
    assert store.put_parked("proj", _parked("c", 1), expected=1) is False  # none to replace
    assert store.delete_parked("proj", "Cart", "a", expected=8) is True
    assert [p.aggregate_key for p in store.parked("proj")] == ["b"]
    assert [p.aggregate_key for p in store.parked("other")] == ["a"]
    assert store.hold("proj", "Cart", "a", 9) is False


def operations_parking_cuts_long_errors_and_refuses_what_every_store_refuses(
    factory: Callable[[], CheckpointStore],
) -> None:
    store = factory()
    long = replace(_parked("é" * 300, 2), error="x" * (PARKED_ERROR_CHARS * 3))
    assert store.put_parked("proj", long) is True
    (stored,) = store.parked("proj")
    assert stored.error == "x" * PARKED_ERROR_CHARS and stored.aggregate_key == "é" * 300
    _raises(ValueError, lambda: store.put_parked("n" * (MAX_NAME_BYTES + 1), _parked("a", 1)))
    _raises(ValueError, lambda: store.put_parked("", _parked("a", 1)))
    _raises(ValueError, lambda: store.put_parked("proj", _parked("b", -1)))
    assert len(store.parked("proj")) == 1


CHECKPOINT_STORE_CHECKS: dict[str, Callable[[Callable[[], CheckpointStore]], None]] = {
    name.removeprefix("checkpoint_"): check
    for name, check in list(globals().items())
    if name.startswith("checkpoint_") and callable(check)
}

CHECKPOINT_OPERATIONS_CHECKS: dict[str, Callable[[Callable[[], CheckpointStore]], None]] = {
    name.removeprefix("operations_"): check
    for name, check in list(globals().items())
    if name.startswith("operations_") and callable(check)
}
"""The checks of the operations a projector needs for ``reset()`` and ``on_failure="park"``:
``reset``, ``parked``, ``put_parked``, ``hold``, ``delete_parked``. Kept apart from
:data:`CHECKPOINT_STORE_CHECKS` so that a store written before them still passes that suite."""
