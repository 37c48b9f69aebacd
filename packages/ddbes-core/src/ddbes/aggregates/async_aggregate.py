"""``AsyncAggregate``: the asyncio shell of the aggregate core. Each I/O method is a coroutine
that runs a core operation with awaited store calls (:func:`~ddbes.aggregates._shells.run_async`);
the decisions are in the core, shared with :class:`~ddbes.aggregates.aggregate.Aggregate`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from datetime import datetime
from typing import Any, Self

from ddbes.aggregates._base import AggregateBase
from ddbes.aggregates._committing import committing, encoded_events, writing_snapshot
from ddbes.aggregates._creating import creating, loading_or_creating
from ddbes.aggregates._loading import bounds, hydrating, loading
from ddbes.aggregates._shells import run_async
from ddbes.aggregates.commands import appending_at_head
from ddbes.aggregates.creation import create_method
from ddbes.causation import metadata_for
from ddbes.model import Commit, Event
from ddbes.retry import RetryPolicy

__all__ = ["AsyncAggregate"]


async def _missing_create(self: AsyncAggregate, /, **props: Any) -> Any:
    raise NotImplementedError(
        f"{type(self).__name__} has no instance method create(): define "
        "`async def create(self, **props): return await self.commit({...})`"
    )


class AsyncAggregate(AggregateBase):
    """An event-sourced aggregate for asyncio code: :class:`ddbes.Aggregate`'s twin.

    The class attributes, options and configuration levels are ``Aggregate``'s; the methods
    that do I/O are coroutines (``await Cart.load(...)``, ``await cart.commit(...)``), commands
    and ``create`` are ``async def``, and the stores are async ones
    (:mod:`ddbes.async_ports`; the in-memory stores serve both APIs on the same data).
    """

    create: Any = create_method(_missing_create)
    _asynchronous = True

    # ------------------------------------------------------------------ reading

    async def hydrate(
        self, *, version: int | None = None, time: datetime | str | None = None
    ) -> Self:
        """Bring the instance up to date, or to ``version`` / the last commit at or before
        ``time``: :meth:`ddbes.Aggregate.hydrate`."""
        self._check_awaited()
        await run_async(hydrating(self, *bounds(version, time)))
        return self

    @classmethod
    async def load(
        cls,
        key: str | Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
        time: datetime | str | None = None,
        fail: bool = False,
    ) -> Self | None:
        """The aggregate at its head, at ``version``, or at ``time``:
        :meth:`ddbes.Aggregate.load`."""
        return await run_async(loading(cls, key, version, time, fail))

    @classmethod
    async def get_state(cls, key: str | Mapping[str, Any] | None = None, **load_kwargs: Any) -> Any:
        """The loaded aggregate's state, or ``None`` when it does not exist."""
        instance = await cls.load(key, **load_kwargs)
        return None if instance is None else instance.state

    @classmethod
    async def instances(cls) -> AsyncIterator[Self]:
        """Every aggregate of this type that has a commit, hydrated, in key order:
        ``async for cart in Cart.instances()``."""
        store = cls._probe()._settings().commit_store
        async for key in store.aggregate_keys(cls.aggregate_type):
            instance = await cls.load(key)
            if instance is not None:
                yield instance

    # ---------------------------------------------------------------- creating

    @classmethod
    async def _create_from_props(cls, **props: Any) -> Self:
        return await run_async(creating(cls, *cls._key_and_props(props)))

    @classmethod
    async def load_or_create(cls, **props: Any) -> Self:
        """Load the aggregate the props' key names, or create it (safe under concurrent
        callers)."""
        return await run_async(loading_or_creating(cls, props))

    # ---------------------------------------------------------------- writing

    def commit(
        self,
        event_or_events: Event | Sequence[Event] | Any,
        *,
        retry: bool | RetryPolicy = False,
        metadata: Mapping[str, Any] | None = None,
    ) -> Coroutine[Any, Any, Self]:
        """Append one commit at ``version + 1`` and apply it: :meth:`ddbes.Aggregate.commit`.

        A coroutine: ``await self.commit(...)``. One that is never awaited is caught at the next
        operation on the instance, or when the command that made it returns (``TypeError``).
        """
        self._check_awaited()
        coroutine = self._commit(event_or_events, retry, metadata)
        self._unawaited = coroutine
        return coroutine

    async def _commit(
        self,
        event_or_events: Event | Sequence[Event] | Any,
        retry: bool | RetryPolicy,
        metadata: Mapping[str, Any] | None,
    ) -> Self:
        self._unawaited = None
        return await run_async(committing(self, event_or_events, retry, metadata))

    @classmethod
    async def append(
        cls,
        events: Event | Sequence[Event],
        key: str | Mapping[str, Any] | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Commit:
        """Blindly append ``events`` at the aggregate's head version, retrying conflicts:
        :meth:`ddbes.Aggregate.append`."""
        probe = cls(key)
        normalized = encoded_events(probe, events)
        settings = probe._settings()
        return await run_async(
            appending_at_head(
                settings.commit_store,
                clock=settings.clock,
                aggregate_type=cls.aggregate_type,
                aggregate_key=probe.key,
                events=normalized,
                timeout=settings.commit_timeout,
                metadata=metadata_for(metadata),
            )
        )

    async def write_snapshot(self) -> None:
        """Store a snapshot of the current state now: :meth:`ddbes.Aggregate.write_snapshot`."""
        await run_async(writing_snapshot(self, self._settings()))
