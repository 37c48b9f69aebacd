"""Building the boto3 and aiobotocore clients the adapter uses when the caller does not pass
one: the same options for both."""

from __future__ import annotations

import functools
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from ddbes.timeouts import DEFAULT_TIMEOUTS, Timeouts
from ddbes_dynamodb._direct.sync import install as install_direct_calls
from ddbes_dynamodb._errors import translate
from ddbes_dynamodb._http.sync import install as install_lean_http
from ddbes_dynamodb._replies import use_fast_item_replies
from ddbes_dynamodb._requests import use_fast_item_requests
from ddbes_dynamodb._signing import use_fast_signing

__all__ = ["ASYNC_POOL", "CLIENT_CONFIG", "client_options", "make_async_client", "make_client"]

CLIENT_OPTIONS: dict[str, Any] = {
    # ddbes retries throttling and connection failures itself (with an idempotent commit), so
    # botocore makes exactly one attempt per call and every failure reaches our one mapping.
    "retries": {"total_max_attempts": 1, "mode": "standard"},
    "connect_timeout": DEFAULT_TIMEOUTS.connect,
    "read_timeout": DEFAULT_TIMEOUTS.read,
    # One client is shared by every thread of a store: keep a connection per thread alive.
    "max_pool_connections": 64,
    "tcp_keepalive": True,
    # Requests are built by our own code from checked values; skipping botocore's validation
    # saves a noticeable share of the per-call CPU.
    "parameter_validation": False,
}

CLIENT_CONFIG = Config(**CLIENT_OPTIONS)

ASYNC_POOL = 256
"""Connections of an aiobotocore client: one per request in flight, and an event loop keeps
many more in flight than a process has threads."""


@functools.cache
def _user_agent() -> str:
    """The ``User-Agent`` of ddbes's clients, built once per process.

    Without it botocore builds its structured user agent twice per request (in the call and
    again in a ``request-created`` hook, to add feature ids), about 1 ms of CPU per request on
    a busy 2-core machine: a large share of a request's cost, paid on the event loop by the
    async stores. A ``Config(user_agent=...)`` makes botocore use the given string as it is.
    """
    return f"{botocore.session.Session().user_agent()} ddbes"


def client_options(timeouts: Timeouts, **more: Any) -> dict[str, Any]:
    """The client options, with the ``connect`` and ``read`` timeouts of ``timeouts``."""
    return {
        **CLIENT_OPTIONS,
        "connect_timeout": timeouts.connect,
        "read_timeout": timeouts.read,
        **more,
    }


def _region(
    region_name: str | None, configured: str | None, endpoint_url: str | None
) -> str | None:
    return region_name or configured or ("us-east-1" if endpoint_url else None)


def make_client(
    service: str,
    *,
    table: str,
    endpoint_url: str | None,
    region_name: str | None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> Any:
    """A low-level boto3 client for ``service`` with :data:`CLIENT_CONFIG` and the
    ``connect`` and ``read`` timeouts of ``timeouts``.

    Raises:
        ConfigurationError: no region is configured, or the client cannot be built.
    """
    session = boto3.session.Session()
    region = _region(region_name, session.region_name, endpoint_url)
    config = Config(**client_options(timeouts, user_agent=_user_agent()))
    try:
        client = session.client(
            service, endpoint_url=endpoint_url, region_name=region, config=config
        )
    except BotoCoreError as exc:
        raise translate(exc, table, f"creating a {service} client") from exc
    if service == "dynamodb":
        _use_fast_items(client)
        install_lean_http(client)
        install_direct_calls(client)
    return client


def make_async_client(
    service: str,
    *,
    table: str,
    endpoint_url: str | None,
    region_name: str | None,
    timeouts: Timeouts = DEFAULT_TIMEOUTS,
) -> Any:
    """An aiobotocore client context for ``service`` with the options of :func:`make_client`
    and a pool of :data:`ASYNC_POOL` connections: ``client = await context.__aenter__()``
    inside the event loop that will use it.

    Raises:
        ConfigurationError: no region is configured, or the client cannot be built.
    """
    from aiobotocore.config import AioConfig  # noqa: PLC0415 (sync apps never import it)
    from aiobotocore.session import get_session  # noqa: PLC0415

    session = get_session()
    region = _region(region_name, session.get_config_variable("region"), endpoint_url)
    config = AioConfig(
        **client_options(timeouts, max_pool_connections=ASYNC_POOL, user_agent=_user_agent())
    )
    try:
        context = session.create_client(
            service, endpoint_url=endpoint_url, region_name=region, config=config
        )
    except BotoCoreError as exc:
        raise translate(exc, table, f"creating a {service} client") from exc
    return _FastItems(context) if service == "dynamodb" else context


def _use_fast_items(client: Any) -> None:
    """Write item requests and read item replies without botocore's walks over the service
    model (:mod:`._requests`, :mod:`._replies`), and sign requests for less CPU
    (:mod:`._signing`)."""
    use_fast_item_requests(client)
    use_fast_item_replies(client)
    use_fast_signing(client)


class _FastItems:
    """An aiobotocore client context whose client writes item requests, reads item replies
    and signs requests with :func:`_use_fast_items`, sends them over ddbes's own
    keep-alive connections (:mod:`._http`), and sends item operations directly
    (:mod:`._direct`)."""

    def __init__(self, context: Any) -> None:
        self._context = context

    async def __aenter__(self) -> Any:
        # these import aiobotocore, which sync apps never do
        from ddbes_dynamodb._direct.aio import install as direct_calls  # noqa: PLC0415
        from ddbes_dynamodb._http.aio import install as lean_http  # noqa: PLC0415

        client = await self._context.__aenter__()
        _use_fast_items(client)
        lean_http(client)
        direct_calls(client)
        return client

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._context.__aexit__(*exc_info)
