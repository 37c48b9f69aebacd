"""ddbes-s3: aggregate snapshots on Amazon S3 (or any S3-compatible store).

>>> from ddbes_s3 import S3SnapshotStore
>>> store = S3SnapshotStore("my-bucket", prefix="snapshots")

:class:`AsyncS3SnapshotStore` is its asyncio twin (aiobotocore), on the same objects.
:class:`S3ArchiveStore` holds the commits of archived aggregates (``docs/archiving.md``), and
:class:`AsyncS3ArchiveStore` is its asyncio twin.
"""

from ddbes_s3.archive_store import S3ArchiveStore
from ddbes_s3.async_archive_store import AsyncS3ArchiveStore
from ddbes_s3.async_store import AsyncS3SnapshotStore
from ddbes_s3.store import S3SnapshotStore

__all__ = ["AsyncS3ArchiveStore", "AsyncS3SnapshotStore", "S3ArchiveStore", "S3SnapshotStore"]
