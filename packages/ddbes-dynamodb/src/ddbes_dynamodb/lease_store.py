"""Projector leases in DynamoDB: one item per (projector name, log partition), taken and renewed
by conditional writes that compare an expiry time."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from ddbes.clock import SystemClock
from ddbes.ports import Clock
from ddbes.projection.leases import Lease, LeaseStore, check_lease_arguments
from ddbes.retry import RetryPolicy
from ddbes.timeouts import Timeouts
from ddbes_dynamodb._errors import ConditionFailed
from ddbes_dynamodb._items import Item
from ddbes_dynamodb._table import TableHandle

__all__ = ["DynamoDBLeaseStore"]


def lease_key(name: str, log_partition: int) -> Item:
    """The key of the lease on one log partition for projector ``name``."""
    return {"p": {"S": f"lease#{name}"}, "s": {"S": str(log_partition)}}


class DynamoDBLeaseStore(LeaseStore):
    """A :class:`~ddbes.leases.LeaseStore` in a ddbes DynamoDB table (by default the one that
    holds the commits; create it with :meth:`DynamoDBCommitStore.create_table`).

    A lease is the item ``p = "lease#<name>"``, ``s = "<log partition>"`` with its owner ``o``
    and its expiry ``x`` (seconds since the epoch by this store's ``clock``). Taking it is one
    conditional ``PutItem`` (no lease, an expired one, or our own); renewing one ``UpdateItem``
    (still ours and unexpired); releasing one conditional ``DeleteItem``. DynamoDB applies each
    condition and write atomically, so two owners never both succeed. Expiry compares the
    writers' clocks: keep the machines' clocks in step (NTP) to well within the lease ttl.

    Args:
        table_name: the table (the commit store's); as for
            :class:`~ddbes_dynamodb.DynamoDBCommitStore`, as are the following.
        client: a boto3 DynamoDB client to use.
        endpoint_url: the DynamoDB endpoint (DynamoDB Local, an emulator).
        region_name: the AWS region.
        retry_policy: how transient failures are retried.
        timeouts: connect and read timeouts, and an overall deadline per call.
        clock: where expiry times come from (default: the system clock).
    """

    def __init__(
        self,
        table_name: str = "ddbes",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._table = TableHandle(
            table_name,
            client=client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            retry_policy=retry_policy,
            timeouts=timeouts,
        )
        self._clock: Clock = clock if clock is not None else SystemClock()

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the leases."""
        return self._table.name

    def __repr__(self) -> str:
        return f"DynamoDBLeaseStore({self._table.name!r})"

    def _now(self) -> float:
        return self._clock.now().timestamp()

    def _update(self, operation: str, name: str, log_partition: int, **request: Any) -> bool:
        table = self._table
        try:
            table.call(
                table.client.update_item,
                operation,
                TableName=table.name,
                Key=lease_key(name, log_partition),
                **request,
            )
        except ConditionFailed:
            return False
        return True

    def acquire(self, name: str, log_partition: int, owner: str, ttl: float) -> bool:
        check_lease_arguments(name, log_partition, owner, ttl)
        now = self._now()
        return self._update(
            "acquire_lease",
            name,
            log_partition,
            UpdateExpression="SET o = :o, x = :x",
            ConditionExpression="attribute_not_exists(o) OR o = :o OR x <= :now",
            ExpressionAttributeValues={
                ":o": {"S": owner},
                ":x": {"N": repr(now + ttl)},
                ":now": {"N": repr(now)},
            },
        )

    def renew(self, name: str, log_partition: int, owner: str, ttl: float) -> bool:
        check_lease_arguments(name, log_partition, owner, ttl)
        now = self._now()
        return self._update(
            "renew_lease",
            name,
            log_partition,
            UpdateExpression="SET x = :x",
            ConditionExpression="o = :o AND x > :now",
            ExpressionAttributeValues={
                ":o": {"S": owner},
                ":x": {"N": repr(now + ttl)},
                ":now": {"N": repr(now)},
            },
        )

    def release(self, name: str, log_partition: int, owner: str) -> None:
        check_lease_arguments(name, log_partition, owner, None)
        table = self._table
        with contextlib.suppress(ConditionFailed):  # not ours (any more): nothing to give up
            table.call(
                table.client.delete_item,
                "release_lease",
                TableName=table.name,
                Key=lease_key(name, log_partition),
                ConditionExpression="o = :o",
                ExpressionAttributeValues={":o": {"S": owner}},
            )

    def holder(self, name: str, log_partition: int) -> Lease | None:
        check_lease_arguments(name, log_partition, None, None)
        table = self._table
        response = table.call(
            table.client.get_item,
            "read_lease",
            TableName=table.name,
            Key=lease_key(name, log_partition),
            ConsistentRead=True,
        )
        return self._lease(name, log_partition, response.get("Item"), self._now())

    def holders(self, name: str, partitions: int) -> dict[int, Lease]:
        """One consistent ``Query`` of the name's lease items (pages followed)."""
        check_lease_arguments(name, max(0, partitions - 1), None, None)
        table = self._table
        request: dict[str, Any] = {
            "TableName": table.name,
            "KeyConditionExpression": "p = :p",
            "ExpressionAttributeValues": {":p": {"S": f"lease#{name}"}},
            "ConsistentRead": True,
        }
        found: dict[int, Lease] = {}
        while True:
            response = table.call(table.client.query, "read_leases", **request)
            now = self._now()
            for item in response.get("Items", []):
                number = int(item["s"]["S"])
                lease = self._lease(name, number, item, now) if number < partitions else None
                if lease is not None:
                    found[number] = lease
            if "LastEvaluatedKey" not in response:
                return dict(sorted(found.items()))
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    @staticmethod
    def _lease(name: str, log_partition: int, item: Item | None, now: float) -> Lease | None:
        """The unexpired lease an item holds, if any."""
        if not item or "o" not in item:
            return None
        expires = float(item["x"]["N"])
        if expires <= now:
            return None
        return Lease(
            name=name,
            log_partition=log_partition,
            owner=item["o"]["S"],
            expires_at=datetime.fromtimestamp(expires, UTC),
        )
