"""The lean transport for botocore clients: a pool of keep-alive sockets that sends the plain
JSON ``POST`` requests itself (:mod:`ddbes_dynamodb._http`), and botocore's session for the
rest."""

from __future__ import annotations

import os
import select
import socket
import ssl
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse, HeadersDict
from botocore.httpsession import URLLib3Session

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

__all__ = ["LeanSession", "install"]

_RECV = 256 * 1024


class _Body:
    """A response body as botocore's ``AWSResponse`` reads it (``raw.stream()``)."""

    __slots__ = ("_body",)

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, *_: Any, **__: Any) -> Iterator[bytes]:
        body, self._body = self._body, b""
        if body:
            yield body

    def read(self, *_: Any, **__: Any) -> bytes:
        body, self._body = self._body, b""
        return body


class _Idle:
    """A pool's idle connections (newest last) and their lock."""

    __slots__ = ("__weakref__", "lock", "socks")

    def __init__(self) -> None:
        self.socks: deque[socket.socket] = deque()
        self.lock = threading.Lock()

    def close_all(self) -> None:
        with self.lock:
            socks = list(self.socks)
            self.socks.clear()
        for sock in socks:
            sock.close()

    def forget(self) -> None:
        """In a forked child: the connections are the parent's (two processes reading one
        socket would take each other's replies), and the lock may have been held by a
        thread that does not exist here. Closing the child's copies leaves the parent's."""
        self.lock = threading.Lock()
        self.close_all()


_every_idle: weakref.WeakSet[_Idle] = weakref.WeakSet()


def _after_fork() -> None:
    for idle in list(_every_idle):
        idle.forget()


os.register_at_fork(after_in_child=_after_fork)


class _Pool:
    """The idle keep-alive connections of one endpoint, newest first."""

    def __init__(self, target: Target, session: LeanSession) -> None:
        self.target = target
        self._session = session
        self._idle = _Idle()
        _every_idle.add(self._idle)
        # A client dropped without close() closes its idle connections when collected.
        weakref.finalize(self, self._idle.close_all)

    def take(self, url: str) -> socket.socket:
        """An idle connection that the server has not closed, or a new one."""
        idle = self._idle
        while True:
            with idle.lock:
                sock = idle.socks.pop() if idle.socks else None
            if sock is None:
                return self._session.connect(self.target, url)
            if _alive(sock):
                return sock
            sock.close()

    def give_back(self, sock: socket.socket) -> None:
        idle = self._idle
        with idle.lock:
            if len(idle.socks) < self._session.max_connections:
                idle.socks.append(sock)
                return
        sock.close()

    def close(self) -> None:
        self._idle.close_all()


def _alive(sock: socket.socket) -> bool:
    """Whether an idle connection can carry a request: readable means the server closed it
    (or sent what no request asked for), as urllib3 checks before reusing one."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class LeanSession:
    """botocore's ``http_session`` for a client ddbes built: plain JSON ``POST`` requests
    to an http(s) endpoint with no proxy go over this session's own keep-alive sockets;
    anything else to ``original``. Failures are botocore's exceptions, as urllib3's session
    raises them (:mod:`.boundary`)."""

    def __init__(
        self,
        original: Any,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        tcp_keepalive: bool,
        verify: bool | str,
        own: bool = True,
    ) -> None:
        self._original = original
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._keepalive = tcp_keepalive
        self._verify = verify
        self._own = own
        self._routes = Routes()
        self._pools: dict[tuple[str, str, int], _Pool] = {}
        self._pools_lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def __getattr__(self, name: str) -> Any:  # what else botocore may ask of its session
        if name == "_original":
            raise AttributeError(name)
        return getattr(self._original, name)

    def send(self, request: Any) -> AWSResponse:
        route = self.route(request.url)
        data = None if route is None else request_bytes(request, route)
        if route is None or data is None:
            return self._original.send(request)
        reader = self.exchange(
            route.target, data, read_timeout(request, self.read_timeout), request.url
        )
        return AWSResponse(
            request.url, reader.status, HeadersDict(reader.headers), _Body(reader.body)
        )

    def route(self, url: str) -> Route | None:
        """Where this session sends requests to ``url`` itself; ``None``: botocore's."""
        return self._routes.of(url) if self._own else None

    def exchange(
        self, target: Target, data: bytes, timeout: float | None, url: str
    ) -> ResponseReader:
        """Send the request ``data`` to ``target`` on a pooled socket and read its response;
        failures raise botocore's exceptions, naming ``url``."""
        pool = self._pool(target)
        sock = pool.take(url)
        reader = ResponseReader()
        try:
            sock.settimeout(timeout)
            sock.sendall(data)
            while not reader.complete:
                chunk = sock.recv(_RECV)
                if not chunk:
                    reader.eof()
                    break
                reader.feed(chunk)
        except (OSError, ProtocolError) as exc:
            sock.close()
            raise exchange_failure(exc, url) from exc
        except BaseException:
            sock.close()
            raise
        if reader.reusable:
            pool.give_back(sock)
        else:
            sock.close()
        return reader

    def connect(self, target: Target, url: str) -> socket.socket:
        """A new connection to ``target`` (TLS for https), with botocore's errors."""
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection(
                (target.host, target.port), timeout=self.connect_timeout
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._keepalive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if target.scheme == "https":
                sock = self._tls_context().wrap_socket(sock, server_hostname=target.host)
        except OSError as exc:
            if sock is not None:
                sock.close()
            raise connect_failure(exc, url) from exc
        return sock

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            pool.close()
        self._original.close()

    def _pool(self, target: Target) -> _Pool:
        try:
            return self._pools[target.key]
        except KeyError:
            pass
        with self._pools_lock:
            pool = self._pools.get(target.key)
            if pool is None:
                pool = self._pools[target.key] = _Pool(target, self)
            return pool

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = client_context(self._verify)
        return self._tls


def install(client: Any) -> None:
    """Give ``client`` (a botocore client ddbes built) a :class:`LeanSession`; a client whose
    endpoint does not use botocore's urllib3 session is left as it is."""
    endpoint: Any = getattr(client, "_endpoint", None)
    original = getattr(endpoint, "http_session", None)
    if not isinstance(original, URLLib3Session):
        return
    config = client.meta.config
    endpoint.http_session = LeanSession(
        original,
        connect_timeout=float(config.connect_timeout),
        read_timeout=float(config.read_timeout),
        max_connections=int(config.max_pool_connections),
        tcp_keepalive=bool(config.tcp_keepalive),
        verify=getattr(original, "_verify", True),
        own=sends_itself(config, original),
    )
