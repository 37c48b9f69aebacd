"""The wire protocol, without I/O: message shapes, parsing, close and error codes.

``docs/protocol.md`` is the normative description; this module is its implementation, shared by
the server and the client. Everything here takes values and returns values.

Two dialects are spoken on the same endpoint, told apart by the client's first frame:

* **version 1** (a JSON object ``{"type": "subscribe", "protocol": 1, ...}``): commit frames with
  positions, checkpoints, heartbeats, error frames;
* **legacy** (a bare JSON array of filter sets, what the JavaScript library's ``EventStream``
  sends): one JSON object per event, the event's fields merged with ``aggregateType``,
  ``aggregateKey``, ``commitId``, ``version``, ``active`` and ``committedAt``, and nothing else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from ddbes.codec import format_time
from ddbes.model import Commit

__all__ = [
    "PROTOCOL_VERSION",
    "CloseCode",
    "ErrorCode",
    "ProtocolError",
    "Subscribe",
    "checkpoint_frame",
    "commit_frame",
    "decode_frame",
    "error_frame",
    "heartbeat_frame",
    "legacy_frame",
    "parse_client_frame",
    "parse_position",
    "subscribe_frame",
    "subscribed_frame",
]

PROTOCOL_VERSION = 1
"""The protocol version this package speaks (besides the legacy dialect)."""


class CloseCode(IntEnum):
    """Websocket close codes the server uses (RFC 6455 ones and ours in 4000-4999)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    """The server is shutting down: reconnect (elsewhere) and resume."""
    MESSAGE_TOO_BIG = 1009
    """A client frame was over the server's frame size limit."""
    INTERNAL_ERROR = 1011
    BAD_REQUEST = 4400
    """Too many bad frames, or a legacy client's bad filter: fix the client, do not retry."""
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    """The authorization hook refused the filters: do not retry with them."""
    SUBSCRIBE_TIMEOUT = 4408
    """No valid subscribe frame arrived in time."""
    FILTER_TOO_EXPENSIVE = 4422
    """A pattern needed more work on some event than its budget allows."""
    SLOW_CONSUMER = 4429
    """The client's buffer overflowed: reconnect and resume after the last position received."""


RETRYABLE_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014, CloseCode.SLOW_CONSUMER})
"""Close codes after which a client reconnects and resumes; others end the stream."""


class ErrorCode:
    """The ``code`` of an error frame."""

    BAD_JSON = "bad_json"
    BAD_FRAME = "bad_frame"
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    INVALID_FILTER = "invalid_filter"
    INVALID_POSITION = "invalid_position"
    FORBIDDEN = "forbidden"


