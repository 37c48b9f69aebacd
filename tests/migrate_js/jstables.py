"""Tables in the JavaScript ddbes's format (0.20 to 0.25), built from its documented layout
(``shared/reference/ddbes-js-behaviour.md`` §1): the JavaScript library itself cannot run here.

``serializeCommit`` is reproduced: ``k = key + ':' + version padded to 9 digits``, ``c`` the
time's digits, type and key, ``t`` ``Date.prototype.toISOString()``, ``z = 't'``, and ``e``
the events as ``JSON.stringify`` writes them, gzipped as Node's ``zlib.gzipSync`` does: zlib
itself with the gzip wrapper (``wbits=31``) at the default level 6, which writes Node's header
(no name, mtime 0, OS 3). The deflate stream of Node's bundled zlib may differ byte for byte;
any gzip reader reads both, and the migration only decompresses.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsTables", "gzip_like_node", "js_item", "js_time"]


def gzip_like_node(data: bytes) -> bytes:
    """``zlib.gzipSync(data)`` with Node's defaults."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def js_time(moment: datetime) -> str:
    """``Date.prototype.toISOString()``: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def js_item(
    aggregate_type: str,
    key: str,
    version: int,
    events: Any,
    committed_at: datetime | str,
    *,
    commit_id: str | None = None,
    active: bool = True,
    raw_events: bytes | None = None,
) -> dict[str, Any]:
    """One commit item as ``serializeCommit`` makes it (low-level DynamoDB format)."""
    t = committed_at if isinstance(committed_at, str) else js_time(committed_at)
    if commit_id is None:
        commit_id = ":".join(["".join(ch for ch in t if ch.isdigit()), aggregate_type, key])
    text = json.dumps(events, separators=(",", ":"), ensure_ascii=False)
    return {
        "a": {"S": aggregate_type},
        "k": {"S": f"{key}:{version:09d}"},
        "c": {"S": commit_id},
        "t": {"S": t},
        "z": {"S": "t" if active else "f"},
        "e": {"B": raw_events if raw_events is not None else gzip_like_node(text.encode())},
    }


class JsTables:
    """Creates JavaScript-format tables on one endpoint and deletes them afterwards."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.names: list[str] = []

    def create(self, items: Iterable[dict[str, Any]] = ()) -> str:
        """A new table with the JavaScript ``tableSchema`` (on-demand), holding ``items``."""
        name = f"ddbes-js-{uuid.uuid4().hex[:10]}"
        self.client.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": attribute, "AttributeType": "S"} for attribute in "akcz"
            ],
            KeySchema=[
                {"AttributeName": "a", "KeyType": "HASH"},
                {"AttributeName": "k", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "commitIdIndex",
                    "KeySchema": [
                        {"AttributeName": "z", "KeyType": "HASH"},
                        {"AttributeName": "c", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        self.client.get_waiter("table_exists").wait(
            TableName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
        )
        self.names.append(name)
        self.put(name, items)
        return name

    def put(self, name: str, items: Iterable[dict[str, Any]]) -> None:
        """Write ``items`` (``batchWriteCommits``, but with every unprocessed item retried)."""
        batch: list[dict[str, Any]] = []
        for item in items:
            batch.append({"PutRequest": {"Item": item}})
            if len(batch) == 25:
                self._write(name, batch)
                batch = []
        if batch:
            self._write(name, batch)

    def _write(self, name: str, batch: list[dict[str, Any]]) -> None:
        requests = {name: batch}
        while requests:
            answer = self.client.batch_write_item(RequestItems=requests)
            requests = answer.get("UnprocessedItems") or {}

    def delete_all(self) -> None:
        for name in self.names:
            self.client.delete_table(TableName=name)
        self.names.clear()
