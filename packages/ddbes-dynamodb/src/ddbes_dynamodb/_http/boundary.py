"""What the sync and async shells of the lean transport share at botocore's edge: which
requests they send themselves and where to, each request's read timeout, and which of
botocore's exceptions a failure becomes (the ones urllib3's and aiohttp's sessions raise, so
the adapter's one error mapping reads both transports the same way)."""

from __future__ import annotations

import ssl
import threading
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)
from botocore.utils import get_environ_proxies

from ddbes_dynamodb._http.protocol import ProtocolError, Target, encode_request, request_target

__all__ = [
    "Route",
    "Routes",
    "connect_failure",
    "exchange_failure",
    "read_timeout",
    "request_bytes",
    "sends_itself",
]

_ROUTES_KEPT = 64
"""URLs whose route is remembered; past this the memory starts anew."""


class Route:
    """Where one URL's requests go: the endpoint and the request target."""

    __slots__ = ("path", "target")

    def __init__(self, target: Target, path: str) -> None:
        self.target = target
        self.path = path


class Routes:
    """The route of each request URL, or ``None`` when botocore's session sends to it: not
    ``http(s)``, or a proxy from the environment applies (looked up once per URL)."""

    def __init__(self) -> None:
        self._known: dict[str, Route | None] = {}
        self._lock = threading.Lock()

    def of(self, url: str) -> Route | None:
        try:
            return self._known[url]
        except KeyError:
            pass
        route: Route | None = None
        if not get_environ_proxies(url):
            try:
                route = Route(Target(url), request_target(url))
            except ValueError:
                route = None
        with self._lock:
            if len(self._known) >= _ROUTES_KEPT:
                self._known.clear()
            return self._known.setdefault(url, route)


def sends_itself(config: Any, original: Any) -> bool:
    """Whether a client of ``config`` (its ``meta.config``) over the session ``original``
    may send requests itself: not when a proxy or a client certificate is configured."""
    client_cert = getattr(config, "client_cert", None) or getattr(original, "_cert_file", None)
    return not config.proxies and not client_cert


def request_bytes(request: Any, route: Route) -> bytes | None:
    """The bytes of ``request`` (botocore's prepared request), or ``None`` when it is not a
    plain ``POST`` of a body in memory with headers HTTP can carry: botocore's to send."""
    body = request.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    elif body is None:
        body = b""
    if request.method != "POST" or request.stream_output or not isinstance(body, bytes):
        return None
    try:
        return encode_request(
            "POST", route.path, route.target.host_header, request.headers.items(), body
        )
    except ValueError:  # a line break in a header: refused by botocore's session too
        return None


def read_timeout(request: Any, default: float | None) -> float | None:
    """The request's own read timeout (botocore puts one in its context) or ``default``."""
    context = getattr(request, "context", None)
    override = context.get("read_timeout") if context else None
    return default if override is None else float(override)


def connect_failure(exc: OSError, url: str) -> BotoCoreError:
    """botocore's exception for a connection to ``url`` that could not be made."""
    if isinstance(exc, TimeoutError):
        return ConnectTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, ssl.SSLError):
        return SSLError(endpoint_url=url, error=exc)
    return EndpointConnectionError(endpoint_url=url, error=exc)


def exchange_failure(exc: OSError | ProtocolError, url: str) -> BotoCoreError:
    """botocore's exception for a request to ``url`` whose response did not come whole."""
    if isinstance(exc, TimeoutError):
        return ReadTimeoutError(endpoint_url=url, error=exc)
    if isinstance(exc, ssl.SSLError):
        return SSLError(endpoint_url=url, error=exc)
    return ConnectionClosedError(endpoint_url=url, error=exc)
