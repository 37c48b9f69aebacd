"""``archive_bucket`` (``DDBES_ARCHIVE_BUCKET``): the container's DynamoDB commit stores, sync
and async, read the aggregates ``ddbes archive run`` moved to S3."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ddbes.archiving import ArchivePolicy, Archiver
from ddbes.container import create_container, load_configuration
from ddbes.errors import ConfigurationError
from ddbes.model import Commit
from ddbes.testing import ManualClock
from ddbes_dynamodb import AsyncDynamoDBCommitStore, DynamoDBCommitStore
from ddbes_dynamodb.emulator import patch_moto_transactions
from ddbes_s3 import AsyncS3ArchiveStore, S3ArchiveStore, S3SnapshotStore

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_the_archive_bucket_and_prefix_come_from_the_environment() -> None:
    configuration = load_configuration(
        {"backend": "dynamodb"},
        environ={"DDBES_ARCHIVE_BUCKET": "cold", "DDBES_ARCHIVE_PREFIX": "old"},
    )
    assert (configuration["archive_bucket"], configuration["archive_prefix"]) == ("cold", "old")
    assert load_configuration(environ={})["archive_prefix"] == "archive"  # `ddbes archive`'s


def test_an_archive_bucket_needs_the_dynamodb_backend() -> None:
    with pytest.raises(ConfigurationError, match=r"archive_bucket .* needs backend = 'dynamodb'"):
        load_configuration({"backend": "memory", "archive_bucket": "cold"}, environ={})


def test_without_an_archive_bucket_there_is_no_archive_store() -> None:
    container = create_container(
        {"backend": "dynamodb", "endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"},
        environ={},
    )
    assert container.archive_store() is None
    assert container.async_archive_store() is None
    assert container.commit_store().archive is None


def test_the_archive_store_is_built_from_settings() -> None:
    settings = {
        "archive_bucket": "cold",
        "archive_prefix": "x",
        "s3_endpoint_url": "http://127.0.0.1:9",
    }
    archive = S3ArchiveStore.from_settings(settings)
    assert (archive.bucket, repr(archive)) == ("cold", "S3ArchiveStore(bucket='cold', prefix='x/')")
    with pytest.raises(ConfigurationError, match="DDBES_ARCHIVE_BUCKET"):
        S3ArchiveStore.from_settings({})


async def test_the_containers_commit_stores_read_archived_aggregates(moto_server: Any) -> None:
    patch_moto_transactions()
    table, bucket = f"container-{uuid.uuid4().hex[:8]}", f"container-{uuid.uuid4().hex[:8]}"
    container = create_container(
        {
            "backend": "dynamodb",
            "table_name": table,
            "endpoint_url": moto_server.endpoint_url,
            "region_name": "us-east-1",
            "archive_bucket": bucket,
        },
        environ={},
    )
    archive = container.archive_store()
    assert isinstance(archive, S3ArchiveStore) and archive.bucket == bucket
    commits = container.commit_store()
    assert isinstance(commits, DynamoDBCommitStore) and commits.archive is archive
    commits.create_table()
    S3SnapshotStore(
        bucket, endpoint_url=moto_server.endpoint_url, region_name="us-east-1"
    ).create_bucket()
    store = container.async_commit_store()
    assert isinstance(store, AsyncDynamoDBCommitStore)
    async_archive = container.async_archive_store()
    assert isinstance(async_archive, AsyncS3ArchiveStore) and async_archive.bucket == bucket
    assert store._archived.archive is async_archive  # awaited, not read in a worker thread
    try:
        for version in (1, 2):
            commits.append(
                Commit(
                    commit_id=f"c{version}",
                    aggregate_type="Order",
                    aggregate_key="o",
                    version=version,
                    committed_at=T0,
                    events=({"type": "Line", "n": version},),
                )
            )
        commits.flush_log(timeout=30)
        before = list(commits.read_log())
        policy = ArchivePolicy(aggregate_types=("Order",), idle_for=timedelta(days=1))
        report = Archiver(commits, clock=ManualClock(T0 + timedelta(days=2))).run(policy)
        assert [one.location for one in report.archived] == ["Order/o/000000000002.json.z"]
        assert archive.get("Order/o/000000000002.json.z") is not None  # under "archive/"
        # A second container (a new process) reads them through its archive_bucket.
        again = create_container(dict(container.settings()), environ={})
        assert list(again.commit_store().read_log()) == before
        assert [c async for c in store.read_commits("Order", "o")] == before
    finally:
        await store.close()
        await async_archive.close()
        await container.resources().aclose()
        commits.delete_table()
