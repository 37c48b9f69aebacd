"""Reading a JavaScript ddbes table: check its format, then every item, with strongly
consistent reads and every page (the JavaScript library's own reads dropped the last page of a
long history)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ddbes.errors import ConfigurationError
from ddbes_dynamodb._table import TableHandle
from ddbes_dynamodb.js_migration._format import JsCommit, decode_item, table_kind

__all__ = ["PAGE_ITEMS", "SCAN_SEGMENTS", "check_source", "read_source"]

SCAN_SEGMENTS = 4
"""Parallel scan segments: DynamoDB serves them in parallel; here they overlap decoding."""

PAGE_ITEMS = 1000
"""Items per Scan request: short requests (DynamoDB Local takes seconds for a 1 MB page of
small items, over a read timeout when the machine is busy)."""


def check_source(source: TableHandle) -> dict[str, Any]:
    """The source table's description, when it is a table of the JavaScript ddbes 0.20 to 0.25.

    Raises:
        ConfigurationError: the table is missing, of another format, or of a JavaScript ddbes
            before 0.20.
    """
    response = source.call(
        source.client.describe_table,
        "describe_table",
        tolerate=frozenset({"ResourceNotFoundException"}),
        TableName=source.name,
    )
    if response is None:
        raise ConfigurationError(
            f"the source table {source.name!r} does not exist (check its name, --endpoint-url "
            "and --region)"
        )
    description: dict[str, Any] = response["Table"]
    kind = table_kind(description)
    if kind == "js-old":
        raise ConfigurationError(
            f"table {source.name!r} is a table of the JavaScript ddbes before 0.20 (attributes "
            "aggregateType/keyAndVersion, uncompressed events): ddbes migrate-js reads the "
            "format of 0.20 to 0.25; convert it with the JavaScript library first"
        )
    if kind == "ddbes":
        raise ConfigurationError(
            f"table {source.name!r} is already a ddbes table (keys p and s): nothing to migrate"
        )
    if kind != "js":
        raise ConfigurationError(
            f"table {source.name!r} is not a table of the JavaScript ddbes: its key schema is "
            f"{description.get('KeySchema')}, where the JavaScript library's is a (HASH) and "
            "k (RANGE)"
        )
    return description


def _segment(
    source: TableHandle, segment: int, segments: int, read: Callable[[int], None]
) -> list[JsCommit]:
    request: dict[str, Any] = {
        "TableName": source.name,
        "ConsistentRead": True,
        "ProjectionExpression": "a, k, c, t, z, e",
        "Segment": segment,
        "TotalSegments": segments,
        "Limit": PAGE_ITEMS,
    }
    commits: list[JsCommit] = []
    while True:
        response = source.call(source.client.scan, "reading the JavaScript table", **request)
        items = response.get("Items", [])
        commits.extend(decode_item(item) for item in items)
        read(len(items))
        last = response.get("LastEvaluatedKey")
        if last is None:
            return commits
        request["ExclusiveStartKey"] = last


def read_source(
    source: TableHandle,
    *,
    segments: int = SCAN_SEGMENTS,
    on_read: Callable[[int], None] | None = None,
) -> list[JsCommit]:
    """Every item of the source table, decoded; ``on_read(total so far)`` after each page."""
    lock = threading.Lock()
    total = 0

    def read(count: int) -> None:
        nonlocal total
        with lock:
            total += count
            if on_read is not None:
                on_read(total)

    with ThreadPoolExecutor(segments, thread_name_prefix="ddbes-migrate-read") as pool:
        parts = list(pool.map(lambda s: _segment(source, s, segments, read), range(segments)))
    return [commit for part in parts for commit in part]
