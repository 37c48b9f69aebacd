"""``S3SnapshotStore``: the latest snapshot of each aggregate, one S3 object per aggregate."""

from __future__ import annotations

import threading
from typing import Any

from botocore.exceptions import ClientError

from ddbes.errors import ConfigurationError
from ddbes.model import Snapshot
from ddbes.ports import SnapshotStore
from ddbes.timeouts import DEFAULT_TIMEOUTS, Timeouts
from ddbes_s3 import _steps
from ddbes_s3._errors import error_code, translate_errors
from ddbes_s3._location import SnapshotObjects

__all__ = ["DEFAULT_CLIENT_CONFIG", "S3SnapshotStore", "client_config"]


def client_config(timeouts: Timeouts) -> dict[str, Any]:
    """botocore ``Config`` options for ``timeouts``: its connect and read timeouts, and as many
    attempts (1 to 3) as hung reads fit in its ``total``. Snapshots are a cache: better to
    give up and replay than to hang a load for minutes."""
    attempts = max(1, min(3, int(timeouts.total // timeouts.read)))
    return {
        "connect_timeout": timeouts.connect,
        "read_timeout": timeouts.read,
        "retries": {"mode": "standard", "total_max_attempts": attempts},
    }


DEFAULT_CLIENT_CONFIG: dict[str, Any] = client_config(DEFAULT_TIMEOUTS)
"""botocore ``Config`` options of the client the store builds when it is given none: 3 s to
connect, 10 s to read, 2 attempts (an endpoint that never answers fails a call in about 20 s)."""


class S3SnapshotStore(SnapshotObjects, SnapshotStore):
    """Snapshots in an S3 bucket (or any S3-compatible store), under an optional ``prefix``.

    Each aggregate has one object, ``{prefix}{type}/{key}.json`` with the type and key
    percent-encoded (see ``docs/snapshots.md``), so any characters are safe and no two
    aggregates share an object. A non-empty ``prefix`` is used as a folder: ``"snapshots"``
    means ``"snapshots/"``. :meth:`clear` removes only objects of that layout under the prefix,
    so stores with other prefixes in the same bucket, nested ones included, are left alone.

    Args:
        bucket: the bucket's name. :meth:`create_bucket` creates it.
        prefix: the key prefix of every object this store writes.
        **options: keyword options. ``client``: a boto3 S3 client; without one, the store
            builds one on first use (with ``endpoint_url`` and ``region_name``, short timeouts
            and 3 attempts in all: :data:`DEFAULT_CLIENT_CONFIG`); boto3 clients are
            thread-safe, and so is the store. ``endpoint_url``: an S3-compatible endpoint
            (``http://127.0.0.1:9000``), without a client. ``region_name``: the region,
            without a client (default: boto3's configuration). ``timeouts``: the connect and
            read timeouts and the total of the client built here (:func:`client_config`;
            default :class:`~ddbes.timeouts.Timeouts`).

    Errors: a missing bucket, refused credentials or access are :class:`ConfigurationError`;
    an unreachable endpoint, timeouts, throttling and server errors are
    :class:`StoreUnavailable`; a body that cannot be decoded is :class:`SnapshotUnreadable`.
    """

    db_system = "s3"
    """The ``db.system`` of this store's telemetry spans."""

    fetch_in_parallel = True  # a GET waits on the network: loads read commits meanwhile

    def __init__(self, bucket: str, prefix: str = "", **options: Any) -> None:
        super().__init__(bucket, prefix, **options)
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client (built on first use when none was given)."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> Any:
        import boto3  # noqa: PLC0415 (importing boto3 costs ~0.2 s: only when a client is needed)
        from botocore.config import Config  # noqa: PLC0415

        with translate_errors("create a client", self._bucket):
            return boto3.client(
                "s3",
                endpoint_url=self._endpoint_url,
                region_name=self._region_name,
                config=Config(**client_config(self._timeouts)),
            )

    def get(self, aggregate_type: str, aggregate_key: str) -> Snapshot | None:
        steps = _steps.get(self._bucket, self._prefix, aggregate_type, aggregate_key)
        return _steps.drive(steps, self.client, self._bucket)

    def put(self, snapshot: Snapshot) -> None:
        _steps.drive(_steps.put(self._bucket, self._prefix, snapshot), self.client, self._bucket)

    def delete(self, aggregate_type: str, aggregate_key: str) -> None:
        steps = _steps.delete(self._bucket, self._prefix, aggregate_type, aggregate_key)
        _steps.drive(steps, self.client, self._bucket)

    def clear(self, aggregate_type: str | None = None) -> None:
        steps = _steps.clear(self._bucket, self._prefix, aggregate_type)
        _steps.drive(steps, self.client, self._bucket)

    def create_bucket(self) -> None:
        """Create the bucket (in the client's region); nothing happens when it exists already.

        Raises:
            ConfigurationError: the name is taken by another account, or is not a valid name.
            StoreUnavailable: S3 cannot be reached.
        """
        request: dict[str, Any] = {"Bucket": self._bucket}
        region = self.client.meta.region_name
        if region and region != "us-east-1":
            request["CreateBucketConfiguration"] = {"LocationConstraint": region}
        with translate_errors("create the bucket", self._bucket):
            try:
                self.client.create_bucket(**request)
            except ClientError as exc:
                code = error_code(exc)
                if code == "BucketAlreadyOwnedByYou":
                    return
                if code == "BucketAlreadyExists":
                    raise ConfigurationError(
                        f"S3 bucket {self._bucket!r} already exists and belongs to another "
                        "account: choose another bucket name"
                    ) from exc
                if code == "InvalidBucketName":
                    raise ConfigurationError(
                        f"{self._bucket!r} is not a valid S3 bucket name"
                    ) from exc
                raise
