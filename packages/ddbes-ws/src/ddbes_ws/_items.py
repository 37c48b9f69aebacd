"""What the client makes of the server's frames: stream items, checkpoints and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ddbes.codec import parse_time
from ddbes_ws import protocol
from ddbes_ws.errors import StreamError, StreamRefused
from ddbes_ws.protocol import ErrorCode

__all__ = [
    "Checkpoint",
    "Entry",
    "StreamItem",
    "closed_error",
    "items",
    "malformed_entries",
    "server_error",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class StreamItem:
    """One event from the stream, with its commit's envelope.

    ``position`` and ``log_partition`` place the event's commit in the global log;
    ``event_index`` is the event's index within its commit; ``metadata`` is the commit's
    (empty when it has none, or the server is older).
    """

    type: str
    event: dict[str, Any]
    aggregate_type: str
    aggregate_key: str
    commit_id: str
    version: int
    committed_at: datetime
    position: int
    log_partition: int
    event_index: int
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def aggregate_id(self) -> str:
        """``"<aggregate_type>:<aggregate_key>"``."""
        return f"{self.aggregate_type}:{self.aggregate_key}"


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The log position reached, past commits the filters hide."""

    position: tuple[int, ...]


Entry = tuple[StreamItem, bool] | Checkpoint
"""What the client buffers: an item (and whether it is its commit's last), or a checkpoint."""


def malformed_entries(frame: dict[str, Any]) -> list[int]:
    """The indexes (in the commit) of a ``commit`` frame's events that are not objects with a
    non-empty string ``type``: an older or foreign server may send them; :func:`items` skips
    them."""
    return [
        entry.get("index", -1) if isinstance(entry, dict) else -1
        for entry in frame["events"]
        if not _well_formed(entry)
    ]


def _well_formed(entry: object) -> bool:
    if not isinstance(entry, dict):
        return False
    event = entry.get("event")
    return (
        isinstance(event, dict)
        and isinstance(event.get("type"), str)
        and bool(event["type"])
        and type(entry.get("index")) is int
    )


def items(frame: dict[str, Any]) -> list[StreamItem]:
    """The items of a ``commit`` frame, one per well-formed event it carries."""
    committed_at = parse_time(frame["committedAt"])
    metadata = frame.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    return [
        StreamItem(
            type=entry["event"]["type"],
            event=entry["event"],
            aggregate_type=frame["aggregateType"],
            aggregate_key=frame["aggregateKey"],
            commit_id=frame["commitId"],
            version=frame["version"],
            committed_at=committed_at,
            position=frame["position"],
            log_partition=frame["logPartition"],
            event_index=entry["index"],
            metadata=dict(metadata),
        )
        for entry in frame["events"]
        if _well_formed(entry)
    ]


def server_error(frame: dict[str, Any]) -> StreamError:
    """The error an ``error`` frame stands for."""
    code, message = str(frame.get("code")), str(frame.get("message"))
    if code == ErrorCode.FORBIDDEN:
        return StreamRefused(f"the server refused the subscription: {message}", code)
    return StreamError(f"the server rejected the subscription ({code}): {message}", code)


def closed_error(code: int, reason: str) -> StreamError:
    """The error a close the client must not retry stands for."""
    if code == protocol.CloseCode.FORBIDDEN:
        return StreamRefused(f"the server refused the subscription: {reason}", code)
    return StreamError(f"the server closed the stream: {code} {reason}".rstrip(), code)
