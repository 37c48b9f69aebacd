"""Fixtures of the shared behaviour suite: every test runs on each API and each backend.

A backend gives the stores of both APIs over the same data: in memory, and on DynamoDB Local
(``DynamoDBCommitStore`` and ``AsyncDynamoDBCommitStore`` on one table). To run the suite on
another backend, add an async context-manager factory to :data:`BACKENDS`.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any

import pytest

import ddbes
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore, InMemorySnapshotStore
from ddbes.testing import ManualClock
from tests.behaviour.kit import ASYNC, SYNC, Api


@dataclass(frozen=True)
class Backend:
    """The stores of a backend, for each API; both of a kind share their data."""

    commit_stores: dict[str, Any]
    snapshot_stores: dict[str, Any]
    checkpoint_stores: dict[str, Any] = field(default_factory=dict)

    def commits(self, api: Api) -> Any:
        return self.commit_stores[api.name]

    def snapshots(self, api: Api) -> Any:
        return self.snapshot_stores[api.name]

    def checkpoints(self, api: Api) -> Any:
        return self.checkpoint_stores[api.name]

    async def flush_log(self) -> None:
        """Wait until the commits appended through either API's store are in the log (a
        DynamoDB table sequences it in the background)."""
        self.commit_stores["sync"].flush_log(timeout=30)
        flushed = self.commit_stores["async"].flush_log(timeout=30)
        if inspect.isawaitable(flushed):
            await flushed


@contextlib.contextmanager
def memory_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    commits, snapshots = InMemoryCommitStore(), InMemorySnapshotStore()
    checkpoints = InMemoryCheckpointStore()
    yield Backend(
        commit_stores={"sync": commits, "async": commits.as_async()},
        snapshot_stores={"sync": snapshots, "async": snapshots.as_async()},
        checkpoint_stores={"sync": checkpoints, "async": checkpoints.as_async()},
    )


@contextlib.asynccontextmanager
async def dynamodb_backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """DynamoDB Local: ``DynamoDBCommitStore`` and ``AsyncDynamoDBCommitStore`` (and the
    checkpoint stores) on one table. Snapshots stay in memory here: the snapshot adapters have
    their own contract suites."""
    from ddbes_dynamodb import (
        AsyncDynamoDBCheckpointStore,
        AsyncDynamoDBCommitStore,
        DynamoDBCheckpointStore,
    )
    from tests.dynamodb.tables import DynamoDBTables

    tables = DynamoDBTables(request.getfixturevalue("dynamodb_local").endpoint_url)
    commits = tables.commit_store()
    name, endpoint = commits.table_name, tables.endpoint_url
    snapshots = InMemorySnapshotStore()
    made = Backend(
        commit_stores={
            "sync": commits,
            "async": AsyncDynamoDBCommitStore(
                name, sync_client=tables.client, endpoint_url=endpoint
            ),
        },
        snapshot_stores={"sync": snapshots, "async": snapshots.as_async()},
        checkpoint_stores={
            "sync": DynamoDBCheckpointStore(name, client=tables.client),
            "async": AsyncDynamoDBCheckpointStore(name, endpoint_url=endpoint),
        },
    )
    try:
        yield made
    finally:
        await made.commit_stores["async"].close()
        await made.checkpoint_stores["async"].close()
        tables.delete_all()


@contextlib.asynccontextmanager
async def _memory(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    with memory_backend(request) as made:
        yield made


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], AbstractAsyncContextManager[Backend]]] = {
    "memory": _memory,
    "dynamodb": dynamodb_backend,
}


@pytest.fixture(params=[SYNC, ASYNC], ids=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Api:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=list(BACKENDS))
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async with BACKENDS[request.param](request) as made:
        yield made


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(autouse=True)
def _configured(api: Api, backend: Backend, clock: ManualClock) -> Iterator[None]:
    """The process-wide configuration points at the backend's stores of this API."""
    ddbes.config.reset()
    ddbes.config.update(
        commit_store=backend.commits(api),
        snapshot_store=backend.snapshots(api),
        snapshots=False,
        clock=clock,
    )
    yield
    ddbes.config.reset()
