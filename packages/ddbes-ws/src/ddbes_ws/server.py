"""EventStreamServer: one reader of the global log, fanned out to many websocket clients.

How it works (``docs/streaming.md`` has the long version):

* **One log reader.** A single task reads every log partition after the server's read position
  ``head`` (one ``read_log`` per partition per poll, through :func:`asyncio.to_thread`, since the
  ports are synchronous) and hands each commit to every *live* client. The number of store reads
  does not grow with the number of clients.
* **Per-client cursors.** Each client has a position per partition. A client subscribing at the
  log's head is live at once. A client resuming after an older position first *catches up* with
  its own reads until its cursor reaches the reader's ``head``, then turns live in the same
  event-loop step, so no commit is skipped or sent twice.
* **Bounded buffers.** The reader never waits for a client: it appends frames to the client's
  buffer; a client whose buffer overflows is closed with 4429 (slow consumer) and resumes after
  reconnecting. A catching-up client is fed only as fast as it drains.
* **Wake-up.** :meth:`EventStreamServer.notify` (thread-safe) makes the reader poll now, so a
  commit made in this process reaches clients without waiting for ``poll_delay``.
* **Fairness.** Identical filters are compiled once and share their answers; each connection's
  filter work has a budget (``filter_budget``), over which its client is paced, not the others.
  Plain-function hooks run on a thread pool of their own, never on the event loop; the connection
  limit counts connections still authenticating.

This module holds the server's lifecycle and each connection's handshake and subscribe frames;
the log reader is in ``_reader``, the fan-out (subscribers, queuing, closing) in ``_fanout``, and
one connection's state and sender in ``_session``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import functools
import inspect
import logging
import ssl as ssl_module
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.protocol import State

from ddbes import telemetry
from ddbes.async_ports import AsyncCommitStore
from ddbes.errors import InvalidFilter
from ddbes.filters import FilterLimits
from ddbes.ports import CommitStore
from ddbes.settings import config, require_commit_store
from ddbes_ws import protocol
from ddbes_ws._budget import FilterBudget
from ddbes_ws._fanout import Fanout
from ddbes_ws._reader import LogReader
from ddbes_ws._session import Session
from ddbes_ws._sharing import FilterPool
from ddbes_ws._throttle import ThrottledWarning
from ddbes_ws._tls import check_server_context
from ddbes_ws.protocol import CloseCode, ErrorCode, ProtocolError

__all__ = ["Authenticate", "Authorize", "EventStreamServer", "StreamRequest"]

_log = logging.getLogger("ddbes_ws.server")


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamRequest:
    """What the authentication hook sees of a connecting client's HTTP request."""

    path: str
    headers: Mapping[str, str]
    remote_address: Any


Authenticate = Callable[[StreamRequest], Any]
"""``authenticate(request) -> principal`` (or an awaitable of it); ``None`` refuses with 401."""

Authorize = Callable[[Any, list[dict[str, Any]]], Any]
"""``authorize(principal, filter_sets) -> bool`` (or an awaitable of it); false refuses."""


_FILTER_BURST = 0.005
"""Seconds of filter work a connection may spend at once before its budget paces it."""


def _is_async(hook: Callable[..., Any]) -> bool:
    target: Any = hook
    while isinstance(target, functools.partial):
        target = target.func
    return inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(
        getattr(target, "__call__", None)  # noqa: B004 - an object whose __call__ is async
    )


