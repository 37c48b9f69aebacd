"""A tiny driver that runs one test against either aggregate API.

A behaviour test is written once, as ``async def``: it builds its aggregate classes with
:meth:`Api.aggregate` (a ``def``-command ``Aggregate`` or an ``async def``-command
``AsyncAggregate`` from one spec) and passes every call through ``await api(...)``, which
awaits what the async API returns and takes the sync API's results as they are.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ddbes import (
    Aggregate,
    AsyncAggregate,
    AsyncProjector,
    Projector,
    RetryPolicy,
    aggregate_command,
)

Decide = Callable[..., Any]
"""``decide(state, *args, **kwargs) -> event or events``: what a command commits."""


@dataclass(frozen=True)
class Command:
    """A command: it commits what ``decide`` returns for the current state."""

    decide: Decide
    retry: bool | RetryPolicy = False


@dataclass(frozen=True)
class Api:
    """``"sync"`` or ``"async"``; ``other`` is the other one (to check they share data)."""

    name: str
    base: type[Any] = field(repr=False)

    @property
    def asynchronous(self) -> bool:
        return self.base is AsyncAggregate

    @property
    def other(self) -> Api:
        return SYNC if self.asynchronous else ASYNC

    async def __call__(self, value: Any) -> Any:
        """``value`` awaited if the API returned an awaitable, else as it is."""
        return await value if inspect.isawaitable(value) else value

    async def list(self, items: Iterable[Any] | AsyncIterable[Any]) -> list[Any]:
        """Every item of a sync or an async iterable."""
        if isinstance(items, AsyncIterable):
            return [item async for item in items]
        return list(items)

    async def concurrently(self, count: int, action: Callable[[int], Awaitable[Any]]) -> None:
        """``await action(i)`` for ``i < count`` at once: in tasks for the async API; for the
        sync one in threads (each runs its action on a loop of its own, where the sync API's
        calls block that thread only)."""
        if self.asynchronous:
            await asyncio.gather(*(action(i) for i in range(count)))
            return
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                asyncio.run(action(i))  # type: ignore[arg-type]
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]

    def aggregate(
        self,
        name: str,
        *,
        reducer: Callable[[Any, dict[str, Any], Any], Any],
        create: Decide | None = None,
        commands: Mapping[str, Command] | None = None,
        **attributes: Any,
    ) -> type[Any]:
        """An aggregate class of this API: ``create(**props)`` and each command commit what
        their ``decide`` returns."""
        namespace: dict[str, Any] = {"reducer": staticmethod(reducer), **attributes}
        if create is not None:
            namespace["create"] = self._method(lambda state, **props: create(**props))
        for command_name, command in (commands or {}).items():
            method = self._method(command.decide)
            method.__name__ = command_name
            namespace[command_name] = aggregate_command(method, retry=command.retry)
        return type(name, (self.base,), namespace)

    def projector(self, handlers: Mapping[str, Callable[[Any], Any]], **options: Any) -> Any:
        """A projector of this API (``Projector`` or ``AsyncProjector``) whose handlers call
        each plain function of ``handlers``: from an ``async def`` handler for the async API."""
        if not self.asynchronous:
            return Projector(handlers, **options)
        return AsyncProjector({kind: _awaited(h) for kind, h in handlers.items()}, **options)

    def slow_handler(self, seconds: float) -> Callable[[Any], Any]:
        """A handler that takes ``seconds``: it sleeps (sync), or awaits a sleep (async)."""
        if not self.asynchronous:
            return lambda commit: time.sleep(seconds)

        async def slow(commit: Any) -> None:
            await asyncio.sleep(seconds)

        return slow

    def _method(self, decide: Decide) -> Callable[..., Any]:
        if self.asynchronous:

            async def run_async(self: Any, *args: Any, **kwargs: Any) -> Awaitable[Any]:
                return await self.commit(decide(self.state, *args, **kwargs))  # type: ignore[no-any-return]

            return run_async

        def run_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            return self.commit(decide(self.state, *args, **kwargs))

        return run_sync


def _awaited(handler: Callable[[Any], Any]) -> Callable[[Any], Awaitable[Any]]:
    if inspect.iscoroutinefunction(handler):
        return handler

    async def handle(commit: Any) -> Any:
        await asyncio.sleep(0)  # a real await: the loop may run other tasks meanwhile
        return handler(commit)

    handle.__qualname__ = getattr(handler, "__qualname__", "handler")
    return handle


SYNC = Api("sync", Aggregate)
ASYNC = Api("async", AsyncAggregate)
