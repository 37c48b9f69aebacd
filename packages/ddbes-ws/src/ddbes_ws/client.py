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
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import ssl as ssl_module
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar, overload

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.uri import parse_uri

from ddbes.codec import parse_time
from ddbes.filters import FilterLimits, compile_filters
from ddbes_ws import protocol
from ddbes_ws.errors import StreamError, StreamRefused, StreamUnavailable
from ddbes_ws.protocol import ErrorCode

__all__ = ["EventStream", "StreamItem"]

_log = logging.getLogger("ddbes_ws.client")
_EVENTS = ("event", "reconnect", "close")
_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamItem:
    """One event from the stream, with its commit's envelope.

    ``position`` and ``log_partition`` place the event's commit in the global log;
    ``event_index`` is the event's index within its commit.
    """

    type: str
    event: dict[str, Any]
    aggregate_type: str
    aggregate_key: str
    commit_id: str
    version: int
    committed_at: datetime
    position: int
    log_partition: int
    event_index: int

    @property
    def aggregate_id(self) -> str:
        """``"<aggregate_type>:<aggregate_key>"``."""
        return f"{self.aggregate_type}:{self.aggregate_key}"


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    position: tuple[int, ...]


class _Fatal(Exception):
    """The server said something that reconnecting will not fix."""

    def __init__(self, error: StreamError) -> None:
        self.error = error