class ProtocolError(ValueError):
    """A client frame the server cannot accept; ``code`` is an :class:`ErrorCode` value."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscribe:
    """A parsed subscribe request.

    Attributes:
        filters: the filter sets, as JSON decoded them (validated later by ``compile_filters``).
        after: the position to resume after: ``None`` for the log's head, else one int per log
            partition (a plain int was given for a one-partition log).
        legacy: the frame was a bare array (the JavaScript library's dialect).
    """

    filters: Any
    after: tuple[int, ...] | int | None
    legacy: bool


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def decode_frame(message: str | bytes) -> Any:
    """JSON from a text or binary frame.

    Raises:
        ProtocolError: ``bad_json`` for anything that is not UTF-8 JSON (NaN and Infinity
            included) or that nests too deeply to decode.
    """
    try:
        text = message.decode() if isinstance(message, bytes) else message
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, f"the frame is not valid JSON: {exc}") from None


def parse_client_frame(message: str | bytes) -> Subscribe:
    """A client frame as a :class:`Subscribe` request (both dialects).

    Raises:
        ProtocolError: the frame is not JSON, not an array or a subscribe object, or carries a
            malformed ``after`` or an unknown protocol version.
    """
    data = decode_frame(message)
    if isinstance(data, list):
        return Subscribe(filters=data, after=None, legacy=True)
    if not isinstance(data, dict):
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            'a frame must be a subscribe object {"type": "subscribe", ...} or an array of '
            "filter sets",
        )
    if data.get("type") != "subscribe":
        raise ProtocolError(
            ErrorCode.BAD_FRAME,
            f"unknown frame type {str(data.get('type'))[:64]!r}: "
            'the only client frame is {"type": "subscribe", ...}',
        )
    version = data.get("protocol", PROTOCOL_VERSION)
    if version != PROTOCOL_VERSION or type(version) is not int:
        raise ProtocolError(
            ErrorCode.UNSUPPORTED_PROTOCOL,
            f"protocol {str(version)[:16]} is not supported; this server speaks {PROTOCOL_VERSION}",
        )
    if "filters" not in data:
        raise ProtocolError(ErrorCode.BAD_FRAME, "a subscribe frame needs 'filters'")
    unknown = set(data) - {"type", "protocol", "filters", "after"}
    if unknown:
        raise ProtocolError(ErrorCode.BAD_FRAME, f"unknown subscribe fields: {sorted(unknown)[:8]}")
    return Subscribe(filters=data["filters"], after=parse_position(data.get("after")), legacy=False)


def parse_position(value: object) -> tuple[int, ...] | int | None:
    """A position as sent on the wire: ``null``, an int, or a list of ints (one per partition).

    Raises:
        ProtocolError: ``invalid_position`` for anything else, or negative numbers.
    """
    if value is None:
        return None
    if type(value) is int and value >= 0:
        return value
    if (
        isinstance(value, list)
        and value
        and len(value) <= 1024
        and all(type(item) is int and item >= 0 for item in value)
    ):
        return tuple(value)
    raise ProtocolError(
        ErrorCode.INVALID_POSITION,
        "'after' must be null, a non-negative int, or a list of them (one per log partition)",
    )


def position_vector(after: tuple[int, ...] | int, log_partitions: int) -> list[int]:
    """``after`` as one position per log partition.

    Raises:
        ProtocolError: ``invalid_position`` when the shape does not fit ``log_partitions``.
    """
    if isinstance(after, int):
        if log_partitions != 1:
            raise ProtocolError(
                ErrorCode.INVALID_POSITION,
                f"the log has {log_partitions} partitions: 'after' must be a list of "
                f"{log_partitions} positions",
            )
        return [after]
    if len(after) != log_partitions:
        raise ProtocolError(
            ErrorCode.INVALID_POSITION,
            f"'after' has {len(after)} positions but the log has {log_partitions} partitions",
        )
    return list(after)


def _dump(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def subscribe_frame(filters: Sequence[Mapping[str, Any]], after: Sequence[int] | None) -> str:
    """The client's subscribe frame."""
    return _dump(
        {
            "type": "subscribe",
            "protocol": PROTOCOL_VERSION,
            "filters": list(filters),
            "after": None if after is None else list(after),
        }
    )


def subscribed_frame(position: Sequence[int], heartbeat_interval: float) -> str:
    """The server's answer to a subscribe: where the stream starts."""
    return _dump(
        {
            "type": "subscribed",
            "protocol": PROTOCOL_VERSION,
            "logPartitions": len(position),
            "position": list(position),
            "heartbeatInterval": heartbeat_interval,
        }
    )


def commit_frame(commit: Commit, indexes: Sequence[int]) -> str:
    """The events at ``indexes`` of a stored commit, with the commit's envelope and position,
    and its metadata when it has any (``metadata``; absent when empty)."""
    frame: dict[str, Any] = {
        "type": "commit",
        "logPartition": commit.log_partition,
        "position": commit.position,
        "commitId": commit.commit_id,
        "aggregateType": commit.aggregate_type,
        "aggregateKey": commit.aggregate_key,
        "version": commit.version,
        "committedAt": format_time(commit.committed_at),
        "events": [{"index": index, "event": commit.events[index]} for index in indexes],
    }
    if commit.metadata:
        frame["metadata"] = dict(commit.metadata)
    return _dump(frame)


def checkpoint_frame(position: Sequence[int]) -> str:
    """The stream has passed ``position`` (commits the filters hide included)."""
    return _dump({"type": "checkpoint", "position": list(position)})


def heartbeat_frame() -> str:
    """Sent when nothing else was for a heartbeat interval."""
    return '{"type":"heartbeat"}'


def error_frame(code: str, message: str) -> str:
    """An error: ``code`` is an :class:`ErrorCode` value, ``message`` says what to fix."""
    return _dump({"type": "error", "code": code, "message": message})


def _js_time(moment: datetime) -> str:
    """JavaScript's ``Date.prototype.toISOString()``: UTC, milliseconds, ``Z``."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def legacy_frame(commit: Commit, index: int) -> str:
    """One event as the JavaScript library's server sent it: the event's fields, then the
    commit's (which win over same-named event fields, as they did there)."""
    event = commit.events[index]
    return _dump(
        {
            **event,
            "aggregateType": commit.aggregate_type,
            "aggregateKey": commit.aggregate_key,
            "commitId": commit.commit_id,
            "version": commit.version,
            "active": True,
            "committedAt": _js_time(commit.committed_at),
        }
    )
