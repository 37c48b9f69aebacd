"""Aggregate commands: ``aggregate_command`` and the appends that survive an unknown outcome."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, cast, overload

from ddbes.errors import StoreUnavailable, VersionConflict
from ddbes.model import Commit
from ddbes.ports import CommitStore
from ddbes.retry import RetryPolicy, call_with_retries

__all__ = ["aggregate_command", "append_idempotently", "as_policy"]

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
