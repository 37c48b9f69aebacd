"""Checks shared by every adapter, so that all of them refuse the same malformed input."""

from __future__ import annotations

from ddbes.codec import COMPRESSION_THRESHOLD, compress, encode_events
from ddbes.errors import CommitTooLarge
from ddbes.model import Commit

__all__ = ["MAX_ITEM_BYTES", "check_commit", "check_log_partition", "encoded_events"]

MAX_ITEM_BYTES = 400 * 1024
"""DynamoDB's item size limit; every commit store holds commits to it."""


def check_commit(commit: Commit) -> None:
    """Raise ``ValueError`` for a commit no store may accept."""
    if (
        not isinstance(commit.version, int)
        or isinstance(commit.version, bool)
        or commit.version < 1
    ):
        raise ValueError(f"commit version must be an int >= 1, got {commit.version!r}")
    if not commit.aggregate_type or not isinstance(commit.aggregate_type, str):
        raise ValueError("commit aggregate_type must be a non-empty string")
    if not commit.aggregate_key or not isinstance(commit.aggregate_key, str):
        raise ValueError("commit aggregate_key must be a non-empty string")
    if not commit.commit_id or not isinstance(commit.commit_id, str):
        raise ValueError("commit_id must be a non-empty string")
    if not commit.events:
        raise ValueError("a commit needs at least one event")
    if commit.committed_at.tzinfo is None:
        raise ValueError("committed_at must be an aware datetime")


def encoded_events(commit: Commit, overhead: int = 0) -> tuple[bytes, bool]:
    """The commit's events as stored (compressed when that pays) and whether they are compressed.

    Raises:
        CommitTooLarge: the stored item would exceed :data:`MAX_ITEM_BYTES` with ``overhead``
            bytes of keys and attributes besides the events.
    """
    raw = encode_events(commit.events)
    payload, compressed = compress(raw) if len(raw) >= COMPRESSION_THRESHOLD else (raw, False)
    size = len(payload) + overhead
    if size > MAX_ITEM_BYTES:
        raise CommitTooLarge(commit.aggregate_id, size, MAX_ITEM_BYTES)
    return payload, compressed


def check_log_partition(log_partition: int, log_partitions: int) -> None:
    """Raise ``ValueError`` when ``log_partition`` is not in ``range(log_partitions)``."""
    if not 0 <= log_partition < log_partitions:
        raise ValueError(f"log_partition must be in 0..{log_partitions - 1}, got {log_partition}")
