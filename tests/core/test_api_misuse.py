"""Mixing up the sync and the async API is caught at once, with a message that says what to do."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from ddbes import Aggregate, AsyncAggregate, Commit, aggregate_command
from ddbes.async_memory import AsyncInMemoryCommitStore
from ddbes.async_ports import AsyncCommitStore
from ddbes.errors import ConfigurationError
from ddbes.memory import InMemoryCommitStore


def _reducer(state: Any, event: dict[str, Any], commit: Commit) -> Any:
    return (state or 0) + 1


class Tally(Aggregate):
    reducer = staticmethod(_reducer)


class AsyncTally(AsyncAggregate):
    aggregate_type = "Tally"
    reducer = staticmethod(_reducer)


class SyncOnlyStore(InMemoryCommitStore):
    """A sync store that offers no async view (as a DynamoDBCommitStore)."""

    as_async = None  # type: ignore[assignment]


class AsyncOnlyStore(AsyncInMemoryCommitStore):
    """An async store that offers no sync view (as an AsyncDynamoDBCommitStore)."""

    as_sync = None  # type: ignore[assignment]


async def test_a_sync_store_on_an_async_aggregate_says_which_store_to_use() -> None:
    with pytest.raises(ConfigurationError, match=r"AsyncAggregate.*sync store.*AsyncCommitStore"):
        await AsyncTally.using(commit_store=SyncOnlyStore()).load()


def test_an_async_store_on_a_sync_aggregate_says_which_store_to_use() -> None:
    with pytest.raises(ConfigurationError, match=r"sync Aggregate.*async store.*AsyncAggregate"):
        Tally.using(commit_store=AsyncOnlyStore()).load()


async def test_an_in_memory_store_serves_both_apis_on_the_same_data() -> None:
    store = InMemoryCommitStore()
    assert store.as_async() is store.as_async() and store.as_async().as_sync() is store
    Tally.using(commit_store=store).load().commit({"type": "Counted"})  # type: ignore[union-attr]
    tally = await AsyncTally.using(commit_store=store).load()
    assert tally is not None and tally.state == 1
    await tally.commit({"type": "Counted"})
    assert isinstance(tally._settings().commit_store, AsyncCommitStore)
    assert Tally.using(commit_store=store.as_async()).get_state() == 2


def test_a_sync_command_on_an_async_aggregate_is_refused_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match=r"Cart.add must be `async def add\(self, \.\.\.\)`"):

        class Cart(AsyncAggregate):
            @aggregate_command(retry=True)
            def add(self) -> Any:
                return self.commit({"type": "Added"})


def test_an_async_command_or_create_on_a_sync_aggregate_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Cart.add must be `def add\(self, \.\.\.\)`"):

        class Cart(Aggregate):
            @aggregate_command
            async def add(self) -> Any:
                return None

    with pytest.raises(TypeError, match=r"Shop.create must be `def create"):

        class Shop(Aggregate):
            async def create(self) -> Any:
                return None


def test_an_async_reducer_is_refused() -> None:
    with pytest.raises(TypeError, match="reducer is `async def`"):

        class Cart(AsyncAggregate):
            @staticmethod
            async def reducer(state: Any, event: Any, commit: Any) -> Any:
                return state


async def test_a_reducer_that_returns_a_coroutine_is_caught_and_nothing_is_written() -> None:
    async def later() -> int:
        return 1

    class Sneaky(AsyncAggregate):
        @staticmethod
        def reducer(state: Any, event: Any, commit: Any) -> Any:
            return later()

    bound = Sneaky.using(commit_store=InMemoryCommitStore())
    sneaky = await bound.load()
    assert sneaky is not None
    with pytest.raises(TypeError, match=r"reducer .* returned a coroutine"):
        await sneaky.commit({"type": "Anything"})
    assert sneaky.version == 0


@pytest.fixture
def store() -> Iterator[InMemoryCommitStore]:
    yield InMemoryCommitStore()


async def test_a_commit_without_await_in_a_command_is_caught_when_it_returns(
    store: InMemoryCommitStore,
) -> None:
    class Cart(AsyncAggregate):
        reducer = staticmethod(_reducer)

        @aggregate_command
        async def add_twice(self) -> Any:
            self.commit({"type": "Added"})  # forgot await
            return None

        @aggregate_command(retry=True)
        async def add(self) -> Any:
            return self.commit({"type": "Added"})  # forgot await

    cart = await Cart.using(commit_store=store).load()
    assert cart is not None
    for command in (cart.add_twice, cart.add):
        with pytest.raises(TypeError, match=r"without `await`.*await self.commit"):
            await command()
    assert cart.version == 0 and list(store.read_commits("Cart", "@")) == []


async def test_a_commit_without_await_is_caught_at_the_next_operation(
    store: InMemoryCommitStore,
) -> None:
    cart = await AsyncTally.using(commit_store=store).load()
    assert cart is not None
    cart.commit({"type": "Added"})  # type: ignore[unused-coroutine]  # forgot await
    with pytest.raises(TypeError, match="without `await`"):
        await cart.commit({"type": "Added"})
    await cart.commit({"type": "Added"})
    assert cart.version == 1
