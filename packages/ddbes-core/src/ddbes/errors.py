"""The errors ddbes raises. Every one of them derives from :class:`DdbesError`.

::

    DdbesError
     ├── ConfigurationError        no store configured, bad options, missing table or adapter
     │    └── StaleCheckpoint      the read model looks new but the projector's checkpoint is not
     ├── InvalidEvent              an event that is not a JSON object with a non-empty string "type"
     ├── InvalidFilter             a malformed stream filter (also a ValueError)
     ├── AggregateNotFound         ``load(..., fail=True)`` found no commits
     ├── ReducerFailed             the reducer or an upcaster raised on an event (cause chained)
     ├── ConcurrencyError
     │    ├── VersionConflict      another commit already took this version
     │    ├── CommitInProgress     a second ``commit`` on an instance while one is in flight
     │    └── ProjectorConflict    another projector of the same name moved the checkpoint
     ├── RetriesExhausted          a retry policy gave up; ``.errors`` lists every failure
     ├── CommitTooLarge            a commit does not fit in one storage item; nothing was written
     ├── StoreError                a storage backend failed
     │    ├── StoreUnavailable     unreachable, throttled past retries, or timed out
     │    ├── CorruptItem          a stored record ddbes did not write, or a damaged one
     │    └── CheckpointConflict   a checkpoint would move backwards
     ├── SnapshotUnreadable        a stored snapshot cannot be decoded
     ├── ProjectionFailed          a projector handler kept failing on one commit
     │    └── CommitParked         ``wait_for``: that commit's aggregate is parked
     └── HandlerTimedOut           a projector handler did not return in time (also a TimeoutError)

Adapters translate their SDK's exceptions into these at one boundary and chain the original
(``raise ... from exc``), so no botocore or websockets exception ever crosses a port.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AggregateNotFound",
    "CheckpointConflict",
    "CommitInProgress",
    "CommitParked",
    "CommitTooLarge",
    "ConcurrencyError",
    "ConfigurationError",
    "CorruptItem",
    "DdbesError",
    "HandlerTimedOut",
    "InvalidEvent",
    "InvalidFilter",
    "ProjectionFailed",
    "ProjectorConflict",
    "ReducerFailed",
    "RetriesExhausted",
    "SnapshotUnreadable",
    "StaleCheckpoint",
    "StoreError",
    "StoreUnavailable",
    "VersionConflict",
]


class DdbesError(Exception):
    """Root of every error raised by ddbes."""


class ConfigurationError(DdbesError):
    """ddbes is not configured well enough to do what was asked (the message says how to fix it)."""


class InvalidEvent(DdbesError, ValueError):
    """An event is not a JSON-serializable dict with a non-empty string ``"type"``."""


class InvalidFilter(DdbesError, ValueError):
    """A stream filter is malformed (wrong shape, bad regular expression, over a limit)."""


class AggregateNotFound(DdbesError):
    """A keyed aggregate has no commits (raised by ``load(..., fail=True)``)."""

    def __init__(self, aggregate_type: str, aggregate_key: str) -> None:
        self.aggregate_type = aggregate_type
        self.aggregate_key = aggregate_key
        super().__init__(f"{aggregate_type} with key {aggregate_key!r} does not exist")


class ReducerFailed(DdbesError):
    """The reducer, or an upcaster before it, raised on an event; the cause is chained.

    Raised by ``commit`` (``stored`` false, ``commit_id`` ``None``): nothing was written and the
    instance keeps the state and version it had. Raised by ``load``/``hydrate`` (``stored``
    true): the stored history holds an event the current code rejects; fix the reducer, or add
    an upcaster that rewrites the event when it is read. ``version`` is the commit's version and
    ``event_index`` the event's place in it.
    """

    def __init__(
        self,
        *,
        aggregate_id: str,
        version: int,
        commit_id: str | None,
        event_type: str,
        event_index: int,
        stored: bool,
        upcasting: bool,
        cause: BaseException,
    ) -> None:
        self.aggregate_id = aggregate_id
        self.version = version
        self.commit_id = commit_id
        self.event_type = event_type
        self.event_index = event_index
        self.stored = stored
        who = f"the upcaster for {event_type!r}" if upcasting else "the reducer"
        what = f"{who} of {aggregate_id} raised {type(cause).__name__}: {cause}"
        where = f"event {event_index} ({event_type!r})"
        if stored:
            message = (
                f"{what} on {where} of stored commit {commit_id} (version {version}): the "
                "history holds an event the current code rejects; fix the reducer, or add an "
                f"upcaster for {event_type!r} that rewrites the event when it is read (README, "
                f"'Events the reducer rejects'); load(version={version - 1}) still reads the "
                "state before it"
            )
        else:
            message = (
                f"{what} on {where} of the commit at version {version}; nothing was written "
                "and the instance is unchanged: fix the reducer or the event"
            )
        super().__init__(message)


class ConcurrencyError(DdbesError):
    """Base of the errors caused by concurrent writers."""


class VersionConflict(ConcurrencyError):
    """Another commit already holds ``version`` of ``aggregate_id``; nothing was written."""

    def __init__(self, aggregate_id: str, version: int, message: str | None = None) -> None:
        self.aggregate_id = aggregate_id
        self.version = version
        super().__init__(
            message
            or f"version {version} of {aggregate_id} is already taken by another commit: "
            "hydrate the aggregate and try again, or commit with retry=True"
        )


class CommitInProgress(ConcurrencyError):
    """``commit`` was called on an aggregate instance that is already committing."""


class RetriesExhausted(DdbesError):
    """A retry policy ran out of attempts; ``errors`` holds the failure of every attempt."""

    def __init__(self, errors: Sequence[BaseException]) -> None:
        self.errors: list[BaseException] = list(errors)
        last = f": last error: {self.errors[-1]}" if self.errors else ""
        super().__init__(f"retries exhausted after {len(self.errors)} attempts{last}")


class CommitTooLarge(DdbesError):
    """A commit is larger than the store can hold in one item, or an atomic unit of commits
    is over a transaction's limits (``size`` and ``limit`` are then commits or bytes, as the
    message says); nothing was written."""

    def __init__(
        self, aggregate_id: str, size: int, limit: int, message: str | None = None
    ) -> None:
        self.aggregate_id = aggregate_id
        self.size = size
        self.limit = limit
        super().__init__(
            message
            or f"commit to {aggregate_id} is {size} bytes after encoding, over the limit of "
            f"{limit} bytes: split it into several commits or keep large payloads elsewhere"
        )


class StoreError(DdbesError):
    """A storage backend failed."""


class StoreUnavailable(StoreError):
    """A storage backend could not be reached, kept throttling, or timed out.

    The outcome of a write that raised this is unknown: retry it with the same ``commit_id``,
    which is idempotent.
    """


class CorruptItem(StoreError):
    """A stored record cannot be read: something other than ddbes wrote it, or it was damaged.

    ``store`` names where it is (a table), ``key`` the record's key, ``problem`` what is wrong;
    ``position`` is the global log position when the record is a log entry whose position is
    readable (a stream reader can then skip exactly that entry), else ``None``.
    """

    def __init__(self, store: str, key: str, problem: str, *, position: int | None = None) -> None:
        self.store = store
        self.key = key
        self.problem = problem
        self.position = position
        super().__init__(
            f"the item {key} in {store} cannot be read as ddbes data: {problem}. Something other "
            "than ddbes wrote it, or it was damaged: repair or remove it (docs/operations.md)"
        )


class CheckpointConflict(StoreError):
    """A checkpoint save would move a checkpoint backwards, or found it moved by someone else;
    it was left unchanged.

    ``current`` is the stored position when the store reported it, else ``None``.
    """

    def __init__(self, message: str, *, current: int | None = None) -> None:
        self.current = current
        super().__init__(message)


class SnapshotUnreadable(DdbesError):
    """A stored snapshot could not be decoded (corrupt, truncated, or of an unknown format)."""


class ProjectionFailed(DdbesError):
    """A projector handler kept failing on one commit; the checkpoint stays before it."""

    def __init__(
        self,
        message: str,
        *,
        position: int | None,
        aggregate_id: str,
        version: int,
        log_partition: int = 0,
    ) -> None:
        self.position = position
        self.aggregate_id = aggregate_id
        self.version = version
        self.log_partition = log_partition
        super().__init__(message)


class CommitParked(ProjectionFailed):
    """:meth:`ddbes.Projector.wait_for`: the projector went past the commit without handling
    it, because its aggregate is parked (``on_failure="park"``); see ``Projector.parked()``."""


class StaleCheckpoint(ConfigurationError):
    """A projector's read model looks new (its ``read_model_is_new`` hook says so) while its
    checkpoint is not: started, it would skip every commit before the checkpoint."""


class ProjectorConflict(ConcurrencyError):
    """Another projector of the same name moved this projector's checkpoint while it ran.

    Two projectors of one name without a lease store would handle every commit twice; the one
    that notices stops with this error. ``current`` is the position the checkpoint was moved to.
    """

    def __init__(self, message: str, *, name: str, log_partition: int, current: int) -> None:
        self.name = name
        self.log_partition = log_partition
        self.current = current
        super().__init__(message)


class HandlerTimedOut(DdbesError, TimeoutError):
    """A projector handler did not return within the projector's ``handler_timeout``.

    It counts as a failure of that handler on that commit: it is retried, then stops the
    projector with :class:`ProjectionFailed`. Python cannot stop a thread: the call that
    overran goes on in its own thread, which the projector abandons.
    """
