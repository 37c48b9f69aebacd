"""The asyncio transport: an aiobotocore ``http_session`` that sends DynamoDB's requests on its
own keep-alive connections (:mod:`ddbes_dynamodb._http`).

:func:`install` wraps an aiobotocore client's session in an :class:`AsyncLeanSession`. It
sends a plain request (a ``POST`` of a body in memory, to an ``http(s)`` URL that no proxy
applies to, with no client certificate) over an :class:`asyncio.Protocol` connection of its
own pool, with :mod:`.protocol` writing the request and reading the response; aiobotocore's
session sends everything else, as before. Failures raise botocore's exceptions, the ones
aiobotocore raises for the same failure, so the adapter's error mapping sees no difference.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Any, cast

from aiobotocore.awsrequest import AioAWSResponse
from aiobotocore.httpsession import AIOHTTPSession

from ddbes_dynamodb._http.boundary import (
    Route,
    Routes,
    connect_failure,
    exchange_failure,
    read_timeout,
    request_bytes,
    sends_itself,
)
from ddbes_dynamodb._http.protocol import ProtocolError, ResponseReader, Target
from ddbes_dynamodb._http.tls import client_context

__all__ = ["AsyncLeanSession", "install"]

_KEEPALIVE_TIMEOUT = 12.0
"""Seconds an idle connection is kept when aiobotocore's session names no other (its own
default): a server closes idle connections, and a request must not race that close."""


class _ReadTimeout(TimeoutError):
    """No byte of the response arrived within the read timeout."""


class _Body:
    """The ``raw`` of a response read whole: what ``AioAWSResponse.content`` awaits."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def read(self) -> bytes:
        return self._data


