"""How an aggregate reacts to a conflict, and the one deadline of a commit: decisions only.

- A :class:`~ddbes.errors.VersionConflict` means another writer took the version: with a retry
  policy the caller re-reads the aggregate and tries again after a jittered pause, until the
  policy's attempts or the deadline run out (:class:`~ddbes.errors.RetriesExhausted`); without
  one the conflict is the caller's.
- Stores are told the deadline through :class:`ddbes.timeouts.deadline_within`.
- An unknown outcome (:class:`~ddbes.errors.StoreUnavailable`) is never retried here: the
  store's adapter is the one place that retries transient failures (with the same commit, so a
  retry stores it once), within that deadline. Retrying here too would multiply the attempts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ddbes.errors import RetriesExhausted, VersionConflict
from ddbes.ports import Clock
from ddbes.retry import RetryPolicy

__all__ = ["ConflictRetries", "Deadline"]


@dataclass(slots=True)
class Deadline:
    """``seconds`` after ``started`` on ``clock``'s monotonic time."""

    clock: Clock
    seconds: float
    started: float

    @property
    def at(self) -> float:
        return self.started + self.seconds

    def remaining(self) -> float:
        """Seconds left (0 once it has passed)."""
        return max(0.0, self.at - self.clock.monotonic())


@dataclass(slots=True)
class ConflictRetries:
    """The retries left to one commit or command, and the pause before the next."""

    policy: RetryPolicy | None
    deadline: Deadline
    errors: list[BaseException] = field(default_factory=list)

    def pause_after(self, conflict: VersionConflict) -> float:
        """The pause before the next attempt, after ``conflict`` ended this one.

        Raises:
            VersionConflict: ``conflict`` itself, without a policy.
            RetriesExhausted: the policy's attempts are spent, or the deadline leaves no time
                for the pause; ``errors`` lists every conflict.
        """
        if self.policy is None:
            raise conflict
        self.errors.append(conflict)
        attempts = len(self.errors)
        if attempts >= self.policy.max_attempts:
            raise RetriesExhausted(self.errors) from conflict
        pause = self.policy.delay(attempts)
        if pause >= self.deadline.remaining():
            exhausted = RetriesExhausted(self.errors)
            exhausted.add_note(
                f"the deadline of {self.deadline.seconds:g} s (commit_timeout) left no time for "
                f"attempt {attempts + 1}"
            )
            raise exhausted from conflict
        return pause
