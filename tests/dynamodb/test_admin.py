"""Table administration: create, delete, describe, and the recorded log partitions."""

from __future__ import annotations

import logging

import pytest

from ddbes.errors import ConfigurationError
from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore, DynamoDBLeaseStore
from ddbes_dynamodb._sequencing import LEASE_NAME
from tests.dynamodb.helpers import commit
from tests.dynamodb.tables import DynamoDBTables, table_name

pytestmark = pytest.mark.dynamodb


def test_create_and_delete_are_idempotent(tables: DynamoDBTables) -> None:
    store = DynamoDBCommitStore(table_name(), client=tables.client)
    assert store.describe().status == "MISSING"
    store.create_table(log_partitions=2)
    store.append(commit("k", 1))
    store.create_table(log_partitions=2)  # an existing table is left as it is
    assert [c.version for c in store.read_commits("Cart", "k")] == [1]
    store.delete_table()
    store.delete_table()
    assert not store.describe().exists
    with pytest.raises(ConfigurationError, match="create_table"):
        store.head_position()


def test_every_store_reads_log_partitions_from_the_table(tables: DynamoDBTables) -> None:
    created = tables.commit_store(log_partitions=4)
    other = DynamoDBCommitStore(created.table_name, client=tables.client)
    assert other.log_partitions == 4
    for index in range(20):
        other.append(commit(f"k{index}", 1))
    other.close()  # sequences what it appended, and stops its sequencer
    description = created.describe()
    assert description.status == "ACTIVE"
    assert description.log_partitions == 4
    assert description.sequencing == "background"
    assert description.format_version == 3  # log pages
    assert description.billing_mode == "PAY_PER_REQUEST"
    assert sum(description.heads) == 20 and len(description.heads) == 4
    assert description.backlog == (0, 0, 0, 0)
    assert description.heads == tuple(created.head_position(p) for p in range(4))


def test_recreating_with_other_log_partitions_keeps_the_stored_ones(
    tables: DynamoDBTables, caplog: pytest.LogCaptureFixture
) -> None:
    store = tables.commit_store(log_partitions=3)
    again = DynamoDBCommitStore(store.table_name, client=tables.client)
    with caplog.at_level(logging.WARNING, logger="ddbes.dynamodb"):
        again.create_table(log_partitions=5)
    assert "log_partitions=3" in caplog.text
    assert again.log_partitions == 3


def test_provisioned_capacity_is_applied(tables: DynamoDBTables) -> None:
    store = DynamoDBCommitStore(table_name(), client=tables.client)
    tables.created.append(store)
    store.create_table(read_capacity=7, write_capacity=3)
    description = store.describe()
    assert description.billing_mode == "PROVISIONED"
    assert (description.read_capacity, description.write_capacity) == (7, 3)


@pytest.mark.parametrize(
    "arguments",
    [
        {"read_capacity": 5},
        {"write_capacity": 5},
        {"read_capacity": 0, "write_capacity": 5},
        {"log_partitions": 0},
        {"log_partitions": 2000},
        {"log_partitions": True},
    ],
)
def test_bad_create_arguments_are_refused_before_any_call(arguments: dict[str, int]) -> None:
    store = DynamoDBCommitStore("ddbes-never-created", endpoint_url="http://127.0.0.1:9")
    with pytest.raises(ValueError):
        store.create_table(**arguments)


def test_bad_table_names_are_refused() -> None:
    for name in ("ab", "has space", "x" * 256, "ümlaut"):
        with pytest.raises(ValueError, match="table name"):
            DynamoDBCommitStore(name, endpoint_url="http://127.0.0.1:9")


def test_a_foreign_table_of_that_name_is_a_configuration_error(tables: DynamoDBTables) -> None:
    name = table_name("ddbes-foreign")
    tables.client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    store = DynamoDBCommitStore(name, client=tables.client)
    tables.created.append(store)
    with pytest.raises(ConfigurationError, match="not a ddbes table"):
        store.create_table()


@pytest.mark.parametrize("sequencing", ["background", "inline"])
def test_create_without_waiting_records_log_partitions_on_first_use(
    tables: DynamoDBTables, sequencing: str
) -> None:
    store = DynamoDBCommitStore(table_name(), client=tables.client)
    tables.created.append(store)
    store.create_table(log_partitions=2, wait=False, sequencing=sequencing)
    stored = store.append(commit("k", 1))
    assert stored.position == (1 if sequencing == "inline" else None)
    store.flush_log(timeout=30)
    partition = stored.log_partition
    assert [(c.commit_id, c.position) for c in store.read_log(log_partition=partition)] == [
        (stored.commit_id, 1)
    ]
    other = DynamoDBCommitStore(store.table_name, client=tables.client)
    assert other.log_partitions == 2
    assert other.sequencing == sequencing
    assert other.describe().heads == tuple(int(p == partition) for p in range(2))
    assert other.describe().format_version == (1 if sequencing == "inline" else 3)


def test_flush_log_after_an_idempotent_create_table_still_waits_for_the_log(
    tables: DynamoDBTables,
) -> None:
    """create_table on an existing table leaves it as it is; the store must still know that
    its appended commits wait for the log."""
    store = tables.commit_store()
    leases = DynamoDBLeaseStore(store.table_name, client=tables.client)
    assert leases.acquire(LEASE_NAME, 0, "a-process-elsewhere", 600.0)  # no background thread
    stored = store.append(commit("k", 1))
    store.create_table()  # an existing table is left as it is
    store.flush_log(timeout=30)
    assert [c.commit_id for c in store.read_log()] == [stored.commit_id]


def test_checkpoints_live_beside_the_commits(tables: DynamoDBTables) -> None:
    store = tables.commit_store(log_partitions=2)
    checkpoints = DynamoDBCheckpointStore(store.table_name, client=tables.client)
    checkpoints.save("projector", 3, log_partition=1)
    store.append(commit("k", 1))
    assert checkpoints.get("projector", 1) == 3
    assert checkpoints.get("projector", 0) == 0
    assert list(store.aggregate_keys("Cart")) == ["k"]
    with pytest.raises(ValueError):
        checkpoints.save("projector", -1)
