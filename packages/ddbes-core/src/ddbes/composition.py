"""How adapters build themselves from settings, and what the stores of one application share.

Every adapter store has a ``from_settings(settings, *, resources=None)`` classmethod (sync and
async ones alike): ``settings`` is the flat configuration of :mod:`ddbes.container`
(``table_name``, ``endpoint_url``, ``region_name``, ``timeout``, ``snapshots_bucket``…), and
``resources`` a :class:`Resources` where the stores of one application find what they share:
the DynamoDB stores of an app use one client and one table handle, built by the first of them.
The container and the ``ddbes`` command build their stores this way; so can an application::

    resources = Resources()
    commits = AsyncDynamoDBCommitStore.from_settings(settings, resources=resources)
    checkpoints = AsyncDynamoDBCheckpointStore.from_settings(settings, resources=resources)
    ...
    await resources.aclose()      # closes the async clients
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Callable, Hashable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar

__all__ = ["AsyncClient", "Resources", "Settings"]

T = TypeVar("T")

Settings = Mapping[str, Any]
"""The flat configuration of :func:`ddbes.container.load_configuration`."""


class Resources:
    """Clients and handles shared by the stores of one application, each built once per key.

    Thread-safe. :meth:`aclose` closes what has an async ``close`` (aiobotocore clients);
    :meth:`close` what has a sync one.
    """

    def __init__(self) -> None:
        self._made: dict[Hashable, Any] = {}
        self._lock = threading.Lock()

    def shared(self, key: Hashable, make: Callable[[], T]) -> T:
        """The resource under ``key``, made by ``make()`` the first time it is asked for."""
        with self._lock:
            if key not in self._made:
                self._made[key] = make()
            made: T = self._made[key]
            return made

    def close(self) -> None:
        """Close the resources whose ``close`` is a plain method."""
        for made in self._take(sync=True):
            made.close()

    async def aclose(self) -> None:
        """Close the resources whose ``close`` is a coroutine (async clients)."""
        for made in self._take(sync=False):
            await made.close()

    def _take(self, *, sync: bool) -> list[Any]:
        with self._lock:
            taken = [
                (key, made)
                for key, made in self._made.items()
                if callable(getattr(made, "close", None))
                and inspect.iscoroutinefunction(made.close) is not sync
            ]
            for key, _ in taken:
                del self._made[key]
        return [made for _, made in taken]


class AsyncClient:
    """An async SDK client (aiobotocore's), entered on first use inside the event loop that
    uses it (such a client belongs to one loop) and exited by :meth:`close`.

    Args:
        make: builds the client's async context manager (no I/O).
        client: an already entered client to use instead; :meth:`close` leaves it open.
    """

    __slots__ = ("_client", "_context", "_make", "_opening")

    def __init__(
        self, make: Callable[[], AbstractAsyncContextManager[Any]], client: Any = None
    ) -> None:
        self._make = make
        self._client = client
        self._context: AbstractAsyncContextManager[Any] | None = None
        self._opening: asyncio.Lock | None = None

    async def open(self) -> Any:
        """The client, entered on first use."""
        client = self._client
        if client is not None:
            return client
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._client is None:
                context = self._make()
                self._client = await context.__aenter__()
                self._context = context
            return self._client

    async def close(self) -> None:
        """Exit a client built here (not a given one); idempotent."""
        context, self._context = self._context, None
        if context is not None:
            self._client = None
            await context.__aexit__(None, None, None)
