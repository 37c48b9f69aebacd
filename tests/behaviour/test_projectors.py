"""The behaviour of projectors, once for both APIs (``api``: ``Projector`` or
``AsyncProjector``) and each backend (in memory, DynamoDB Local with the sync and async stores
on one table)."""

from __future__ import annotations

from typing import Any

import pytest

from ddbes import Commit, RetryPolicy
from ddbes.errors import CommitParked, ProjectionFailed
from tests.behaviour.conftest import Backend
from tests.behaviour.kit import Api, Command

QUICK = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002)


def _counter(api: Api) -> type[Any]:
    return api.aggregate(
        "Counter",
        reducer=lambda state, event, commit: (state or 0) + 1,
        key_schema=("id",),
        create=lambda **props: {"type": "Created"},
        commands={"bump": Command(lambda state: {"type": "Bumped"})},
    )


async def _history(api: Api, counts: dict[str, int]) -> list[Any]:
    """Creates a counter per key and bumps it ``count - 1`` times; the last commit of each."""
    counter = _counter(api)
    last = []
    for key, count in counts.items():
        made = await api(counter.create(id=key))
        for _ in range(count - 1):
            made = await api(made.bump())
        last.append(made)
    return last


def _projector(api: Api, backend: Backend, handlers: dict[str, Any], **options: Any) -> Any:
    options.setdefault("name", "view")
    options.setdefault("retry", QUICK)
    options.setdefault("poll_interval", 0.02)
    return api.projector(
        handlers,
        commit_store=backend.commits(api),
        checkpoint_store=backend.checkpoints(api),
        **options,
    )


async def test_run_hands_every_commit_over_in_order_and_returns_progress(
    api: Api, backend: Backend
) -> None:
    await _history(api, {"a": 3, "b": 2})
    seen: list[tuple[str, int]] = []
    projector = _projector(
        api, backend, {"Counter": lambda c: seen.append((c.aggregate_key, c.version))}
    )

    progress = await api(projector.run())

    assert seen == [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]
    assert progress.handled == 5 and progress.caught_up and progress.positions == {0: 5}
    assert not projector.running


async def test_a_projector_run_again_starts_at_its_checkpoint(api: Api, backend: Backend) -> None:
    await _history(api, {"a": 2})
    seen: list[int] = []
    await api(_projector(api, backend, {"*": lambda c: seen.append(c.version)}).run())
    await _history(api, {"b": 1})

    progress = await api(_projector(api, backend, {"*": lambda c: seen.append(c.version)}).run())

    assert seen == [1, 2, 1]
    assert progress.handled == 1
    assert await api(backend.checkpoints(api).get("view")) == 3


async def test_the_star_handler_gets_every_commit_after_its_types_handler(
    api: Api, backend: Backend
) -> None:
    await _history(api, {"a": 1})
    await api(backend.commits(api).append(_other_commit()))
    seen: list[str] = []

    handlers = {
        "Counter": lambda c: seen.append("counter"),
        "*": lambda c: seen.append(c.aggregate_type),
    }
    await api(_projector(api, backend, handlers).run())

    assert seen == ["counter", "Counter", "Other"]


async def test_a_handler_that_fails_twice_then_succeeds_skips_nothing(
    api: Api, backend: Backend
) -> None:
    await _history(api, {"a": 2})
    attempts: list[int] = []

    def flaky(commit: Commit) -> None:
        attempts.append(commit.version)
        if commit.version == 1 and len(attempts) < 3:
            raise RuntimeError("not yet")

    progress = await api(_projector(api, backend, {"Counter": flaky}).run())

    assert attempts == [1, 1, 1, 2]
    assert progress.handled == 2


async def test_a_handler_that_keeps_failing_stops_the_run_before_its_commit(
    api: Api, backend: Backend
) -> None:
    await _history(api, {"a": 3})

    def fails_on_two(commit: Commit) -> None:
        if commit.version == 2:
            raise RuntimeError("broken read model")

    with pytest.raises(ProjectionFailed, match="failed 3 times") as failed:
        await api(_projector(api, backend, {"Counter": fails_on_two}).run())

    assert failed.value.position == 2
    assert isinstance(failed.value.__cause__, RuntimeError)
    assert await api(backend.checkpoints(api).get("view")) == 1


async def test_parking_holds_back_the_aggregate_and_retry_releases_it_in_order(
    api: Api, backend: Backend
) -> None:
    await _history(api, {"a": 1, "b": 1})
    await _history_more(api, "a")  # a: version 2, after b
    broken = {"a"}
    seen: list[tuple[str, int]] = []

    def handler(commit: Commit) -> None:
        if commit.aggregate_key in broken:
            raise RuntimeError("cannot project a")
        seen.append((commit.aggregate_key, commit.version))

    projector = _projector(api, backend, {"Counter": handler}, on_failure="park")
    progress = await api(projector.run())

    assert seen == [("b", 1)]
    assert progress.parked == 1 and progress.caught_up
    [parked] = await api(projector.parked())
    assert (parked.aggregate_id, parked.version, parked.held) == ("Counter:a", 1, 1)

    broken.clear()
    assert await api(projector.retry()) == []
    assert seen == [("b", 1), ("a", 1), ("a", 2)]
    assert await api(projector.parked()) == []


async def test_a_started_projector_follows_new_commits_and_wait_for_sees_them(
    api: Api, backend: Backend
) -> None:
    seen: list[str] = []
    projector = _projector(api, backend, {"Counter": lambda c: seen.append(c.aggregate_key)})
    await api(projector.start())
    try:
        await _history(api, {"late": 2})
        commit = await _stored(api, backend, "late", 2)

        await api(projector.wait_for(commit, timeout=10))

        assert seen == ["late", "late"]
        assert projector.running
    finally:
        assert await api(projector.stop()) is None
    assert not projector.running


