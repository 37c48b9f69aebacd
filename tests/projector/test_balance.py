"""Load-aware consumer groups: weighing the slots, planning moves, and a group that evens out
a skewed workload."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection._balance import (
    HALVE_PER_SLOT,
    MARGIN,
    MIN_SEEN_PER_SLOT,
    Move,
    SlotLoads,
    loads_of,
    plan_moves,
)
from ddbes.projection._group import slot_of
from ddbes.projection.leases import InMemoryLeaseStore
from ddbes.projection.projector import Projector
from tests.projector.helpers import commit


def test_slots_are_weighed_once_enough_commits_were_seen() -> None:
    loads = SlotLoads(partitions=2, slots=4)
    position = 0
    for _ in range(MIN_SEEN_PER_SLOT * 4 - 1):
        position += 1
        loads.saw(0, 0 if position % 2 else 1, position)
    assert loads.weights() is None  # one short
    loads.saw(0, 3, position + 1)
    weights = loads.weights()
    assert weights is not None and abs(sum(weights) - 1.0) < 1e-9
    # partition 0 (half the work, as many partitions are weighed alike): slots 0 and 1 share
    # it, slot 3 has one commit; partition 1, not read yet, counts its slots alike
    assert weights[0] + weights[1] + weights[3] == 0.5 and weights[2] == 0.0
    assert weights[4:] == [0.125] * 4


def test_positions_read_again_are_not_counted_again() -> None:
    loads = SlotLoads(partitions=1, slots=2)
    for position in range(1, MIN_SEEN_PER_SLOT * 2 + 1):
        loads.saw(0, 0, position)
    for position in range(1, 200):  # a re-read from the start, then new commits in slot 1
        loads.saw(0, 1, position)
    weights = loads.weights()
    assert weights is not None
    new = 199 - MIN_SEEN_PER_SLOT * 2
    assert abs(weights[1] - new / 199) < 1e-9


def test_counts_are_halved_to_follow_a_changing_workload() -> None:
    loads = SlotLoads(partitions=1, slots=2)
    position = 0
    for slot in (0, 1):  # first all of slot 0, then all of slot 1
        for _ in range(HALVE_PER_SLOT * 2):
            position += 1
            loads.saw(0, slot, position)
    weights = loads.weights()
    assert weights is not None and weights[1] > 0.6  # the recent work weighs more


def test_a_balanced_group_plans_no_move() -> None:
    weights = [0.25] * 4
    assert plan_moves(weights, {0: "a", 1: "b", 2: "c", 3: "d"}, ["a", "b", "c", "d"]) == []
    # within the margin: no move for noise
    near = [0.25 + MARGIN / 4 / 3, 0.25 - MARGIN / 4 / 3, 0.25, 0.25]
    assert plan_moves(near, {0: "a", 1: "b", 2: "c", 3: "d"}, ["a", "b", "c", "d"]) == []


def test_the_busiest_member_gives_the_idlest_the_unit_that_evens_them_out() -> None:
    weights = [0.3, 0.1, 0.1, 0.2, 0.2, 0.1]
    holders = {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "b"}  # a 0.5, b 0.5: even
    assert plan_moves(weights, holders, ["a", "b"]) == []
    holders = {0: "a", 1: "a", 2: "a", 3: "a", 4: "b", 5: "b"}  # a 0.7, b 0.3
    moves = plan_moves(weights, holders, ["a", "b"])
    assert moves == [Move(3, "a", "b")]  # 0.5 and 0.5: the 0.2 unit, not the 0.3 one
    assert plan_moves(weights, holders, ["b", "a"]) == moves  # the same in every member


def test_a_member_that_joins_gets_units_until_the_loads_are_even() -> None:
    rng = random.Random(7)
    weights = [rng.uniform(0.5, 1.5) for _ in range(16)]
    weights = [w / sum(weights) for w in weights]
    holders = {unit: ("a" if unit < 8 else "b") for unit in range(16)}
    members = ["a", "b", "c"]
    moves = plan_moves(weights, holders, members)
    after = dict(holders)
    for move in moves:
        assert after[move.unit] == move.giver
        after[move.unit] = move.receiver
    loads = loads_of(weights, after, members)
    assert sum(1 for owner in after.values() if owner == "c") >= 4
    assert max(loads.values()) - min(loads.values()) < 2 * max(weights)
    assert plan_moves(weights, after, members) == []  # the plan is complete


def test_a_unit_heavier_than_a_share_stays_where_it_is() -> None:
    weights = [0.7, 0.1, 0.1, 0.1]
    holders = {0: "a", 1: "b", 2: "b", 3: "b"}
    assert plan_moves(weights, holders, ["a", "b"]) == []  # moving it cannot lower the peak


class Handled:
    """What each member handled, in order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_aggregate: dict[str, list[int]] = defaultdict(list)

    def handler(self) -> object:
        def handle(commit: Commit) -> None:
            with self.lock:
                self.by_aggregate[commit.aggregate_key].append(commit.version)

        return handle

    def count(self) -> int:
        with self.lock:
            return sum(len(versions) for versions in self.by_aggregate.values())


