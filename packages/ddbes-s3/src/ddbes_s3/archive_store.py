"""``S3ArchiveStore``: the archive of cold aggregates' commits, one S3 object per aggregate."""

from __future__ import annotations

import threading
from typing import Any, Self

from ddbes.archiving import ArchiveStore
from ddbes.composition import Resources, Settings
from ddbes.errors import ConfigurationError
from ddbes.timeouts import DEFAULT_TIMEOUTS, Timeouts
from ddbes_s3 import _steps
from ddbes_s3._errors import translate_errors
from ddbes_s3._keys import normalize_prefix
from ddbes_s3._settings import store_arguments

__all__ = ["ArchiveObjects", "S3ArchiveStore", "archive_client_config"]


def archive_client_config(timeouts: Timeouts) -> dict[str, Any]:
    """botocore ``Config`` options of the clients the archive stores build: the connect and
    read timeouts of ``timeouts`` and up to 5 attempts (archives are the only copy of the
    events, unlike snapshots, a cache that gives up sooner)."""
    return {
        "connect_timeout": timeouts.connect,
        "read_timeout": timeouts.read,
        "retries": {"mode": "standard", "total_max_attempts": 5},
    }


class ArchiveObjects:
    """A bucket, a prefix, and a client (given, or built on first use from the rest): what
    the sync and async archive stores share, down to their constructor and ``from_settings``."""

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
                f"{type(self).__name__} needs a bucket name, got {bucket!r} (the "
                "archive_bucket setting, DDBES_ARCHIVE_BUCKET)"
            )
        if client is not None and (
            endpoint_url is not None or region_name is not None or timeouts is not None
        ):
            raise ValueError("pass either a client or endpoint_url/region_name/timeouts, not both")
        self._bucket = bucket
        self._prefix = normalize_prefix(prefix)
        self._client = client
        self._endpoint_url = endpoint_url
        self._region_name = region_name
        self._timeouts = timeouts or DEFAULT_TIMEOUTS

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
        return f"{type(self).__name__}(bucket={self._bucket!r}, prefix={self._prefix!r})"

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The key prefix, ``""`` or ending with ``/``."""
        return self._prefix


class S3ArchiveStore(ArchiveObjects, ArchiveStore):
    """An :class:`~ddbes.archiving.ArchiveStore` in an S3 bucket, under an optional ``prefix``
    (a folder: ``"archive"`` means ``"archive/"``). Objects are
    ``{prefix}<type>/<key>/<version>.json.z`` (:func:`ddbes.archiving.archive_key`).

    Unlike snapshots, archives are the only copy of the events: the client this store builds
    retries up to 5 attempts, and nothing here deletes an object. Keep the bucket versioned,
    or with Object Lock, if you need to guard against deletes from outside ddbes.

    Args:
        bucket: the bucket's name (create it as for :class:`~ddbes_s3.S3SnapshotStore`).
        prefix: the key prefix of every object this store writes.
        **options: ``client``: a boto3 S3 client (thread-safe); without one, the store builds
            one on first use from ``endpoint_url``, ``region_name`` and ``timeouts``
            (:func:`archive_client_config`).

    Errors: a missing bucket, refused credentials or access are :class:`ConfigurationError`;
    an unreachable endpoint, timeouts, throttling and server errors are
    :class:`~ddbes.errors.StoreUnavailable`.
    """

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
                config=Config(**archive_client_config(self._timeouts)),
            )

    def put(self, key: str, body: bytes) -> None:
        steps = _steps.put_archive(self._bucket, self._prefix, key, body)
        _steps.drive(steps, self.client, self._bucket)

    def get(self, key: str) -> bytes | None:
        steps = _steps.get_archive(self._bucket, self._prefix, key)
        return _steps.drive(steps, self.client, self._bucket)
