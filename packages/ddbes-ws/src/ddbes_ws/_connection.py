"""The client's connection: subscribe, pump frames into the buffer, reconnect and resume.

On a connection loss the loop reconnects with jittered exponential backoff and resubscribes
after the last position it received, so nothing is lost and nothing repeats. A server that goes
silent for three heartbeat intervals counts as lost (:class:`_IdleWatch`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from ddbes_ws import protocol
from ddbes_ws._buffer import Buffer
from ddbes_ws._items import Checkpoint, closed_error, items, malformed_entries, server_error
from ddbes_ws._tls import describe_connect_error
from ddbes_ws.errors import StreamError, StreamRefused, StreamUnavailable

__all__ = ["Connection"]

_log = logging.getLogger("ddbes_ws.client")


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


class Connection:
    """One subscription, kept across websocket connections, feeding a :class:`Buffer`.

    ``on_reconnect(attempt, error)`` is awaited before each reconnection attempt, ``on_end(error)``
    when the stream ends (``None``: the server closed it normally).
    """

    def __init__(
        self,
        url: str,
        filters: list[dict[str, Any]],
        received: list[int] | None,
        *,
        buffer: Buffer,
        headers: Mapping[str, str],
        ssl: ssl_module.SSLContext | None,
        reconnect: bool,
        max_attempts: int | None,
        backoff: tuple[float, float],
        open_timeout: float,
        max_frame_size: int,
        on_reconnect: Callable[[int, BaseException], Awaitable[None]],
        on_end: Callable[[BaseException | None], Awaitable[None]],
    ) -> None:
        self.url = url
        self.filters = filters
        self.received = received
        """The position after the last frame received: where a resubscription resumes."""
        self.ws: ClientConnection | None = None
        self.reconnects = 0
        self._buffer = buffer
        self._headers = headers
        if ssl is None and url.lower().startswith("wss:"):
            ssl = ssl_module.create_default_context()  # the system's CAs, as a browser would
        self._ssl = ssl
        self._reconnect = reconnect
        self._max_attempts = max_attempts
        self._backoff = backoff
        self._open_timeout = open_timeout
        self._max_frame_size = max_frame_size
        self._on_reconnect = on_reconnect
        self._on_end = on_end
        self._idle_timeout = 60.0

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
            raise StreamUnavailable(
                f"cannot connect to {self.url}: {describe_connect_error(self.url, exc)}"
            ) from exc

    async def open(self) -> ClientConnection:
        """Connect, subscribe after what was received, and wait for the server's answer."""
        ws = await self._connect()
        try:
            await ws.send(protocol.subscribe_frame(self.filters, self.received))
            async with asyncio.timeout(self._open_timeout):
                while True:
                    frame = json.loads(await ws.recv())
                    if frame.get("type") == "error":
                        raise server_error(frame)
                    if frame.get("type") == "subscribed":
                        break
        except ConnectionClosed as exc:
            await ws.close()
            code = exc.rcvd.code if exc.rcvd else None
            if code is not None and code not in protocol.RETRYABLE_CLOSE_CODES:
                raise closed_error(code, exc.rcvd.reason if exc.rcvd else "") from exc
            raise StreamUnavailable(f"{self.url} closed the connection while subscribing") from exc
        except TimeoutError as exc:
            await ws.close()
            raise StreamUnavailable(f"{self.url} did not confirm the subscription") from exc
        except BaseException:
            await ws.close()
            raise
        self.received = list(frame["position"])
        self._idle_timeout = max(3 * float(frame.get("heartbeatInterval", 20)), 1.0)
        self.ws = ws
        return ws

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
            frame_items = items(frame)
            for index, item in enumerate(frame_items):
                await self._buffer.put((item, index == len(frame_items) - 1))
            assert self.received is not None
            self.received[frame["logPartition"]] = frame["position"]
            bad = malformed_entries(frame)
            if bad:
                self._skipped(frame, bad)
                if not frame_items:  # nothing to consume: move the position past it anyway
                    await self._buffer.put(Checkpoint(tuple(self.received)))
        elif kind == "checkpoint":
            await self._buffer.put(Checkpoint(tuple(frame["position"])))
            self.received = list(frame["position"])
        elif kind == "error":
            raise _Fatal(server_error(frame))

    def _skipped(self, frame: dict[str, Any], bad: list[int]) -> None:
        """Log a commit whose events are malformed (once: each commit comes in one frame)."""
        _log.warning(
            "skipping malformed events %s of commit %s:%s version %s (commit id %s) at position "
            "%s of log partition %s from %s: an event must be an object with a non-empty string "
            "'type'; the stream goes on",
            bad[:10],
            frame.get("aggregateType"),
            frame.get("aggregateKey"),
            frame.get("version"),
            frame.get("commitId"),
            frame.get("position"),
            frame.get("logPartition"),
            self.url,
        )

    async def run(self, ws: ClientConnection) -> None:
        """Pump ``ws`` (opened by :meth:`open`), reconnecting as needed, until the stream ends."""
        attempt = 0
        try:
            while True:
                try:
                    await self._pump(ws)
                except _Fatal as fatal:
                    await ws.close()
                    await self._on_end(fatal.error)
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
                            await self._on_end(None)
                        else:
                            await self._on_end(closed_error(code, reason))
                        return
                    await ws.close()
                    lost: BaseException = exc
                if not self._reconnect:
                    await self._on_end(
                        StreamUnavailable(f"lost the connection to {self.url}: {lost}")
                    )
                    return
                while True:
                    attempt += 1
                    if self._max_attempts is not None and attempt > self._max_attempts:
                        await self._on_end(
                            StreamUnavailable(
                                f"gave up reconnecting to {self.url} after "
                                f"{attempt - 1} attempts: {lost}"
                            )
                        )
                        return
                    initial, ceiling = self._backoff
                    delay = min(ceiling, initial * 2 ** (attempt - 1))
                    await asyncio.sleep(delay / 2 + random.uniform(0, delay / 2))
                    await self._on_reconnect(attempt, lost)
                    try:
                        ws = await self.open()
                    except StreamRefused as refused:
                        await self._on_end(refused)
                        return
                    except StreamUnavailable as exc:
                        lost = exc
                        continue
                    except StreamError as error:
                        await self._on_end(error)
                        return
                    attempt = 0
                    self.reconnects += 1
                    _log.info("reconnected to %s after %s", self.url, self.received)
                    break
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a malformed frame: a bug on one side, say so
            _log.exception("the event stream failed")
            await self._on_end(StreamError(f"the event stream failed: {exc!r}"))
