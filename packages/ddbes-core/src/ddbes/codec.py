"""The codec: how events, states and times become bytes and come back.

Events come back exactly as storage returns them: JSON types only, with ``datetime``, ``date``,
``UUID`` and ``Decimal`` values turned into strings (datetimes as ISO-8601; aware ones in UTC with
a ``Z``; decimals as ``str(value)``, every digit and the exponent kept, so ``Decimal(text)`` gives
back an equal decimal with the same digits: money never passes through a float).
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from ddbes._event_shape import check_event_shapes
from ddbes.errors import InvalidEvent
from ddbes.model import Event

__all__ = [
    "COMPRESSION_THRESHOLD",
    "compress",
    "decode",
    "decode_events",
    "decompress",
    "encode",
    "encode_events",
    "encode_text",
    "format_time",
    "normalize_events",
    "parse_time",
]

COMPRESSION_THRESHOLD = 1024
"""Payloads at least this large are compressed when compression makes them smaller."""


def _default(value: object) -> object:
    if isinstance(value, datetime):
        return format_time(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"Decimal({str(value)!r}) is not a number JSON can hold")
        return str(value)
    if isinstance(value, (set, frozenset)):
        raise TypeError(f"a {type(value).__name__} is not JSON: use a list")
    raise TypeError(f"a value of type {type(value).__name__} is not JSON-serializable")


_ENCODER = json.JSONEncoder(
    separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_default
)
_DECODER = json.JSONDecoder()


def encode_text(value: Any) -> str:
    """Compact JSON text (no NaN or infinities)."""
    return _ENCODER.encode(value)


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON (no NaN or infinities)."""
    return _ENCODER.encode(value).encode()


def decode(data: bytes | str) -> Any:
    """The inverse of :func:`encode`."""
    return _DECODER.decode(data if isinstance(data, str) else data.decode())


def normalize_events(
    events: Event | Iterable[Event], *, aggregate_id: str = ""
) -> tuple[Event, ...]:
    """Validate events and return them as storage will give them back.

    Raises:
        InvalidEvent: an event is not a dict, lacks a non-empty string ``"type"``, has non-string
            keys, nests deeper than :data:`ddbes._event_shape.MAX_EVENT_DEPTH` levels, or holds a
            value JSON cannot represent (NaN and infinities included); or there are no events.
    """
    where = f" for {aggregate_id}" if aggregate_id else ""
    if isinstance(events, Mapping):
        events = [events]  # type: ignore[list-item]
    elif isinstance(events, (str, bytes)) or not isinstance(events, Iterable):
        raise InvalidEvent(
            f"events{where} must be a dict or a list of dicts, not {type(events).__name__}"
        )
    listed = list(events)
    if not listed:
        raise InvalidEvent(f"a commit{where} needs at least one event")
    check_event_shapes(listed, aggregate_id or "the commit")
    try:
        text = _ENCODER.encode(listed)
        if not text.isascii():
            text.encode()  # a lone surrogate has no UTF-8: refuse it here, not in a store
    except (TypeError, ValueError) as exc:
        raise InvalidEvent(f"events{where} are not JSON-serializable: {exc}") from exc
    decoded: list[Event] = _DECODER.decode(text)
    return tuple(decoded)


def encode_events(events: Iterable[Event]) -> bytes:
    """Events as compact JSON (a list)."""
    return encode(list(events))


def decode_events(data: bytes | str) -> tuple[Event, ...]:
    """Events from :func:`encode_events` output."""
    decoded = decode(data)
    if not isinstance(decoded, list):
        raise ValueError("stored events are not a JSON list")
    return tuple(decoded)


def compress(data: bytes) -> tuple[bytes, bool]:
    """``(payload, compressed)``: zlib-compressed when that makes a payload of at least
    :data:`COMPRESSION_THRESHOLD` bytes smaller, else the data unchanged."""
    if len(data) < COMPRESSION_THRESHOLD:
        return data, False
    packed = zlib.compress(data, 6)
    if len(packed) < len(data):
        return packed, True
    return data, False


def decompress(data: bytes, compressed: bool) -> bytes:
    """The inverse of :func:`compress`."""
    return zlib.decompress(data) if compressed else data


def format_time(moment: datetime) -> str:
    """An aware datetime as ISO-8601 UTC with microseconds and a ``Z``: sorts as it compares."""
    if moment.tzinfo is None:
        raise ValueError(
            f"a naive datetime ({moment.isoformat()}) has no time zone: use an aware one"
        )
    # isoformat pads the year to 4 digits, where strftime's %Y writes year 999 as "999".
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(moment: datetime | str) -> datetime:
    """An aware UTC datetime from an aware datetime or an ISO-8601 string with an offset or ``Z``.

    Raises:
        ValueError: the string is not ISO-8601, or the time has no time zone.
    """
    if isinstance(moment, str):
        try:
            parsed = datetime.fromisoformat(moment)
        except ValueError as exc:
            raise ValueError(f"{moment!r} is not an ISO-8601 time") from exc
    elif isinstance(moment, datetime):
        parsed = moment
    else:
        raise TypeError(
            f"a time must be a datetime or an ISO-8601 string, not {type(moment).__name__}"
        )
    if parsed.tzinfo is None:
        raise ValueError(f"{moment!r} has no time zone: use an aware datetime or add 'Z'/an offset")
    return parsed.astimezone(UTC)