def _skewed(store: InMemoryCommitStore, count: int, hot: str, versions: dict[str, int]) -> None:
    """Half the commits to aggregate ``hot``, the rest over 40 others."""
    for number in range(count):
        key = hot if number % 2 else f"k{number % 40}"
        versions[key] += 1
        store.append(commit("Cart", key, versions[key]))


def test_a_group_evens_out_a_hot_aggregate_and_keeps_order(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    slots, hot = 8, "hot"
    hot_unit = slot_of(commit("Cart", hot, 1), slots)
    leases, handled = InMemoryLeaseStore(), Handled()
    members = [
        Projector(
            {"Cart": handled.handler()},  # type: ignore[dict-item]
            name="p",
            owner=f"m{i}",
            commit_store=store,
            checkpoint_store=checkpoints,
            lease_store=leases,
            lease_ttl=0.6,
            slots=slots,
            poll_interval=0.02,
            batch_size=50,
        )
        for i in range(2)
    ]

    def held() -> dict[str, list[int]]:
        owners: dict[str, list[int]] = defaultdict(list)
        for unit in range(slots):
            lease = leases.holder(f"p#g{slots}", unit)
            if lease is not None:
                owners[lease.owner].append(unit)
        return owners

    versions: dict[str, int] = defaultdict(int)
    for m in members:
        m.start(watch=True)
    try:
        deadline = time.monotonic() + 20
        while sorted(len(units) for units in held().values()) != [4, 4]:  # by count at first
            assert time.monotonic() < deadline, held()
            time.sleep(0.01)
        _skewed(store, 1200, hot, versions)
        # half the work is in the hot unit: its member gives other units away, until no move
        # would lower the busier load by more than the margin (by the true weights)
        counts = [0] * slots
        for key, last in versions.items():
            counts[slot_of(commit("Cart", key, 1), slots)] += last
        weights = [count / sum(counts) for count in counts]
        deadline = time.monotonic() + 20
        while True:
            owners = held()
            holders = {unit: owner for owner, units in owners.items() for unit in units}
            if len(holders) == slots and not plan_moves(weights, holders, ["m0", "m1"]):
                break
            assert time.monotonic() < deadline, owners
            time.sleep(0.02)
        (hot_member,) = [units for units in owners.values() if hot_unit in units]
        assert len(hot_member) < slots // 2  # fewer units than its share by count
        loads = loads_of(weights, holders, ["m0", "m1"])
        assert max(loads.values()) < weights[hot_unit] + max(
            w for unit, w in enumerate(weights) if unit != hot_unit
        )
        _skewed(store, 400, hot, versions)
        deadline = time.monotonic() + 20
        while handled.count() < 1600:
            assert time.monotonic() < deadline, handled.count()
            time.sleep(0.01)
        time.sleep(0.1)
    finally:
        for m in members:
            m.stop()
    assert all(m.error is None for m in members)
    for key, seen in handled.by_aggregate.items():
        assert sorted(set(seen)) == list(range(1, versions[key] + 1)), key
        first = [seen.index(v) for v in range(1, versions[key] + 1)]
        assert first == sorted(first), key  # in order: a unit handed over repeats, never skips
