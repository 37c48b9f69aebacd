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
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.httpsession import URLLib3Session
from botocore.utils import get_environ_proxies

from ddbes_dynamodb._http.protocol import (
    ProtocolError,
    ResponseReader,
    Target,
    encode_request,
    request_target,
)
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
    raises them, so the adapter's one error mapping reads both the same way."""

    def __init__(
        self,
        original: Any,
        *,
        connect_timeout: float,
        read_timeout: float,
        max_connections: int,
        tcp_keepalive: bool,
        verify: bool | str,
        proxies: bool = False,
        client_cert: bool = False,
    ) -> None:
        self._original = original
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._keepalive = tcp_keepalive
        self._verify = verify
        self._own = not proxies and not client_cert
        self._pools: dict[str, _Pool | None] = {}
        self._pools_lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    def __getattr__(self, name: str) -> Any:  # what else botocore may ask of its session
        if name == "_original":
            raise AttributeError(name)
        return getattr(self._original, name)

    def send(self, request: Any) -> AWSResponse:
        body = request.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif body is None:
            body = b""
        pool = self._pool(request.url)
        if (
            pool is None
            or request.method != "POST"
            or request.stream_output
            or not isinstance(body, bytes)
        ):
            return self._original.send(request)
        data = encode_request(
            "POST",
            request_target(request.url),
            pool.target.host_header,
            request.headers.items(),
            body,
        )
        context = getattr(request, "context", None) or {}
        read_timeout = context.get("read_timeout") or self.read_timeout
        sock = pool.take(request.url)
        reader = ResponseReader()
        try:
            sock.settimeout(read_timeout)
            sock.sendall(data)
            while not reader.complete:
                chunk = sock.recv(_RECV)
                if not chunk:
                    reader.eof()
                    break
                reader.feed(chunk)
        except TimeoutError as exc:
            sock.close()
            raise ReadTimeoutError(endpoint_url=request.url, error=exc) from exc
        except ssl.SSLError as exc:
            sock.close()
            raise SSLError(endpoint_url=request.url, error=exc) from exc
        except (OSError, ProtocolError) as exc:
            sock.close()
            raise ConnectionClosedError(endpoint_url=request.url) from exc
        except BaseException:
            sock.close()
            raise
        if reader.reusable:
            pool.give_back(sock)
        else:
            sock.close()
        return AWSResponse(
            request.url, reader.status, HeadersDict(reader.headers), _Body(reader.body)
        )

    def connect(self, target: Target, url: str) -> socket.socket:
        """A new connection to ``target`` (TLS for https), with botocore's errors."""
        try:
            sock = socket.create_connection(
                (target.host, target.port), timeout=self.connect_timeout
            )
        except TimeoutError as exc:
            raise ConnectTimeoutError(endpoint_url=url, error=exc) from exc
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=url, error=exc) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._keepalive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            if target.scheme == "https":
                sock = self._tls_context().wrap_socket(sock, server_hostname=target.host)
        except TimeoutError as exc:
            sock.close()
            raise ConnectTimeoutError(endpoint_url=url, error=exc) from exc
        except ssl.SSLError as exc:
            sock.close()
            raise SSLError(endpoint_url=url, error=exc) from exc
        except OSError as exc:
            sock.close()
            raise EndpointConnectionError(endpoint_url=url, error=exc) from exc
        return sock

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = self._pools, {}
        for pool in pools.values():
            if pool is not None:
                pool.close()
        self._original.close()

    def _pool(self, url: str) -> _Pool | None:
        """The pool of ``url``'s endpoint, or ``None`` when botocore's session sends to it
        (a proxy applies, a client certificate is configured, not http(s))."""
        try:
            return self._pools[url]
        except KeyError:
            pass
        pool: _Pool | None = None
        if self._own and not get_environ_proxies(url):
            try:
                pool = _Pool(Target(url), self)
            except ValueError:
                pool = None
        with self._pools_lock:
            return self._pools.setdefault(url, pool)

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
        proxies=bool(config.proxies),
        client_cert=config.client_cert is not None,
    )
