"""A sync and an async commit store share a table: each reads what the other wrote, on both
table kinds; and the async store's bad use gets clear errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ddbes.errors import ConfigurationError, VersionConflict
from ddbes.model import Commit
from ddbes_dynamodb import (
    AsyncDynamoDBCheckpointStore,
    AsyncDynamoDBCommitStore,
    DynamoDBCheckpointStore,
)
from tests.dynamodb.tables import DynamoDBTables, table_name
from tests.services import DynamoDBLocal


def _commit(key: str, version: int) -> Commit:
    return Commit(
        commit_id=uuid.uuid4().hex,
        aggregate_type="Cart",
        aggregate_key=key,
        version=version,
        committed_at=datetime(2026, 1, 1, 0, 0, version, tzinfo=UTC),
        events=({"type": "Added", "n": version},),
    )


@pytest.mark.parametrize("sequencing", ["background", "inline"])
async def test_sync_and_async_stores_read_each_others_commits(
    dynamodb_local: DynamoDBLocal, sequencing: str
) -> None:
    tables = DynamoDBTables(dynamodb_local.endpoint_url, sequencing=sequencing)
    sync = tables.commit_store()
    store = AsyncDynamoDBCommitStore(
        sync.table_name, sync_client=tables.client, endpoint_url=tables.endpoint_url
    )
    try:
        sync.append(_commit("a", 1))
        await store.append(_commit("a", 2))  # follows the sync store's version 1
        with pytest.raises(VersionConflict):
            await store.append(_commit("a", 2))
        sync.append(_commit("a", 3))
        await store.append(_commit("b", 1))
        await store.flush_log(timeout=10)
        sync.flush_log(timeout=10)

        read_async = [c.version async for c in store.read_commits("Cart", "a")]
        assert read_async == [1, 2, 3]
        assert [c.version for c in sync.read_commits("Cart", "a")] == [1, 2, 3]
        log_async = [(c.aggregate_key, c.version) async for c in store.read_log()]
        log_sync = [(c.aggregate_key, c.version) for c in sync.read_log()]
        assert log_async == log_sync
        assert sorted(log_sync) == [("a", 1), ("a", 2), ("a", 3), ("b", 1)]
        assert [k async for k in store.aggregate_keys("Cart")] == ["a", "b"]
        assert await store.head_position() == sync.head_position() == 4

        checkpoints = AsyncDynamoDBCheckpointStore(
            sync.table_name, endpoint_url=tables.endpoint_url
        )
        await checkpoints.save("p", 3)
        assert await checkpoints.get("p") == 3
        await checkpoints.close()
        sync_checkpoints = DynamoDBCheckpointStore(sync.table_name, client=tables.client)
        assert sync_checkpoints.get("p") == 3
    finally:
        await store.close()
        tables.delete_all()


async def test_a_missing_table_is_a_configuration_error(dynamodb_local: DynamoDBLocal) -> None:
    store = AsyncDynamoDBCommitStore(table_name(), endpoint_url=dynamodb_local.endpoint_url)
    try:
        with pytest.raises(ConfigurationError, match="create_table"):
            await store.append(_commit("a", 1))
    finally:
        await store.close()