class EventStreamServer:
    """A websocket server that streams the global commit log to filtering clients.

    Args:
        commit_store: the log to stream, a sync or an async commit store (an async one is
            read in the server's event loop, a sync one through threads); defaults to
            ``ddbes.config``'s ``commit_store``.
        host: the address to listen on.
        port: the port to listen on (0: one the OS picks, see :attr:`port`).
        poll_delay: seconds between log reads when nothing new was found.
        wake_on_append: read at once after each append through ``commit_store`` in this process
            (its append listener), rather than at the next poll. Commits from other processes
            are always found by polling, or sooner with :meth:`notify`.
        authenticate: ``authenticate(StreamRequest) -> principal`` (may be async), called at the
            handshake; ``None`` refuses the connection with HTTP 401. Without it everyone may
            connect (principal ``None``). A plain function runs on a thread of the server's
            hook pool, so a slow one delays only the connection it checks.
        authorize: ``authorize(principal, filter_sets) -> bool`` (may be async), called on each
            subscribe; false refuses with an error frame ``forbidden`` and close code 4403.
            Plain functions run on the hook pool too.
        ssl: an :class:`ssl.SSLContext` to serve ``wss://``; :meth:`start` tries a handshake
            with it and raises :class:`~ddbes.errors.ConfigurationError` if it cannot serve.
        max_connections: connections over this (those still authenticating included) are
            refused with HTTP 503; refusals log one warning per 10 seconds.
        hook_threads: threads running plain-function hooks.
        filter_budget: seconds of filter work per second one connection may use (``None``: no
            limit). A connection over it gets its events from its own reads, paced to its
            budget: its client is slowed, the others are not.
        max_frame_size: bytes in one client frame (over it: close 1009).
        buffer_size: frames waiting for one client (over it: close 4429, slow consumer).
        batch_size: commits per log read.
        heartbeat_interval: seconds of silence before a heartbeat frame.
        checkpoint_interval: at most one checkpoint frame per this many seconds per client.
        subscribe_timeout: seconds a new connection has to subscribe (then close 4408).
        max_bad_frames: bad frames one connection may send before it is closed (4400).
        close_timeout: seconds to wait for a client to acknowledge a close.
        filter_limits: limits on clients' filters (:class:`ddbes.filters.FilterLimits`).
        logger: where connects, disconnects and errors are logged (default ``ddbes_ws.server``).
    """

    def __init__(
        self,
        commit_store: CommitStore | AsyncCommitStore | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        poll_delay: float = 0.1,
        wake_on_append: bool = True,
        authenticate: Authenticate | None = None,
        authorize: Authorize | None = None,
        ssl: ssl_module.SSLContext | None = None,
        max_connections: int = 1000,
        max_frame_size: int = 64 * 1024,
        buffer_size: int = 1000,
        batch_size: int = 500,
        heartbeat_interval: float = 15.0,
        checkpoint_interval: float = 1.0,
        subscribe_timeout: float = 30.0,
        max_bad_frames: int = 16,
        close_timeout: float = 5.0,
        filter_limits: FilterLimits | None = None,
        hook_threads: int = 8,
        filter_budget: float | None = 0.02,
        logger: logging.Logger | logging.LoggerAdapter[Any] | None = None,
    ) -> None:
        if commit_store is None:
            commit_store = require_commit_store(config.get("commit_store"), "EventStreamServer")
        if poll_delay <= 0 or buffer_size < 1 or batch_size < 1:
            raise ValueError("poll_delay, buffer_size and batch_size must be positive")
        if hook_threads < 1 or (filter_budget is not None and filter_budget <= 0):
            raise ValueError("hook_threads and filter_budget must be positive")
        self.commit_store: CommitStore | AsyncCommitStore = commit_store
        self.host = host
        self._port = port
        self.poll_delay = poll_delay
        self._wake_on_append = wake_on_append
        self._authenticate = authenticate
        self._authorize = authorize
        self._ssl = ssl
        self._max_connections = max_connections
        self._max_frame_size = max_frame_size
        self._buffer_size = buffer_size
        self._heartbeat_interval = heartbeat_interval
        self._checkpoint_interval = checkpoint_interval
        self._subscribe_timeout = subscribe_timeout
        self._max_bad_frames = max_bad_frames
        self._close_timeout = close_timeout
        self._filters = FilterPool(filter_limits)
        self._hook_threads = hook_threads
        self._hooks: concurrent.futures.ThreadPoolExecutor | None = None
        self._filter_budget = filter_budget
        self._log = logger or _log
        self._refusals = ThrottledWarning(self._log)
        self._clients: set[Session] = set()
        self._admitting: set[ServerConnection] = set()
        self._principals: dict[ServerConnection, Any] = {}
        self._fanout = Fanout(buffer_size=buffer_size, log=self._log)
        self._log_reader = LogReader(
            commit_store,
            self._fanout,
            poll_delay=poll_delay,
            batch_size=batch_size,
            buffer_size=buffer_size,
            log=self._log,
        )
        self._server: Server | None = None
        self._reading: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unlisten: Callable[[], Any] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the log's head and start listening."""
        if self._server is not None:
            raise RuntimeError("the server is already started")
        if self._ssl is not None:
            check_server_context(self._ssl)
        self._loop = asyncio.get_running_loop()
        self._hooks = concurrent.futures.ThreadPoolExecutor(
            self._hook_threads, thread_name_prefix="ddbes-ws hook"
        )
        await self._log_reader.start()
        self._server = await serve(
            self._handle,
            self.host,
            self._port,
            process_request=self._process_request,
            ssl=self._ssl,
            max_size=self._max_frame_size,
            compression=None,  # deflate would cost CPU per client; frames are shared text
            close_timeout=self._close_timeout,
            logger=self._log,
        )
        self._reading = asyncio.create_task(self._log_reader.run(), name="ddbes-ws log reader")
        listen = getattr(self.commit_store, "add_append_listener", None)
        if self._wake_on_append and callable(listen):
            self._unlisten = listen(lambda _commit: self.notify())
        self._log.info(
            "event stream listening on %s (log partitions: %d)",
            self.url,
            self._log_reader.partitions,
        )

    async def close(self) -> None:
        """Stop listening, close every connection (code 1001) and stop reading. Idempotent."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        if self._reading is not None:
            self._reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reading
            self._reading = None
        for client in list(self._clients):
            if client.catch_up is not None:
                client.catch_up.cancel()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            self._log.info("event stream closed")
        if self._hooks is not None:
            self._hooks.shutdown(wait=False, cancel_futures=True)
            self._hooks = None

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

    @property
    def port(self) -> int:
        """The port the server listens on (useful with ``port=0``)."""
        if self._server is None:
            raise RuntimeError("the server is not started: await server.start() first")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """``ws://host:port`` (``wss://`` with TLS)."""
        scheme = "wss" if self._ssl is not None else "ws"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def connections(self) -> int:
        """How many clients are connected now."""
        return len(self._clients)

    @property
    def subscriptions(self) -> int:
        """How many connected clients have subscribed."""
        return len(self._fanout.subscribers)

    @property
    def store_reads(self) -> int:
        """How many store calls (``read_log``, ``head_position``) the server has made."""
        return self._log_reader.store_reads

    def notify(self) -> None:
        """Read the log now rather than after ``poll_delay``. Safe from any thread."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._log_reader.wake.set)

    # --- connections -------------------------------------------------------------------------

    async def _call(self, hook: Callable[..., Any], *args: Any) -> Any:
        """Call a hook: a coroutine function on the loop, a plain function on the hook pool."""
        if _is_async(hook):
            result = hook(*args)
        else:
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._hooks, functools.partial(hook, *args))
        if inspect.isawaitable(result):
            result = await result
        return result

    def _at_limit(self) -> bool:
        if len(self._clients) + len(self._admitting) < self._max_connections:
            return False
        # A handshake that failed after its request was admitted never reaches _handle.
        self._admitting = {c for c in self._admitting if c.state is not State.CLOSED}
        return len(self._clients) + len(self._admitting) >= self._max_connections

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if self._at_limit():
            self._refusals.warn(
                time.monotonic(),
                "refusing connections: %d connections already (max_connections)",
                len(self._clients) + len(self._admitting),
            )
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections\n")
        if self._authenticate is None:
            return None
        self._admitting.add(connection)  # counted while its hook runs
        headers: Headers = request.headers
        stream_request = StreamRequest(
            path=request.path, headers=headers, remote_address=connection.remote_address
        )
        try:
            principal = await self._call(self._authenticate, stream_request)
        except BaseException:
            self._admitting.discard(connection)
            raise
        if principal is None:
            self._admitting.discard(connection)
            self._log.info("refusing %s: authentication failed", connection.remote_address)
            return connection.respond(HTTPStatus.UNAUTHORIZED, "authentication required\n")
        self._principals[connection] = principal
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        budget = (
            None
            if self._filter_budget is None
            else FilterBudget(self._filter_budget, _FILTER_BURST, time.perf_counter())
        )
        client = Session(ws, self._principals.pop(ws, None), budget)
        self._admitting.discard(ws)
        self._clients.add(client)
        telemetry.record("ddbes.stream.clients", 1)
        self._log.info("client %s connected", client.peer)
        sender = asyncio.create_task(
            client.send_loop(
                buffer_size=self._buffer_size,
                heartbeat_interval=self._heartbeat_interval,
                checkpoint_interval=self._checkpoint_interval,
                log=self._log,
            )
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._subscribe_timeout
        try:
            while not client.closing:
                try:
                    if client.filter is None:
                        async with asyncio.timeout_at(deadline):
                            message = await ws.recv()
                    else:
                        message = await ws.recv()
                except TimeoutError:
                    self._fanout.close(
                        client, CloseCode.SUBSCRIBE_TIMEOUT, "no subscribe frame in time"
                    )
                    break
                await self._on_frame(client, message)
            closing = client.closer or (sender if client.close_after is not None else None)
            if closing is not None:
                with contextlib.suppress(TimeoutError, ConnectionClosed):
                    async with asyncio.timeout(self._close_timeout + 1):
                        await asyncio.shield(closing)
        except ConnectionClosed:
            pass
        finally:
            self._clients.discard(client)
            telemetry.record("ddbes.stream.clients", -1)
            self._fanout.subscribers.discard(client)
            client.closing = True
            if client.catch_up is not None:
                client.catch_up.cancel()
            sender.cancel()
            self._log.info(
                "client %s disconnected (code %s %s; %d frames sent)",
                client.peer,
                ws.close_code,
                ws.close_reason or "",
                client.frames_sent,
            )

    def _refuse(self, client: Session, code: str, message: str) -> None:
        """A bad frame: an error frame (version 1) or a close (legacy, which has no errors)."""
        self._log.info("bad frame from %s: %s", client.peer, message[:200])
        if client.legacy:
            self._fanout.close(client, CloseCode.BAD_REQUEST, f"{code}: {message}", flush=True)
            return
        self._fanout.push(client, (protocol.error_frame(code, message), -1, -1), force=True)
        client.bad_frames += 1
        if client.bad_frames >= self._max_bad_frames:
            self._fanout.close(client, CloseCode.BAD_REQUEST, "too many bad frames", flush=True)

    async def _on_frame(self, client: Session, message: str | bytes) -> None:
        try:
            request = protocol.parse_client_frame(message)
            if client.legacy is not None and request.legacy != client.legacy:
                raise ProtocolError(ErrorCode.BAD_FRAME, "a connection speaks one dialect only")
            client.legacy = request.legacy  # the first valid frame decides the dialect
            compiled = self._filters.compile(request.filters)
        except (ProtocolError, InvalidFilter) as exc:
            code = exc.code if isinstance(exc, ProtocolError) else ErrorCode.INVALID_FILTER
            self._refuse(client, code, str(exc))
            return
        client.legacy = request.legacy
        if self._authorize is not None and not await self._call(
            self._authorize, client.principal, copy.deepcopy(compiled.filter_sets)
        ):
            self._log.info("client %s: filters refused by the authorization hook", client.peer)
            if not client.legacy:
                message = "the authorization hook refused these filters"
                self._fanout.push(
                    client, (protocol.error_frame(ErrorCode.FORBIDDEN, message), -1, -1), True
                )
            self._fanout.close(client, CloseCode.FORBIDDEN, "forbidden", flush=True)
            return
        try:
            if request.after is not None:
                cursor = protocol.position_vector(request.after, self._log_reader.partitions)
                if any(c > h for c, h in zip(cursor, self._log_reader.head, strict=True)):
                    heads = await self._log_reader.heads()
                    if any(c > h for c, h in zip(cursor, heads, strict=True)):
                        raise ProtocolError(
                            ErrorCode.INVALID_POSITION,
                            f"'after' {cursor} is beyond the log's head {heads}",
                        )
            elif client.filter is not None:
                cursor = list(client.cursor)  # a new filter, same place
            else:
                cursor = await self._log_reader.heads()
        except ProtocolError as exc:
            self._refuse(client, exc.code, str(exc))
            return
        if client.closing:
            return
        if client.catch_up is not None:
            client.catch_up.cancel()
            client.catch_up = None
        client.filter = compiled
        client.cursor = cursor
        client.frames.clear()
        if not client.legacy:
            client.sent_position = list(cursor)
            frame = protocol.subscribed_frame(cursor, self._heartbeat_interval)
            self._fanout.push(client, (frame, -1, -1), force=True)
        client.live = all(c >= h for c, h in zip(cursor, self._log_reader.head, strict=True))
        self._fanout.subscribe(client)
        if not client.live:
            client.catch_up = asyncio.create_task(self._log_reader.catch_up(client))
        self._log.info(
            "client %s subscribed (%s, %d filter sets, after %s)",
            client.peer,
            "legacy" if client.legacy else f"protocol {protocol.PROTOCOL_VERSION}",
            len(compiled.filter_sets),
            cursor,
        )
