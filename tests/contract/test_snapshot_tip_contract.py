"""The SnapshotStore contract on ``DynamoDBSnapshotStore`` (DynamoDB Local): tips alone, and
tips backed by S3 (serialized moto) where every state of more than 64 bytes overflows to S3."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from ddbes.ports import SnapshotStore
from ddbes.testing.contracts import SNAPSHOT_STORE_CHECKS
from tests.dynamodb.tables import DynamoDBTables


@pytest.fixture(params=["dynamodb-tip", "dynamodb-tip+s3"])
def tip_store_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[], SnapshotStore]]:
    from ddbes_dynamodb import DynamoDBSnapshotStore
    from ddbes_s3 import S3SnapshotStore

    tables = DynamoDBTables(request.getfixturevalue("dynamodb_local").endpoint_url)
    s3_endpoint = request.getfixturevalue("s3_endpoint") if request.param.endswith("s3") else None

    def factory() -> SnapshotStore:
        if s3_endpoint is None:
            return DynamoDBSnapshotStore(tables.commit_store())
        overflow = S3SnapshotStore(
            f"ddbes-tips-{uuid.uuid4().hex[:12]}", "contract", endpoint_url=s3_endpoint
        )
        overflow.create_bucket()
        return DynamoDBSnapshotStore(tables.commit_store(), overflow=overflow, inline_limit=64)

    try:
        yield factory
    finally:
        tables.delete_all()


@pytest.mark.parametrize("check", SNAPSHOT_STORE_CHECKS.values(), ids=SNAPSHOT_STORE_CHECKS.keys())
def test_snapshot_store_contract_on_tips(
    check: Callable[[Callable[[], SnapshotStore]], None],
    tip_store_factory: Callable[[], SnapshotStore],
) -> None:
    check(tip_store_factory)
