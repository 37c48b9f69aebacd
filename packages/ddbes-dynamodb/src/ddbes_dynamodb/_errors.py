"""The one place that knows botocore's exceptions: it retries what is transient and translates
everything else into :mod:`ddbes.errors`.

::

    botocore error                                   becomes
    ───────────────────────────────────────────────  ─────────────────────────────────────────
    throttling, TransactionConflict, 5xx,            retried with jittered backoff within the
      connection errors and timeouts                   operation's deadline, then
                                                       StoreUnavailable (outcome unknown)
    TransactionCanceled with a failed condition      TransactionCancelled (internal; the
                                                       commit store turns it into a head
                                                       retry, a stored commit or VersionConflict)
    ConditionalCheckFailed (single-item writes)      ConditionFailed (internal)
    ResourceNotFoundException                        ConfigurationError naming create_table
    credentials, region, access denied               ConfigurationError
    item too large                                   ItemTooLarge (internal → CommitTooLarge)
    anything else                                    StoreError

The internal exceptions never leave the adapter: its stores catch them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)

from ddbes.errors import ConfigurationError, DdbesError, StoreError, StoreUnavailable
from ddbes.retry import RetryPolicy
from ddbes.timeouts import DEFAULT_TIMEOUTS

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "AsyncCaller",
    "Caller",
    "ConditionFailed",
    "ItemTooLarge",
    "TransactionCancelled",
    "deadline_within",
    "translate",
]

DEFAULT_RETRY_POLICY = RetryPolicy(max_attempts=8, initial_delay=0.01, backoff=2.0, max_delay=1.0)
"""Throttling and connection failures: 8 attempts over about 1.3 s on average, then give up."""

_RETRYABLE_CODES = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TransactionConflictException",
        "TransactionInProgressException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "LimitExceededException",
        "ConcurrentUpdateException",
        "InternalServiceException",
    }
)
_RETRYABLE_REASONS = frozenset(
    {
        "TransactionConflict",
        "ProvisionedThroughputExceeded",
        "ThrottlingError",
        "RequestLimitExceeded",
    }
)
_CONFIGURATION_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
    }
)
_TRANSIENT_BOTOCORE = (ConnectionError, HTTPClientError, IncompleteReadError)


class TransactionCancelled(Exception):
    """A transaction was cancelled because a condition failed; ``reasons`` has one per action."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__([reason.get("Code") for reason in reasons])
        self.reasons = reasons


class ConditionFailed(Exception):
    """A single-item conditional write failed; ``item`` is the stored item when returned."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


class ItemTooLarge(Exception):
    """DynamoDB refused an item for its size (our own size check should have caught it)."""


def _missing_table(table: str) -> ConfigurationError:
    return ConfigurationError(
        f"DynamoDB table {table!r} does not exist: create it with "
        f"DynamoDBCommitStore({table!r}).create_table() (or `ddbes table create`)"
    )


def translate(exc: BaseException, table: str, operation: str) -> DdbesError:
    """The :mod:`ddbes.errors` exception for a botocore exception that will not be retried."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", ""))
        if code == "ResourceNotFoundException":
            return _missing_table(table)
        if code in _CONFIGURATION_CODES:
            return ConfigurationError(
                f"DynamoDB refused {operation} on table {table!r} ({code}: {message}): "
                "check the credentials, region and permissions"
            )
        if code in _RETRYABLE_CODES or code == "TransactionCanceledException":
            return StoreUnavailable(
                f"DynamoDB kept refusing {operation} on table {table!r} ({code}: {message}); "
                "the outcome is unknown: retry with the same commit"
            )
        return StoreError(f"DynamoDB {operation} on table {table!r} failed: {code}: {message}")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return ConfigurationError(
            f"no AWS credentials for DynamoDB table {table!r}: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, a profile, or pass a configured client"
        )
    if isinstance(exc, NoRegionError):
        return ConfigurationError(
            f"no AWS region for DynamoDB table {table!r}: "
            "pass region_name or set AWS_DEFAULT_REGION"
        )
    if isinstance(exc, _TRANSIENT_BOTOCORE):
        return StoreUnavailable(
            f"DynamoDB could not be reached for {operation} on table {table!r} ({exc}); "
            "the outcome is unknown: retry with the same commit"
        )
    return StoreError(f"DynamoDB {operation} on table {table!r} failed: {exc}")


def _is_too_large(message: str) -> bool:
    lowered = message.lower()
    return "size" in lowered and ("exceed" in lowered or "too large" in lowered)


_deadline: ContextVar[float | None] = ContextVar("ddbes_dynamodb_deadline", default=None)


@contextmanager
def deadline_within(seconds: float | None) -> Iterator[None]:
    """Calls made inside (in this thread) end by ``seconds`` from now, or their own deadline,
    whichever comes first (``None``: no extra bound)."""
    if seconds is None:
        yield
        return
    at = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(at if outer is None else min(at, outer))
    try:
        yield
    finally:
        _deadline.reset(token)