class _IdleWatch:
    """Expires ``deadline`` (an ``asyncio.timeout``) when one wait for a frame lasts ``limit``
    seconds. Arming it is one assignment per frame (``waiting_since``), not a timer per frame:
    a single timer checks, and re-arms itself for the current wait's end."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, deadline: asyncio.Timeout, limit: float
    ) -> None:
        self.waiting_since: float | None = None
        self._loop, self._deadline, self._limit = loop, deadline, limit
        self._handle = loop.call_later(limit, self._check)

    def _check(self) -> None:
        now = self._loop.time()
        since = self.waiting_since
        if since is not None and now - since >= self._limit:
            self._deadline.reschedule(now)  # the pump's wait ends in TimeoutError
            return
        due = now + self._limit if since is None else since + self._limit
        self._handle = self._loop.call_at(due, self._check)

    def cancel(self) -> None:
        self._handle.cancel()


def _items(frame: dict[str, Any]) -> list[StreamItem]:
    committed_at = parse_time(frame["committedAt"])
    return [
        StreamItem(
            type=entry["event"].get("type", ""),
            event=entry["event"],
            aggregate_type=frame["aggregateType"],
            aggregate_key=frame["aggregateKey"],
            commit_id=frame["commitId"],
            version=frame["version"],
            committed_at=committed_at,
            position=frame["position"],
            log_partition=frame["logPartition"],
            event_index=entry["index"],
        )
        for entry in frame["events"]
    ]


def _server_error(frame: dict[str, Any]) -> StreamError:
    code, message = str(frame.get("code")), str(frame.get("message"))
    if code == ErrorCode.FORBIDDEN:
        return StreamRefused(f"the server refused the subscription: {message}", code)
    return StreamError(f"the server rejected the subscription ({code}): {message}", code)


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
        backoff_initial, backoff_max: seconds; the delay doubles per failed attempt, jittered.
        buffer_size: events received but not yet consumed; when full the client stops reading
            (and the server may close it as a slow consumer, after which it resumes).
        open_timeout: seconds for one connection attempt and its subscription.
        max_frame_size: bytes in one server frame.

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
    ) -> None:
        try:
            parse_uri(url)
        except InvalidURI as exc:
            raise ValueError(f"{url!r} is not a ws:// or wss:// URL") from exc
        self.url = url
        self.filters = compile_filters(
            [{}] if events is None else events, limits=filter_limits
        ).filter_sets
        if after is None:
            self._received: list[int] | None = None
        elif type(after) is int and after >= 0:
            self._received = [after]
        elif (
            isinstance(after, Sequence) and after and all(type(p) is int and p >= 0 for p in after)
        ):
            self._received = list(after)
        else:
            raise ValueError(f"after must be None, a non-negative int or a list of them: {after!r}")
        self._delivered: list[int] | None = None
        self._headers = dict(headers or {})
        self._ssl = ssl
        self._reconnect = reconnect
        self._max_attempts = max_reconnect_attempts
        self._backoff = (backoff_initial, backoff_max)
        self._buffer_size = buffer_size
        self._open_timeout = open_timeout
        self._max_frame_size = max_frame_size
        self._callbacks: dict[str, list[Callable[..., Any]]] = {name: [] for name in _EVENTS}
        self._entries: deque[tuple[StreamItem, bool] | _Checkpoint] = deque()
        self._arrived: asyncio.Event | None = None
        self._room: asyncio.Event | None = None
        self._ended = False
        self._error: BaseException | None = None
        self._closing = False
        self._ws: ClientConnection | None = None
        self._runner: asyncio.Task[None] | None = None
        self._idle_timeout = 60.0
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self.reconnects = 0
        """How many times the stream has reconnected."""

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
        self._arrived = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        ws = await self._open()
        self._runner = asyncio.create_task(self._run(ws), name="ddbes-ws event stream")

    async def close(self) -> None:
        """Close the connection and end the stream. Idempotent."""
        self._closing = True
        self._entries.clear()
        if self._runner is not None and not self._runner.done():
            self._runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._runner
        if self._ws is not None:
            await self._ws.close()
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
        if self._arrived is None or self._room is None:
            raise RuntimeError("start the stream first: async with EventStream(...) as stream")
        while True:
            if self._entries:
                entry = self._entries.popleft()
                if len(self._entries) < self._buffer_size:
                    self._room.set()
                if isinstance(entry, _Checkpoint):
                    self._delivered = list(entry.position)
                    continue
                item, last = entry
                if last and self._delivered is not None:
                    self._delivered[item.log_partition] = item.position
                for callback in self._callbacks["event"]:
                    await self._invoke(callback, item)
                return item
            if self._ended:
                if self._error is not None:
                    raise self._error
                raise StopAsyncIteration
            self._arrived.clear()
            await self._arrived.wait()

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

    async def _finish(self, error: BaseException | None) -> None:
        if self._ended:
            return
        self._ended = True
        self._error = error
        if self._arrived is not None:
            self._arrived.set()
        for callback in self._callbacks["close"]:
            try:
                await self._invoke(callback, error)
            except Exception:
                _log.exception("a close callback failed")

    async def _connect(self) -> ClientConnection:
        try:
            return await connect(
                self.url,
                additional_headers=self._headers,
                ssl=self._ssl,
                open_timeout=self._open_timeout,
                max_size=self._max_frame_size,
                compression=None,
                close_timeout=5,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status in (401, 403):
                raise StreamRefused(
                    f"{self.url} refused the connection: HTTP {status}", status
                ) from exc
            raise StreamUnavailable(f"{self.url} answered HTTP {status}", status) from exc
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            raise StreamUnavailable(f"cannot connect to {self.url}: {exc}") from exc

    async def _open(self) -> ClientConnection:
        """Connect, subscribe after what was received, and wait for the server's answer."""
        ws = await self._connect()
        try:
            await ws.send(protocol.subscribe_frame(self.filters, self._received))
            async with asyncio.timeout(self._open_timeout):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("type") == "error":
                        raise _server_error(frame)
                    if frame.get("type") == "subscribed":
                        break
        except ConnectionClosed as exc:
            await ws.close()
            code = exc.rcvd.code if exc.rcvd else None
            if code is not None and code not in protocol.RETRYABLE_CLOSE_CODES:
                raise self._closed_error(code, exc.rcvd.reason if exc.rcvd else "") from exc
            raise StreamUnavailable(f"{self.url} closed the connection while subscribing") from exc
        except TimeoutError as exc:
            await ws.close()
            raise StreamUnavailable(f"{self.url} did not confirm the subscription") from exc
        except BaseException:
            await ws.close()
            raise
        self._received = list(frame["position"])
        if self._delivered is None:
            self._delivered = list(self._received)
        self._idle_timeout = max(3 * float(frame.get("heartbeatInterval", 20)), 1.0)
        self._ws = ws
        return ws

    def _closed_error(self, code: int, reason: str) -> StreamError:
        if code == protocol.CloseCode.FORBIDDEN:
            return StreamRefused(f"the server refused the subscription: {reason}", code)
        return StreamError(f"the server closed the stream: {code} {reason}".rstrip(), code)

    async def _put(self, entry: tuple[StreamItem, bool] | _Checkpoint) -> None:
        assert self._room is not None and self._arrived is not None
        while len(self._entries) >= self._buffer_size:
            self._room.clear()
            await self._room.wait()
        self._entries.append(entry)
        self._arrived.set()

    async def _pump(self, ws: ClientConnection) -> None:
        """Move frames from the socket to the buffer until the connection ends, or until one
        wait for a frame lasts longer than the idle timeout (``TimeoutError``)."""
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(None) as deadline:
            watch = _IdleWatch(loop, deadline, self._idle_timeout)
            try:
                while True:
                    watch.waiting_since = loop.time()
                    message = await ws.recv()
                    watch.waiting_since = None
                    await self._take(message)
            finally:
                watch.cancel()

    async def _take(self, message: str | bytes) -> None:
        """Put one frame's items in the buffer."""
        frame = json.loads(message)
        kind = frame.get("type")
        if kind == "commit":
            items = _items(frame)
            for index, item in enumerate(items):
                await self._put((item, index == len(items) - 1))
            assert self._received is not None
            self._received[frame["logPartition"]] = frame["position"]
        elif kind == "checkpoint":
            await self._put(_Checkpoint(tuple(frame["position"])))
            self._received = list(frame["position"])
        elif kind == "error":
            raise _Fatal(_server_error(frame))

    async def _run(self, ws: ClientConnection) -> None:
        attempt = 0
        try:
            while True:
                try:
                    await self._pump(ws)
                except _Fatal as fatal:
                    await ws.close()
                    await self._finish(fatal.error)
                    return
                except (ConnectionClosed, TimeoutError, OSError) as exc:
                    code = ws.close_code
                    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
                        code = exc.rcvd.code
                    if code is not None and code not in protocol.RETRYABLE_CLOSE_CODES:
                        reason = (
                            exc.rcvd.reason
                            if isinstance(exc, ConnectionClosed) and exc.rcvd
                            else ""
                        )
                        if code == 1000:
                            await self._finish(None)
                        else:
                            await self._finish(self._closed_error(code, reason))
                        return
                    await ws.close()
                    lost: BaseException = exc
                if not self._reconnect:
                    await self._finish(
                        StreamUnavailable(f"lost the connection to {self.url}: {lost}")
                    )
                    return
                while True:
                    attempt += 1
                    if self._max_attempts is not None and attempt > self._max_attempts:
                        await self._finish(
                            StreamUnavailable(
                                f"gave up reconnecting to {self.url} after "
                                f"{attempt - 1} attempts: {lost}"
                            )
                        )
                        return
                    initial, ceiling = self._backoff
                    delay = min(ceiling, initial * 2 ** (attempt - 1))
                    await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
                    for callback in self._callbacks["reconnect"]:
                        await self._invoke(callback, attempt, lost)
                    try:
                        ws = await self._open()
                    except StreamRefused as refused:
                        await self._finish(refused)
                        return
                    except StreamUnavailable as exc:
                        lost = exc
                        continue
                    except StreamError as error:
                        await self._finish(error)
                        return
                    attempt = 0
                    self.reconnects += 1
                    _log.info("reconnected to %s after %s", self.url, self._received)
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a malformed frame: a bug on one side, say so
            _log.exception("the event stream failed")
            await self._finish(StreamError(f"the event stream failed: {exc!r}"))
