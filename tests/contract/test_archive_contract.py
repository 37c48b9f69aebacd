"""The archiving contracts: archive stores (memory, S3 on moto) and archivable commit stores
(memory, DynamoDB Local sequenced in the background and inline, moto), each archive check on
every one of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from ddbes.archiving import ArchivableCommitStore, ArchiveStore, InMemoryArchiveStore
from ddbes.memory import InMemoryCommitStore
from ddbes.testing.contracts import ARCHIVABLE_STORE_CHECKS, ARCHIVE_STORE_CHECKS
from tests.contract.conftest import _dynamodb_tables


@pytest.fixture(params=["memory", "s3"])
def archive_store_factory(request: pytest.FixtureRequest) -> Callable[[], ArchiveStore]:
    if request.param == "memory":
        return InMemoryArchiveStore
    from ddbes_s3 import S3ArchiveStore, S3SnapshotStore

    endpoint_url = request.getfixturevalue("s3_endpoint")

    def factory() -> ArchiveStore:
        bucket = f"ddbes-archive-{uuid.uuid4().hex[:12]}"
        S3SnapshotStore(bucket, endpoint_url=endpoint_url).create_bucket()
        return S3ArchiveStore(bucket, "archive", endpoint_url=endpoint_url)

    return factory


@pytest.fixture(params=["memory", "dynamodb-local", "dynamodb-local-inline", "moto"])
def archivable_store_factory(
    request: pytest.FixtureRequest,
) -> Iterator[Callable[[], ArchivableCommitStore]]:
    if request.param == "memory":
        yield lambda: InMemoryCommitStore(archive=InMemoryArchiveStore())
        return
    with _dynamodb_tables(request) as tables:
        yield lambda: tables.commit_store(archive=InMemoryArchiveStore())


@pytest.mark.parametrize("check", ARCHIVE_STORE_CHECKS.values(), ids=ARCHIVE_STORE_CHECKS.keys())
def test_archive_store_contract(
    check: Callable[[Callable[[], ArchiveStore]], None],
    archive_store_factory: Callable[[], ArchiveStore],
) -> None:
    check(archive_store_factory)


@pytest.mark.parametrize(
    "check", ARCHIVABLE_STORE_CHECKS.values(), ids=ARCHIVABLE_STORE_CHECKS.keys()
)
def test_archivable_store_contract(
    check: Callable[[Callable[[], ArchivableCommitStore]], None],
    archivable_store_factory: Callable[[], ArchivableCommitStore],
) -> None:
    check(archivable_store_factory)
