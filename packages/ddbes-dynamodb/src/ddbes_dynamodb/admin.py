"""Table administration: create, delete, describe, and the metadata item that records the
table's layout (``log_partitions`` and how the global log is sequenced) for every store that
opens the table."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from ddbes.errors import ConfigurationError, CorruptItem, StoreError, StoreUnavailable
from ddbes_dynamodb._errors import ConditionFailed
from ddbes_dynamodb._items import META_KEY, UNSEQUENCED_INDEX, corrupt
from ddbes_dynamodb._steps import Request, Steps, run
from ddbes_dynamodb._table import TableHandle

__all__ = [
    "FORMAT_VERSION",
    "MAX_LOG_PARTITIONS",
    "SEQUENCING",
    "TableDescription",
    "TableLayout",
    "count_unsequenced",
    "create_table",
    "delete_table",
    "describe_table",
    "layout_steps",
    "no_metadata",
    "open_layout",
    "read_layout",
    "record_layout",
]

logger = logging.getLogger("ddbes.dynamodb")

FORMAT_VERSION = 3
"""The newest item layout this code reads (see ``docs/data-model.md``): 1 for a log written
inline by transactions, 2 for a log sequenced in the background one entry per commit, 3 for a
log sequenced in the background in pages (what ``create_table`` makes now). The metadata item
records the table's own, so that older code refuses a table it would misread."""

SEQUENCING = ("background", "inline")
"""How commits get their global log positions: ``"background"`` (the default: a commit is one
conditional put, a sequencer gives positions shortly after) or ``"inline"`` (one transaction per
commit writes the commit and its log entry; positions are known when ``append`` returns)."""

MAX_LOG_PARTITIONS = 1024

