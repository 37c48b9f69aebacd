"""Building the DynamoDB stores from settings (:mod:`ddbes.composition`): the table handles
that every store of one application shares."""

from __future__ import annotations

from typing import Any

from ddbes.composition import Resources, Settings
from ddbes.timeouts import Timeouts
from ddbes_dynamodb._table import AsyncTableHandle, TableHandle

__all__ = ["async_table_handle", "table_handle", "timeouts_of"]


def timeouts_of(settings: Settings) -> Timeouts | None:
    """The :class:`Timeouts` of the ``timeout`` setting (``None``: the adapter's defaults)."""
    timeout = settings.get("timeout")
    return None if timeout is None else Timeouts.within(float(timeout))


def _where(settings: Settings) -> tuple[Any, ...]:
    return (
        settings.get("table_name") or "ddbes",
        settings.get("endpoint_url"),
        settings.get("region_name"),
        settings.get("timeout"),
    )


def table_handle(settings: Settings, resources: Resources | None) -> TableHandle:
    """The app's boto3 handle on the configured table (one client for every sync store)."""
    table, endpoint_url, region_name, _ = where = _where(settings)

    def make() -> TableHandle:
        return TableHandle(
            table,
            client=None,
            endpoint_url=endpoint_url,
            region_name=region_name,
            retry_policy=None,
            timeouts=timeouts_of(settings),
        )

    return make() if resources is None else resources.shared(("dynamodb", *where), make)


def async_table_handle(settings: Settings, resources: Resources | None) -> AsyncTableHandle:
    """The app's aiobotocore handle on the configured table (one client per app)."""
    table, endpoint_url, region_name, _ = where = _where(settings)

    def make() -> AsyncTableHandle:
        return AsyncTableHandle(
            table,
            endpoint_url=endpoint_url,
            region_name=region_name,
            timeouts=timeouts_of(settings),
        )

    return make() if resources is None else resources.shared(("dynamodb-async", *where), make)
