"""How the projector's decisions reach its stores: operations as generators of requests.

The projector core (checkpoints, parking, handler retries, releasing parked aggregates) is
written once, as generators that yield :class:`~ddbes.aggregates._requests.Call` requests
(``Call(store.advance, ...)``, ``Call(nap, (seconds,))``...) and receive their results. The
sync :class:`~ddbes.projection.projector.Projector` runs them with
:func:`~ddbes.aggregates._shells.run_sync` on sync stores, the
:class:`~ddbes.projection.async_projector.AsyncProjector` with
:func:`~ddbes.aggregates._shells.run_async` on async stores: a store method of the same name
returns a value in one and a coroutine in the other, which the async shell awaits. The shells
are the aggregate wing's, so both wings move data in and out the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any, TypeVar

from ddbes.aggregates._requests import Call, Steps
from ddbes.aggregates._shells import run_async, run_sync
from ddbes.errors import RetriesExhausted, StoreUnavailable
from ddbes.retry import RetryPolicy

__all__ = ["Call", "Steps", "collect", "run_async", "run_sync", "store_call"]

T = TypeVar("T")


def store_call(
    function: Callable[..., Any], *args: Any, policy: RetryPolicy, nap: Callable[[float], Any]
) -> Steps[Any]:
    """``function(*args)`` on a store, tried again by ``policy`` while the store is
    unavailable, sleeping with ``nap`` (a function, or a coroutine function) between attempts.

    Raises:
        RetriesExhausted: the store stayed unavailable; ``errors`` lists every failure.
    """
    errors: list[BaseException] = []
    for attempt in range(1, policy.max_attempts + 1):
        try:
            return (yield Call(function, args))
        except StoreUnavailable as exc:
            errors.append(exc)
            if attempt < policy.max_attempts:
                yield Call(nap, (policy.delay(attempt),))
    raise RetriesExhausted(errors) from errors[-1]


def collect(items: Iterable[T] | AsyncIterable[T]) -> list[T] | Awaitable[list[T]]:
    """The items of a store's iterable as a list: at once for a sync iterable, as an awaitable
    for an async one (so ``yield Call(collect, (store.read_log(...),))`` reads a batch from
    either kind of store)."""
    if isinstance(items, AsyncIterable):
        return _alist(items)
    return list(items)


async def _alist(items: AsyncIterable[T]) -> list[T]:
    return [item async for item in items]
