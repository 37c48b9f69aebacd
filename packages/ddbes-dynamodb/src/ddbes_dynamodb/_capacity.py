"""Consumed capacity as a metric: asked of DynamoDB and counted by the adapter's one
:class:`~ddbes_dynamodb._errors.Caller`, only while an OpenTelemetry SDK collects metrics.

``ReturnConsumedCapacity="TOTAL"`` costs a few bytes of response and no capacity, but it
changes the request, so it is asked only when the count can go somewhere. Each response's
units are added to ``ddbes.consumed_capacity`` with the table, ``db.operation.name`` (the
DynamoDB operation, ``TransactWriteItems``), ``ddbes.operation`` (what the call was for, as in
error messages) and ``ddbes.capacity`` (``read`` or ``write``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ddbes import telemetry

__all__ = ["ask", "report"]

_KIND = {
    "get_item": "read",
    "batch_get_item": "read",
    "transact_get_items": "read",
    "query": "read",
    "scan": "read",
    "put_item": "write",
    "update_item": "write",
    "delete_item": "write",
    "batch_write_item": "write",
    "transact_write_items": "write",
}
"""The client methods that can return their consumed capacity, and what they consume."""

_API_NAMES = {method: method.title().replace("_", "") for method in _KIND}


def ask(operation: Callable[..., Any], kwargs: dict[str, Any]) -> str | None:
    """Ask ``operation``'s response for its consumed capacity when metrics are collected.

    Returns:
        The client method's name when the response will carry it (then pass the response to
        :func:`report`), else ``None``; ``kwargs`` gains ``ReturnConsumedCapacity``.
    """
    if not telemetry.metering():
        return None
    method = getattr(operation, "__name__", "")
    if method not in _KIND:
        return None
    kwargs.setdefault("ReturnConsumedCapacity", "TOTAL")
    return method


def report(response: Any, method: str, name: str) -> None:
    """Count the capacity units ``response`` of client method ``method`` reports (none when it
    reports none: an older DynamoDB Local, a tolerated error)."""
    consumed = response.get("ConsumedCapacity") if isinstance(response, dict) else None
    if not consumed:
        return
    for entry in consumed if isinstance(consumed, list) else [consumed]:
        attributes = {
            "db.system": "dynamodb",
            "db.operation.name": _API_NAMES[method],
            "ddbes.operation": name,
            "aws.dynamodb.table_names": entry.get("TableName"),
        }
        read, write = entry.get("ReadCapacityUnits"), entry.get("WriteCapacityUnits")
        if read is None and write is None:  # only the total: the operation says which
            units = {_KIND[method]: entry.get("CapacityUnits")}
        else:
            units = {"read": read, "write": write}
        for kind, value in units.items():
            if value:
                telemetry.count(
                    "ddbes.consumed_capacity", float(value), {**attributes, "ddbes.capacity": kind}
                )
