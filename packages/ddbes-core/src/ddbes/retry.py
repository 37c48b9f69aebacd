"""Retry policies: jittered exponential backoff, and the loop that applies one."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from ddbes.errors import RetriesExhausted

__all__ = ["RetryPolicy", "call_with_retries"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often and how patiently to retry.

    ``max_attempts`` counts the first try. Before attempt ``n + 1`` the caller sleeps a uniformly
    random time in ``[0, min(max_delay, initial_delay * backoff ** n)]`` seconds ("full jitter"),
    which spreads competing writers apart.
    """

    max_attempts: int = 10
    initial_delay: float = 0.005
    backoff: float = 2.0
    max_delay: float | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_delay < 0 or self.backoff < 1:
            raise ValueError("initial_delay must be >= 0 and backoff >= 1")
        if self.max_delay is not None and self.max_delay < 0:
            raise ValueError("max_delay must be >= 0")

    def ceiling(self, attempt: int) -> float:
        """The longest sleep after failed attempt number ``attempt`` (1-based)."""
        ceiling = self.initial_delay * self.backoff**attempt
        return ceiling if self.max_delay is None else min(ceiling, self.max_delay)

    def delay(self, attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
        """A jittered sleep after failed attempt number ``attempt`` (1-based)."""
        return rng(0.0, self.ceiling(attempt))

    def delays(self) -> Iterator[float]:
        """The jittered sleeps between attempts: ``max_attempts - 1`` of them."""
        for attempt in range(1, self.max_attempts):
            yield self.delay(attempt)


def call_with_retries(
    action: Callable[[], T],
    policy: RetryPolicy,
    *,
    retry_on: type[BaseException] | tuple[type[BaseException], ...],
    before_retry: Callable[[BaseException, int], object] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``action`` until it succeeds, retrying errors of the ``retry_on`` types.

    ``before_retry(error, next_attempt)`` runs before each retry (to re-read state, say).
    Other errors propagate at once.

    Raises:
        RetriesExhausted: every attempt failed; ``errors`` lists each failure in order.
    """
    errors: list[BaseException] = []
    for attempt in range(1, policy.max_attempts + 1):
        if attempt > 1 and before_retry is not None:
            before_retry(errors[-1], attempt)
        try:
            return action()
        except retry_on as exc:
            errors.append(exc)
            if attempt < policy.max_attempts:
                sleep(policy.delay(attempt))
    raise RetriesExhausted(errors) from errors[-1]