async def test_wait_for_takes_the_aggregate_instance_that_just_committed(
    api: Api, backend: Backend
) -> None:
    seen: list[tuple[str, int]] = []
    projector = _projector(
        api, backend, {"Counter": lambda c: seen.append((c.aggregate_key, c.version))}
    )
    await api(projector.start())
    try:
        (counter,) = await _history(api, {"mine": 3})  # what a command handler holds

        await api(projector.wait_for(counter, timeout=10))

        assert seen == [("mine", 1), ("mine", 2), ("mine", 3)]
        with pytest.raises(TypeError, match="a Commit, an aggregate instance or a position"):
            await api(projector.wait_for("mine", timeout=1))
    finally:
        assert await api(projector.stop()) is None


async def test_wait_for_a_parked_commit_says_so(api: Api, backend: Backend) -> None:
    projector = _projector(
        api, backend, {"Counter": lambda c: 1 / 0}, on_failure="park",
    )  # fmt: skip
    await api(projector.start())
    try:
        await _history(api, {"a": 1})
        commit = await _stored(api, backend, "a", 1)
        with pytest.raises(CommitParked, match="parked"):
            await api(projector.wait_for(commit, timeout=10))
    finally:
        await api(projector.stop())


async def test_a_handler_over_its_timeout_counts_as_a_failure(api: Api, backend: Backend) -> None:
    await _history(api, {"a": 1})
    projector = _projector(
        api, backend, {"Counter": api.slow_handler(0.5)}, handler_timeout=0.05,
        retry=RetryPolicy(max_attempts=1),
    )  # fmt: skip

    with pytest.raises(ProjectionFailed, match=r"handler_timeout=0\.05"):
        await api(projector.run())


async def test_a_new_version_builds_beside_the_old_one(api: Api, backend: Backend) -> None:
    await _history(api, {"a": 2})
    await api(_projector(api, backend, {"*": lambda c: None}).run())
    seen: list[int] = []

    progress = await api(
        _projector(api, backend, {"*": lambda c: seen.append(c.version)}, version=2).run()
    )

    assert seen == [1, 2] and progress.handled == 2
    assert await api(backend.checkpoints(api).get("view@v2")) == 2


async def test_a_projector_of_the_other_api_continues_from_the_same_checkpoint(
    api: Api, backend: Backend
) -> None:
    await _history(api, {"a": 2})
    await api(_projector(api, backend, {"*": lambda c: None}).run())
    await _history(api, {"b": 1})
    await api(backend.commits(api).flush_log())  # the writer's store has logged it
    seen: list[tuple[str, int]] = []
    other = api.other

    handlers = {"*": lambda c: seen.append((c.aggregate_key, c.version))}
    progress = await other(_projector(other, backend, handlers).run())

    assert seen == [("b", 1)]
    assert progress.positions == {0: 3}


async def test_status_reads_positions_heads_lag_and_parked_commits(
    api: Api, backend: Backend
) -> None:
    await _history(api, {"a": 1, "b": 2})

    def handler(commit: Commit) -> None:
        if commit.aggregate_key == "a":
            raise RuntimeError("cannot project a")

    await api(backend.commits(api).flush_log())  # in the log, on a background table too
    projector = _projector(api, backend, {"Counter": handler}, on_failure="park")
    before = await api(projector.status())
    await api(projector.run())
    after = await api(projector.status())

    assert (before.positions, before.heads, before.lag_commits) == ({0: 0}, {0: 3}, 3)
    assert not before.caught_up and before.lag_seconds >= 0
    assert (after.positions, after.lag_commits, after.caught_up) == ({0: 3}, 0, True)
    assert [p.aggregate_id for p in after.parked] == ["Counter:a"]
    assert "cannot project a" in (after.last_error or "")


async def test_handlers_receive_typed_events_and_an_undecodable_one_parks_its_commit(
    api: Api, backend: Backend
) -> None:
    from tests.typed.test_typed_aggregates import Deposited, Opened

    await _history(api, {"a": 1})  # "Created": no class for it
    await api(backend.commits(api).append(_typed_commit("x", {"type": "Opened", "owner": "ann"})))
    seen: list[Any] = []

    projector = _projector(
        api, backend, {"*": lambda c: seen.extend(c.events)}, on_failure="park",
        event_types=[Opened, Deposited],
    )  # fmt: skip
    progress = await api(projector.run())

    assert seen == [Opened("ann")]
    assert progress.parked == 1 and "Created" in (progress.last_error or "")


# ------------------------------------------------------------------------------- helpers


def _other_commit() -> Commit:
    from datetime import UTC, datetime

    return Commit(
        commit_id="other-1", aggregate_type="Other", aggregate_key="x", version=1,
        committed_at=datetime.now(UTC), events=({"type": "Happened"},),
    )  # fmt: skip


def _typed_commit(key: str, event: dict[str, Any]) -> Commit:
    from datetime import UTC, datetime

    return Commit(
        commit_id=f"typed-{key}", aggregate_type="Account", aggregate_key=key, version=1,
        committed_at=datetime.now(UTC), events=(event,),
    )  # fmt: skip


async def _history_more(api: Api, key: str) -> None:
    made = await api(_counter(api).load(key))
    await api(made.bump())


async def _stored(api: Api, backend: Backend, key: str, version: int) -> Commit:
    found = await api.list(
        backend.commits(api).read_commits("Counter", key, from_version=version, to_version=version)
    )
    return found[0]  # type: ignore[no-any-return]
