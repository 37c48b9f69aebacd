"""Fixtures of the shared behaviour suite: every test runs on each API and each backend.

A backend gives the stores of both APIs over the same data. To run the suite on another
backend (DynamoDB Local with ``DynamoDBCommitStore`` and ``AsyncDynamoDBCommitStore`` on one
table, say), add a context-manager factory to :data:`BACKENDS` and a param to ``backend``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
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


@contextlib.contextmanager
def memory_backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    commits, snapshots = InMemoryCommitStore(), InMemorySnapshotStore()
    checkpoints = InMemoryCheckpointStore()
    yield Backend(
        commit_stores={"sync": commits, "async": commits.as_async()},
        snapshot_stores={"sync": snapshots, "async": snapshots.as_async()},
        checkpoint_stores={"sync": checkpoints, "async": checkpoints.as_async()},
    )


BACKENDS: dict[str, Callable[[pytest.FixtureRequest], AbstractContextManager[Backend]]] = {
    "memory": memory_backend,
}


@pytest.fixture(params=[SYNC, ASYNC], ids=["sync", "async"])
def api(request: pytest.FixtureRequest) -> Api:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(params=list(BACKENDS))
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    with BACKENDS[request.param](request) as made:
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
