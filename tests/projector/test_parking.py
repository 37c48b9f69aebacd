"""Poison commits: on_failure="park" sets a commit aside, holds its aggregate, lets others flow."""

from __future__ import annotations

import threading
import time
from collections import defaultdict

import pytest

from ddbes.errors import HandlerTimedOut, ProjectionFailed
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection.projector import Projector
from tests.projector.helpers import FAST_RETRY, commit, fill


class Model:
    """A read model that refuses the aggregates in ``poison`` and records what it applied."""

    def __init__(self, *poison: str) -> None:
        self.poison = set(poison)
        self.versions: dict[str, list[int]] = defaultdict(list)

    def handle(self, commit: Commit) -> None:
        if commit.aggregate_key in self.poison:
            raise ValueError(f"cannot apply {commit.aggregate_id}")
        self.versions[commit.aggregate_key].append(commit.version)


def projector(
    store: InMemoryCommitStore,
    checkpoints: InMemoryCheckpointStore,
    model: Model,
    **options: object,
) -> Projector:
    return Projector(
        {"Cart": model.handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
        retry=FAST_RETRY, on_failure="park", batch_size=16, **options,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize("parallel", [1, 4])
def test_a_poison_aggregate_is_parked_and_held_while_the_others_flow(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore, parallel: int
) -> None:
    fill(store, 100, keys=5)  # k0..k4, versions 1..20
    model = Model("k2")
    progress = projector(store, checkpoints, model, parallel=parallel).run()

    assert progress.caught_up and checkpoints.get("p") == 100
    assert set(model.versions) == {"k0", "k1", "k3", "k4"}
    assert all(v == list(range(1, 21)) for v in model.versions.values())
    (parked,) = checkpoints.parked("p")
    assert (parked.aggregate_id, parked.version, parked.position) == ("Cart:k2", 1, 3)
    assert (parked.held, parked.held_through) == (19, 98)
    assert "cannot apply Cart:k2" in parked.error


def test_parked_state_is_durable_across_projectors_and_retry_keeps_version_order(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 30, keys=3)
    model = Model("k1")
    projector(store, checkpoints, model).run()
    fill(store, 9, keys=3, start=30)
    restarted = projector(store, checkpoints, model)  # a new process, say
    model.poison.clear()  # and the handler got fixed, but parked state holds k1 back
    restarted.run()
    assert "k1" not in model.versions
    assert restarted.parked()[0].held == 12

    assert restarted.retry() == []
    assert model.versions["k1"] == list(range(1, 14))
    assert checkpoints.parked("p") == []
    fill(store, 3, keys=3, start=39)
    restarted.run()
    assert all(v == list(range(1, 15)) for v in model.versions.values())


def test_a_retry_that_fails_again_parks_the_commit_it_failed_on(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 20, keys=2)
    failing = {("k1", 1), ("k1", 4)}

    seen: list[tuple[str, int]] = []

    def handle(commit: Commit) -> None:
        if (commit.aggregate_key, commit.version) in failing:
            raise ValueError("no")
        seen.append((commit.aggregate_key, commit.version))

    p = Projector({"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
                  retry=FAST_RETRY, on_failure="park")  # fmt: skip
    p.run()
    failing.discard(("k1", 1))
    (again,) = p.retry("Cart:k1")
    assert (again.version, again.held_through, again.held) == (4, 20, 6)  # 5..10 behind it
    assert [v for k, v in seen if k == "k1"] == [1, 2, 3]
    assert p.skip("Cart:k1") is None  # gives up on version 4, hands over 5..10
    assert [v for k, v in seen if k == "k1"] == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    with pytest.raises(KeyError):
        p.retry("Cart:k1")


def test_a_retry_while_the_projector_runs_keeps_the_aggregate_in_order(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 10, keys=1)
    model = Model("k0")
    running = projector(store, checkpoints, model, poll_interval=0.01)
    running.start(watch=True)
    try:
        deadline = time.monotonic() + 10
        while not checkpoints.parked("p") or checkpoints.get("p") < 10:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        model.poison.clear()
        stop = threading.Event()

        def writer() -> None:
            for version in range(11, 60):
                store.append(commit("Cart", "k0", version))
            stop.set()

        thread = threading.Thread(target=writer)
        thread.start()
        running.retry("Cart:k0")
        thread.join()
        running.wait_for(59, timeout=10)
    finally:
        running.stop()
    assert model.versions["k0"] == list(range(1, 60))
    assert checkpoints.parked("p") == []


def test_a_handler_timeout_parks_a_hanging_commit_too(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 6, keys=2)
    release = threading.Event()
    model = Model()

    def handle(commit: Commit) -> None:
        if commit.aggregate_key == "k0":
            release.wait(5)
        model.handle(commit)

    p = Projector({"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
                  retry=FAST_RETRY, on_failure="park", handler_timeout=0.05)  # fmt: skip
    p.run()
    release.set()
    (parked,) = p.parked()
    assert parked.aggregate_id == "Cart:k0" and HandlerTimedOut.__name__ in parked.error
    assert model.versions["k1"] == [1, 2, 3]


def test_the_stop_policy_still_stops(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 6, keys=2)
    model = Model("k1")
    p = Projector({"Cart": model.handle}, name="p", commit_store=store,
                  checkpoint_store=checkpoints, retry=FAST_RETRY)  # fmt: skip
    with pytest.raises(ProjectionFailed):
        p.run()
    assert checkpoints.get("p") == 1 and checkpoints.parked("p") == []
