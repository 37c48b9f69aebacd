"""ddbes-s3: aggregate snapshots on Amazon S3 (or any S3-compatible store).

>>> from ddbes_s3 import S3SnapshotStore
>>> store = S3SnapshotStore("my-bucket", prefix="snapshots")

:class:`AsyncS3SnapshotStore` is its asyncio twin (aiobotocore), on the same objects.
"""

from ddbes_s3.async_store import AsyncS3SnapshotStore
from ddbes_s3.store import S3SnapshotStore

__all__ = ["AsyncS3SnapshotStore", "S3SnapshotStore"]
