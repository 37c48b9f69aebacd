"""Bad use of the two aggregate APIs, caught at once with a message that says what to do.

- a sync store given to an ``AsyncAggregate``, or an async one to an ``Aggregate`` (a store that
  serves both, as the in-memory ones do, gives the view the aggregate needs);
- a sync command or ``create`` on an ``AsyncAggregate``, an ``async def`` one on an
  ``Aggregate``, or an ``async def`` reducer (caught when the class is defined);
- a forgotten ``await``: a reducer that returns a coroutine, or a command of an
  ``AsyncAggregate`` that calls ``self.commit(...)`` without awaiting it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import CoroutineType
from typing import Any

from ddbes.async_ports import AsyncCommitStore, AsyncSnapshotStore
from ddbes.errors import ConfigurationError
from ddbes.ports import CommitStore, SnapshotStore

__all__ = [
    "COMMAND_MARK",
    "check_class",
    "commit_store_for",
    "not_awaited",
    "refuse_coroutine",
    "snapshot_store_for",
]

COMMAND_MARK = "__ddbes_command__"
"""Set on every function ``aggregate_command`` returns, so the class can check its kind."""

_KINDS = {False: ("Aggregate", "def"), True: ("AsyncAggregate", "async def")}


def _store_for(
    store: Any,
    *,
    who: str,
    option: str,
    asynchronous: bool,
    sync_port: type[Any],
    async_port: type[Any],
    adapter: str,
) -> Any:
    wanted, other = (async_port, sync_port) if asynchronous else (sync_port, async_port)
    if store is None or isinstance(store, wanted) or not isinstance(store, other):
        return store
    view = getattr(store, "as_async" if asynchronous else "as_sync", None)
    if callable(view):  # a store that serves both APIs on the same data
        return view()
    if asynchronous:
        raise ConfigurationError(
            f"{who} is an AsyncAggregate, but its {option} {store!r} is a sync store: give it "
            f"an async one ({async_port.__module__}.{async_port.__name__}, such as {adapter}), "
            "or derive the class from ddbes.Aggregate to use this store"
        )
    raise ConfigurationError(
        f"{who} is a sync Aggregate, but its {option} {store!r} is an async store: give it "
        f"a sync one ({sync_port.__module__}.{sync_port.__name__}), or derive the class from "
        "ddbes.AsyncAggregate and await its methods"
    )


def commit_store_for(store: Any, who: str, *, asynchronous: bool) -> Any:
    """``store`` as the aggregate's kind needs it.

    Raises:
        ConfigurationError: a store of the other kind that offers no view of this kind.
    """
    return _store_for(
        store,
        who=who,
        option="commit_store",
        asynchronous=asynchronous,
        sync_port=CommitStore,
        async_port=AsyncCommitStore,
        adapter="ddbes_dynamodb.AsyncDynamoDBCommitStore",
    )


def snapshot_store_for(store: Any, who: str, *, asynchronous: bool) -> Any:
    """``store`` as the aggregate's kind needs it (see :func:`commit_store_for`)."""
    return _store_for(
        store,
        who=who,
        option="snapshot_store",
        asynchronous=asynchronous,
        sync_port=SnapshotStore,
        async_port=AsyncSnapshotStore,
        adapter="ddbes_s3.AsyncS3SnapshotStore",
    )


def check_class(name: str, own: Mapping[str, Any], *, asynchronous: bool) -> None:
    """The reducer, ``create`` and the commands a class defines suit its kind.

    Raises:
        TypeError: naming the method and the way to write it.
    """
    reducer = own.get("reducer")
    function = getattr(reducer, "__func__", reducer)
    if function is not None and inspect.iscoroutinefunction(function):
        raise TypeError(
            f"{name}.reducer is `async def`: a reducer is a plain function of (state, event, "
            "commit) that does no I/O; define it with `def`"
        )
    for attribute, value in own.items():
        if attribute == "create" or getattr(value, COMMAND_MARK, False):
            check_method(name, attribute, getattr(value, "instance_create", value), asynchronous)


def check_method(name: str, attribute: str, function: Any, asynchronous: bool) -> None:
    """A command or ``create`` of an aggregate of this kind is defined with the right keyword.

    Raises:
        TypeError: naming the method and the way to write it.
    """
    if not callable(function) or inspect.iscoroutinefunction(function) == asynchronous:
        return
    kind, keyword = _KINDS[asynchronous]
    other_kind, _ = _KINDS[not asynchronous]
    commit = "return await self.commit(...)" if asynchronous else "return self.commit(...)"
    raise TypeError(
        f"{name}.{attribute} must be `{keyword} {attribute}(self, ...)` on an {kind} "
        f"(and `{commit}`), or derive {name} from ddbes.{other_kind}"
    )


def refuse_coroutine(state: CoroutineType[Any, Any, Any], reducer: Callable[..., Any]) -> None:
    """A reducer returned a coroutine where a state belongs.

    Raises:
        TypeError: always (the coroutine is closed, so it warns no more).
    """
    state.close()
    raise TypeError(
        f"the reducer {getattr(reducer, '__qualname__', reducer)!r} returned a coroutine: a "
        "reducer must be a plain function that returns the new state, and does no I/O"
    )


def not_awaited(aggregate_id: str, what: str) -> TypeError:
    """The error for a coroutine of an ``AsyncAggregate`` that was never awaited."""
    return TypeError(
        f"{what} of {aggregate_id} was called without `await`: on an AsyncAggregate it is a "
        f"coroutine, so write `await self.{what}(...)` (nothing of it was written)"
    )
