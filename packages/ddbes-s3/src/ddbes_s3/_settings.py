"""The S3 stores' arguments from settings (:mod:`ddbes.composition`), for the sync and async
stores alike."""

from __future__ import annotations

from typing import Any

from ddbes.composition import Settings
from ddbes.timeouts import Timeouts

__all__ = ["store_arguments"]


def store_arguments(settings: Settings, kind: str = "snapshots") -> dict[str, Any]:
    """The keyword arguments of a snapshot store (``kind`` ``"snapshots"``) or an archive store
    (``"archive"``) for ``settings``: ``<kind>_bucket``, ``<kind>_prefix``, and where S3 is."""
    timeout = settings.get("timeout")
    return {
        "bucket": settings.get(f"{kind}_bucket") or "",
        "prefix": settings.get(f"{kind}_prefix") or "",
        "endpoint_url": settings.get("s3_endpoint_url") or settings.get("endpoint_url"),
        "region_name": settings.get("region_name"),
        "timeouts": None if timeout is None else Timeouts.within(float(timeout)),
    }
