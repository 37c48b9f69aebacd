"""The container: providers by backend name, lazy adapters, install(), overrides."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from typing import Any

import pytest
from dependency_injector import providers

import ddbes
from ddbes.clock import SystemClock
from ddbes.container import create_container, install
from ddbes.errors import ConfigurationError
from ddbes.memory import InMemoryCheckpointStore, InMemoryCommitStore, InMemorySnapshotStore
from ddbes.testing import ManualClock
from tests.container.app import Counter, start


def test_memory_backends_build_in_memory_stores_once() -> None:
    container = create_container({"snapshots": "memory", "log_partitions": 3}, environ={})
    commits = container.commit_store()
    assert isinstance(commits, InMemoryCommitStore)
    assert commits.log_partitions == 3
    assert container.commit_store() is commits
    assert isinstance(container.checkpoint_store(), InMemoryCheckpointStore)
    assert isinstance(container.snapshot_store(), InMemorySnapshotStore)
    assert isinstance(container.clock(), SystemClock)


def test_snapshots_off_is_no_snapshot_store() -> None:
    container = create_container(environ={})
    assert container.snapshot_store() is None
    install(container)
    assert ddbes.config.snapshots is False
    assert ddbes.config.snapshot_store is None


def test_install_makes_the_stores_ddbes_config_defaults() -> None:
    container = create_container({"snapshots": "memory", "snapshots_frequency": 2}, environ={})
    install(container)
    assert ddbes.config.commit_store is container.commit_store()
    assert ddbes.config.checkpoint_store is container.checkpoint_store()
    assert ddbes.config.snapshot_store is container.snapshot_store()
    assert ddbes.config.snapshots is True
    assert ddbes.config.snapshots_frequency == 2
    counter = Counter.create(name="a").increment(5)
    assert counter.version == 2
    snapshot = container.snapshot_store().get("Counter", "a")
    assert snapshot is not None and snapshot.state == 5


def test_an_app_wired_for_aws_runs_on_in_memory_stores_by_overriding_providers() -> None:
    """A test of the application replaces the real stores; the adapters are never built."""
    container = create_container(
        {
            "backend": "dynamodb",
            "snapshots": "s3",
            "snapshots_bucket": "b",
            "snapshots_frequency": 3,
        },
        environ={},
    )
    commits, snapshots = InMemoryCommitStore(), InMemorySnapshotStore()
    clock = ManualClock()
    with (
        container.commit_store.override(providers.Object(commits)),
        container.checkpoint_store.override(providers.Object(InMemoryCheckpointStore())),
        container.snapshot_store.override(providers.Object(snapshots)),
        container.clock.override(providers.Object(clock)),
    ):
        start(container)
        counter = Counter.create(name="visits")
        for _ in range(3):
            counter.increment()
    assert ddbes.config.commit_store is commits
    assert [c.version for c in commits.read_commits("Counter", "visits")] == [1, 2, 3, 4]
    assert all(c.committed_at == clock.now() for c in commits.read_commits("Counter", "visits"))
    snapshot = snapshots.get("Counter", "visits")
    assert snapshot is not None and (snapshot.version, snapshot.state) == (3, 2)


def test_the_projector_factory_uses_the_containers_stores() -> None:
    container = create_container(environ={})
    install(container)
    Counter.create(name="p").increment(2)
    seen: list[int] = []
    projector = container.projector({"Counter": lambda c: seen.append(c.version)}, name="t")
    projector.run()
    assert seen == [1, 2]
    assert container.checkpoint_store().get("t") == 2


def test_a_missing_adapter_names_its_pip_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ddbes_dynamodb", None)
    monkeypatch.setitem(sys.modules, "ddbes_s3", None)
    container = create_container(
        {"backend": "dynamodb", "snapshots": "s3", "snapshots_bucket": "b"}, environ={}
    )
    with pytest.raises(ConfigurationError, match=r"pip install ddbes-dynamodb$"):
        container.commit_store()
    with pytest.raises(ConfigurationError, match=r"pip install ddbes-dynamodb$"):
        container.checkpoint_store()
    with pytest.raises(ConfigurationError, match=r"pip install ddbes-s3$"):
        container.snapshot_store()
    with pytest.raises(ConfigurationError, match="pip install ddbes-dynamodb"):
        install(container)


def test_adapters_are_imported_only_when_selected() -> None:
    probe = textwrap.dedent(
        """
        import sys
        from ddbes.container import create_container, install
        install(create_container({"snapshots": "memory"}, environ={}))
        print(sorted(m for m in ("ddbes_dynamodb", "ddbes_s3", "ddbes_ws", "boto3", "moto")
                     if m in sys.modules))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_real_adapters_are_built_from_configuration(moto_server: Any) -> None:
    table, bucket = f"container-{uuid.uuid4().hex[:8]}", f"container-{uuid.uuid4().hex[:8]}"
    container = create_container(
        {
            "backend": "dynamodb",
            "table_name": table,
            "endpoint_url": moto_server.endpoint_url,
            "region_name": "us-east-1",
            "snapshots": "s3",
            "snapshots_bucket": bucket,
            "snapshots_prefix": "app",
            "snapshots_frequency": 2,
        },
        environ={},
    )
    from ddbes_dynamodb import DynamoDBCheckpointStore, DynamoDBCommitStore
    from ddbes_s3 import S3SnapshotStore

    commits = container.commit_store()
    assert isinstance(commits, DynamoDBCommitStore) and commits.table_name == table
    checkpoints = container.checkpoint_store()
    assert isinstance(checkpoints, DynamoDBCheckpointStore) and checkpoints.table_name == table
    snapshots = container.snapshot_store()
    assert isinstance(snapshots, S3SnapshotStore)
    assert (snapshots.bucket, snapshots.prefix) == (bucket, "app/")
    commits.create_table()
    snapshots.create_bucket()
    try:
        install(container)
        Counter.create(name="real").increment(4)
        assert Counter.get_state("real") == 4
        snapshot = snapshots.get("Counter", "real")
        assert snapshot is not None and snapshot.version == 2
        container.projector({"*": lambda _c: None}, name="real").run()
        assert checkpoints.get("real") == commits.head_position()
    finally:
        snapshots.clear()
        commits.delete_table()


def test_dynamodb_snapshots_are_tips_in_the_commit_table_with_s3_overflow(
    moto_server: Any,
) -> None:
    table, bucket = f"container-{uuid.uuid4().hex[:8]}", f"container-{uuid.uuid4().hex[:8]}"
    settings = {
        "backend": "dynamodb",
        "table_name": table,
        "endpoint_url": moto_server.endpoint_url,
        "region_name": "us-east-1",
        "snapshots": "dynamodb",
        "snapshots_frequency": 2,
    }
    from ddbes_dynamodb import DynamoDBSnapshotStore
    from ddbes_s3 import S3SnapshotStore

    alone = create_container(settings, environ={}).snapshot_store()
    assert isinstance(alone, DynamoDBSnapshotStore) and alone.overflow is None
    container = create_container({**settings, "snapshots_bucket": bucket}, environ={})
    commits = container.commit_store()
    snapshots = container.snapshot_store()
    assert isinstance(snapshots, DynamoDBSnapshotStore)
    assert snapshots.serves(commits) and snapshots.table_name == table
    assert isinstance(snapshots.overflow, S3SnapshotStore) and snapshots.overflow.bucket == bucket
    commits.create_table()
    try:
        install(container)
        Counter.create(name="tip").increment(4)
        assert Counter.get_state("tip") == 4
        snapshot = snapshots.get("Counter", "tip")
        assert snapshot is not None and snapshot.version == 2
    finally:
        commits.delete_table()
