"""The two I/O shells of the aggregate core: they perform its requests, and nothing else.

:func:`run_sync` drives a core operation (a generator of :mod:`ddbes.aggregates._requests`)
with blocking calls, :func:`run_async` with awaits. Both send each result back into the
generator, or throw in the exception the request raised, so that the core decides everything;
which of them runs an aggregate is the only difference between ``Aggregate`` and
``AsyncAggregate``.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from ddbes import telemetry
from ddbes.aggregates._requests import (
    Append,
    Both,
    Call,
    FetchTipSnapshot,
    GetSnapshot,
    PutSnapshot,
    ReadCommits,
    ReadTip,
    Request,
    Sleep,
    Steps,
)

__all__ = ["run_async", "run_sync"]

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """Threads for the one request of a :class:`Both` that the sync shell runs beside the
    calling thread (a snapshot fetched while the commits are read)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ddbes-snapshot")
        return _pool


# ------------------------------------------------------------------------------------ sync


def _read_commits(r: ReadCommits) -> None:
    each = r.each
    for commit in r.store.read_commits(
        r.aggregate_type,
        r.aggregate_key,
        from_version=r.from_version,
        to_version=r.to_version,
        until=r.until,
        descending=r.descending,
        limit=r.limit,
    ):
        each(commit)


def _both(r: Both) -> tuple[Any, Any]:
    future = _executor().submit(_outcome, r.first)
    second = _outcome(r.second)
    return future.result(), second


def _outcome(request: Request) -> Any:
    try:
        return _perform(request)
    except Exception as exc:
        return exc


def _call(r: Call) -> Any:
    return r.function(*r.args, **(r.kwargs or {}))


_SYNC: dict[type[Any], Callable[[Any], Any]] = {
    ReadCommits: _read_commits,
    Append: lambda r: r.store.append(r.commit),
    GetSnapshot: lambda r: _traced(
        r, "ddbes.snapshot.read", r.store.get, r.aggregate_type, r.aggregate_key
    ),
    PutSnapshot: lambda r: _traced(r, "ddbes.snapshot.write", r.store.put, r.snapshot),
    ReadTip: lambda r: r.store.read_tip(r.aggregate_type, r.aggregate_key, commits=r.commits),
    FetchTipSnapshot: lambda r: r.tip.snapshot(),
    Both: _both,
    Sleep: lambda r: r.clock.sleep(r.seconds),
    Call: _call,
}


def _span_attributes(request: Any) -> dict[str, Any]:
    snapshot = getattr(request, "snapshot", None)
    return {
        "db.system": getattr(request.store, "db_system", None),
        "ddbes.aggregate.type": getattr(request, "aggregate_type", None)
        or getattr(snapshot, "aggregate_type", None),
        "ddbes.aggregate.key": getattr(request, "aggregate_key", None)
        or getattr(snapshot, "aggregate_key", None),
    }


def _traced(request: Any, name: str, operation: Callable[..., Any], *args: Any) -> Any:
    """``operation(*args)``, in a span named ``name`` when an SDK is configured."""
    if not telemetry.enabled():
        return operation(*args)
    with telemetry.span(name, _span_attributes(request), kind="client"):
        return operation(*args)


async def _atraced(request: Any, name: str, operation: Callable[..., Any], *args: Any) -> Any:
    """``await operation(*args)``, in a span named ``name`` when an SDK is configured."""
    if not telemetry.enabled():
        return await operation(*args)
    with telemetry.span(name, _span_attributes(request), kind="client"):
        return await operation(*args)


def _perform(request: Request) -> Any:
    return _SYNC[type(request)](request)


def run_sync(steps: Steps[T]) -> T:
    """Run a core operation to its end with blocking I/O; return what it returns."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        error = None
        try:
            result = _SYNC[type(request)](request)
        except BaseException as exc:  # the core decides, interruptions included
            result = None
            error = exc


# ----------------------------------------------------------------------------------- async


async def _aread_commits(r: ReadCommits) -> None:
    each = r.each
    async for commit in r.store.read_commits(
        r.aggregate_type,
        r.aggregate_key,
        from_version=r.from_version,
        to_version=r.to_version,
        until=r.until,
        descending=r.descending,
        limit=r.limit,
    ):
        each(commit)


async def _aboth(r: Both) -> tuple[Any, Any]:
    outcomes: tuple[Any, Any] = await asyncio.gather(
        _aperform(r.first), _aperform(r.second), return_exceptions=True
    )
    first, second = outcomes
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
            raise outcome  # cancelled or interrupted: not an outcome to decide on
    return first, second


async def _afetch_tip(r: FetchTipSnapshot) -> Any:
    result = r.tip.snapshot()
    return await result if inspect.isawaitable(result) else result


async def _acall(r: Call) -> Any:
    result = r.function(*r.args, **(r.kwargs or {}))
    return await result if inspect.isawaitable(result) else result


_ASYNC: dict[type[Any], Callable[[Any], Awaitable[Any]]] = {
    ReadCommits: _aread_commits,
    Append: lambda r: r.store.append(r.commit),
    GetSnapshot: lambda r: _atraced(
        r, "ddbes.snapshot.read", r.store.get, r.aggregate_type, r.aggregate_key
    ),
    PutSnapshot: lambda r: _atraced(r, "ddbes.snapshot.write", r.store.put, r.snapshot),
    ReadTip: lambda r: r.store.read_tip(r.aggregate_type, r.aggregate_key, commits=r.commits),
    FetchTipSnapshot: _afetch_tip,
    Both: _aboth,
    Sleep: lambda r: r.clock.async_sleep(r.seconds),
    Call: _acall,
}


def _aperform(request: Request) -> Awaitable[Any]:
    return _ASYNC[type(request)](request)


async def run_async(steps: Steps[T]) -> T:
    """Run a core operation to its end with awaited I/O; return what it returns."""
    result: Any = None
    error: BaseException | None = None
    while True:
        try:
            request = steps.send(result) if error is None else steps.throw(error)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        error = None
        try:
            result = await _ASYNC[type(request)](request)
        except BaseException as exc:  # the core decides, cancellation included
            result = None
            error = exc
