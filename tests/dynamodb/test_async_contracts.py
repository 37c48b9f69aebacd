"""The async DynamoDB stores pass the contract suites of their ports, run as async: each check
of ``ddbes.testing`` drives the store's coroutines through a blocking bridge."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ddbes.ports import CheckpointStore, CommitStore
from ddbes.testing.contracts import (
    CHECKPOINT_STORE_CHECKS,
    COMMIT_STORE_CHECKS,
    CommitStoreFactory,
)
from ddbes_dynamodb import AsyncDynamoDBCheckpointStore, AsyncDynamoDBCommitStore
from ddbes_dynamodb.emulator import patch_moto_transactions
from tests.async_bridge import BlockingCheckpointStore, BlockingCommitStore, LoopThread
from tests.dynamodb.tables import DynamoDBTables


@pytest.fixture(scope="module")
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    yield thread
    thread.stop()


def _tables(request: pytest.FixtureRequest, param: str) -> DynamoDBTables:
    service = "moto_server" if param == "moto" else "dynamodb_local"
    if service == "moto_server":
        patch_moto_transactions()
    sequencing = "inline" if param.endswith("-inline") else "background"
    return DynamoDBTables(request.getfixturevalue(service).endpoint_url, sequencing=sequencing)


@pytest.fixture
def async_commit_store_factory(
    request: pytest.FixtureRequest, loop: LoopThread
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
    request: pytest.FixtureRequest, loop: LoopThread
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


_SLOW_ELSEWHERE = {"long_history_reads_back_whole"}
"""Checks run on DynamoDB Local's background table only: the same code reads every kind of
table, and on moto this one alone takes over a minute (its Query scans the whole table)."""


def _commit_checks() -> list[object]:
    return [
        pytest.param(check, kind, id=f"{kind}-{name}")
        for kind in ("dynamodb-local", "dynamodb-local-inline", "moto")
        for name, check in COMMIT_STORE_CHECKS.items()
        if kind == "dynamodb-local" or name not in _SLOW_ELSEWHERE
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
