"""Small builders shared by the S3 tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ddbes.model import Snapshot

WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def snapshot(
    aggregate_type: str = "Cart",
    aggregate_key: str = "a",
    *,
    version: int = 1,
    state: Any = None,
    checksum: str = "sum-1",
) -> Snapshot:
    """A snapshot with a state that names its aggregate, unless ``state`` is given."""
    return Snapshot(
        aggregate_type=aggregate_type,
        aggregate_key=aggregate_key,
        version=version,
        state={"type": aggregate_type, "key": aggregate_key} if state is None else state,
        head_commit_id=f"commit-{aggregate_type}-{aggregate_key}-{version}",
        head_committed_at=WHEN,
        checksum=checksum,
    )