class _Attempts:
    """The retry decisions of one operation: which failure is retried, after what pause, and
    when to give up (the deadline). Pure: the callers below do the waiting."""

    __slots__ = ("_attempt", "_caller", "_deadline", "_name", "_start", "_tolerate")

    def __init__(self, caller: _CallPolicy, name: str, tolerate: frozenset[str]) -> None:
        self._caller = caller
        self._name = name
        self._tolerate = tolerate
        self._start = start = caller._clock()
        deadline = start + caller._total
        scoped = _deadline.get()
        if scoped is not None and scoped < deadline:
            deadline = scoped
        self._deadline = deadline
        self._attempt = 1

    def failed(self, exc: ClientError | BotoCoreError, began: float) -> float | None:
        """The pause before the next attempt after ``exc`` (an attempt that began at
        ``began``), or ``None`` when ``exc`` is tolerated (the call returns ``None``).

        Raises:
            TransactionCancelled, ConditionFailed, ItemTooLarge, DdbesError: see
                :meth:`Caller.__call__`.
        """
        caller = self._caller
        table = caller._table
        name = self._name
        attempt = self._attempt
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if code in self._tolerate:
                return None
            if code == "TransactionCanceledException":
                reasons: list[dict[str, Any]] = exc.response.get("CancellationReasons") or []
                codes = {reason.get("Code", "None") for reason in reasons} - {"None"}
                if "ConditionalCheckFailed" in codes:
                    raise TransactionCancelled(reasons) from exc
                if "ValidationError" in codes and any(
                    _is_too_large(str(r.get("Message", ""))) for r in reasons
                ):
                    raise ItemTooLarge(str(error.get("Message", ""))) from exc
                retryable = bool(codes) and codes <= _RETRYABLE_REASONS
            elif code == "ConditionalCheckFailedException":
                raise ConditionFailed(exc.response.get("Item")) from exc
            elif code == "ValidationException" and _is_too_large(str(error.get("Message", ""))):
                raise ItemTooLarge(str(error.get("Message", ""))) from exc
            else:
                retryable = code in _RETRYABLE_CODES
            if not retryable or attempt >= caller._policy.max_attempts:
                raise translate(exc, table, name) from exc
        elif isinstance(exc, _TRANSIENT_BOTOCORE):
            if attempt >= caller._policy.max_attempts:
                raise translate(exc, table, name) from exc
        else:
            raise translate(exc, table, name) from exc
        now = caller._clock()
        delay = caller._policy.delay(attempt)
        if now + delay + (now - began) > self._deadline:
            raise caller._gave_up(exc, name, attempt, now - self._start) from exc
        self._attempt = attempt + 1
        return delay


class _CallPolicy:
    """What the sync and async callers share: the table, retry policy, deadline and clock."""

    __slots__ = ("_clock", "_policy", "_table", "_total")

    def __init__(
        self,
        table: str,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        *,
        total: float = DEFAULT_TIMEOUTS.total,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._table = table
        self._policy = policy
        self._total = total
        self._clock = clock

    @property
    def total(self) -> float:
        """The deadline of one operation, in seconds."""
        return self._total

    def _gave_up(
        self, failure: BaseException, name: str, attempts: int, elapsed: float
    ) -> StoreUnavailable:
        cause = translate(failure, self._table, name)
        return StoreUnavailable(
            f"{cause} (gave up after {attempts} attempt{'s' if attempts > 1 else ''} in "
            f"{elapsed:.1f} s; the deadline of one operation is {self._total:g} s)"
        )


class Caller(_CallPolicy):
    """Calls one botocore operation: retries transient failures, translates the rest; the
    one retry boundary of the adapter (:class:`AsyncCaller` is its asyncio twin, with the
    same decisions).

    Every operation ends within ``total`` seconds (about: an attempt in flight is bounded by
    the client's connect and read timeouts): a retry starts only when it can finish before
    the deadline, judged by how long the failed attempt took.
    """

    __slots__ = ("_sleep",)

    def __init__(
        self,
        table: str,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        *,
        total: float = DEFAULT_TIMEOUTS.total,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(table, policy, total=total, clock=clock)
        self._sleep = sleep

    def __call__(
        self,
        operation: Callable[..., Any],
        name: str,
        /,
        tolerate: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> Any:
        """``operation(**kwargs)``; ``name`` says what it was for in error messages.

        An error whose code is in ``tolerate`` returns ``None`` instead (a missing table for a
        delete, say).

        Raises:
            TransactionCancelled: a transaction failed a condition (not retried).
            ConditionFailed: a single-item write failed its condition.
            ItemTooLarge: DynamoDB refused an item for its size.
            DdbesError: as :func:`translate` maps it, after retries when transient;
                :class:`StoreUnavailable` when the deadline leaves no time for a retry.
        """
        attempts = _Attempts(self, name, tolerate)
        clock = self._clock
        while True:
            began = clock()
            try:
                return operation(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                delay = attempts.failed(exc, began)
            if delay is None:
                return None
            self._sleep(delay)


class AsyncCaller(_CallPolicy):
    """:class:`Caller` for aiobotocore's coroutines: the same retries, errors and deadline;
    the pauses are ``await``-ed, so they never block the event loop."""

    __slots__ = ("_sleep",)

    def __init__(
        self,
        table: str,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        total: float = DEFAULT_TIMEOUTS.total,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(table, policy, total=total, clock=clock)
        self._sleep = sleep

    async def __call__(
        self,
        operation: Callable[..., Awaitable[Any]],
        name: str,
        /,
        tolerate: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> Any:
        """``await operation(**kwargs)``, as :meth:`Caller.__call__`."""
        attempts = _Attempts(self, name, tolerate)
        clock = self._clock
        while True:
            began = clock()
            try:
                return await operation(**kwargs)
            except (ClientError, BotoCoreError) as exc:
                delay = attempts.failed(exc, began)
            if delay is None:
                return None
            await self._sleep(delay)
