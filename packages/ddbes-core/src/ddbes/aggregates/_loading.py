"""Loading: what to read to bring an instance to its head, a version or a time, and how to put
it back when a read fails half-way. Core operations (see :mod:`ddbes.aggregates._requests`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from ddbes import telemetry
from ddbes.aggregates._base import AggregateBase, Point
from ddbes.aggregates._requests import ReadCommits, Steps
from ddbes.aggregates.snapshot_loading import hydrating_from_snapshot
from ddbes.codec import parse_time
from ddbes.errors import AggregateNotFound, InvalidEvent, ReducerFailed

__all__ = ["bounds", "hydrating", "loading", "restoring"]

A = TypeVar("A", bound=AggregateBase)

_IMMUTABLE = frozenset({type(None), bool, int, float, complex, str, bytes})


def bounds(version: int | None, time: datetime | str | None) -> tuple[int | None, datetime | None]:
    """The checked ``version`` and ``time`` bounds of a load.

    Raises:
        ValueError: ``version`` is negative, or ``time`` is naive or not ISO-8601.
        TypeError: ``version`` is not an int.
    """
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise TypeError(f"version must be an int, got {version!r}")
    if version is not None and version < 0:
        raise ValueError(f"version must be >= 0, got {version}")
    return version, parse_time(time) if time is not None else None


def hydrating(
    aggregate: AggregateBase, version: int | None = None, until: datetime | None = None
) -> Steps[None]:
    """Bring ``aggregate`` up to date, or to ``version`` / the last commit at or before ``until``.

    Raises:
        ReducerFailed, InvalidEvent: on a stored event; the instance keeps the point it had.
    """
    before = aggregate._point()
    try:
        yield from _replaying(aggregate, version, until)
    except (ReducerFailed, InvalidEvent):
        yield from restoring(aggregate, before)
        raise


def _replaying(
    aggregate: AggregateBase, version: int | None, until: datetime | None
) -> Steps[None]:
    if (version is not None and version < aggregate.version) or (
        until is not None
        and aggregate.head_committed_at is not None
        and until < aggregate.head_committed_at
    ):
        aggregate._reset()
    if version is not None and version == aggregate.version:
        return
    settings = aggregate._settings()
    if settings.snapshots:
        yield from hydrating_from_snapshot(aggregate, settings, version, until)
        return
    yield ReadCommits(
        settings.commit_store,
        aggregate.aggregate_type,
        aggregate.key,
        aggregate._apply,
        from_version=aggregate.version + 1,
        to_version=version,
        until=until,
    )


def restoring(aggregate: AggregateBase, point: Point) -> Steps[None]:
    """Put ``aggregate`` back at ``point`` after a reducer may have changed its state in place.

    Only failures pay for this: a state that cannot change in place is put back, any other is
    rebuilt from the commits (states are never copied). When they cannot be read, the
    instance is emptied (version 0): the next ``hydrate()`` rebuilds it.
    """
    if type(point[0]) in _IMMUTABLE:
        aggregate._put_back(point)
        return
    aggregate._reset()
    version = point[1]
    try:
        yield from _replaying(aggregate, version, None)
    except Exception as exc:
        aggregate._reset()
        aggregate._settings().logger.warning(
            "could not rebuild %s at version %d after a failed commit or load; the instance "
            "is now empty (version 0): hydrate() it again: %s",
            aggregate.aggregate_id,
            version,
            exc,
        )


def loading(
    cls: type[A],
    key: Any,
    version: int | None = None,
    time: datetime | str | None = None,
    fail: bool = False,
) -> Steps[A | None]:
    """The aggregate at its head, ``version`` or ``time``; ``None`` for a keyed aggregate
    without commits (there).

    Raises:
        AggregateNotFound: no commits, and ``fail`` is set.
    """
    instance = cls(key)
    checked, until = bounds(version, time)
    if telemetry.enabled():
        attributes = {
            "ddbes.aggregate.type": cls.aggregate_type,
            "ddbes.aggregate.key": instance.key,
        }
        with telemetry.span("ddbes.load", attributes) as span:
            yield from hydrating(instance, checked, until)
            if span is not None:
                span.set_attribute("ddbes.version", instance.version)
    else:
        yield from hydrating(instance, checked, until)
    if instance.version == 0 and cls._key_parts is not None:
        if fail:
            raise AggregateNotFound(cls.aggregate_type, instance.key)
        return None
    return instance
