"""What every event must look like, checked without recursion (a shared limit of
:mod:`ddbes._validation`, kept apart so that the codec can use it too)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ddbes.errors import InvalidEvent

__all__ = ["MAX_EVENT_DEPTH", "check_event_shapes", "check_nesting"]

MAX_EVENT_DEPTH = 32
"""How deeply an event may nest objects and lists; the event object itself is level 1.

ddbes stores events as JSON text, which has no limit of its own; this one is DynamoDB's for its
own nested maps and lists, so that an event can always be copied into a DynamoDB map (by a
projector, or by a later storage format), and so that no reader of the log (Python's ``json``
included) meets an event that only deep recursion can decode."""


def check_event_shapes(events: Sequence[Any], where: str) -> None:
    """Raise :class:`InvalidEvent` unless every event is a dict with string keys and a non-empty
    string ``"type"``, nested at most :data:`MAX_EVENT_DEPTH` levels.

    Walks without recursion, so that a 5,000-level event gets a clear error, not a
    ``RecursionError``. (Keys of nested objects may be numbers: JSON turns them into strings.)
    """
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise InvalidEvent(
                f"event {index} of {where} is a {type(event).__name__}, not a dict: an event is "
                'a JSON object with a "type", such as {"type": "ItemAdded", ...}'
            )
        kind = event.get("type")
        if not isinstance(kind, str) or not kind:
            raise InvalidEvent(
                f"event {index} of {where} needs a non-empty string 'type', got {kind!r}"
            )
        if not all(isinstance(key, str) for key in event):
            raise InvalidEvent(f"event {index} ({kind!r}) of {where} has keys that are not strings")
        check_nesting(event, f"event {index} ({kind!r}) of {where}")


def check_nesting(event: dict[str, Any], what: str, error: type[Exception] = InvalidEvent) -> None:
    """Raise ``error`` when ``event`` (an event, or a commit's metadata) nests objects and
    lists deeper than :data:`MAX_EVENT_DEPTH` levels; walks without recursion."""
    nested = [(value, 2) for value in event.values() if isinstance(value, (dict, list, tuple))]
    if not nested:
        return  # the common flat event
    stack: list[tuple[Any, int]] = nested
    while stack:
        value, depth = stack.pop()
        if depth > MAX_EVENT_DEPTH:
            raise error(
                f"{what} nests objects and lists deeper than {MAX_EVENT_DEPTH} levels: flatten it"
            )
        children = value.values() if isinstance(value, dict) else value
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, (dict, list, tuple))
        )
