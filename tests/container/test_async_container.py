"""The container builds async stores too, through the adapters' own from_settings, and the
stores of one app share one DynamoDB client."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from ddbes.container import create_container
from ddbes.errors import ConfigurationError
from ddbes.model import Commit
from ddbes_dynamodb import (
    AsyncDynamoDBCheckpointStore,
    AsyncDynamoDBCommitStore,
    DynamoDBCheckpointStore,
    DynamoDBCommitStore,
)
from ddbes_dynamodb.emulator import patch_moto_transactions
from ddbes_s3 import AsyncS3SnapshotStore


def test_the_dynamodb_stores_of_one_container_share_one_client() -> None:
    container = create_container(
        {"backend": "dynamodb", "endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
        environ={},
    )
    commits = container.commit_store()
    checkpoints = container.checkpoint_store()
    assert isinstance(commits, DynamoDBCommitStore)
    assert isinstance(checkpoints, DynamoDBCheckpointStore)
    assert checkpoints._table.client is commits.client
    async_commits = container.async_commit_store()
    async_checkpoints = container.async_checkpoint_store()
    assert isinstance(async_commits, AsyncDynamoDBCommitStore)
    assert isinstance(async_checkpoints, AsyncDynamoDBCheckpointStore)
    assert async_checkpoints._table is async_commits._handle
    assert async_commits._sync.client is commits.client  # the sequencer's client too


def test_async_stores_that_do_not_exist_say_what_to_configure() -> None:
    container = create_container({"backend": "dynamodb", "snapshots": "dynamodb"}, environ={})
    with pytest.raises(ConfigurationError, match="configure snapshots 's3' or 'memory'"):
        container.async_snapshot_store()


async def test_async_stores_from_the_container_share_the_sync_ones_table(
    moto_server: Any,
) -> None:
    patch_moto_transactions()
    table, bucket = f"container-{uuid.uuid4().hex[:8]}", f"container-{uuid.uuid4().hex[:8]}"
    container = create_container(
        {
            "backend": "dynamodb",
            "table_name": table,
            "endpoint_url": moto_server.endpoint_url,
            "region_name": "us-east-1",
            "snapshots": "s3",
            "snapshots_bucket": bucket,
        },
        environ={},
    )
    container.commit_store().create_table()
    container.snapshot_store().create_bucket()
    store = container.async_commit_store()
    assert isinstance(container.async_snapshot_store(), AsyncS3SnapshotStore)
    try:
        await store.append(
            Commit(
                commit_id="c1",
                aggregate_type="Cart",
                aggregate_key="a",
                version=1,
                committed_at=datetime.now(UTC),
                events=({"type": "Added"},),
            )
        )
        await store.flush_log(timeout=10)
        assert [c.commit_id for c in container.commit_store().read_log()] == ["c1"]
        await container.async_checkpoint_store().save("p", 1)
        assert container.checkpoint_store().get("p") == 1
    finally:
        await store.close()
        await container.async_snapshot_store().close()
        await container.resources().aclose()
        container.commit_store().delete_table()
