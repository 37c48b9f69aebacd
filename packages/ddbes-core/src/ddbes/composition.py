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

import inspect
import threading
from collections.abc import Callable, Hashable, Mapping
from typing import Any, TypeVar

__all__ = ["Resources", "Settings"]

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
