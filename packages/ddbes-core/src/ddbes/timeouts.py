"""How long a storage adapter waits for its backend: per attempt, per operation, and the one
deadline of a whole commit.

A commit's deadline reaches the adapters through :func:`deadline_within`: the aggregate opens
the scope around its store calls, and an adapter's one retry boundary (its caller of the SDK)
stops retrying, and raises :class:`~ddbes.errors.StoreUnavailable`, once :func:`current_deadline`
leaves no time for another attempt. The scope is a context variable: it holds in the thread
that opened it, and in an asyncio task for the code that task awaits.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from dataclasses import dataclass

__all__ = ["DEFAULT_TIMEOUTS", "Timeouts", "current_deadline", "deadline_within"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Timeouts:
    """The deadlines of every call an adapter makes to its backend (seconds).

    - ``connect``: to open a connection (one attempt);
    - ``read``: to wait for any byte of an answer (one attempt);
    - ``total``: an operation's attempts and pauses together. Retries stop once the next
      attempt could not finish before it; the operation then raises
      :class:`~ddbes.errors.StoreUnavailable`. An attempt in flight is bounded by ``connect``
      and ``read``, so an operation never takes much longer than ``total``.

    The defaults (3 s, 10 s, 20 s) suit an application behind a 30 s request timeout: a
    backend that refuses connections fails an operation within a second or two (after the
    retry policy's attempts), one that accepts and never answers within ``total``.
    """

    connect: float = 3.0
    read: float = 10.0
    total: float = 20.0

    def __post_init__(self) -> None:
        for name in ("connect", "read", "total"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"Timeouts.{name} must be a positive number, got {value!r}")

    @classmethod
    def within(cls, total: float) -> Timeouts:
        """Timeouts whose every operation ends within about ``total`` seconds (the defaults'
        ``connect`` and ``read``, shortened to ``total`` when it is less)."""
        default = DEFAULT_TIMEOUTS
        return cls(connect=min(default.connect, total), read=min(default.read, total), total=total)


DEFAULT_TIMEOUTS = Timeouts()


_deadline: ContextVar[float | None] = ContextVar("ddbes_deadline", default=None)


def current_deadline() -> float | None:
    """The ``time.monotonic()`` instant by which the calls made now must end, or ``None``."""
    return _deadline.get()


class deadline_within:
    """Calls made inside (in this thread, or this asyncio task) end by ``seconds`` from now, or
    by an enclosing scope's deadline, whichever comes first (``None``: no extra bound).

    The deadline is fixed when the object is made, so one object can be entered again (after
    a pause, say) and still ends by the same instant.
    """

    __slots__ = ("_token", "at")

    def __init__(self, seconds: float | None) -> None:
        self.at = None if seconds is None else time.monotonic() + seconds
        self._token: Token[float | None] | None = None

    def __enter__(self) -> None:
        at = self.at
        if at is not None:
            outer = _deadline.get()
            self._token = _deadline.set(at if outer is None or at < outer else outer)

    def __exit__(self, *_: object) -> None:
        token = self._token
        if token is not None:
            self._token = None
            _deadline.reset(token)
