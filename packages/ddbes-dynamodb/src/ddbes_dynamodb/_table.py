"""A handle on one ddbes table: its name, the shared client, and the call wrapper; for boto3
(:class:`TableHandle`) and for aiobotocore (:class:`AsyncTableHandle`)."""

from __future__ import annotations

import re
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ddbes.composition import AsyncClient
from ddbes.errors import ConfigurationError, DdbesError
from ddbes.retry import RetryPolicy
from ddbes.timeouts import DEFAULT_TIMEOUTS, Timeouts
from ddbes_dynamodb._client import make_async_client, make_client
from ddbes_dynamodb._errors import DEFAULT_RETRY_POLICY, AsyncCaller, Caller

__all__ = ["AsyncTableHandle", "TableHandle", "check_table_name"]

_TABLE_NAME = re.compile(r"[a-zA-Z0-9_.\-]{3,255}")


def check_table_name(table_name: object) -> None:
    """Raises ValueError unless ``table_name`` is a valid DynamoDB table name."""
    if not isinstance(table_name, str) or not _TABLE_NAME.fullmatch(table_name):
        raise ValueError(
            f"{table_name!r} is not a valid DynamoDB table name: use 3 to 255 letters, "
            "digits, '_', '-' or '.'"
        )


class TableHandle:
    """What every store and admin function of one table shares.

    ``client`` is a low-level boto3 DynamoDB client (thread-safe, reused for every call);
    ``call`` wraps each operation with retries and error translation.
    """

    __slots__ = ("call", "client", "endpoint_url", "name", "region_name", "timeouts")

    def __init__(
        self,
        table_name: str,
        *,
        client: Any,
        endpoint_url: str | None,
        region_name: str | None,
        retry_policy: RetryPolicy | None,
        timeouts: Timeouts | None = None,
    ) -> None:
        check_table_name(table_name)
        self.name = table_name
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self.timeouts = timeouts or DEFAULT_TIMEOUTS
        if client is None:
            client = make_client(
                "dynamodb",
                table=table_name,
                endpoint_url=endpoint_url,
                region_name=region_name,
                timeouts=self.timeouts,
            )
        self.client = client
        self.call = Caller(
            table_name,
            retry_policy or DEFAULT_RETRY_POLICY,
            total=self.timeouts.total,
            explain=self._explain_key_mismatch,
        )

    def _explain_key_mismatch(self) -> DdbesError | None:
        """Why DynamoDB found a request's key malformed: the table has another key schema
        (a table of the JavaScript ddbes, say). ``None`` when it does not tell."""
        from ddbes_dynamodb.js_migration import JS_TABLE_MESSAGE, is_js_key_schema  # noqa: PLC0415

        try:
            description = self.client.describe_table(TableName=self.name)["Table"]
        except (ClientError, BotoCoreError, KeyError):
            return None  # the original error is reported instead
        if is_js_key_schema(description):
            return ConfigurationError(f"table {self.name!r}: {JS_TABLE_MESSAGE}")
        names = sorted(key["AttributeName"] for key in description.get("KeySchema", []))
        if names != ["p", "s"]:
            return ConfigurationError(
                f"table {self.name!r} exists but is not a ddbes table (its key schema is "
                f"{description.get('KeySchema')}): choose another table name"
            )
        return None

    def make_client(self, service: str) -> Any:
        """A client for another AWS service, pointed where this table's client points."""
        endpoint = self.endpoint_url
        region = self.region_name
        meta = getattr(self.client, "meta", None)
        if meta is not None:
            region = region or meta.region_name
            if endpoint is None and "amazonaws.com" not in str(meta.endpoint_url):
                endpoint = meta.endpoint_url
        return make_client(
            service,
            table=self.name,
            endpoint_url=endpoint,
            region_name=region,
            timeouts=self.timeouts,
        )


DEFAULT_MAX_IN_FLIGHT = 32
"""Requests an async table handle keeps in flight at most, by default (see
``AsyncDynamoDBCommitStore(max_in_flight=...)``)."""


def check_max_in_flight(value: object) -> None:
    """Refuse a ``max_in_flight`` that is neither ``None`` nor an int >= 1."""
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"max_in_flight must be None or an int >= 1, got {value!r}")


class AsyncTableHandle:
    """:class:`TableHandle` for aiobotocore: the client is opened on first use, inside the
    event loop that uses it (an aiobotocore client belongs to one loop), and closed by
    :meth:`close`. Shared by the async stores of one table."""

    __slots__ = ("_client", "call", "endpoint_url", "name", "region_name", "timeouts")

    def __init__(
        self,
        table_name: str,
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        max_in_flight: int | None = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        check_table_name(table_name)
        check_max_in_flight(max_in_flight)
        self.name = table_name
        self.endpoint_url = endpoint_url
        self.region_name = region_name
        self.timeouts = timeouts or DEFAULT_TIMEOUTS
        self._client = AsyncClient(self._context, client)
        self.call = AsyncCaller(
            table_name,
            retry_policy or DEFAULT_RETRY_POLICY,
            total=self.timeouts.total,
            max_in_flight=max_in_flight,
        )

    def _context(self) -> Any:
        return make_async_client(
            "dynamodb",
            table=self.name,
            endpoint_url=self.endpoint_url,
            region_name=self.region_name,
            timeouts=self.timeouts,
        )

    async def open(self) -> Any:
        """The aiobotocore client, built on first use."""
        return await self._client.open()

    async def close(self) -> None:
        """Close the client this handle built (not one it was given); idempotent."""
        await self._client.close()
