"""``S3ArchiveStore``: the archive of cold aggregates' commits, one S3 object per aggregate."""

from __future__ import annotations

import threading
from typing import Any, Self

from botocore.exceptions import ClientError

from ddbes.archiving import ArchiveStore
from ddbes.composition import Resources, Settings
from ddbes.errors import ConfigurationError
from ddbes.timeouts import DEFAULT_TIMEOUTS, Timeouts
from ddbes_s3._errors import error_code, translate_errors
from ddbes_s3._keys import normalize_prefix
from ddbes_s3._settings import store_arguments

__all__ = ["S3ArchiveStore"]


class S3ArchiveStore(ArchiveStore):
    """An :class:`~ddbes.archiving.ArchiveStore` in an S3 bucket, under an optional ``prefix``
    (a folder: ``"archive"`` means ``"archive/"``). Objects are
    ``{prefix}<type>/<key>/<version>.json.z`` (:func:`ddbes.archiving.archive_key`).

    Unlike snapshots, archives are the only copy of the events: the client this store builds
    retries up to 5 attempts, and nothing here deletes an object. Keep the bucket versioned,
    or with Object Lock, if you need to guard against deletes from outside ddbes.

    Args:
        bucket: the bucket's name (create it as for :class:`~ddbes_s3.S3SnapshotStore`).
        prefix: the key prefix of every object this store writes.
        client: a boto3 S3 client (thread-safe); without one, the store builds one on first
            use from ``endpoint_url``, ``region_name`` and ``timeouts``.

    Errors: a missing bucket, refused credentials or access are :class:`ConfigurationError`;
    an unreachable endpoint, timeouts, throttling and server errors are
    :class:`~ddbes.errors.StoreUnavailable`.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        client: Any = None,
        endpoint_url: str | None = None,
        region_name: str | None = None,
        timeouts: Timeouts | None = None,
    ) -> None:
        if not bucket:
            raise ConfigurationError(
                f"S3ArchiveStore needs a bucket name, got {bucket!r} (the archive_bucket "
                "setting, DDBES_ARCHIVE_BUCKET)"
            )
        self._bucket = bucket
        self._prefix = normalize_prefix(prefix)
        self._client = client
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._timeouts = timeouts or DEFAULT_TIMEOUTS
        self._client_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, resources: Resources | None = None) -> Self:
        """The archive of ``archive_bucket`` and ``archive_prefix`` in ``settings``
        (:mod:`ddbes.composition`; ``DDBES_ARCHIVE_BUCKET``), at ``s3_endpoint_url`` (else
        ``endpoint_url``).

        Raises:
            ConfigurationError: no ``archive_bucket`` is set.
        """
        return cls(**store_arguments(settings, "archive"))

    def __repr__(self) -> str:
        return f"S3ArchiveStore(bucket={self._bucket!r}, prefix={self._prefix!r})"

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._bucket

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

        timeouts = self._timeouts
        with translate_errors("create a client", self._bucket):
            return boto3.client(
                "s3",
                endpoint_url=self._endpoint_url,
                region_name=self._region_name,
                config=Config(
                    connect_timeout=timeouts.connect,
                    read_timeout=timeouts.read,
                    retries={"mode": "standard", "total_max_attempts": 5},
                ),
            )

    def put(self, key: str, body: bytes) -> None:
        with translate_errors(f"write archive object {key!r}", self._bucket):
            self.client.put_object(
                Bucket=self._bucket,
                Key=self._prefix + key,
                Body=body,
                ContentType="application/zlib",
            )

    def get(self, key: str) -> bytes | None:
        with translate_errors(f"read archive object {key!r}", self._bucket):
            try:
                response = self.client.get_object(Bucket=self._bucket, Key=self._prefix + key)
            except ClientError as exc:
                if error_code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
            data: bytes = response["Body"].read()
            return data
