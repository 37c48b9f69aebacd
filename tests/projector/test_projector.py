"""The projector on the in-memory stores: run/start/stop, order, retries, failures, restarts."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import defaultdict
from datetime import timedelta

import pytest

import ddbes
from ddbes.errors import ConfigurationError, ProjectionFailed
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.model import Commit
from ddbes.projection.projector import Projector, ProjectorProgress
from ddbes.testing import ManualClock
from tests.projector.helpers import FAST_RETRY, T0, commit, fill


def wait_until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_run_handles_every_commit_up_to_the_head_in_order_and_returns(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    stored = fill(store, 1234, keys=7)
    seen: list[Commit] = []
    projector = Projector(
        {"Cart": seen.append}, name="p", commit_store=store, checkpoint_store=checkpoints,
        batch_size=100,
    )  # fmt: skip

    progress = projector.run()

    assert [c.position for c in seen] == list(range(1, 1235))
    assert [c.commit_id for c in seen] == [c.commit_id for c in stored]
    assert seen[0].events == stored[0].events
    assert checkpoints.get("p") == 1234
    assert progress.positions == {0: 1234}
    assert progress.heads == {0: 1234}
    assert progress.handled == 1234
    assert progress.caught_up
    assert progress.lag_commits == 0
    assert not projector.running


def test_run_on_an_empty_log_returns_at_once(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    projector = Projector({"*": print}, name="p", commit_store=store, checkpoint_store=checkpoints)
    assert projector.run().positions == {0: 0}
    assert checkpoints.get("p") == 0


def test_a_restarted_projector_continues_at_its_checkpoint(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 300)
    first: list[int] = []
    Projector(
        {"Cart": lambda c: first.append(c.position)}, name="p", commit_store=store,
        checkpoint_store=checkpoints, batch_size=64,
    ).run()  # fmt: skip
    fill(store, 150, start=300)
    second: list[int] = []
    again = Projector(
        {"Cart": lambda c: second.append(c.position)}, name="p", commit_store=store,
        checkpoint_store=checkpoints, batch_size=64,
    )  # fmt: skip
    again.run()
    again.run()  # nothing new: handles nothing

    assert first == list(range(1, 301))
    assert second == list(range(301, 451))
    assert checkpoints.get("p") == 450


def test_projectors_with_different_names_keep_separate_checkpoints(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 50)
    counts = {"a": 0, "b": 0}

    def counter(name: str) -> object:
        def count(_: Commit) -> None:
            counts[name] += 1

        return count

    for name in ("a", "b"):
        Projector(
            {"*": counter(name)}, name=name, commit_store=store, checkpoint_store=checkpoints
        ).run()
    assert counts == {"a": 50, "b": 50}
    assert checkpoints.get("a") == checkpoints.get("b") == 50


def test_the_star_handler_gets_every_commit_after_its_type_handler(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 30, types=("User", "Cart", "Order"))
    calls: list[tuple[str, str, int]] = []
    projector = Projector(
        {
            "User": lambda c: calls.append(("User", c.aggregate_type, c.position or 0)),
            "Cart": lambda c: calls.append(("Cart", c.aggregate_type, c.position or 0)),
            "*": lambda c: calls.append(("*", c.aggregate_type, c.position or 0)),
        },
        name="p", commit_store=store, checkpoint_store=checkpoints,
    )  # fmt: skip
    projector.run()

    star = [position for handler, _, position in calls if handler == "*"]
    assert star == list(range(1, 31))
    for handler, kind, _ in calls:
        assert handler in ("*", kind)
    for index, (handler, kind, position) in enumerate(calls):
        if handler != "*":  # the type's handler comes just before "*" for the same commit
            assert calls[index + 1] == ("*", kind, position)
    assert {kind for handler, kind, _ in calls if handler == "*"} == {"User", "Cart", "Order"}


def test_commits_of_types_without_a_handler_are_passed_over_and_checkpointed(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 20, types=("User", "Cart"))
    users: list[int] = []
    Projector(
        {"User": lambda c: users.append(c.position or 0)}, name="p", commit_store=store,
        checkpoint_store=checkpoints,
    ).run()  # fmt: skip
    assert users == list(range(1, 21, 2))
    assert checkpoints.get("p") == 20


def test_every_log_partition_is_handled_and_checkpointed_separately(
    checkpoints: InMemoryCheckpointStore,
) -> None:
    store = InMemoryCommitStore(log_partitions=4)
    stored = fill(store, 800, keys=40, types=("Cart", "User"))
    heads = {p: store.head_position(p) for p in range(4)}
    assert all(heads.values())  # 80 aggregates reach every partition
    seen: dict[int, list[int]] = defaultdict(list)
    versions: dict[str, list[int]] = defaultdict(list)

    def handle(c: Commit) -> None:
        seen[c.log_partition].append(c.position or 0)
        versions[c.aggregate_id].append(c.version)

    progress = Projector(
        {"*": handle}, name="p", commit_store=store, checkpoint_store=checkpoints, batch_size=37
    ).run()

    assert dict(seen) == {p: list(range(1, heads[p] + 1)) for p in range(4)}
    assert {p: checkpoints.get("p", p) for p in range(4)} == heads
    assert progress.positions == heads
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values())
    assert sum(len(v) for v in versions.values()) == len(stored)


def test_parallel_handling_keeps_each_aggregates_commits_in_order(
    checkpoints: InMemoryCheckpointStore,
) -> None:
    store = InMemoryCommitStore(log_partitions=2)
    fill(store, 600, keys=12)
    lock = threading.Lock()
    versions: dict[str, list[int]] = defaultdict(list)
    active: set[str] = set()
    concurrency = {"now": 0, "max": 0}
    rng = random.Random(7)

    def handle(c: Commit) -> None:
        with lock:
            assert c.aggregate_id not in active, "two commits of one aggregate at once"
            active.add(c.aggregate_id)
            concurrency["now"] += 1
            concurrency["max"] = max(concurrency["max"], concurrency["now"])
            pause = rng.random() * 0.0005
        time.sleep(pause)
        with lock:
            versions[c.aggregate_id].append(c.version)
            active.discard(c.aggregate_id)
            concurrency["now"] -= 1

    progress = Projector(
        {"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
        parallel=6, batch_size=50,
    ).run()  # fmt: skip

    assert len(versions) == 12
    assert all(v == list(range(1, 51)) for v in versions.values())
    assert concurrency["max"] > 1
    heads = {p: store.head_position(p) for p in range(2)}
    assert {p: checkpoints.get("p", p) for p in range(2)} == heads
    assert progress.handled == 600


def test_a_handler_that_fails_three_times_then_succeeds_skips_nothing(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fill(store, 40)
    failures = {"left": 3}
    seen: list[int] = []

    def flaky(c: Commit) -> None:
        if c.position == 17 and failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("read model unreachable")
        seen.append(c.position or 0)

    with caplog.at_level(logging.WARNING, logger="ddbes"):
        Projector(
            {"Cart": flaky}, name="p", commit_store=store, checkpoint_store=checkpoints,
            retry=FAST_RETRY, batch_size=10,
        ).run()  # fmt: skip

    assert seen == list(range(1, 41))
    assert checkpoints.get("p") == 40
    retries = [r for r in caplog.records if "attempt" in r.getMessage()]
    assert len(retries) == 3
    assert "position 17" in retries[0].getMessage()


@pytest.mark.parametrize("parallel", [1, 4])
def test_a_handler_that_always_fails_stops_the_projector_before_that_commit(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore, parallel: int
) -> None:
    stored = fill(store, 60, keys=6)
    poison = stored[36]  # k6 % 6 -> "k0", version 7
    seen: list[int] = []
    calls = {"poison": 0}

    def handle(c: Commit) -> None:
        if c.position == poison.position:
            calls["poison"] += 1
            raise ValueError("cannot project this")
        seen.append(c.position or 0)

    projector = Projector(
        {"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints,
        retry=FAST_RETRY, batch_size=8, parallel=parallel,
    )  # fmt: skip
    with pytest.raises(ProjectionFailed) as failed:
        projector.run()

    error = failed.value
    assert (error.position, error.aggregate_id, error.version) == (37, "Cart:k0", 7)
    assert isinstance(error.__cause__, ValueError)
    assert "position 37" in str(error) and "Cart:k0 version 7" in str(error)
    assert calls["poison"] == FAST_RETRY.max_attempts
    assert projector.error is error
    assert not projector.running
    checkpoint = checkpoints.get("p")
    if parallel == 1:
        assert checkpoint == 36
        assert seen == list(range(1, 37))
    else:
        assert checkpoint < 37
        assert set(range(1, checkpoint + 1)) <= set(seen)
    later_k0 = [c.position for c in stored if c.aggregate_key == "k0" and c.version > 7]
    assert not set(later_k0) & set(seen)  # the aggregate's later commits never overtook it

    # Fixed, the projector starts again with the failed commit and skips nothing.
    resumed: list[int] = []
    Projector(
        {"Cart": lambda c: resumed.append(c.position or 0)}, name="p", commit_store=store,
        checkpoint_store=checkpoints,
    ).run()  # fmt: skip
    assert resumed[0] == checkpoint + 1
    assert set(seen) | set(resumed) == set(range(1, 61))


def test_start_follows_new_commits_in_the_background_until_stopped(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 25)
    seen: list[int] = []
    projector = Projector(
        {"Cart": lambda c: seen.append(c.position or 0)}, name="p", commit_store=store,
        checkpoint_store=checkpoints, poll_interval=0.01,
    )  # fmt: skip
    projector.start()
    assert projector.running
    wait_until(lambda: len(seen) == 25)
    fill(store, 25, start=25)
    wait_until(lambda: len(seen) == 50)

    assert projector.stop() is None
    assert not projector.running
    assert projector.stop() is None  # idempotent
    assert seen == list(range(1, 51))
    assert checkpoints.get("p") == 50
    fill(store, 5, start=50)
    time.sleep(0.05)
    assert len(seen) == 50  # stopped means stopped


def test_start_without_watch_catches_up_and_ends(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 100)
    seen: list[int] = []
    projector = Projector(
        {"Cart": lambda c: seen.append(c.position or 0)}, name="p", commit_store=store,
        checkpoint_store=checkpoints,
    )  # fmt: skip
    projector.start(watch=False)
    projector.join(timeout=10)
    assert seen == list(range(1, 101))
    assert not projector.running


def test_a_background_failure_is_kept_returned_by_stop_and_raised_by_join(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 10)

    def broken(c: Commit) -> None:
        if c.position == 4:
            raise KeyError("missing")

    projector = Projector(
        {"Cart": broken}, name="p", commit_store=store, checkpoint_store=checkpoints,
        retry=FAST_RETRY, poll_interval=0.01,
    )  # fmt: skip
    projector.start()
    wait_until(lambda: not projector.running)

    assert isinstance(projector.error, ProjectionFailed)
    with pytest.raises(ProjectionFailed, match="position 4"):
        projector.join()
    assert projector.stop() is projector.error
    assert checkpoints.get("p") == 3


def test_a_running_projector_cannot_start_twice_but_restarts_after_stop(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    projector = Projector(
        {"*": lambda c: None}, name="p", commit_store=store, checkpoint_store=checkpoints,
        poll_interval=0.01,
    )  # fmt: skip
    projector.stop()  # stopping a projector that never started is fine
    projector.start()
    with pytest.raises(RuntimeError, match="already running"):
        projector.start()
    with pytest.raises(RuntimeError, match="already running"):
        projector.run()
    projector.stop()
    fill(store, 3)
    assert projector.run().handled == 3


def test_stop_interrupts_a_handler_retry_and_keeps_the_commit(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    from ddbes.retry import RetryPolicy

    fill(store, 5)
    attempts: list[int] = []

    def failing(c: Commit) -> None:
        if c.position == 2:
            attempts.append(1)
            raise RuntimeError("down")

    slow = RetryPolicy(max_attempts=5, initial_delay=30.0, backoff=1.0)
    projector = Projector(
        {"Cart": failing}, name="p", commit_store=store, checkpoint_store=checkpoints,
        retry=slow, poll_interval=0.01,
    )  # fmt: skip
    projector.start()
    wait_until(lambda: attempts)
    started = time.monotonic()
    assert projector.stop() is None
    assert time.monotonic() - started < 5  # not the 30 s backoff
    assert checkpoints.get("p") == 1  # commit 2 was not handled: it is not skipped


def test_a_handler_may_stop_its_own_projector(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 20)
    seen: list[int] = []
    projector: Projector

    def handle(c: Commit) -> None:
        seen.append(c.position or 0)
        if c.position == 5:
            projector.stop()

    projector = Projector(
        {"Cart": handle}, name="p", commit_store=store, checkpoint_store=checkpoints
    )
    projector.run()
    assert seen == [1, 2, 3, 4, 5]
    assert checkpoints.get("p") == 5


def test_stores_clock_and_logger_default_to_ddbes_config(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    fill(store, 5)
    projector = Projector({"*": lambda c: None}, name="p")
    with pytest.raises(ConfigurationError, match="commit_store"):
        projector.run()
    ddbes.config.update(commit_store=store)
    with pytest.raises(ConfigurationError, match="checkpoint_store"):
        projector.run()
    ddbes.config.update(checkpoint_store=checkpoints)
    assert projector.run().handled == 5
    assert checkpoints.get("p") == 5


def test_progress_reports_positions_heads_and_lag(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    for version in range(1, 11):
        store.append(commit("Cart", "a", version, at=T0 + timedelta(seconds=version)))
    clock = ManualClock(T0 + timedelta(seconds=100))
    reports: list[ProjectorProgress] = []
    projector = Projector(
        {"*": lambda c: None}, name="p", commit_store=store, checkpoint_store=checkpoints,
        batch_size=4, clock=clock, on_progress=reports.append,
    )  # fmt: skip
    projector.run()

    assert [r.positions[0] for r in reports[:3]] == [4, 8, 10]
    assert reports[0].heads == {0: 10}
    assert reports[0].lag_commits == 6
    assert reports[0].lag_seconds == 96.0  # commit 4 was made at T0 + 4 s
    assert reports[-1].caught_up and reports[-1].lag_seconds == 0.0
    assert reports[-1].handled == 10


def test_a_failing_progress_callback_is_logged_and_ignored(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fill(store, 5)

    def broken(_: ProjectorProgress) -> None:
        raise RuntimeError("terminal gone")

    projector = Projector(
        {"*": lambda c: None}, name="p", commit_store=store, checkpoint_store=checkpoints,
        on_progress=broken,
    )  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="ddbes"):
        assert projector.run().handled == 5
    assert any("on_progress" in r.getMessage() for r in caplog.records)


def test_progress_is_logged_at_start_catch_up_and_stop(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fill(store, 5)
    with caplog.at_level(logging.INFO, logger="ddbes"):
        Projector(
            {"*": lambda c: None}, name="idx", commit_store=store, checkpoint_store=checkpoints
        ).run()
    messages = [r.getMessage() for r in caplog.records]
    assert any("'idx' catching up" in m for m in messages)
    assert any("'idx' caught up after 5 commits" in m for m in messages)
    assert any("'idx' stopped: 5 commits handled" in m for m in messages)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"handlers": {}}, ValueError),
        ({"handlers": {"Cart": "not callable"}}, TypeError),
        ({"handlers": {"": print}}, ValueError),
        ({"name": ""}, ValueError),
        ({"batch_size": 0}, ValueError),
        ({"parallel": 0}, ValueError),
        ({"poll_interval": 0}, ValueError),
        ({"lease_ttl": -1}, ValueError),
        ({"retry": 3}, TypeError),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], error: type[Exception]) -> None:
    arguments: dict[str, object] = {"handlers": {"*": print}, "name": "p", **kwargs}
    handlers = arguments.pop("handlers")
    with pytest.raises(error):
        Projector(handlers, **arguments)  # type: ignore[arg-type]
