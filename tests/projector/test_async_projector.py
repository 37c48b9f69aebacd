"""What only the AsyncProjector does (its shared behaviour with Projector is in
tests/behaviour/test_projectors.py): plain and async handlers together, running as a task,
and the options and stores it refuses."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

import ddbes
from ddbes import AsyncProjector, Commit, RetryPolicy
from ddbes.errors import ConfigurationError, ProjectionFailed, StaleCheckpoint
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes.ports import CheckpointStore


def _commit(key: str, version: int = 1, kind: str = "Cart") -> Commit:
    return Commit(
        commit_id=f"{kind}-{key}-{version}", aggregate_type=kind, aggregate_key=key,
        version=version, committed_at=datetime.now(UTC), events=({"type": "Added"},),
    )  # fmt: skip


async def test_async_and_plain_handlers_run_in_order_on_the_loop(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    seen: list[str] = []

    async def on_cart(commit: Commit) -> None:
        await asyncio.sleep(0)
        seen.append(f"cart {commit.aggregate_key}")

    for key in ("a", "b"):
        store.append(_commit(key))
    projector = AsyncProjector(
        {"Cart": on_cart, "*": lambda c: seen.append(f"any {c.aggregate_key}")},
        name="mixed", commit_store=store.as_async(), checkpoint_store=checkpoints.as_async(),
    )  # fmt: skip

    progress = await projector.run()

    assert seen == ["cart a", "any a", "cart b", "any b"]
    assert progress.positions == {0: 2}
    assert checkpoints.get("mixed") == 2


async def test_in_memory_sync_stores_are_taken_as_their_async_views(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    store.append(_commit("a"))
    ddbes.config.update(commit_store=store, checkpoint_store=checkpoints)
    seen: list[Commit] = []

    await AsyncProjector({"*": seen.append}, name="configured").run()

    assert [c.aggregate_key for c in seen] == ["a"]


async def test_a_sync_store_without_an_async_view_is_refused_with_what_to_use(
    store: InMemoryCommitStore,
) -> None:
    class SyncOnly(InMemoryCheckpointStore):
        as_async = None  # type: ignore[assignment]

    only: CheckpointStore = SyncOnly()
    projector = AsyncProjector(
        {"*": print},
        name="p",
        commit_store=store.as_async(),
        checkpoint_store=only,  # type: ignore[arg-type]
    )

    with pytest.raises(ConfigurationError, match="AsyncDynamoDBCheckpointStore"):
        await projector.run()


@pytest.mark.parametrize(
    ("option", "value"),
    [("lease_store", object()), ("slots", 4), ("parallel", 4), ("inline", True)],
)
def test_options_that_are_sync_only_are_refused_at_construction(option: str, value: Any) -> None:
    with pytest.raises(ValueError, match=rf"{option} is not supported by AsyncProjector yet"):
        AsyncProjector({"*": print}, name="p", **{option: value})


async def test_start_runs_as_a_task_and_a_failure_is_kept_for_stop_and_join(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    def broken(commit: Commit) -> None:
        raise RuntimeError("no read model")

    projector = AsyncProjector(
        {"Cart": broken}, name="p", commit_store=store.as_async(),
        checkpoint_store=checkpoints.as_async(), poll_interval=0.01,
        retry=RetryPolicy(max_attempts=2, initial_delay=0.001),
    )  # fmt: skip
    await projector.start()
    assert projector.running
    await store.as_async().append(_commit("a"))  # wakes the projector at once

    with pytest.raises(ProjectionFailed, match="no read model"):
        await projector.join(timeout=5)
    assert isinstance(await projector.stop(), ProjectionFailed)
    assert isinstance(await projector.stop(), ProjectionFailed)  # idempotent
    assert not projector.running and checkpoints.get("p") == 0


async def test_stop_interrupts_a_handler_retry_and_keeps_the_commit(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    store.append(_commit("a"))
    failing = asyncio.Event()

    async def fails(commit: Commit) -> None:
        failing.set()
        raise RuntimeError("down")

    projector = AsyncProjector(
        {"Cart": fails}, name="p", commit_store=store.as_async(),
        checkpoint_store=checkpoints.as_async(),
        retry=RetryPolicy(max_attempts=5, initial_delay=30.0),
    )  # fmt: skip
    await projector.start()
    await asyncio.wait_for(failing.wait(), 5)

    assert await projector.stop(timeout=5) is None
    assert checkpoints.get("p") == 0


async def test_an_async_read_model_check_refuses_an_old_checkpoint(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    store.append(_commit("a"))
    checkpoints.save("p", 1)

    async def is_new() -> bool:
        return True

    projector = AsyncProjector(
        {"*": print}, name="p", commit_store=store.as_async(),
        checkpoint_store=checkpoints.as_async(), read_model_is_new=is_new,
    )  # fmt: skip

    with pytest.raises(StaleCheckpoint, match=r"await projector\.reset\(\)"):
        await projector.run()
    await projector.reset()
    assert checkpoints.get("p") == 0


def test_a_sync_projector_refuses_an_async_handler_and_names_the_async_projector() -> None:
    async def on_cart(commit: Commit) -> None:
        return None

    with pytest.raises(TypeError, match=r"ddbes\.AsyncProjector"):
        ddbes.Projector({"Cart": on_cart}, name="p")


def test_a_sync_projector_takes_the_sync_view_of_an_async_in_memory_store(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    store.append(_commit("a"))
    seen: list[Commit] = []

    ddbes.Projector(
        {"*": seen.append}, name="p", commit_store=store.as_async(),  # type: ignore[arg-type]
        checkpoint_store=checkpoints.as_async(),  # type: ignore[arg-type]
    ).run()  # fmt: skip

    assert len(seen) == 1 and checkpoints.get("p") == 1


async def test_stop_from_another_task_ends_a_run_early_with_its_checkpoint_saved(
    store: InMemoryCommitStore, checkpoints: InMemoryCheckpointStore
) -> None:
    for key in range(50):
        store.append(_commit(str(key)))
    started = asyncio.Event()

    async def slow(commit: Commit) -> None:
        started.set()
        await asyncio.sleep(0.01)

    projector = AsyncProjector(
        {"Cart": slow}, name="p", commit_store=store.as_async(),
        checkpoint_store=checkpoints.as_async(),
    )  # fmt: skip
    run = asyncio.create_task(projector.run())
    await asyncio.wait_for(started.wait(), 5)

    assert await projector.stop(timeout=5) is None
    assert not projector.running
    progress = await run
    assert 0 < progress.handled < 50
    assert checkpoints.get("p") == progress.positions[0] == progress.handled
