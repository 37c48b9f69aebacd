"""The async DynamoDB stores pass the contract suites of their ports, run as async: each check
of ``ddbes.testing`` drives the store's coroutines through a blocking bridge."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ddbes.ports import CheckpointStore, CommitStore
from ddbes.testing.blocking import BlockingCheckpointStore, BlockingCommitStore, EventLoopThread
from ddbes.testing.contracts import (
    CHECKPOINT_STORE_CHECKS,
    COMMIT_STORE_CHECKS,
    CommitStoreFactory,
)
from ddbes_dynamodb import AsyncDynamoDBCheckpointStore, AsyncDynamoDBCommitStore
from ddbes_dynamodb.emulator import patch_moto_transactions
from tests.dynamodb.tables import DynamoDBTables


@pytest.fixture(scope="module")
def loop() -> Iterator[EventLoopThread]:
    thread = EventLoopThread()
    yield thread
    thread.close()


def _tables(request: pytest.FixtureRequest, param: str) -> DynamoDBTables:
    service = "moto_server" if param == "moto" else "dynamodb_local"
    if service == "moto_server":
        patch_moto_transactions()
    sequencing = "inline" if param.endswith("-inline") else "background"
    return DynamoDBTables(request.getfixturevalue(service).endpoint_url, sequencing=sequencing)


@pytest.fixture
def async_commit_store_factory(
    request: pytest.FixtureRequest, loop: EventLoopThread
) -> Iterator[CommitStoreFactory]:
    tables = _tables(request, request.param)
    made: list[AsyncDynamoDBCommitStore] = []

    def factory(*, log_partitions: int = 1) -> CommitStore:
        sync = tables.commit_store(log_partitions=log_partitions)
        store = AsyncDynamoDBCommitStore(
            sync.table_name, sync_client=tables.client, endpoint_url=tables.endpoint_url
        )
        made.append(store)
        return BlockingCommitStore(store, loop)

    try:
        yield factory
    finally:
        for store in made:
            loop.run(store.close())
        tables.delete_all()


@pytest.fixture(params=["dynamodb-local", "moto"])
def async_checkpoint_store_factory(
    request: pytest.FixtureRequest, loop: EventLoopThread
) -> Iterator[Callable[[], CheckpointStore]]:
    tables = _tables(request, request.param)
    made: list[AsyncDynamoDBCheckpointStore] = []

    def factory() -> CheckpointStore:
        sync = tables.commit_store()
        store = AsyncDynamoDBCheckpointStore(sync.table_name, endpoint_url=tables.endpoint_url)
        made.append(store)
        return BlockingCheckpointStore(store, loop)

    try:
        yield factory
    finally:
        for store in made:
            loop.run(store.close())
        tables.delete_all()


_SYNC_ONLY = {"long_history_reads_back_whole"}
"""20-35 s of CI for a check of pagination, which is the same step code (``_commit_log``) in
the sync store's contract run; the async driver never sees pages."""

_ELSEWHERE: dict[str, set[str]] = {
    # The whole suite runs on DynamoDB Local's default (background) table. The inline table and
    # moto run the checks whose requests differ there (the transactions of an inline append and
    # their cancellations, moto's answers); validation, decoding and reads are the same code
    # on every table.
    "dynamodb-local-inline": {
        "append_and_read_round_trip",
        "retried_commit_id_is_stored_once",
        "concurrent_writers_leave_dense_positions",
        "concurrent_writers_of_one_aggregate_conflict",
        "partitions_keep_dense_positions",
        "append_listeners_hear_each_stored_commit",
        "item_size_limit_is_exact_and_the_same_everywhere",
    },
    "moto": {
        "append_and_read_round_trip",
        "stale_version_conflicts_and_writes_nothing",
        "retried_commit_id_is_stored_once",
        "log_reads_resume_exactly_after_a_position",
        "keys_never_see_each_others_commits",
    },
}


def _commit_checks() -> list[object]:
    return [
        pytest.param(check, kind, id=f"{kind}-{name}")
        for kind in ("dynamodb-local", "dynamodb-local-inline", "moto")
        for name, check in COMMIT_STORE_CHECKS.items()
        if (kind == "dynamodb-local" and name not in _SYNC_ONLY) or name in _ELSEWHERE.get(kind, ())
    ]


@pytest.mark.parametrize(
    ("check", "async_commit_store_factory"),
    _commit_checks(),
    indirect=["async_commit_store_factory"],
)
def test_async_commit_store_contract(
    check: Callable[[CommitStoreFactory], None], async_commit_store_factory: CommitStoreFactory
) -> None:
    check(async_commit_store_factory)


@pytest.mark.parametrize(
    "check", CHECKPOINT_STORE_CHECKS.values(), ids=CHECKPOINT_STORE_CHECKS.keys()
)
def test_async_checkpoint_store_contract(
    check: Callable[[Callable[[], CheckpointStore]], None],
    async_checkpoint_store_factory: Callable[[], CheckpointStore],
) -> None:
    check(async_checkpoint_store_factory)
