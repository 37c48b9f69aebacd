"""Aggregate commands: ``aggregate_command``, new commits, and blind appends at the head.

A command with ``retry`` re-runs on fresh state when it conflicts. That loop is written once,
as a core operation (:func:`commanding`); a ``def`` command runs it in the sync shell, an
``async def`` one in the async shell, so ``aggregate_command`` serves both aggregate APIs.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar, cast, overload

from ddbes.aggregates._base import AggregateBase
from ddbes.aggregates._loading import hydrating
from ddbes.aggregates._misuse import COMMAND_MARK, check_method
from ddbes.aggregates._requests import Append, Call, ReadCommits, Sleep, Steps
from ddbes.aggregates._retrying import ConflictRetries, Deadline
from ddbes.aggregates._shells import run_async, run_sync
from ddbes.errors import VersionConflict
from ddbes.model import Commit, Event
from ddbes.ports import Clock
from ddbes.retry import RetryPolicy
from ddbes.timeouts import deadline_within

__all__ = ["aggregate_command", "appending_at_head", "as_policy", "commanding", "new_commit"]

F = TypeVar("F", bound=Callable[..., Any])


def as_policy(retry: bool | RetryPolicy | None) -> RetryPolicy | None:
    """``retry`` as a policy: a policy as it is, truthy as the default one, falsy as none."""
    if isinstance(retry, RetryPolicy):
        return retry
    return RetryPolicy() if retry else None


def new_commit(
    clock: Clock,
    aggregate_type: str,
    aggregate_key: str,
    events: tuple[Event, ...],
    *,
    version: int,
    previous: datetime | None,
    metadata: Mapping[str, Any] | None = None,
) -> Commit:
    """A commit of ``events`` at ``version``, timed now but never before ``previous``, with
    ``metadata`` (see :func:`ddbes.causation.metadata_for`)."""
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
        metadata=metadata or {},
    )


def appending_at_head(
    store: Any,
    *,
    clock: Clock,
    aggregate_type: str,
    aggregate_key: str,
    events: tuple[Event, ...],
    timeout: float,
    metadata: Mapping[str, Any] | None = None,
) -> Steps[Commit]:
    """Blindly append ``events`` (with ``metadata``) after the aggregate's head commit,
    retrying conflicts, all within ``timeout`` seconds."""
    retries = ConflictRetries(RetryPolicy(), Deadline(clock, timeout, clock.monotonic()))
    scope = deadline_within(timeout)
    while True:
        heads: list[Commit] = []
        with scope:
            yield ReadCommits(
                store, aggregate_type, aggregate_key, heads.append, descending=True, limit=1
            )
        head = heads[0] if heads else None
        commit = new_commit(
            clock,
            aggregate_type,
            aggregate_key,
            events,
            version=head.version + 1 if head else 1,
            previous=head.committed_at if head else None,
            metadata=metadata,
        )
        try:
            with scope:
                return (yield Append(store, commit))  # type: ignore[no-any-return]
        except VersionConflict as conflict:
            yield Sleep(clock, retries.pause_after(conflict))


def commanding(
    aggregate: AggregateBase,
    command: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    policy: RetryPolicy,
) -> Steps[Any]:
    """Run ``command(aggregate, *args, **kwargs)``; on a conflict re-hydrate the aggregate and
    run it again, as ``policy`` and the aggregate's ``commit_timeout`` allow."""
    settings = aggregate._settings()
    deadline = Deadline(settings.clock, settings.commit_timeout, settings.clock.monotonic())
    retries = ConflictRetries(policy, deadline)
    scope = deadline_within(settings.commit_timeout)
    while True:
        try:
            with scope:
                result = yield Call(command, (aggregate, *args), kwargs)
            aggregate._check_awaited()
            return result
        except VersionConflict as conflict:
            yield Sleep(settings.clock, retries.pause_after(conflict))
            with scope:
                yield from hydrating(aggregate)


@overload
def aggregate_command(func: F, *, retry: bool | RetryPolicy = False) -> F: ...


@overload
def aggregate_command(
    func: None = None, *, retry: bool | RetryPolicy = False
) -> Callable[[F], F]: ...


def aggregate_command(
    func: F | None = None, *, retry: bool | RetryPolicy = False
) -> F | Callable[[F], F]:
    """Decorate an aggregate command method (``def`` on an ``Aggregate``, ``async def`` on an
    ``AsyncAggregate``).

    With ``retry`` truthy (``True`` for the default :class:`RetryPolicy`, or a policy), a
    ``VersionConflict`` re-hydrates the aggregate and re-runs the whole command (an ``async def``
    command is awaited again), so the command decides again on fresh state. Usable as
    ``@aggregate_command``, ``@aggregate_command(retry=True)`` or
    ``aggregate_command(func, retry=True)``.
    """

    def decorate(command: F) -> F:
        policy = as_policy(retry)
        asynchronous = inspect.iscoroutinefunction(command)
        name = getattr(command, "__name__", "command")

        def checked(aggregate: AggregateBase) -> None:
            if aggregate._asynchronous != asynchronous:  # attached after the class was made
                check_method(type(aggregate).__name__, name, command, aggregate._asynchronous)

        if asynchronous:

            @functools.wraps(command)
            async def run_async_command(self: AggregateBase, *args: Any, **kwargs: Any) -> Any:
                checked(self)
                if policy is None:
                    result = await command(self, *args, **kwargs)
                    self._check_awaited()
                    return result
                return await run_async(commanding(self, command, args, kwargs, policy))

            wrapper: Callable[..., Any] = run_async_command
        elif policy is None:
            wrapper = command
        else:

            @functools.wraps(command)
            def run_sync_command(self: AggregateBase, *args: Any, **kwargs: Any) -> Any:
                checked(self)
                return run_sync(commanding(self, command, args, kwargs, policy))

            wrapper = run_sync_command
        setattr(wrapper, COMMAND_MARK, True)
        return cast("F", wrapper)

    return decorate if func is None else decorate(func)
