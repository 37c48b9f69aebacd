"""ddbes-s3: aggregate snapshots on Amazon S3 (or any S3-compatible store).

>>> from ddbes_s3 import S3SnapshotStore
>>> store = S3SnapshotStore("my-bucket", prefix="snapshots")
"""

from ddbes_s3.store import S3SnapshotStore

__all__ = ["S3SnapshotStore"]