class _Connection(asyncio.Protocol):
    """One keep-alive connection: writes a request and completes a future with its
    response, or with the failure that cut it short."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._lost = False
        self._reader: ResponseReader | None = None
        self._waiter: asyncio.Future[ResponseReader] | None = None
        self._timeout = 0.0
        self._last_read = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self.idle_since = 0.0

    @property
    def usable(self) -> bool:
        """The connection is open and can carry a request."""
        transport = self._transport
        return not self._lost and transport is not None and not transport.is_closing()

    def set_options(self, *, keepalive: bool) -> None:
        sock = self._transport.get_extra_info("socket") if self._transport else None
        if sock is None:
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if keepalive:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def close(self) -> None:
        """Close at once: nothing that arrives later is read."""
        self._lost = True
        if self._transport is not None:
            self._transport.abort()

    async def exchange(self, data: bytes, read_timeout: float | None) -> ResponseReader:
        """Send one request's bytes and return its response. Raises :class:`ProtocolError`,
        :class:`OSError` or :class:`_ReadTimeout`, and closes the connection on any failure
        (cancellation included)."""
        assert self._transport is not None
        waiter: asyncio.Future[ResponseReader] = self._loop.create_future()
        self._reader, self._waiter = ResponseReader(), waiter
        self._transport.write(data)
        if read_timeout is not None:
            self._timeout = read_timeout
            self._last_read = self._loop.time()
            self._timer = self._loop.call_later(read_timeout, self._check_timeout)
        try:
            return await waiter
        except BaseException:
            self.close()
            raise
        finally:
            self._reader = self._waiter = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        reader, waiter = self._reader, self._waiter
        if reader is None or waiter is None or waiter.done():
            self.close()  # bytes no request asked for: the connection can't be trusted
            return
        self._last_read = self._loop.time()
        try:
            reader.feed(data)
        except ProtocolError as exc:
            waiter.set_exception(exc)
            return
        if reader.complete:
            waiter.set_result(reader)

    def eof_received(self) -> bool:
        self._end(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._end(exc)

    def _end(self, exc: Exception | None) -> None:
        reader, waiter = self._reader, self._waiter
        if reader is None or waiter is None or waiter.done():
            return
        if exc is not None:
            waiter.set_exception(exc)
            return
        try:
            reader.eof()
        except ProtocolError as error:
            waiter.set_exception(error)
            return
        waiter.set_result(reader)

    def _check_timeout(self) -> None:
        """The read timeout bounds the wait for each byte, as a socket timeout does: one timer
        per request, moved on only when it fires after bytes arrived."""
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        left = self._last_read + self._timeout - self._loop.time()
        if left > 0:
            self._timer = self._loop.call_later(left, self._check_timeout)
        else:
            waiter.set_exception(_ReadTimeout(f"no response byte in {self._timeout} s"))


class AsyncLeanSession:
    """An aiobotocore ``http_session`` that sends plain JSON ``POST``\\ s on keep-alive
    connections of its own and hands every other request to aiobotocore's session.

    ``original`` is the :class:`~aiobotocore.httpsession.AIOHTTPSession` it wraps (which
    also gives the TLS ``verify`` setting), ``config`` the client's ``meta.config`` (its
    timeouts, pool size, TCP keep-alive, proxies and client certificate).
    """

    def __init__(self, original: Any, config: Any) -> None:
        self._original = original
        self._connect_timeout: float | None = config.connect_timeout
        self.read_timeout: float | None = config.read_timeout
        self._max_idle: int = config.max_pool_connections
        self._tcp_keepalive = bool(config.tcp_keepalive)
        connector_args = getattr(original, "_connector_args", None) or {}
        self._keepalive_timeout: float = connector_args.get("keepalive_timeout", _KEEPALIVE_TIMEOUT)
        self._verify: bool | str = getattr(original, "_verify", True)
        self._lean = sends_itself(config, original)
        self._routes = Routes()
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._ssl_context: ssl.SSLContext | None = None
        self._closed = False

    def __getattr__(self, name: str) -> Any:
        if name == "_original":
            raise AttributeError(name)
        return getattr(self._original, name)

    async def __aenter__(self) -> AsyncLeanSession:
        await self._original.__aenter__()
        self._closed = False
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close_pool()
        await self._original.__aexit__(*exc_info)

    async def close(self) -> None:
        """Close the pooled connections and aiobotocore's session."""
        await self._close_pool()
        await self._original.close()

    async def send(self, request: Any) -> Any:
        """Send a prepared request and return its ``AioAWSResponse``, read whole."""
        route = self.route(request.url)
        data = None if route is None else request_bytes(request, route)
        if route is None or data is None:
            return await self._original.send(request)
        reader = await self.exchange(
            route.target, data, read_timeout(request, self.read_timeout), request.url
        )
        response = AioAWSResponse(request.url, reader.status, reader.headers, _Body(reader.body))
        await response.content
        return response

    # -- connections ------------------------------------------------------------------------

    def route(self, url: str) -> Route | None:
        """Where this session sends requests to ``url`` itself; ``None``: aiobotocore's."""
        return None if self._closed or not self._lean else self._routes.of(url)

    async def exchange(
        self, target: Target, data: bytes, timeout: float | None, url: str
    ) -> ResponseReader:
        """Send the request ``data`` to ``target`` on a pooled connection and read its
        response; failures raise botocore's exceptions, naming ``url``."""
        connection = self._idle_connection(target.key)
        if connection is None:
            connection = await self._connect(target, url)
        try:
            reader = await connection.exchange(data, timeout)
        except (ProtocolError, OSError) as exc:
            raise exchange_failure(exc, url) from exc
        self._release(target.key, connection, reusable=reader.reusable)
        return reader

    def _idle_connection(self, key: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            connection = idle.pop()
            if connection.usable and now - connection.idle_since < self._keepalive_timeout:
                return connection
            connection.close()
        return None

    def _release(
        self, key: tuple[str, str, int], connection: _Connection, *, reusable: bool
    ) -> None:
        if not reusable or self._closed or not connection.usable or self._max_idle <= 0:
            connection.close()
            return
        idle = self._idle.setdefault(key, [])
        if len(idle) >= self._max_idle:
            idle.pop(0).close()
        connection.idle_since = asyncio.get_running_loop().time()
        idle.append(connection)

    async def _connect(self, target: Target, url: str) -> _Connection:
        loop = asyncio.get_running_loop()
        context = await self._tls_context() if target.scheme == "https" else None
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    target.host,
                    target.port,
                    ssl=context,
                    server_hostname=target.host if context else None,
                )
        except OSError as exc:  # TimeoutError included
            raise connect_failure(exc, url) from exc
        connection.set_options(keepalive=self._tcp_keepalive)
        return connection

    async def _tls_context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # Reading the CA bundle is blocking file I/O: off the event loop, once.
            self._ssl_context = await asyncio.to_thread(client_context, self._verify)
        return self._ssl_context

    async def _close_pool(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()
        if idle:
            await asyncio.sleep(0)  # let the transports finish closing their sockets


def install(client: Any) -> None:
    """Make an aiobotocore client (already entered) send its plain requests through an
    :class:`AsyncLeanSession`. A client whose endpoint has no aiohttp session (another
    ``http_session_cls``, or one already installed) is left as it is."""
    endpoint: Any = getattr(client, "_endpoint", None)
    original = getattr(endpoint, "http_session", None)
    if not isinstance(original, AIOHTTPSession):
        return
    endpoint.http_session = AsyncLeanSession(original, client.meta.config)
