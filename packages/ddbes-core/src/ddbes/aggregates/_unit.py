"""Atomic units: commits on several aggregates written in one transaction. Core operations
(see :mod:`ddbes.aggregates._requests`) shared by :class:`~ddbes.UnitOfWork` and
:class:`~ddbes.AsyncUnitOfWork`.

A unit stages one commit per aggregate (its events are folded into a copy of the state at
once, so an event the reducer rejects is refused before anything is written), then
:func:`saving` hands every commit to the store's ``append_all`` in one request and, when it
succeeds, advances each aggregate. When it fails nothing was written, and the aggregates keep
the state they had before the unit. :func:`unit_commanding` re-runs a whole unit on a conflict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ddbes import causation, telemetry
from ddbes.aggregates._base import AggregateBase
from ddbes.aggregates._committing import encoded_events, snapshot_due, writing_snapshot
from ddbes.aggregates._reducing import fold_commit
from ddbes.aggregates._requests import Call, Sleep, Steps
from ddbes.aggregates._retrying import ConflictRetries, Deadline
from ddbes.aggregates.commands import new_commit
from ddbes.clock import SystemClock
from ddbes.errors import CommitInProgress, VersionConflict
from ddbes.model import Commit
from ddbes.retry import RetryPolicy
from ddbes.timeouts import deadline_within

__all__ = ["UNIT_TIMEOUT", "Staged", "saving", "staging", "unit_commanding"]

UNIT_TIMEOUT = 20.0
"""The deadline of a retried unit command before its first aggregate is known (seconds): the
aggregates' default ``commit_timeout``."""


@dataclass(slots=True)
class Staged:
    """One aggregate's commit in a unit, and the state it leads to."""

    aggregate: AggregateBase
    commit: Commit
    state: Any


def staging(
    staged: list[Staged],
    aggregate: AggregateBase,
    event_or_events: Any,
    metadata: Mapping[str, Any] | None,
    *,
    asynchronous: bool,
) -> None:
    """Add ``aggregate``'s commit of ``event_or_events`` to ``staged`` (no I/O).

    Raises:
        TypeError: the aggregate is of the other API (an ``AsyncAggregate`` in a
            ``UnitOfWork`` or the reverse).
        ValueError: the aggregate already has a commit in this unit, or its commit store is
            not the one of the unit's other aggregates.
        InvalidEvent, ReducerFailed: as for ``commit``.
    """
    if aggregate._asynchronous != asynchronous:
        name = type(aggregate).__name__
        raise TypeError(
            f"{name} is an AsyncAggregate: use ddbes.AsyncUnitOfWork for it (UnitOfWork takes "
            "Aggregate instances)"
            if aggregate._asynchronous
            else f"{name} is a sync Aggregate: use ddbes.UnitOfWork for it (AsyncUnitOfWork "
            "takes AsyncAggregate instances)"
        )
    settings = aggregate._settings()
    for other in staged:
        if other.aggregate is aggregate or (
            type(other.aggregate).aggregate_type == type(aggregate).aggregate_type
            and other.aggregate.key == aggregate.key
        ):
            raise ValueError(
                f"{aggregate.aggregate_id} already has a commit in this unit: a unit holds one "
                "commit per aggregate, so pass all of its events in one call"
            )
        if other.aggregate._settings().commit_store is not settings.commit_store:
            raise ValueError(
                f"{aggregate.aggregate_id} uses another commit store than "
                f"{other.aggregate.aggregate_id}: a unit is one transaction in one store"
            )
    events = encoded_events(aggregate, event_or_events)
    base = staged[0].commit.committed_at if staged else None
    commit = new_commit(
        settings.clock,
        aggregate.aggregate_type,
        aggregate.key,
        events,
        version=aggregate.version + 1,
        previous=aggregate.head_committed_at,
        metadata=causation.metadata_for(metadata),
    )
    if base is not None and commit.committed_at < base:  # one time for the unit where it can
        commit = _at(commit, base)
    state = fold_commit(
        aggregate.state,
        commit,
        aggregate.reducer,
        type(aggregate).upcasters,
        stored=False,
        event_types=type(aggregate).event_types,
    )
    staged.append(Staged(aggregate, commit, state))


