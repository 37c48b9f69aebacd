"""Where a snapshot store keeps its objects, and how it reaches S3: what the sync and async
stores share, down to their constructor and ``from_settings``."""

from __future__ import annotations

from typing import Any, Self

from ddbes.composition import Resources, Settings
from ddbes.errors import ConfigurationError
from ddbes.timeouts import DEFAULT_TIMEOUTS, Timeouts
from ddbes_s3._keys import normalize_prefix, object_key
from ddbes_s3._settings import store_arguments

__all__ = ["SnapshotObjects"]


class SnapshotObjects:
    """A bucket, a prefix, and a client (given, or built on first use from the rest)."""

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
            raise ConfigurationError(f"{type(self).__name__} needs a bucket name, got {bucket!r}")
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
        """The store of ``snapshots_bucket`` and ``snapshots_prefix`` in ``settings``
        (:mod:`ddbes.composition`), at ``s3_endpoint_url`` (else ``endpoint_url``).

        Raises:
            ConfigurationError: no ``snapshots_bucket`` is set.
        """
        return cls(**store_arguments(settings))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bucket={self._bucket!r}, prefix={self._prefix!r})"

    @property
    def bucket(self) -> str:
        """The bucket's name."""
        return self._bucket

    @property
    def prefix(self) -> str:
        """The key prefix of every object this store writes (``""`` or ending with ``/``)."""
        return self._prefix

    def key_for(self, aggregate_type: str, aggregate_key: str) -> str:
        """The object key of an aggregate's snapshot."""
        return object_key(self._prefix, aggregate_type, aggregate_key)
