"""``DynamoDBSnapshotStore``: the latest snapshot as a "tip" item beside the aggregate's commits.

The tip lives in the aggregate's commit partition under a sort key that sorts after every
zero-padded version, so one descending Query returns the tip first and then the newest commits::

    p = "c#<len(type)>#<type>#<key>"   s = "~snapshot"   f v i t c  j | z | (neither)

``f`` format (1), ``v`` version, ``i`` head commit id, ``t`` head committed at, ``c`` checksum,
and the state as JSON text ``j``, or zlib-compressed JSON ``z`` (when that pays, as ddbes
compresses events), or neither: a state larger than ``inline_limit`` is kept whole by the
``overflow`` snapshot store (S3) and the tip is a pointer to it.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from ddbes.codec import compress, decode, encode, format_time
from ddbes.composition import Resources, Settings
from ddbes.errors import ConfigurationError, SnapshotUnreadable
from ddbes.model import Commit, Snapshot, log_partition_for
from ddbes.ports import CommitStore, SnapshotStore
from ddbes.retry import RetryPolicy
from ddbes.snapshot_tip import SnapshotTip, TipSnapshotStore
from ddbes_dynamodb._items import Item, commit_pk, decode_commit_or_stub
from ddbes_dynamodb._table import TableHandle
from ddbes_dynamodb.commit_store import DynamoDBCommitStore

__all__ = ["DEFAULT_INLINE_LIMIT", "TIP_SORT_KEY", "DynamoDBSnapshotStore"]

TIP_SORT_KEY = "~snapshot"
"""The tip's sort key: ``~`` sorts after every digit, so after every zero-padded version."""

DEFAULT_INLINE_LIMIT = 64 * 1024
"""States whose encoded (compressed) JSON is larger than this go to the overflow store."""

FORMAT = 1
_FIELDS = "s, i, t, e, x, n, m, ar, f, v, c, j, z"
"""What a tip read returns: the commit attributes ``decode_commit_item`` reads (``n`` may be
missing) and the tip's; not ``p``, which would repeat in every item."""
_MAX_ITEM_BYTES = 400 * 1024
_MAX_PARTITION_KEY_BYTES = 2048
_NUMBER_BYTES = 21  # DynamoDB's upper bound for a number's stored size
_BATCH = 25  # BatchWriteItem takes at most 25 requests