_KEY_SCHEMA = [
    {"AttributeName": "p", "KeyType": "HASH"},
    {"AttributeName": "s", "KeyType": "RANGE"},
]
_ATTRIBUTES = [
    {"AttributeName": "p", "AttributeType": "S"},
    {"AttributeName": "s", "AttributeType": "S"},
]
_WAIT_TIMEOUT = 600.0
CREATING_WAIT = 120.0
"""How long a store's first use waits for a table that is still being created."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TableDescription:
    """What :meth:`DynamoDBCommitStore.describe` reports about a table.

    ``status`` is DynamoDB's table status (``"ACTIVE"``, ``"CREATING"``, ...) or ``"MISSING"``.
    ``item_count`` and ``size_bytes`` are DynamoDB's estimates (refreshed about every six hours
    on AWS). ``heads`` holds the head position of each log partition; ``backlog`` the commits
    of each partition stored but not yet in the log, as the sequencer's index shows them (always
    0 with ``sequencing="inline"``). ``format_version`` is the table's format: 1 for
    ``sequencing="inline"``, 2 for a background table whose log holds one entry per commit, 3
    for one whose log holds pages of commits (the default since log pages came in).
    """

    table_name: str
    status: str
    billing_mode: str | None = None
    read_capacity: int | None = None
    write_capacity: int | None = None
    item_count: int | None = None
    size_bytes: int | None = None
    log_partitions: int | None = None
    sequencing: str | None = None
    format_version: int | None = None
    heads: tuple[int, ...] = ()
    backlog: tuple[int, ...] = ()

    @property
    def exists(self) -> bool:
        """Whether the table exists."""
        return self.status != "MISSING"


def _check_capacity(name: str, value: int | None) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"{name} must be a positive int or None, got {value!r}")


def check_log_partitions(log_partitions: int) -> None:
    """Raise ``ValueError`` unless ``log_partitions`` is an int in 1..MAX_LOG_PARTITIONS."""
    if (
        not isinstance(log_partitions, int)
        or isinstance(log_partitions, bool)
        or not 1 <= log_partitions <= MAX_LOG_PARTITIONS
    ):
        raise ValueError(
            f"log_partitions must be an int from 1 to {MAX_LOG_PARTITIONS}, got {log_partitions!r}"
        )


def _describe(table: TableHandle) -> dict[str, Any] | None:
    response = table.call(
        table.client.describe_table,
        "describe_table",
        tolerate=frozenset({"ResourceNotFoundException"}),
        TableName=table.name,
    )
    return None if response is None else response["Table"]


def _wait_for(
    table: TableHandle, *, exists: bool, timeout: float = _WAIT_TIMEOUT
) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        description = _describe(table)
        if exists and description is not None and description["TableStatus"] == "ACTIVE":
            return description
        if not exists and description is None:
            return None
        if time.monotonic() > deadline:
            state = "ACTIVE" if exists else "deleted"
            raise StoreUnavailable(f"table {table.name!r} was not {state} after {timeout:g} s")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


@dataclass(frozen=True, slots=True)
class TableLayout:
    """What the metadata item records: fixed when the table is created."""

    log_partitions: int
    sequencing: str
    log_pages: bool = True
    """Whether the sequencer writes log pages (format 3) rather than one entry per commit
    (format 2); only on a table sequenced in the background."""

    @property
    def format_version(self) -> int:
        """The data format this layout is stored in (the metadata item's ``fv``)."""
        if self.sequencing != "background":
            return 1
        return 3 if self.log_pages else 2

    def same_choice(self, other: TableLayout) -> bool:
        """Whether ``other`` makes the same choices a caller of ``create_table`` makes."""
        return (self.log_partitions, self.sequencing) == (other.log_partitions, other.sequencing)


def check_sequencing(sequencing: str) -> None:
    """Raise ``ValueError`` unless ``sequencing`` is one of :data:`SEQUENCING`."""
    if sequencing not in SEQUENCING:
        raise ValueError(f"sequencing must be one of {SEQUENCING}, got {sequencing!r}")


def _unsequenced_index(billing: dict[str, Any]) -> dict[str, Any]:
    index: dict[str, Any] = {
        "IndexName": UNSEQUENCED_INDEX,
        "KeySchema": [
            {"AttributeName": "u", "KeyType": "HASH"},
            {"AttributeName": "t", "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    if "ProvisionedThroughput" in billing:
        index["ProvisionedThroughput"] = billing["ProvisionedThroughput"]
    return index


def create_table(
    table: TableHandle,
    *,
    read_capacity: int | None,
    write_capacity: int | None,
    log_partitions: int,
    sequencing: str,
    wait: bool,
) -> bool:
    """Create the table (on-demand without capacities); an existing table is left as it is.

    Returns whether the metadata item was recorded (always with ``wait=True``; without waiting
    the table may still be creating, and the first store to use it records it).
    """
    _check_capacity("read_capacity", read_capacity)
    _check_capacity("write_capacity", write_capacity)
    check_log_partitions(log_partitions)
    check_sequencing(sequencing)
    if (read_capacity is None) != (write_capacity is None):
        raise ValueError("give both read_capacity and write_capacity, or neither for on-demand")
    billing: dict[str, Any]
    if read_capacity is None:
        billing = {"BillingMode": "PAY_PER_REQUEST"}
    else:
        billing = {
            "BillingMode": "PROVISIONED",
            "ProvisionedThroughput": {
                "ReadCapacityUnits": read_capacity,
                "WriteCapacityUnits": write_capacity,
            },
        }
    attributes = list(_ATTRIBUTES)
    if sequencing == "background":
        attributes += [
            {"AttributeName": "u", "AttributeType": "S"},
            {"AttributeName": "t", "AttributeType": "S"},
        ]
        billing = {**billing, "GlobalSecondaryIndexes": [_unsequenced_index(billing)]}
    table.call(
        table.client.create_table,
        "create_table",
        tolerate=frozenset({"ResourceInUseException"}),
        TableName=table.name,
        AttributeDefinitions=attributes,
        KeySchema=_KEY_SCHEMA,
        **billing,
    )
    if not wait:
        description = _describe(table)
        if description is None or description["TableStatus"] != "ACTIVE":
            return False
    else:
        description = _wait_for(table, exists=True)
    assert description is not None
    _check_schema(table, description)
    if sequencing == "background" and not _has_unsequenced_index(description):
        logger.warning(
            "table %r exists without the %s index; its log is sequenced inline",
            table.name,
            UNSEQUENCED_INDEX,
        )
        sequencing = "inline"
    record_layout(table, TableLayout(log_partitions, sequencing))
    return True


def _has_unsequenced_index(description: dict[str, Any]) -> bool:
    indexes = description.get("GlobalSecondaryIndexes") or []
    return any(index.get("IndexName") == UNSEQUENCED_INDEX for index in indexes)


def _check_schema(table: TableHandle, description: dict[str, Any]) -> None:
    key_schema = sorted(
        (key["AttributeName"], key["KeyType"]) for key in description.get("KeySchema", [])
    )
    types = {a["AttributeName"]: a["AttributeType"] for a in description["AttributeDefinitions"]}
    if (
        key_schema != [("p", "HASH"), ("s", "RANGE")]
        or types.get("p") != "S"
        or types.get("s") != "S"
    ):
        from ddbes_dynamodb.js_migration import JS_TABLE_MESSAGE, is_js_key_schema  # noqa: PLC0415

        if is_js_key_schema(description):
            raise ConfigurationError(f"table {table.name!r}: {JS_TABLE_MESSAGE}")
        raise ConfigurationError(
            f"table {table.name!r} exists but is not a ddbes table (its key schema is "
            f"{description.get('KeySchema')}): choose another table name"
        )


def record_layout(table: TableHandle, layout: TableLayout) -> TableLayout:
    """Write the metadata item unless one exists; return the layout it holds."""
    item = {
        **META_KEY,
        "lp": {"N": str(layout.log_partitions)},
        "fv": {"N": str(layout.format_version)},
    }
    try:
        table.call(
            table.client.put_item,
            "recording the table layout",
            TableName=table.name,
            Item=item,
            ConditionExpression="attribute_not_exists(p)",
        )
    except ConditionFailed:
        stored = read_layout(table)
        if stored is not None and not stored.same_choice(layout):
            logger.warning(
                "table %r already exists with log_partitions=%d, sequencing=%r; keeping them "
                "(asked for %d, %r)",
                table.name,
                stored.log_partitions,
                stored.sequencing,
                layout.log_partitions,
                layout.sequencing,
            )
        if stored is not None:
            return stored
    return layout


def read_layout(table: TableHandle) -> TableLayout | None:
    """The layout recorded in the table, or ``None`` when there is no metadata item.

    Raises:
        ConfigurationError: the table does not exist (the message names ``create_table``), or
            it was written by a newer ddbes-dynamodb.
    """
    return run(layout_steps(table.name), table)


def layout_steps(table: str) -> Steps[TableLayout | None]:
    """:func:`read_layout` as steps, for the sync and async stores."""
    response = yield Request(
        "get_item",
        "reading the table metadata",
        {"TableName": table, "Key": META_KEY, "ConsistentRead": True},
    )
    item = response.get("Item")
    if item is None:
        return None
    try:
        partitions = int(item["lp"]["N"])
        version = int(item["fv"]["N"]) if "fv" in item else 1
        check_log_partitions(partitions)
        if version < 1:
            raise ValueError(f"format version {version} is not one ddbes writes")
    except (KeyError, TypeError, ValueError) as exc:
        raise corrupt(table, item, exc) from exc
    if version > FORMAT_VERSION:
        raise ConfigurationError(
            f"table {table!r} uses ddbes data format {version}; this ddbes-dynamodb reads "
            f"formats up to {FORMAT_VERSION}: upgrade ddbes-dynamodb"
        )
    if version == 1:
        return TableLayout(partitions, "inline", log_pages=False)
    return TableLayout(partitions, "background", log_pages=version >= 3)


def no_metadata(table: str) -> ConfigurationError:
    """The error for a table that exists but holds no ddbes metadata item."""
    return ConfigurationError(
        f"table {table!r} exists but holds no ddbes metadata: run "
        f"DynamoDBCommitStore({table!r}).create_table(log_partitions=N), "
        "which records it and leaves the rest of the table alone"
    )


def open_layout(table: TableHandle, pending: TableLayout | None) -> TableLayout:
    """The layout of the table on a store's first use: read from the metadata item, or
    recorded from ``pending`` (a ``create_table`` that did not wait). A table still being
    created is waited for, up to :data:`CREATING_WAIT` seconds.

    Raises:
        ConfigurationError: the table is missing, not a ddbes table (another key schema), or
            holds no metadata.
        CorruptItem: the metadata item is not one ddbes wrote.
    """
    try:
        stored = read_layout(table)
    except (CorruptItem, StoreUnavailable):
        raise
    except ConfigurationError:
        description = _describe(table)
        if description is None or description["TableStatus"] != "CREATING":
            raise
        logger.info("table %r is being created: waiting for it", table.name)
        _check_schema(table, _wait_for(table, exists=True, timeout=CREATING_WAIT) or description)
        stored = read_layout(table)
    except StoreError:
        description = _describe(table)  # a key schema not ddbes's makes the read invalid
        if description is not None:
            _check_schema(table, description)
        raise
    if stored is None and pending is not None:
        stored = record_layout(table, pending)
    if stored is None:
        raise no_metadata(table.name)
    return stored


def delete_table(table: TableHandle, *, wait: bool) -> None:
    """Delete the table and everything in it; a missing table is not an error."""
    table.call(
        table.client.delete_table,
        "delete_table",
        tolerate=frozenset({"ResourceNotFoundException", "ResourceInUseException"}),
        TableName=table.name,
    )
    if wait:
        _wait_for(table, exists=False)


def describe_table(table: TableHandle) -> TableDescription:
    """The table's status, billing and size; ``log_partitions`` when recorded; no heads."""
    description = _describe(table)
    if description is None:
        return TableDescription(table_name=table.name, status="MISSING")
    billing = description.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
    throughput = description.get("ProvisionedThroughput", {})
    provisioned = billing == "PROVISIONED"
    _check_schema(table, description)
    layout = read_layout(table) if description["TableStatus"] == "ACTIVE" else None
    return TableDescription(
        table_name=table.name,
        status=description["TableStatus"],
        billing_mode=billing,
        read_capacity=throughput.get("ReadCapacityUnits") if provisioned else None,
        write_capacity=throughput.get("WriteCapacityUnits") if provisioned else None,
        item_count=description.get("ItemCount"),
        size_bytes=description.get("TableSizeBytes"),
        log_partitions=layout.log_partitions if layout else None,
        sequencing=layout.sequencing if layout else None,
        format_version=layout.format_version if layout else None,
    )


def count_unsequenced(table: TableHandle, partition: int) -> int:
    """The commits of a log partition not yet in the log, as the sequencer's index shows them."""
    request: dict[str, Any] = {
        "TableName": table.name,
        "IndexName": UNSEQUENCED_INDEX,
        "KeyConditionExpression": "u = :u",
        "ExpressionAttributeValues": {":u": {"S": str(partition)}},
        "Select": "COUNT",
    }
    total = 0
    while True:
        response = table.call(table.client.query, "counting unsequenced commits", **request)
        total += int(response.get("Count", 0))
        last = response.get("LastEvaluatedKey")
        if last is None:
            return total
        request["ExclusiveStartKey"] = last
