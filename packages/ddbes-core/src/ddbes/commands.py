"""Aggregate commands: ``aggregate_command``, new commits, and appends that survive an unknown
outcome."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar, cast, overload

from ddbes.errors import StoreUnavailable, VersionConflict
from ddbes.model import Commit, Event
from ddbes.ports import Clock, CommitStore
from ddbes.retry import RetryPolicy, call_with_retries

__all__ = [
    "aggregate_command",
    "append_at_head",
    "append_idempotently",
    "as_policy",
    "new_commit",
]

F = TypeVar("F", bound=Callable[..., Any])

UNKNOWN_OUTCOME_ATTEMPTS = 3
"""Appends whose outcome is unknown (StoreUnavailable) are retried with the same commit_id."""


class _Hydratable(Protocol):
    def hydrate(self) -> Any: ...


def as_policy(retry: bool | RetryPolicy | None) -> RetryPolicy | None:
    """``retry`` as a policy: a policy as it is, truthy as the default one, falsy as none."""
    if isinstance(retry, RetryPolicy):
        return retry
    return RetryPolicy() if retry else None


def append_idempotently(store: CommitStore, commit: Commit) -> Commit:
    """``store.append(commit)``, retried with the same ``commit_id`` while the outcome is unknown.

    The append is idempotent by ``commit_id``, so a retry after a timeout stores the commit once.
    """
    for attempt in range(1, UNKNOWN_OUTCOME_ATTEMPTS + 1):
        try:
            return store.append(commit)
        except StoreUnavailable:
            if attempt == UNKNOWN_OUTCOME_ATTEMPTS:
                raise
            time.sleep(RetryPolicy(initial_delay=0.05).delay(attempt))
    raise AssertionError("unreachable")  # pragma: no cover


def new_commit(
    clock: Clock,
    aggregate_type: str,
    aggregate_key: str,
    events: tuple[Event, ...],
    *,
    version: int,
    previous: datetime | None,
) -> Commit:
    """A commit of ``events`` at ``version``, timed now but never before ``previous``."""
    now = clock.now()
    if previous is not None and now < previous:
        now = previous  # committed_at never goes backwards within an aggregate
    return Commit(
        commit_id=os.urandom(16).hex(),  # 128 random bits, like a uuid4
        aggregate_type=aggregate_type,
        aggregate_key=aggregate_key,
        version=version,
        committed_at=now,
        events=events,
    )


def append_at_head(
    store: CommitStore,
    clock: Clock,
    aggregate_type: str,
    aggregate_key: str,
    events: tuple[Event, ...],
) -> Commit:
    """Blindly append ``events`` after the aggregate's head commit, retrying conflicts."""

    def attempt() -> Commit:
        head = next(
            store.read_commits(aggregate_type, aggregate_key, descending=True, limit=1), None
        )
        commit = new_commit(
            clock,
            aggregate_type,
            aggregate_key,
            events,
            version=head.version + 1 if head else 1,
            previous=head.committed_at if head else None,
        )
        return append_idempotently(store, commit)

    return call_with_retries(attempt, RetryPolicy(), retry_on=VersionConflict)


@overload
def aggregate_command(func: F, *, retry: bool | RetryPolicy = False) -> F: ...


@overload
def aggregate_command(
    func: None = None, *, retry: bool | RetryPolicy = False
) -> Callable[[F], F]: ...


def aggregate_command(
    func: F | None = None, *, retry: bool | RetryPolicy = False
) -> F | Callable[[F], F]:
    """Decorate an aggregate command method.

    With ``retry`` truthy (``True`` for the default :class:`RetryPolicy`, or a policy), a
    ``VersionConflict`` re-hydrates the aggregate and re-runs the whole command, so the command
    decides again on fresh state. Usable as ``@aggregate_command``,
    ``@aggregate_command(retry=True)`` or ``aggregate_command(func, retry=True)``.
    """

    def decorate(command: F) -> F:
        policy = as_policy(retry)
        if policy is None:
            return command

        @functools.wraps(command)
        def retrying(self: _Hydratable, *args: Any, **kwargs: Any) -> Any:
            return call_with_retries(
                lambda: command(self, *args, **kwargs),
                policy,
                retry_on=VersionConflict,
                before_retry=lambda _error, _attempt: self.hydrate(),
            )

        return cast("F", retrying)

    return decorate if func is None else decorate(func)
