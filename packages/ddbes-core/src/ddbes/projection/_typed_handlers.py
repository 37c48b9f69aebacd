"""Typed events for projector handlers: ``Projector(event_types=..., upcasters=...)``.

Handlers then receive the commit with its events upcast and decoded into their classes, as an
aggregate's reducer does (the same :func:`~ddbes.aggregates._reducing.decoded_events`):
upcasters run on the stored dicts first, then each event becomes an instance of the class its
``"type"`` names. The commit's other fields are the stored ones; checkpoints, parking and the
stream see the stored commit.

``event_types`` is what an aggregate declares, for every commit handled:

* an :class:`~ddbes.typed_events.EventTypes`, or the event classes themselves;
* or a mapping of aggregate type (``"*"`` for the others) to one of those, or to an aggregate
  class, whose ``event_types`` and ``upcasters`` are then used. Commits of types the mapping
  does not name reach their handlers as stored.

An event whose type names no class, or whose data does not fit its class, fails the commit
with :class:`~ddbes.errors.ProjectionFailed` naming the commit and the event, chained to the
:class:`~ddbes.errors.InvalidEvent`: not retried (decoding again gives the same answer), it stops
the projector, or with ``on_failure="park"`` parks the commit like any handler failure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from ddbes.aggregates._reducing import decoded_events
from ddbes.aggregates.upcasting import Upcasters
from ddbes.errors import InvalidEvent, ProjectionFailed, ReducerFailed
from ddbes.model import Commit
from ddbes.projection._handler_retry import commit_label
from ddbes.typed_events import EventTypes

__all__ = ["CommitDecoder", "commit_decoder", "decoded", "undecodable"]

_Decoding = tuple[Upcasters, EventTypes | None]


class CommitDecoder:
    """Upcasts and decodes the events of the commits a projector hands to its handlers."""

    __slots__ = ("_by_type", "_default")

    def __init__(self, by_type: dict[str, _Decoding], default: _Decoding | None) -> None:
        self._by_type = by_type
        self._default = default

    def __call__(self, commit: Commit) -> Commit:
        """``commit`` as its handlers receive it.

        Raises:
            InvalidEvent: an event fits no declared class (the message names the commit).
            ReducerFailed: an upcaster raised.
        """
        decoding = self._by_type.get(commit.aggregate_type, self._default)
        if decoding is None:
            return commit
        upcast, events = decoded_events(commit, decoding[0], decoding[1])
        return replace(upcast, events=events)


def _event_types(value: Any, option: str) -> EventTypes:
    if isinstance(value, EventTypes):
        return value
    if isinstance(value, Iterable) and not isinstance(value, str | bytes | Mapping):
        classes = list(value)
        if classes and all(isinstance(cls, type) for cls in classes):
            return EventTypes(*classes)
    raise TypeError(
        f"{option} must be an EventTypes, event classes, or an aggregate class, got {value!r}"
    )


def _decoding(value: Any, upcasters: Upcasters, option: str) -> _Decoding:
    if isinstance(value, type) and hasattr(value, "event_types") and hasattr(value, "upcasters"):
        # an aggregate class: its own event classes and upcasters
        return dict(value.upcasters or {}), value.event_types
    return upcasters, _event_types(value, option)


def commit_decoder(event_types: Any, upcasters: Upcasters | None) -> CommitDecoder | None:
    """The decoder of ``Projector(event_types=..., upcasters=...)``; ``None`` for neither.

    Raises:
        TypeError: ``event_types`` or ``upcasters`` is not one of the accepted forms.
    """
    if upcasters is not None and not isinstance(upcasters, Mapping):
        raise TypeError(f"upcasters must map event types to upcaster chains, got {upcasters!r}")
    shared: Upcasters = dict(upcasters or {})
    if event_types is None:
        return CommitDecoder({}, (shared, None)) if shared else None
    if isinstance(event_types, Mapping):
        by_type: dict[str, _Decoding] = {}
        for kind, value in event_types.items():
            if not isinstance(kind, str) or not kind:
                raise TypeError(f"event_types keys are aggregate types or '*', got {kind!r}")
            by_type[kind] = _decoding(value, shared, f"event_types[{kind!r}]")
        default = by_type.pop("*", (shared, None) if shared else None)
        return CommitDecoder(by_type, default)
    return CommitDecoder({}, (shared, _event_types(event_types, "event_types")))


def decoded(
    decode: CommitDecoder,
    commit: Commit,
    *,
    projector: str,
    log_partition: int,
    stops: bool,
    log: Any,
) -> Commit:
    """``commit`` with its events as the handlers take them (upcast, then decoded).

    Raises:
        ProjectionFailed: an event fits no class (logged first when it ``stops`` the
            projector); chained to the decoding error.
    """
    try:
        return decode(commit)
    except (InvalidEvent, ReducerFailed) as exc:
        failure = undecodable(projector, commit, log_partition, exc, stops=stops)
        if stops:
            log.error("%s", failure, exc_info=exc)
        raise failure from exc


def undecodable(
    projector: str,
    commit: Commit,
    log_partition: int,
    error: InvalidEvent | ReducerFailed,
    *,
    stops: bool,
) -> ProjectionFailed:
    """The failure of a commit whose events cannot be given to the handlers."""
    outcome = (
        "The checkpoint stays before it: declare the event's class or upcast it to one, then "
        "restart the projector"
        if stops
        else "The commit is parked: declare the event's class or upcast it to one, then retry it"
    )
    return ProjectionFailed(
        f"projector {projector!r}{' stopped' if stops else ''}: the events of the "
        f"{commit_label(commit, log_partition)} cannot be given to its handlers: {error}. "
        f"{outcome}",
        position=commit.position,
        aggregate_id=commit.aggregate_id,
        version=commit.version,
        log_partition=log_partition,
    )
