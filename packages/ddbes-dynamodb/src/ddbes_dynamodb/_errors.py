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
    ValidationException on a key another schema      ConfigurationError naming the table's
      (a JavaScript ddbes table, a foreign table)      format (``explain``)
    credentials, region, access denied               ConfigurationError
    item too large                                   ItemTooLarge (internal → CommitTooLarge)
    anything else                                    StoreError

The internal exceptions never leave the adapter: its stores catch them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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

from ddbes import telemetry
from ddbes.errors import ConfigurationError, DdbesError, StoreError, StoreUnavailable
from ddbes.retry import RetryPolicy
from ddbes.timeouts import DEFAULT_TIMEOUTS, current_deadline, deadline_within
from ddbes_dynamodb import _capacity

__all__ = [
    "DEFAULT_RETRY_POLICY",
    "AsyncCaller",
    "Attempts",
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


def _is_key_mismatch(code: str, error: dict[str, Any]) -> bool:
    message = str(error.get("Message", ""))
    return code == "ValidationException" and (
        "required keys was not given" in message or "does not match the schema" in message
    )


def _is_too_large(message: str) -> bool:
    lowered = message.lower()
    return "size" in lowered and ("exceed" in lowered or "too large" in lowered)


@dataclass(slots=True, kw_only=True)
class Attempts:
    """One operation's attempts so far: when it started and must end, when the current attempt
    began (``time.monotonic`` seconds, or the caller's clock), and its number (1-based)."""

    start: float
    deadline: float
    began: float
    number: int = 1


class Caller:
    """Calls one botocore operation: retries transient failures, translates the rest; the
    one retry boundary of the adapter (botocore makes one attempt per call, and the aggregate
    core retries only conflicts).

    Every operation ends within ``total`` seconds, or by the deadline of the enclosing
    :func:`ddbes.timeouts.deadline_within` scope (a commit's ``commit_timeout``) when that
    comes first (about: an attempt in flight is bounded by the client's connect and read
    timeouts): a retry starts only when it can finish before the deadline, judged by how long
    the failed attempt took. Every pause of the adapter goes through :meth:`pause`.
    """

    __slots__ = ("_clock", "_explain", "_policy", "_sleep", "_table", "_total")

    def __init__(
        self,
        table: str,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], None] = time.sleep,
        *,
        total: float = DEFAULT_TIMEOUTS.total,
        clock: Callable[[], float] = time.monotonic,
        explain: Callable[[], DdbesError | None] | None = None,
    ) -> None:
        self._explain = explain
        self._table = table
        self._policy = policy
        self._sleep = sleep
        self._total = total
        self._clock = clock

    @property
    def total(self) -> float:
        """The deadline of one operation, in seconds."""
        return self._total

    def pause(self, seconds: float) -> None:
        """Wait ``seconds`` with the caller's sleep (between contended attempts, say)."""
        self._sleep(seconds)

    def time_left(self) -> float | None:
        """Seconds left before the enclosing scope's deadline; ``None`` outside any scope."""
        scoped = current_deadline()
        return None if scoped is None else scoped - self._clock()

    def __call__(
        self,
        operation: Callable[..., Any],
        name: str,
        /,
        tolerate: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> Any:
        """``operation(**kwargs)``; ``name`` says what it was for in error messages.

        While an OpenTelemetry SDK collects metrics, a call that can report the capacity it
        consumed is asked to, and the units are counted (:mod:`ddbes_dynamodb._capacity`).

        An error whose code is in ``tolerate`` returns ``None`` instead (a missing table for a
        delete, say).

        Raises:
            TransactionCancelled: a transaction failed a condition (not retried).
            ConditionFailed: a single-item write failed its condition.
            ItemTooLarge: DynamoDB refused an item for its size.
            DdbesError: as :func:`translate` maps it, after retries when transient;
                :class:`StoreUnavailable` when the deadline leaves no time for a retry.
        """
        attempts = self.begin()
        counted = _capacity.ask(operation, kwargs)
        while True:
            attempts.began = self._clock()
            try:
                response = operation(**kwargs)
                if counted is not None:
                    _capacity.report(response, counted, name)
                return response
            except (ClientError, BotoCoreError) as exc:
                pause = self.retry_after(exc, name, attempts, tolerate)
                if pause is None:
                    return None
            self._sleep(pause)

    def begin(self) -> Attempts:
        """The bookkeeping of one operation's attempts, starting now (for :meth:`retry_after`)."""
        start = self._clock()
        deadline = start + self._total
        scoped = current_deadline()
        if scoped is not None and scoped < deadline:
            deadline = scoped
        return Attempts(start=start, deadline=deadline, began=start)

    def retry_after(
        self,
        exc: ClientError | BotoCoreError,
        name: str,
        attempts: Attempts,
        tolerate: frozenset[str] = frozenset(),
    ) -> float | None:
        """What to do after an attempt raised ``exc``: no I/O here, so that a sync caller and
        an async one (aiobotocore raises botocore's exceptions) share every decision. Set
        ``attempts.began`` when each attempt begins.

        Returns:
            The pause before the next attempt, or ``None`` when ``exc``'s code is tolerated
            (the operation then returns ``None``).

        Raises:
            As :meth:`__call__`: the translated error when ``exc`` is not retried, and
            :class:`StoreUnavailable` when the policy's attempts or the deadline run out.
        """
        attempt = attempts.number
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = error.get("Code", "")
            if code in tolerate:
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
            elif self._explain is not None and _is_key_mismatch(code, error):
                # the table has another key schema: say which, not DynamoDB's riddle
                raise (self._explain() or translate(exc, self._table, name)) from exc
            else:
                retryable = code in _RETRYABLE_CODES
        else:
            retryable = isinstance(exc, _TRANSIENT_BOTOCORE)
        if not retryable or attempt >= self._policy.max_attempts:
            raise translate(exc, self._table, name) from exc
        now = self._clock()
        delay = self._policy.delay(attempt)
        if now + delay + (now - attempts.began) > attempts.deadline:
            raise self._gave_up(exc, name, attempt, now - attempts.start) from exc
        attempts.number += 1
        if telemetry.enabled():
            _count_retry(exc, name, self._table)
        return delay

    def _gave_up(
        self, failure: BaseException, name: str, attempts: int, elapsed: float
    ) -> StoreUnavailable:
        cause = translate(failure, self._table, name)
        return StoreUnavailable(
            f"{cause} (gave up after {attempts} attempt{'s' if attempts > 1 else ''} in "
            f"{elapsed:.1f} s; the deadline of one operation is {self._total:g} s)"
        )


def _count_retry(exc: BaseException, name: str, table: str) -> None:
    """Report a retried call (and a throttled one) as metrics."""
    code = exc.response.get("Error", {}).get("Code", "") if isinstance(exc, ClientError) else ""
    attributes = {
        "db.system": "dynamodb",
        "db.operation.name": name,
        "aws.dynamodb.table_names": table,
        "error.type": code or type(exc).__name__,
    }
    telemetry.count("ddbes.retries", attributes=attributes)
    if "Throttl" in code or code == "ProvisionedThroughputExceededException":
        telemetry.count("ddbes.throttles", attributes=attributes)


class AsyncCaller:
    """:class:`Caller` for aiobotocore's coroutines: the same retries, errors and deadline (it
    asks a :class:`Caller` every decision); the pauses are ``await``-ed, so they never block
    the event loop."""

    __slots__ = ("_decide", "_in_flight", "_sleep")

    def __init__(
        self,
        table: str,
        policy: RetryPolicy = DEFAULT_RETRY_POLICY,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        *,
        total: float = DEFAULT_TIMEOUTS.total,
        clock: Callable[[], float] = time.monotonic,
        explain: Callable[[], DdbesError | None] | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self._decide = Caller(table, policy, total=total, clock=clock, explain=explain)
        self._sleep = sleep
        # At most this many requests in flight; the others wait their turn, so the responses
        # that one loop iteration handles, and the CPU it spends on them, stay bounded.
        self._in_flight: contextlib.AbstractAsyncContextManager[Any] = (
            contextlib.nullcontext() if max_in_flight is None else asyncio.Semaphore(max_in_flight)
        )

    @property
    def total(self) -> float:
        """The deadline of one operation, in seconds."""
        return self._decide.total

    async def __call__(
        self,
        operation: Callable[..., Awaitable[Any]],
        name: str,
        /,
        tolerate: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> Any:
        """``await operation(**kwargs)``, as :meth:`Caller.__call__`."""
        decide = self._decide
        attempts = decide.begin()
        counted = _capacity.ask(operation, kwargs)
        while True:
            try:
                async with self._in_flight:
                    attempts.began = decide._clock()
                    response = await operation(**kwargs)
                if counted is not None:
                    _capacity.report(response, counted, name)
                return response
            except (ClientError, BotoCoreError) as exc:
                pause = decide.retry_after(exc, name, attempts, tolerate)
                if pause is None:
                    return None
            await self._sleep(pause)
