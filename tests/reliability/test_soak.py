"""Soak: commits through store → projector → websocket clients, reconciled at every hop.

50,000 commits run on the in-memory store; DynamoDB Local writes about 200-300 commits/s on
a 2-core machine (docs/reliability-soak.md), so the same pipeline runs 5,000 commits there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore
from ddbes_dynamodb import DynamoDBCheckpointStore
from tests.dynamodb.tables import DynamoDBTables
from tests.reliability.counts import report
from tests.reliability.soak import run_soak
from tests.services import DynamoDBLocal

pytestmark = pytest.mark.slow


@pytest.fixture
def tables(dynamodb_local: DynamoDBLocal) -> Iterator[DynamoDBTables]:
    made = DynamoDBTables(dynamodb_local.endpoint_url)
    yield made
    made.delete_all()


async def test_50000_commits_reach_every_hop_once_on_the_in_memory_store() -> None:
    counts, problems = await run_soak(
        "soak, in-memory store",
        InMemoryCommitStore(log_partitions=4),
        InMemoryCheckpointStore(),
        commits=50_000,
        writers=4,
        timeout=900,
        rate=4_000,
    )
    report(counts)
    assert not problems, problems


@pytest.mark.dynamodb
async def test_50000_commits_reach_every_hop_once_on_dynamodb_local(
    tables: DynamoDBTables,
) -> None:
    store = tables.commit_store(log_partitions=4)
    checkpoints = DynamoDBCheckpointStore(store.table_name, client=tables.client)
    counts, problems = await run_soak(
        "soak, DynamoDB Local",
        store,
        checkpoints,
        commits=50_000,
        writers=6,
        timeout=900,
    )
    report(counts)
    assert not problems, problems
