"""The archiving contracts: archive stores (memory, S3 on moto; each sync, and async through
the blocking bridge) and archivable commit stores (memory, DynamoDB Local sequenced in the
background and inline, moto), each archive check on every one of them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from ddbes.archiving import ArchivableCommitStore, ArchiveStore, InMemoryArchiveStore
from ddbes.memory import InMemoryCommitStore
from ddbes.testing.blocking import BlockingArchiveStore, blocking_archive_store_factory
from ddbes.testing.contracts import ARCHIVABLE_STORE_CHECKS, ARCHIVE_STORE_CHECKS
from tests.contract.conftest import _dynamodb_tables


@pytest.fixture(params=["memory", "memory-async", "s3", "s3-async"])
def archive_store_factory(request: pytest.FixtureRequest) -> Iterator[Callable[[], ArchiveStore]]:
    """Each archive store; the async ones through the blocking bridge, as the other async
    contracts run."""
    if request.param == "memory":
        yield InMemoryArchiveStore
        return
    if request.param == "memory-async":
        with blocking_archive_store_factory(lambda: InMemoryArchiveStore().as_async()) as made:
            yield made
        return
    from ddbes_s3 import AsyncS3ArchiveStore, S3ArchiveStore, S3SnapshotStore

    endpoint_url = request.getfixturevalue("s3_endpoint")

    def bucket() -> str:
        name = f"ddbes-archive-{uuid.uuid4().hex[:12]}"
        S3SnapshotStore(name, endpoint_url=endpoint_url).create_bucket()
        return name

    if request.param == "s3":
        yield lambda: S3ArchiveStore(bucket(), "archive", endpoint_url=endpoint_url)
        return
    with blocking_archive_store_factory(
        lambda: AsyncS3ArchiveStore(bucket(), "archive", endpoint_url=endpoint_url)
    ) as made:
        opened: list[BlockingArchiveStore] = []

        def factory() -> ArchiveStore:
            opened.append(made())
            return opened[-1]

        yield factory
        for store in opened:
            store.close()


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
