"""Committing: what to write for a commit, what to do when it conflicts or fails, and when to
write a snapshot after it. Core operations (see :mod:`ddbes.aggregates._requests`)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, TypeVar

from ddbes import causation, telemetry
from ddbes.aggregates._base import AggregateBase
from ddbes.aggregates._loading import hydrating, restoring
from ddbes.aggregates._reducing import fold_commit
from ddbes.aggregates._requests import Append, PutSnapshot, Sleep, Steps
from ddbes.aggregates._retrying import ConflictRetries, Deadline
from ddbes.aggregates._settings import AggregateSettings
from ddbes.aggregates.commands import as_policy, new_commit
from ddbes.codec import normalize_events
from ddbes.errors import CommitInProgress, ConfigurationError, VersionConflict
from ddbes.model import Event
from ddbes.retry import RetryPolicy
from ddbes.timeouts import deadline_within

__all__ = ["committing", "snapshot_due", "writing_snapshot"]

A = TypeVar("A", bound=AggregateBase)


def committing(
    aggregate: A,
    event_or_events: Any,
    retry: bool | RetryPolicy,
    metadata: Mapping[str, Any] | None = None,
) -> Steps[A]:
    """Append one commit of the events at ``version + 1`` and apply it; see ``Aggregate.commit``.

    The events are folded into the state before anything is written, so an event the reducer
    rejects is never stored. The whole commit, its conflict retries and the store's own
    retries included, ends within ``commit_timeout`` seconds. The commit's metadata is
    ``metadata`` with the correlation and causation ids :func:`ddbes.causation.metadata_for`
    adds. It is reported as a ``ddbes.commit`` span (conflicts as its events) and metrics.
    """
    events = encoded_events(aggregate, event_or_events)
    metadata = causation.metadata_for(metadata)
    if not telemetry.enabled():  # the common case: no span, no metric, no cost
        return (yield from _committing(aggregate, events, retry, metadata, None))
    with telemetry.span(
        "ddbes.commit",
        {
            "ddbes.aggregate.type": aggregate.aggregate_type,
            "ddbes.aggregate.key": aggregate.key,
            "ddbes.correlation_id": metadata.get(causation.CORRELATION_ID),
        },
    ) as span:
        began = time.perf_counter()
        result = yield from _committing(aggregate, events, retry, metadata, span)
        if span is not None:
            span.set_attribute("ddbes.version", aggregate.version)
        telemetry.record(
            "ddbes.commit.duration",
            time.perf_counter() - began,
            {"ddbes.aggregate.type": aggregate.aggregate_type},
        )
        return result


def encoded_events(aggregate: AggregateBase, event_or_events: Any) -> tuple[Event, ...]:
    """The events to store: instances of the aggregate's event classes encoded, validated."""
    event_types = type(aggregate).event_types
    if event_types is not None:
        if isinstance(event_or_events, (list, tuple)):
            event_or_events = [event_types.encode(event) for event in event_or_events]
        else:
            event_or_events = event_types.encode(event_or_events)
    return normalize_events(event_or_events, aggregate_id=aggregate.aggregate_id)


def _committing(
    aggregate: A,
    events: tuple[Event, ...],
    retry: bool | RetryPolicy,
    metadata: dict[str, Any],
    span: Any,
) -> Steps[A]:
    settings = aggregate._settings()
    if not aggregate._committing.acquire(blocking=False):
        raise CommitInProgress(
            f"{aggregate.aggregate_id} is busy committing version {aggregate.version + 1}"
        )
    clock = settings.clock
    started = clock.monotonic()
    scope = deadline_within(settings.commit_timeout)  # the stores' view of the deadline
    try:
        retries: ConflictRetries | None = None  # made at the first conflict: rare
        while True:
            before = aggregate._point()
            commit = new_commit(
                clock,
                aggregate.aggregate_type,
                aggregate.key,
                events,
                version=aggregate.version + 1,
                previous=aggregate.head_committed_at,
                metadata=metadata,
            )
            try:
                state = fold_commit(
                    aggregate.state,
                    commit,
                    aggregate.reducer,
                    type(aggregate).upcasters,
                    stored=False,
                    event_types=type(aggregate).event_types,
                )
                with scope:
                    stored = yield Append(settings.commit_store, commit)
            except VersionConflict as conflict:
                if span is not None or telemetry.enabled():
                    telemetry.event(span, "conflict", {"ddbes.version": commit.version})
                    telemetry.count(
                        "ddbes.commit.conflicts",
                        attributes={"ddbes.aggregate.type": commit.aggregate_type},
                    )
                yield from restoring(aggregate, before)
                if retries is None:
                    deadline = Deadline(clock, settings.commit_timeout, started)
                    retries = ConflictRetries(as_policy(retry), deadline)
                pause = retries.pause_after(conflict)
                yield Sleep(clock, pause)
                with scope:
                    yield from hydrating(aggregate)
                continue
            except Exception:  # the outcome of a StoreUnavailable is for the next load to see
                yield from restoring(aggregate, before)
                raise
            except BaseException:
                aggregate._reset()  # interrupted: no reads now; the next hydrate() rebuilds it
                raise
            aggregate.state = state
            aggregate._advance(stored)
            break
    finally:
        aggregate._committing.release()
    settings.logger.debug("committed %s version %d", aggregate.aggregate_id, aggregate.version)
    if settings.snapshots and snapshot_due(settings, aggregate.version):
        try:
            with scope:  # part of the commit: within its deadline
                yield from writing_snapshot(aggregate, settings)
        except Exception as exc:  # the commit is durable; a snapshot is only a cache
            settings.logger.warning(
                "could not write the snapshot of %s at version %d (the commit is stored): %s",
                aggregate.aggregate_id,
                aggregate.version,
                exc,
            )
    return aggregate


def snapshot_due(settings: AggregateSettings, version: int) -> bool:
    """Whether a snapshot is written after the commit at ``version``."""
    return settings.snapshots and version % settings.snapshots_frequency == 0


def writing_snapshot(aggregate: AggregateBase, settings: AggregateSettings) -> Steps[None]:
    """Store a snapshot of ``aggregate``'s current state (nothing before its first commit).

    Raises:
        ConfigurationError: no snapshot store is configured.
    """
    if settings.snapshot_store is None:
        raise ConfigurationError(f"{type(aggregate).__name__} has no snapshot_store configured")
    snapshot = aggregate._snapshot()
    if snapshot is not None:
        yield PutSnapshot(settings.snapshot_store, snapshot)
