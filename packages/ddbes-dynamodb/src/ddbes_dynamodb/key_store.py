"""Data subjects' keys for crypto-shredding, in a DynamoDB table of their own.

::

    item            p                                s                     other attributes
    ──────────────  ───────────────────────────────  ────────────────────  ─────────────────────
    subject key     s#<subject id>                   #key                  k key id, m key (B),
                                                                           w wrapping
    aggregate ref   s#<subject id>                   a#<sha-256 of id>     t type, a key
    subject ref     a#<len(type)>#<type>#<key>       <subject id>          —

The aggregate references are the index :meth:`KeyStore.aggregates` and
:meth:`KeyStore.subjects` read (sort keys hold at most 1024 bytes, so the forward reference is
named by a digest and carries the aggregate's type and key as attributes). The table is the
key store's alone: its backups are the only place a forgotten key could survive, so it gets a
backup policy of its own (see ``docs/erasure.md``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from ddbes.errors import ConfigurationError, CorruptItem
from ddbes.retry import RetryPolicy
from ddbes.shredding.ports import (
    KeyStore,
    SubjectKey,
    check_aggregate,
    check_key,
    check_subject_id,
)
from ddbes.timeouts import Timeouts
from ddbes_dynamodb import admin
from ddbes_dynamodb._errors import ConditionFailed
from ddbes_dynamodb._table import TableHandle

__all__ = ["DynamoDBKeyStore"]

_KEY_SORT = "#key"


def _subject_pk(subject_id: str) -> dict[str, str]:
    return {"S": f"s#{subject_id}"}


def _aggregate_pk(aggregate_type: str, aggregate_key: str) -> dict[str, str]:
    return {"S": f"a#{len(aggregate_type)}#{aggregate_type}#{aggregate_key}"}


def _aggregate_ref(aggregate_type: str, aggregate_key: str) -> dict[str, str]:
    ident = f"{len(aggregate_type)}#{aggregate_type}#{aggregate_key}".encode()
    return {"S": f"a#{hashlib.sha256(ident).hexdigest()}"}


class DynamoDBKeyStore(KeyStore):
    """A :class:`~ddbes.shredding.KeyStore` in a DynamoDB table of its own.

    Every read is strongly consistent; :meth:`create` is one conditional ``PutItem``
    (``attribute_not_exists``) that returns the stored key when it loses; :meth:`delete` one
    ``DeleteItem``; :meth:`add_aggregate` two ``PutItem`` s. Create the table once with
    :meth:`create_table`.

    Args:
        table_name: the key table (default ``"ddbes-keys"``).
        client: a boto3 DynamoDB client; built from ``endpoint_url`` and ``region_name`` when
            omitted (as for :class:`~ddbes_dynamodb.DynamoDBCommitStore`).
        endpoint_url: where DynamoDB is (``None``: AWS).
        region_name: the AWS region (``None``: the environment's).
        retry_policy: how throttling and connection failures are retried.
        timeouts: connect, read and per-operation deadlines.
    """

    def __init__(
        self,
        table_name: str = "ddbes-keys",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        retry_policy: RetryPolicy | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        self._table = TableHandle(
            table_name,
            client=client,
            endpoint_url=endpoint_url,
            region_name=region_name,
            retry_policy=retry_policy,
            timeouts=timeouts,
        )

    @property
    def table_name(self) -> str:
        """The DynamoDB table holding the keys."""
        return self._table.name

    @property
    def client(self) -> Any:
        """The boto3 DynamoDB client this store uses."""
        return self._table.client

    def __repr__(self) -> str:
        return f"DynamoDBKeyStore({self._table.name!r})"

    # ------------------------------------------------------------------ administration

    def create_table(
        self,
        *,
        read_capacity: int | None = None,
        write_capacity: int | None = None,
        wait: bool = True,
    ) -> None:
        """Create the key table (on-demand without capacities); an existing one is left as it
        is."""
        if (read_capacity is None) != (write_capacity is None):
            raise ValueError("give both read_capacity and write_capacity, or neither for on-demand")
        billing: dict[str, Any] = {"BillingMode": "PAY_PER_REQUEST"}
        if read_capacity is not None:
            billing = {
                "BillingMode": "PROVISIONED",
                "ProvisionedThroughput": {
                    "ReadCapacityUnits": read_capacity,
                    "WriteCapacityUnits": write_capacity,
                },
            }
        table = self._table
        table.call(
            table.client.create_table,
            "create_table",
            tolerate=frozenset({"ResourceInUseException"}),
            TableName=table.name,
            AttributeDefinitions=[
                {"AttributeName": "p", "AttributeType": "S"},
                {"AttributeName": "s", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "p", "KeyType": "HASH"},
                {"AttributeName": "s", "KeyType": "RANGE"},
            ],
            **billing,
        )
        if wait:
            admin._wait_for(table, exists=True)

    def delete_table(self, wait: bool = True) -> None:
        """Delete the key table: every subject is forgotten at once. A missing table is not an
        error."""
        admin.delete_table(self._table, wait=wait)

    # ------------------------------------------------------------------ the port

    def _call(self, operation: str, name: str, **kwargs: Any) -> Any:
        table = self._table
        try:
            return table.call(getattr(table.client, operation), name, **kwargs)
        except ConfigurationError as exc:
            if "does not exist" not in str(exc):
                raise
            raise ConfigurationError(
                f"DynamoDB key table {table.name!r} does not exist: create it with "
                f"DynamoDBKeyStore({table.name!r}).create_table()"
            ) from exc

    def _parse(self, subject_id: str, item: dict[str, Any]) -> SubjectKey:
        try:
            return SubjectKey(
                subject_id=subject_id,
                key_id=item["k"]["S"],
                material=bytes(item["m"]["B"]),
                wrapping=item.get("w", {}).get("S", ""),
            )
        except (KeyError, TypeError) as exc:
            raise CorruptItem(
                f"table {self._table.name!r}", f"s#{subject_id} {_KEY_SORT}", repr(exc)
            ) from exc

    def get(self, subject_id: str) -> SubjectKey | None:
        check_subject_id(subject_id)
        response = self._call(
            "get_item",
            "read_subject_key",
            TableName=self._table.name,
            Key={"p": _subject_pk(subject_id), "s": {"S": _KEY_SORT}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        return self._parse(subject_id, item) if item else None

    def create(self, key: SubjectKey) -> SubjectKey:
        check_key(key)
        item = {
            "p": _subject_pk(key.subject_id),
            "s": {"S": _KEY_SORT},
            "k": {"S": key.key_id},
            "m": {"B": key.material},
            "w": {"S": key.wrapping},
        }
        try:
            self._call(
                "put_item",
                "create_subject_key",
                TableName=self._table.name,
                Item=item,
                ConditionExpression="attribute_not_exists(p)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as failed:
            if failed.item:
                return self._parse(key.subject_id, failed.item)
            stored = self.get(key.subject_id)
            if stored is None:  # deleted in between: try once more
                return self.create(key)
            return stored
        return key

    def delete(self, subject_id: str) -> None:
        check_subject_id(subject_id)
        self._call(
            "delete_item",
            "delete_subject_key",
            TableName=self._table.name,
            Key={"p": _subject_pk(subject_id), "s": {"S": _KEY_SORT}},
        )

    def add_aggregate(self, subject_id: str, aggregate_type: str, aggregate_key: str) -> None:
        check_subject_id(subject_id)
        check_aggregate(aggregate_type, aggregate_key)
        name = self._table.name
        self._call(
            "put_item",
            "index_subject",
            TableName=name,
            Item={
                "p": _subject_pk(subject_id),
                "s": _aggregate_ref(aggregate_type, aggregate_key),
                "t": {"S": aggregate_type},
                "a": {"S": aggregate_key},
            },
        )
        self._call(
            "put_item",
            "index_subject",
            TableName=name,
            Item={"p": _aggregate_pk(aggregate_type, aggregate_key), "s": {"S": subject_id}},
        )

    def _query(self, name: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        start: dict[str, Any] | None = None
        while True:
            page = self._call(
                "query",
                name,
                TableName=self._table.name,
                ConsistentRead=True,
                **kwargs,
                **({"ExclusiveStartKey": start} if start else {}),
            )
            yield from page.get("Items", ())
            start = page.get("LastEvaluatedKey")
            if not start:
                return

    def aggregates(self, subject_id: str) -> Iterator[tuple[str, str]]:
        check_subject_id(subject_id)
        items = self._query(
            "read_subject_index",
            KeyConditionExpression="p = :p AND begins_with(s, :a)",
            ExpressionAttributeValues={":p": _subject_pk(subject_id), ":a": {"S": "a#"}},
        )
        try:
            found = sorted({(item["t"]["S"], item["a"]["S"]) for item in items})
        except (KeyError, TypeError) as exc:
            raise CorruptItem(
                f"table {self._table.name!r}", f"s#{subject_id} a#...", repr(exc)
            ) from exc
        return iter(found)

    def subjects(self, aggregate_type: str, aggregate_key: str) -> Iterator[str]:
        if not aggregate_type or not aggregate_key:
            return iter(())
        items = self._query(
            "read_subject_index",
            KeyConditionExpression="p = :p",
            ExpressionAttributeValues={":p": _aggregate_pk(aggregate_type, aggregate_key)},
            ProjectionExpression="s",
        )
        return iter([item["s"]["S"] for item in items])
