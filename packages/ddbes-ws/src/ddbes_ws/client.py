"""EventStream: the client of :class:`ddbes_ws.EventStreamServer`.

It subscribes with filter sets (and an optional position to resume after), yields one
:class:`StreamItem` per matching event, and survives connection losses: it reconnects with
jittered exponential backoff and resubscribes after the last position it received, so nothing is
lost and nothing repeats. Three ways to consume it::

    async with EventStream(url, events=[{"aggregateType": "Cart"}]) as stream:
        async for item in stream: ...

    stream.on("event", callback)      # then iterate, or: await stream.run()

    with EventStream(url, events=[{}]) as stream:   # no asyncio in sight
        for item in stream: ...

This module is the consumer's side (iteration, callbacks, the blocking facade); the connection
and its reconnect loop are in ``_connection``, the bounded buffer between them in ``_buffer``, and
:class:`StreamItem` with the rest of what frames decode to in ``_items``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import ssl as ssl_module
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar, overload

from websockets.exceptions import InvalidURI
from websockets.uri import parse_uri

from ddbes.filters import FilterLimits, compile_filters
from ddbes_ws._buffer import Buffer
from ddbes_ws._connection import Connection
from ddbes_ws._items import Checkpoint, StreamItem
from ddbes_ws._legacy import LegacyConnection

__all__ = ["EventStream", "StreamItem"]

_log = logging.getLogger("ddbes_ws.client")
_EVENTS = ("event", "reconnect", "close")
_F = TypeVar("_F", bound=Callable[..., Any])


class EventStream:
    """A resilient websocket subscription to an :class:`~ddbes_ws.EventStreamServer`.

    Args:
        url: ``ws://host:port`` or ``wss://...``.
        events: the filter sets (``ddbes.filters`` language); default ``[{}]``, everything.
        after: resume just after this position (an int for a one-partition log, else one int
            per partition, as :attr:`position` gives it); ``None`` starts at the log's head.
        headers: extra HTTP headers for the handshake (credentials for the server's hook).
        ssl: an :class:`ssl.SSLContext` for ``wss://`` URLs.
        reconnect: reconnect and resume after connection losses (default) or end the stream.
        max_reconnect_attempts: consecutive failed attempts before giving up (``None``: never).
        backoff_initial: seconds before the first reconnect attempt; the delay doubles per
            failed attempt, jittered.
        backoff_max: the longest delay between reconnect attempts, in seconds.
        buffer_size: events received but not yet consumed; when full the client stops reading
            (and the server may close it as a slow consumer, after which it resumes).
        open_timeout: seconds for one connection attempt and its subscription.
        max_frame_size: bytes in one server frame.
        legacy: speak the JavaScript library's dialect, to a server of the JavaScript ddbes
            (during a migration). It has no positions: no ``after``, no reconnect (a lost
            connection ends the stream), ``position`` stays ``None`` and items carry position
            0 (see ``ddbes_ws._legacy``).

    Raises:
        InvalidFilter: ``events`` is malformed (checked before connecting).
        ValueError: ``url`` or ``after`` is malformed.
    """

    def __init__(
        self,
        url: str,
        events: Sequence[Mapping[str, Any]] | None = None,
        after: int | Sequence[int] | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        reconnect: bool = True,
        max_reconnect_attempts: int | None = None,
        backoff_initial: float = 0.05,
        backoff_max: float = 5.0,
        buffer_size: int = 10_000,
        open_timeout: float = 10.0,
        max_frame_size: int = 16 * 2**20,
        filter_limits: FilterLimits | None = None,
        legacy: bool = False,
    ) -> None:
        try:
            parse_uri(url)
        except InvalidURI as exc:
            raise ValueError(f"{url!r} is not a ws:// or wss:// URL") from exc
        self.url = url
        self.filters = compile_filters(
            [{}] if events is None else events, limits=filter_limits
        ).filter_sets
        received: list[int] | None
        if after is None:
            received = None
        elif type(after) is int and after >= 0:
            received = [after]
        elif (
            isinstance(after, Sequence) and after and all(type(p) is int and p >= 0 for p in after)
        ):
            received = list(after)
        else:
            raise ValueError(f"after must be None, a non-negative int or a list of them: {after!r}")
        if legacy and after is not None:
            raise ValueError(
                "a legacy stream cannot resume: the JavaScript dialect has no positions "
                "(leave after=None)"
            )
        self._delivered: list[int] | None = None
        self._callbacks: dict[str, list[Callable[..., Any]]] = {name: [] for name in _EVENTS}
        self._entries = Buffer(buffer_size)
        self._connection = (LegacyConnection if legacy else Connection)(
            url,
            self.filters,
            received,
            buffer=self._entries,
            headers=dict(headers or {}),
            ssl=ssl,
            reconnect=reconnect and not legacy,
            max_attempts=max_reconnect_attempts,
            backoff=(backoff_initial, backoff_max),
            open_timeout=open_timeout,
            max_frame_size=max_frame_size,
            on_reconnect=self._reconnecting,
            on_end=self._finish,
        )
        self._started = False
        self._closing = False
        self._runner: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None

    # --- public API --------------------------------------------------------------------------

    @property
    def position(self) -> int | tuple[int, ...] | None:
        """Where to resume so that nothing already consumed comes again: pass it as ``after``.

        An int for a one-partition log, else one position per partition; ``None`` before the
        first subscription. It moves when the last matching event of a commit is consumed, and
        on checkpoints (commits the filters hide).
        """
        if self._delivered is None:
            return None
        return self._delivered[0] if len(self._delivered) == 1 else tuple(self._delivered)

    @property
    def reconnects(self) -> int:
        """How many times the stream has reconnected."""
        return self._connection.reconnects

    @overload
    def on(self, name: str, callback: _F) -> _F: ...

    @overload
    def on(self, name: str, callback: None = None) -> Callable[[_F], _F]: ...

    def on(self, name: str, callback: _F | None = None) -> _F | Callable[[_F], _F]:
        """Register ``callback`` (a function or a coroutine function) and return it; without
        ``callback``, a decorator that does so.

        ``"event"``: ``callback(item)`` for each item as it is consumed (by ``async for``,
        ``for``, or :meth:`run`); ``"reconnect"``: ``callback(attempt, error)`` before each
        reconnection attempt; ``"close"``: ``callback(error_or_None)`` when the stream ends.
        """
        if name not in self._callbacks:
            raise ValueError(f"unknown stream event {name!r}; known: {', '.join(_EVENTS)}")
        if callback is None:
            return lambda function: self.on(name, function)
        self._callbacks[name].append(callback)
        return callback

    async def start(self) -> None:
        """Connect and subscribe (``async with`` does this).

        Raises:
            StreamRefused: the server refused the credentials or the filters.
            StreamUnavailable: the server could not be reached.
            StreamError: the server rejected the subscription.
        """
        if self._runner is not None:
            raise RuntimeError("the stream is already started")
        self._started = True
        ws = await self._connection.open()
        if self._delivered is None and self._connection.received is not None:
            self._delivered = list(self._connection.received)
        self._runner = asyncio.create_task(self._connection.run(ws), name="ddbes-ws event stream")

    async def close(self) -> None:
        """Close the connection and end the stream. Idempotent."""
        self._closing = True
        self._entries.clear()
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._connection.ws is not None:
            await self._connection.ws.close()
        await self._finish(None)

    async def run(self) -> None:
        """Consume the stream until it ends, calling the ``"event"`` callbacks.

        Raises:
            StreamError: the stream ended with an error.
        """
        async for _ in self:
            pass

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> StreamItem:
        if not self._started:
            raise RuntimeError("start the stream first: async with EventStream(...) as stream")
        while True:
            entry = await self._entries.get()
            if entry is None:
                raise StopAsyncIteration
            if isinstance(entry, Checkpoint):
                self._delivered = list(entry.position)
                continue
            item, last = entry
            if last and self._delivered is not None:
                self._delivered[item.log_partition] = item.position
            for callback in self._callbacks["event"]:
                await self._invoke(callback, item)
            return item

    # --- blocking use ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        loop = asyncio.new_event_loop()
        self._thread_loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="ddbes-ws", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
        except BaseException:
            self._stop_thread()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._thread_loop is not None:
            asyncio.run_coroutine_threadsafe(self.close(), self._thread_loop).result()
            self._stop_thread()

    def __iter__(self) -> Iterator[StreamItem]:
        if self._thread_loop is None:
            raise RuntimeError(
                "iterate with `for` inside `with EventStream(...)`, "
                "or with `async for` inside `async with`"
            )
        return self

    def __next__(self) -> StreamItem:
        assert self._thread_loop is not None
        future = asyncio.run_coroutine_threadsafe(self.__anext__(), self._thread_loop)
        try:
            return future.result()
        except StopAsyncIteration:
            raise StopIteration from None

    def _stop_thread(self) -> None:
        loop, thread = self._thread_loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
        self._thread_loop = self._thread = None

    # --- internals ---------------------------------------------------------------------------

    async def _invoke(self, callback: Callable[..., Any], *args: Any) -> None:
        result = callback(*args)
        if inspect.isawaitable(result):
            await result

    async def _reconnecting(self, attempt: int, error: BaseException) -> None:
        for callback in self._callbacks["reconnect"]:
            await self._invoke(callback, attempt, error)

    async def _finish(self, error: BaseException | None) -> None:
        if not self._entries.end(error):
            return
        for callback in self._callbacks["close"]:
            try:
                await self._invoke(callback, error)
            except Exception:
                _log.exception("a close callback failed")
