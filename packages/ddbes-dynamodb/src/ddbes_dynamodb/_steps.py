"""The sans-I/O seam of the adapter: its decisions are generators of requests, and two small
drivers do the I/O, one with boto3 and one with aiobotocore.

An operation of a store (an append, a page of a read, a checkpoint save) is written once, as a
generator that yields a :class:`Request` (a DynamoDB call) or a :class:`Pause` and receives the
response, or has the call's exception (already translated by the adapter's one
:class:`~ddbes_dynamodb._errors.Caller`) thrown into it, the way ``h11`` and ``websockets``'
``protocol.py`` keep the protocol apart from the sockets. Its return value is the result::

    def read_head(table: str, partition: int) -> Steps[int]:
        response = yield Request("query", "read_head", {...})
        return decode(response)

    run(read_head(name, 0), table_handle)                  # boto3, in this thread
    await run_async(read_head(name, 0), async_table_handle)   # aiobotocore, in the loop

A read of many items yields its pages too (lists of results): :func:`iterate` and
:func:`iterate_async` hand them out one by one, fetching the next page only when asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

__all__ = [
    "Pause",
    "Reads",
    "Request",
    "Steps",
    "iterate",
    "iterate_async",
    "run",
    "run_async",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    """One DynamoDB call: the client method, what it is for (error messages), its arguments,
    and the error codes that make it return ``None`` instead of raising."""

    operation: str
    name: str
    kwargs: dict[str, Any]
    tolerate: frozenset[str] = field(default=frozenset())


@dataclass(frozen=True, slots=True)
class Pause:
    """Wait this many seconds (jitter between contended attempts); the response is ``None``."""

    seconds: float


Steps = Generator[Request | Pause, Any, T]
"""An operation that returns a ``T``."""

Reads = Generator[Request | Pause | list[T], Any, None]
"""A read that yields pages of ``T`` (lists) between its requests."""


class SyncHandle(Protocol):
    """What :func:`run` needs: a boto3 client and the adapter's :class:`Caller`."""

    @property
    def client(self) -> Any: ...

    @property
    def call(self) -> Callable[..., Any]: ...


class AsyncHandle(Protocol):
    """What :func:`run_async` needs: an aiobotocore client and the :class:`AsyncCaller`."""

    async def open(self) -> Any: ...

    @property
    def call(self) -> Callable[..., Awaitable[Any]]: ...


def _step(steps: Generator[Any, Any, Any], reply: Any, failure: BaseException | None) -> Any:
    if failure is not None:
        return steps.throw(failure)
    return steps.send(reply)


def _returning(steps: Steps[T], result: list[T]) -> Reads[T]:
    """``steps`` as a read of no pages whose result lands in ``result``."""
    result.append((yield from steps))


def run(steps: Steps[T], handle: SyncHandle) -> T:
    """Drive ``steps`` with boto3, in this thread; returns its result."""
    result: list[T] = []
    for _ in iterate(_returning(steps, result), handle):
        pass
    return result[0]


async def run_async(steps: Steps[T], handle: AsyncHandle) -> T:
    """Drive ``steps`` with aiobotocore, in the running loop; returns its result."""
    result: list[T] = []
    async for _ in iterate_async(_returning(steps, result), handle):
        pass
    return result[0]


def iterate(reads: Reads[T], handle: SyncHandle) -> Iterator[T]:
    """The items of every page of ``reads``, driven with boto3 as they are asked for."""
    client = handle.client
    call = handle.call
    reply: Any = None
    failure: BaseException | None = None
    while True:
        try:
            out = _step(reads, reply, failure)
        except StopIteration:
            return
        reply, failure = None, None
        if isinstance(out, list):
            yield from out
        elif isinstance(out, Pause):
            time.sleep(out.seconds)
        else:
            try:
                reply = call(
                    getattr(client, out.operation), out.name, tolerate=out.tolerate, **out.kwargs
                )
            except Exception as exc:
                failure = exc


async def iterate_async(reads: Reads[T], handle: AsyncHandle) -> AsyncIterator[T]:
    """The items of every page of ``reads``, driven with aiobotocore as they are asked for."""
    client = await handle.open()
    call = handle.call
    reply: Any = None
    failure: BaseException | None = None
    while True:
        try:
            out = _step(reads, reply, failure)
        except StopIteration:
            return
        reply, failure = None, None
        if isinstance(out, list):
            for item in out:
                yield item
        elif isinstance(out, Pause):
            await asyncio.sleep(out.seconds)
        else:
            try:
                reply = await call(
                    getattr(client, out.operation), out.name, tolerate=out.tolerate, **out.kwargs
                )
            except Exception as exc:
                failure = exc
