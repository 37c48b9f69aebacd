"""Building the boto3 clients the adapter uses when the caller does not pass one."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from ddbes.timeouts import DEFAULT_TIMEOUTS, Timeouts
from ddbes_dynamodb._errors import translate

__all__ = ["CLIENT_CONFIG", "make_client"]

CLIENT_CONFIG = Config(
    # ddbes retries throttling and connection failures itself (with an idempotent commit), so
    # botocore makes exactly one attempt per call and every failure reaches our one mapping.
    retries={"total_max_attempts": 1, "mode": "standard"},
    connect_timeout=DEFAULT_TIMEOUTS.connect,
    read_timeout=DEFAULT_TIMEOUTS.read,
    # One client is shared by every thread of a store: keep a connection per thread alive.
    max_pool_connections=64,
    tcp_keepalive=True,
    # Requests are built by our own code from checked values; skipping botocore's validation
    # saves a noticeable share of the per-call CPU.
    parameter_validation=False,
)


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
    region = region_name or session.region_name or ("us-east-1" if endpoint_url else None)
    config = CLIENT_CONFIG
    if timeouts != DEFAULT_TIMEOUTS:
        config = config.merge(Config(connect_timeout=timeouts.connect, read_timeout=timeouts.read))
    try:
        return session.client(service, endpoint_url=endpoint_url, region_name=region, config=config)
    except BotoCoreError as exc:
        raise translate(exc, table, f"creating a {service} client") from exc
