"""Handler retry: a failing projection handler is tried again by the policy, then stops the run.

Nothing is skipped: when the handler keeps failing, :class:`~ddbes.errors.ProjectionFailed`
names the commit, and the projector's checkpoint stays before it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ddbes.errors import ProjectionFailed
from ddbes.model import Commit
from ddbes.projection._steps import Call, Steps, run_sync
from ddbes.retry import RetryPolicy

__all__ = [
    "Abandoned",
    "Handler",
    "commit_label",
    "handler_label",
    "retry_handler",
    "retry_steps",
    "worker_failure",
]

Handler = Callable[[Commit], object]
"""A projection handler: receives one stored :class:`~ddbes.model.Commit`; its result is ignored
(an :class:`~ddbes.AsyncProjector` awaits it first when it is awaitable)."""


class Abandoned(Exception):
    """A commit is left unhandled: the projector is stopping or lost the partition's lease."""


def handler_label(handler: Handler) -> str:
    """A handler's name, for messages."""
    return str(getattr(handler, "__qualname__", None) or repr(handler))


def commit_label(commit: Commit, log_partition: int) -> str:
    """Which commit, for messages: ``commit at position … (aggregate version …, commit …)``."""
    return (
        f"commit at position {commit.position} of log partition {log_partition} "
        f"({commit.aggregate_id} version {commit.version}, commit {commit.commit_id})"
    )


def retry_handler(
    handler: Handler,
    commit: Commit,
    log_partition: int,
    error: Exception,
    *,
    projector: str,
    policy: RetryPolicy,
    log: Any,
    pause: Callable[[float], None],
    call: Callable[[Handler, Commit], object],
    stops: bool = True,
) -> None:
    """Retry a failed handler by the policy, in this thread: :func:`retry_steps`."""
    run_sync(
        retry_steps(
            handler, commit, log_partition, error, projector=projector, policy=policy, log=log,
            pause=pause, call=call, stops=stops,
        )
    )  # fmt: skip


def retry_steps(
    handler: Handler,
    commit: Commit,
    log_partition: int,
    error: Exception,
    *,
    projector: str,
    policy: RetryPolicy,
    log: Any,
    pause: Callable[[float], Any],
    call: Callable[[Handler, Commit], object],
    stops: bool = True,
) -> Steps[None]:
    """Retry a failed handler by the policy; raise ProjectionFailed when it keeps failing.

    ``pause`` sleeps between attempts and raises :class:`Abandoned` when the projector stops;
    ``call`` calls the handler (under the projector's handler timeout, if it has one). Either
    may be a coroutine function, in the async projector.
    With ``stops=False`` (``on_failure="park"``) the error says so and is not logged here: the
    projector logs the parking.
    """
    label = handler_label(handler)
    where = commit_label(commit, log_partition)
    for attempt in range(1, policy.max_attempts):
        delay = policy.delay(attempt)
        log.warning(
            "projector %r: handler %s failed on the %s (attempt %d of %d): %r; "
            "retrying in %.3f s",
            projector, label, where, attempt, policy.max_attempts, error, delay,
        )  # fmt: skip
        yield Call(pause, (delay,))
        try:
            yield Call(call, (handler, commit))
            return
        except Exception as exc:
            error = exc
    outcome = (
        "Nothing was skipped: the checkpoint stays before this commit, which is handled again "
        "when the projector restarts"
        if stops
        else "The commit is parked"
    )
    failure = ProjectionFailed(
        f"projector {projector!r}{' stopped' if stops else ''}: handler {label} failed "
        f"{policy.max_attempts} times on the {where}: {error!r}. {outcome}",
        position=commit.position,
        aggregate_id=commit.aggregate_id,
        version=commit.version,
        log_partition=log_partition,
    )
    if stops:
        log.error("%s", failure, exc_info=error)
    raise failure from error


def worker_failure(
    projector: str, error: BaseException, commit: Commit, log_partition: int
) -> ProjectionFailed:
    """The error that stops a projector when a worker failed outside any handler."""
    return ProjectionFailed(
        f"projector {projector!r} stopped: {error!r} while handling the commit at "
        f"position {commit.position} ({commit.aggregate_id} v{commit.version})",
        position=commit.position,
        aggregate_id=commit.aggregate_id,
        version=commit.version,
        log_partition=log_partition,
    )