class DynamoDBSnapshotStore(TipSnapshotStore):
    """Snapshots in the commit table, one "tip" item per aggregate in its commit partition.

    A load is then one strongly consistent Query: the tip and the newest commits, newest first
    (:meth:`read_tip`; ``docs/snapshots.md``). States up to ``inline_limit`` bytes (encoded, and
    compressed when that pays) are kept in the tip. Larger ones are written whole to
    ``overflow`` (an :class:`~ddbes_s3.S3SnapshotStore`, say) and the tip points to them: a load
    then costs the Query and a GET. Without ``overflow`` every state that fits in a DynamoDB
    item (400 KB) is kept in the tip and a larger one is refused with a ``ValueError``.

    Aggregates with no tip yet (snapshots written by the ``overflow`` store alone, before this
    store was configured) are read from ``overflow``, so switching from an ``S3SnapshotStore``
    to ``DynamoDBSnapshotStore(commits, overflow=that_store)`` loses no snapshot.

    Args:
        commit_store: the :class:`DynamoDBCommitStore` whose table holds the tips; its client
            is shared.
        overflow: where states larger than ``inline_limit`` go, and where aggregates without a
            tip are looked up.
        inline_limit: the largest encoded state kept in the tip when there is an ``overflow``
            (default 64 KiB: a load reads the tip with every Query, 1 RCU per 4 KB).
        retry_policy: how throttling and connection failures are retried.

    :meth:`clear` scans the table (an administrative operation).
    """

    db_system = "dynamodb"
    """The ``db.system`` of this store's telemetry spans."""

    fetch_in_parallel = True  # get() waits on the network (GetItem, perhaps a GET)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        resources: Resources | None = None,
        commit_store: object,
        overflow: SnapshotStore | None = None,
    ) -> DynamoDBSnapshotStore:
        """Tips in the table of ``commit_store`` (:mod:`ddbes.composition`), larger states in
        ``overflow``.

        Raises:
            ConfigurationError: ``commit_store`` is not a :class:`DynamoDBCommitStore`.
        """
        if not isinstance(commit_store, DynamoDBCommitStore):
            raise ConfigurationError(
                "snapshots 'dynamodb' keep snapshots in the commit table, but the commit store "
                f"is {commit_store!r}: configure backend 'dynamodb'"
            )
        return cls(commit_store, overflow=overflow)

    def __init__(
        self,
        commit_store: DynamoDBCommitStore,
        *,
        overflow: SnapshotStore | None = None,
        inline_limit: int = DEFAULT_INLINE_LIMIT,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if not isinstance(commit_store, DynamoDBCommitStore):
            raise TypeError(
                f"DynamoDBSnapshotStore needs a DynamoDBCommitStore, got {commit_store!r}"
            )
        if isinstance(inline_limit, bool) or not isinstance(inline_limit, int) or inline_limit < 0:
            raise ValueError(f"inline_limit must be an int >= 0, got {inline_limit!r}")
        self._commit_store = commit_store
        self._overflow = overflow
        self._inline_limit = inline_limit
        self._table = TableHandle(
            commit_store.table_name,
            client=commit_store.client,
            endpoint_url=None,
            region_name=None,
            retry_policy=retry_policy,
        )

    def __repr__(self) -> str:
        return f"DynamoDBSnapshotStore({self._table.name!r}, overflow={self._overflow!r})"

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the tips (the commit store's)."""
        return self._table.name

    @property
    def overflow(self) -> SnapshotStore | None:
        """The store of states larger than ``inline_limit``."""
        return self._overflow

    # -- SnapshotStore ---------------------------------------------------------------------

    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        pk = commit_pk(aggregate_type, aggregate_key)
        if not _fits(pk):
            return None
        table = self._table
        response = table.call(
            table.client.get_item,
            "read_snapshot",
            TableName=table.name,
            Key=_tip_key(pk),
            ConsistentRead=True,
        )
        return self._from_tip(response.get("Item"), aggregate_type, aggregate_key)

    def put(self, snapshot: Snapshot) -> None:
        pk = commit_pk(snapshot.aggregate_type, snapshot.aggregate_key)
        if not _fits(pk):
            raise ValueError(
                f"the snapshot of {snapshot.aggregate_id} cannot be kept in DynamoDB: its "
                f"type and key are longer than {_MAX_PARTITION_KEY_BYTES} bytes together"
            )
        data = _encode_state(snapshot)
        payload, compressed = compress(data)
        item: Item = {
            **_tip_key(pk),
            "f": {"N": str(FORMAT)},
            "v": {"N": str(snapshot.version)},
            "i": {"S": snapshot.head_commit_id},
            "t": {"S": format_time(snapshot.head_committed_at)},
            "c": {"S": snapshot.checksum},
        }
        if len(payload) <= self._inline_limit or self._overflow is None:
            size = _size(item) + 1 + len(payload)
            if size > _MAX_ITEM_BYTES:
                raise ValueError(
                    f"the snapshot of {snapshot.aggregate_id} is {size} bytes as a DynamoDB item, "
                    f"over the {_MAX_ITEM_BYTES}-byte limit: give DynamoDBSnapshotStore an "
                    "overflow store, e.g. overflow=S3SnapshotStore(bucket)"
                )
            item["z" if compressed else "j"] = (
                {"B": payload} if compressed else {"S": payload.decode()}
            )
        else:
            self._overflow.put(snapshot)  # first: the tip never points to a missing snapshot
        table = self._table
        table.call(table.client.put_item, "write_snapshot", TableName=table.name, Item=item)

    def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        pk = commit_pk(aggregate_type, aggregate_key)
        if _fits(pk):
            table = self._table
            table.call(
                table.client.delete_item,
                "delete_snapshot",
                TableName=table.name,
                Key=_tip_key(pk),
            )
        if self._overflow is not None:
            self._overflow.delete(aggregate_type, aggregate_key)

    def clear(self, aggregate_type: str | None = None) -> None:
        values: dict[str, Any] = {":tip": {"S": TIP_SORT_KEY}}
        condition = "s = :tip"
        if aggregate_type is not None:
            values[":type"] = {"S": f"c#{len(aggregate_type)}#{aggregate_type}#"}
            condition += " AND begins_with(p, :type)"
        else:
            values[":commits"] = {"S": "c#"}
            condition += " AND begins_with(p, :commits)"
        table = self._table
        request: dict[str, Any] = {
            "TableName": table.name,
            "FilterExpression": condition,
            "ExpressionAttributeValues": values,
            "ProjectionExpression": "p, s",
            "ConsistentRead": True,
        }
        while True:
            response = table.call(table.client.scan, "find_snapshots", **request)
            keys = [{"p": item["p"], "s": item["s"]} for item in response["Items"]]
            for start in range(0, len(keys), _BATCH):
                self._delete_batch(keys[start : start + _BATCH])
            last = response.get("LastEvaluatedKey")
            if last is None:
                break
            request["ExclusiveStartKey"] = last
        if self._overflow is not None:
            self._overflow.clear(aggregate_type)

    def _delete_batch(self, keys: list[Item]) -> None:
        table = self._table
        requests: list[dict[str, Any]] = [{"DeleteRequest": {"Key": key}} for key in keys]
        delay = 0.0
        while requests:
            if delay:
                time.sleep(delay)
            response = table.call(
                table.client.batch_write_item,
                "delete_snapshots",
                RequestItems={table.name: requests},
            )
            requests = response.get("UnprocessedItems", {}).get(table.name, [])
            delay = min(1.0, max(0.01, delay * 2))

    # -- TipSnapshotStore ------------------------------------------------------------------

    def serves(self, commit_store: CommitStore) -> bool:
        if commit_store is self._commit_store:
            return True
        return (
            isinstance(commit_store, DynamoDBCommitStore)
            and commit_store.table_name == self._table.name
            and _where(commit_store.client) == _where(self._table.client)
        )

    def read_tip(self, aggregate_type: str, aggregate_key: str, *, commits: int) -> SnapshotTip:
        if commits < 1:
            raise ValueError(f"commits must be at least 1, got {commits}")
        pk = commit_pk(aggregate_type, aggregate_key)
        if not _fits(pk):
            return SnapshotTip(commits=(), snapshot=_none)
        partition = log_partition_for(
            aggregate_type, aggregate_key, self._commit_store.log_partitions
        )
        table = self._table
        request: dict[str, Any] = {
            "TableName": table.name,
            "KeyConditionExpression": "p = :p AND s <= :tip",
            "ExpressionAttributeValues": {":p": {"S": pk}, ":tip": {"S": TIP_SORT_KEY}},
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "ProjectionExpression": _FIELDS,
            "Limit": commits + 1,
        }
        tip: Item | None = None
        newest: list[Commit] = []
        for item in self._pages(request):
            sort_key = item["s"]["S"]
            if sort_key == TIP_SORT_KEY:
                tip = item
            elif sort_key.isdigit():
                one = decode_commit_or_stub(
                    item, aggregate_type, aggregate_key, partition, table=self._table.name
                )
                newest.append(
                    one if isinstance(one, Commit) else self._commit_store._archived.commit(one)
                )
                if len(newest) == commits:
                    break
        if newest:
            self._commit_store._note_stored(pk, newest[0].version)
        overflow = self._overflow
        if tip is None and (overflow is None or len(newest) < commits):
            # No snapshot in the tip, and either nowhere else to look or nothing to gain: the
            # read holds every commit of the aggregate.
            return SnapshotTip(commits=tuple(newest), snapshot=_none)

        def snapshot() -> Snapshot | None:
            return self._from_tip(tip, aggregate_type, aggregate_key)

        return SnapshotTip(commits=tuple(newest), snapshot=snapshot)

    def _pages(self, request: dict[str, Any]) -> Iterator[Item]:
        table = self._table
        while True:
            response = table.call(table.client.query, "read_snapshot_tip", **request)
            yield from response["Items"]
            last = response.get("LastEvaluatedKey")
            if last is None:
                return
            request["ExclusiveStartKey"] = last

    # -- decoding --------------------------------------------------------------------------

    def _from_tip(
        self, item: Item | None, aggregate_type: str, aggregate_key: str
    ) -> Snapshot | None:
        """The snapshot a tip item holds or points to (``None``: no tip, and no overflow one)."""
        overflow = self._overflow
        if item is None:
            return None if overflow is None else overflow.get(aggregate_type, aggregate_key)
        where = (
            f"the snapshot tip of {aggregate_type}:{aggregate_key} in table {self._table.name!r}"
        )
        try:
            if int(item["f"]["N"]) != FORMAT:
                raise SnapshotUnreadable(
                    f"{where} has format {item['f']['N']}; this ddbes-dynamodb reads format "
                    f"{FORMAT} (an older ddbes-dynamodb cannot read snapshots of a newer one)"
                )
            if "j" in item:
                state = decode(item["j"]["S"])
            elif "z" in item:
                state = decode(zlib.decompress(item["z"]["B"]))
            elif overflow is None:
                raise SnapshotUnreadable(
                    f"{where} points to an overflow store, but this store has none: configure "
                    "DynamoDBSnapshotStore(..., overflow=S3SnapshotStore(...))"
                )
            else:
                return overflow.get(aggregate_type, aggregate_key)
            return Snapshot(
                aggregate_type=aggregate_type,
                aggregate_key=aggregate_key,
                version=int(item["v"]["N"]),
                state=state,
                head_commit_id=item["i"]["S"],
                head_committed_at=_parse_time(item["t"]["S"]),
                checksum=item["c"]["S"],
            )
        except (KeyError, TypeError, ValueError, zlib.error) as exc:
            raise SnapshotUnreadable(f"{where} cannot be decoded: {exc!r}") from exc


def _none() -> Snapshot | None:
    return None


def _tip_key(pk: str) -> Item:
    return {"p": {"S": pk}, "s": {"S": TIP_SORT_KEY}}


def _fits(pk: str) -> bool:
    try:
        return len(pk.encode()) <= _MAX_PARTITION_KEY_BYTES
    except UnicodeEncodeError:
        return False


def _where(client: Any) -> tuple[object, object]:
    meta = getattr(client, "meta", None)
    return getattr(meta, "endpoint_url", None), getattr(meta, "region_name", None)


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"head committed at {text!r} has no time zone")
    return moment


def _size(item: Item) -> int:
    """The bytes of an item by DynamoDB's reckoning: names plus values, numbers at their most."""
    total = 0
    for name, value in item.items():
        total += len(name)
        if "N" in value:
            total += _NUMBER_BYTES
        elif "S" in value:
            total += len(value["S"].encode())
        else:
            total += len(value["B"])
    return total


def _encode_state(snapshot: Snapshot) -> bytes:
    """The state as compact JSON; refused when JSON would not give it back as it is."""
    try:
        data = encode(snapshot.state)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"the snapshot state of {snapshot.aggregate_id} is not JSON-compatible: {exc}"
        ) from exc
    if decode(data) != snapshot.state:
        # A load from this snapshot would see another state than a replay: refuse it.
        raise ValueError(
            f"the snapshot state of {snapshot.aggregate_id} would not come back from JSON as it "
            "is (a datetime, tuple or non-string key?): keep states to JSON types (dict with "
            "str keys, list, str, int, float, bool, None)"
        )
    return data
