"""``ddbes local --setup`` prints exports that a process's own ``create_container()`` reads the
way the ``ddbes`` command does: DynamoDB on the emulator, never an in-memory store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from ddbes import Aggregate
from ddbes.container import create_container, install
from ddbes.settings import config
from tests.cli.conftest import Ddbes, Local


@pytest.fixture
def pasted(local: Local, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process's environment after pasting the exports ``ddbes local`` printed."""
    for name, value in local.environment.items():
        monkeypatch.setenv(name, value)
    config.reset()
    yield local.environment
    config.reset()


def test_the_printed_exports_are_complete(pasted: dict[str, str], local: Local) -> None:
    assert pasted["DDBES_BACKEND"] == "dynamodb"
    assert pasted["DDBES_ENDPOINT_URL"] == local.endpoint_url
    assert pasted["DDBES_TABLE_NAME"] == "ddbes"
    assert pasted["DDBES_SNAPSHOTS"] == "dynamodb"
    assert pasted["DDBES_SNAPSHOTS_BUCKET"] == "ddbes-snapshots"


def test_create_container_with_the_exports_writes_where_the_command_reads(
    pasted: dict[str, str], ddbes: Ddbes
) -> None:
    from ddbes_dynamodb import DynamoDBCommitStore, DynamoDBSnapshotStore

    container = create_container()
    assert isinstance(container.commit_store(), DynamoDBCommitStore)
    assert isinstance(container.snapshot_store(), DynamoDBSnapshotStore)
    install(container)

    class Wired(Aggregate):
        aggregate_type = f"Wired{uuid.uuid4().hex[:8]}"

        @staticmethod
        def reducer(state: object, event: dict[str, object], commit: object) -> object:
            return event["n"]

    wired = Wired.load()
    assert wired is not None
    wired.commit({"type": "Set", "n": 1})
    shown = ddbes("inspect", Wired.aggregate_type, "@", "--json")
    assert shown.returncode == 0, shown.stderr
    assert shown.json()["version"] == 1