def _at(commit: Commit, when: Any) -> Commit:
    return Commit(
        commit_id=commit.commit_id,
        aggregate_type=commit.aggregate_type,
        aggregate_key=commit.aggregate_key,
        version=commit.version,
        committed_at=when,
        events=commit.events,
        metadata=commit.metadata,
    )


def saving(staged: list[Staged]) -> Steps[list[Commit]]:
    """Write the staged commits in one ``append_all`` and advance their aggregates.

    Raises:
        CommitInProgress: an aggregate is committing elsewhere at this moment.
        VersionConflict: naming the aggregate whose version was taken; nothing was written.
        CommitTooLarge, StoreUnavailable, ...: as ``CommitStore.append_all``.
    """
    if not staged:
        return []
    first = staged[0].aggregate._settings()
    timeout = max(one.aggregate._settings().commit_timeout for one in staged)
    taken: list[AggregateBase] = []
    try:
        for one in staged:
            if not one.aggregate._committing.acquire(blocking=False):
                raise CommitInProgress(
                    f"{one.aggregate.aggregate_id} is busy committing version "
                    f"{one.aggregate.version + 1}"
                )
            taken.append(one.aggregate)
        for one in staged:  # staged on the state it still has: no commit came in between
            if one.aggregate.version + 1 != one.commit.version:
                raise VersionConflict(
                    one.aggregate.aggregate_id,
                    one.commit.version,
                    f"{one.aggregate.aggregate_id} committed version {one.aggregate.version} "
                    "after its commit was staged in the unit: stage it again",
                )
        commits = [one.commit for one in staged]
        with (
            telemetry.span(
                "ddbes.commit_unit",
                {
                    "ddbes.unit.commits": len(commits),
                    "ddbes.aggregate.ids": [c.aggregate_id for c in commits],
                },
            ),
            deadline_within(timeout),
        ):
            stored: list[Commit] = yield Call(first.commit_store.append_all, (commits,))
        for one, commit in zip(staged, stored, strict=True):
            one.aggregate.state = one.state
            one.aggregate._advance(commit)
    finally:
        for aggregate in taken:
            aggregate._committing.release()
    for one in staged:
        settings = one.aggregate._settings()
        if settings.snapshots and snapshot_due(settings, one.aggregate.version):
            try:
                with deadline_within(settings.commit_timeout):
                    yield from writing_snapshot(one.aggregate, settings)
            except Exception as exc:  # the commits are durable; a snapshot is only a cache
                settings.logger.warning(
                    "could not write the snapshot of %s at version %d (the commit is stored): %s",
                    one.aggregate.aggregate_id,
                    one.aggregate.version,
                    exc,
                )
    return stored


def unit_commanding(
    command: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    policy: RetryPolicy | None,
    make_unit: Callable[[], Any],
) -> Steps[Any]:
    """Run ``command(unit, *args, **kwargs)`` with a new unit, then save the unit; on a
    conflict run it all again with a new unit (the command loads its aggregates afresh), as
    ``policy`` allows, within the aggregates' ``commit_timeout``."""
    clock = SystemClock()
    retries: ConflictRetries | None = None
    started = clock.monotonic()
    while True:
        unit = make_unit()
        try:
            result = yield Call(command, (unit, *args), kwargs)
            yield from saving(unit._staged)
            return result
        except VersionConflict as conflict:
            if retries is None:
                timeout = max(
                    (one.aggregate._settings().commit_timeout for one in unit._staged),
                    default=UNIT_TIMEOUT,
                )
                retries = ConflictRetries(policy, Deadline(clock, timeout, started))
            yield Sleep(clock, retries.pause_after(conflict))
        finally:
            unit._closed = True
