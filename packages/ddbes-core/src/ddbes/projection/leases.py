"""Leases: which process may work on one log partition for one projector, for a while.

A lease is held by one ``owner`` for ``ttl`` seconds after it was taken or last renewed. Two
projectors with the same name take a lease per log partition before handling its commits, so
they never handle the same commit at the same time, and when the holder dies its lease expires
and another process takes over.

:class:`LeaseStore` is the port; :class:`InMemoryLeaseStore` serves tests and single-process use;
``ddbes_dynamodb.DynamoDBLeaseStore`` holds leases in DynamoDB for many machines.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ddbes.clock import SystemClock
from ddbes.errors import StoreUnavailable
from ddbes.ports import Clock

__all__ = [
    "InMemoryLeaseStore",
    "Lease",
    "LeaseKeeper",
    "LeaseStore",
    "check_lease_arguments",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Lease:
    """Who holds the lease on one (name, log partition), and until when."""

    name: str
    log_partition: int
    owner: str
    expires_at: datetime


def check_lease_arguments(
    name: str, log_partition: int, owner: str | None, ttl: float | None
) -> None:
    """Validate :class:`LeaseStore` arguments (``None`` skips a check); raise ``ValueError``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"a lease name must be a non-empty string, got {name!r}")
    if not isinstance(log_partition, int) or isinstance(log_partition, bool) or log_partition < 0:
        raise ValueError(f"a log partition must be an int >= 0, got {log_partition!r}")
    if owner is not None and (not isinstance(owner, str) or not owner):
        raise ValueError(f"a lease owner must be a non-empty string, got {owner!r}")
    if ttl is not None and not ttl > 0:
        raise ValueError(f"a lease ttl must be a positive number of seconds, got {ttl!r}")


class LeaseStore(ABC):
    """Time-limited, exclusive leases, one per (name, log partition).

    Guarantees every implementation gives:

    * **Exclusive.** At any instant of the store's clock at most one owner holds a lease: an
      :meth:`acquire` or :meth:`renew` succeeds only if the lease is free, expired, or already
      held by the same owner, and the check and the write are one atomic step.
    * **Time-limited.** A lease expires ``ttl`` seconds (by the store's :class:`~ddbes.ports.Clock`)
      after it was last acquired or renewed; after that anyone may acquire it. A holder must
      therefore renew well within ``ttl`` and stop working once it can no longer be sure it
      holds the lease (clocks of different machines should agree to well within ``ttl``).
    * **Independent.** Leases of different names or partitions never affect each other.

    Arguments are validated before any I/O: an empty name or owner, a negative partition or a
    ttl that is not positive raise ``ValueError``.
    """

    @abstractmethod
    def acquire(self, name: str, log_partition: int, owner: str, ttl: float) -> bool:
        """Take the lease for ``owner`` for ``ttl`` seconds if it is free, expired, or already
        ``owner``'s (then this renews it).

        Returns:
            ``True`` if ``owner`` now holds the lease; ``False`` if another owner holds an
            unexpired lease (nothing is written).

        Raises:
            ValueError: a malformed argument.
            StoreUnavailable: the backend failed or cannot be reached; the outcome is unknown.
        """

    @abstractmethod
    def renew(self, name: str, log_partition: int, owner: str, ttl: float) -> bool:
        """Extend ``owner``'s unexpired lease to ``ttl`` seconds from now.

        Returns:
            ``True`` if it was extended; ``False`` if ``owner`` no longer holds it (it expired,
            was released, or another owner took it): the caller must stop working under it.

        Raises:
            ValueError: a malformed argument.
            StoreUnavailable: the backend failed or cannot be reached; the outcome is unknown.
        """

    @abstractmethod
    def release(self, name: str, log_partition: int, owner: str) -> None:
        """Give the lease up if ``owner`` holds it, so another owner may take it at once.

        Releasing a lease ``owner`` does not hold is a no-op.

        Raises:
            ValueError: a malformed argument.
            StoreUnavailable: the backend failed or cannot be reached.
        """

    @abstractmethod
    def holder(self, name: str, log_partition: int) -> Lease | None:
        """The unexpired lease on (name, log partition), or ``None`` when nobody holds it.

        Raises:
            ValueError: a malformed argument.
            StoreUnavailable: the backend failed or cannot be reached.
        """

    def holders(self, name: str, partitions: int) -> dict[int, Lease]:
        """The unexpired leases of ``name`` on log partitions ``0`` to ``partitions - 1``, by
        partition (what :meth:`holder` gives for each, where it is not ``None``).

        A store that can read them at once overrides this (DynamoDB: one ``Query``); this
        default asks :meth:`holder` for each partition.

        Raises:
            ValueError: a malformed argument.
            StoreUnavailable: the backend failed or cannot be reached.
        """
        check_lease_arguments(name, max(0, partitions - 1), None, None)
        found = {n: self.holder(name, n) for n in range(partitions)}
        return {n: lease for n, lease in found.items() if lease is not None}


class InMemoryLeaseStore(LeaseStore):
    """Leases in this process's memory (thread-safe), timed by ``clock``.

    Pass a :class:`ddbes.testing.ManualClock` to expire leases in tests without sleeping.
    """

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._lock = threading.Lock()
        self._leases: dict[tuple[str, int], Lease] = {}

    def _live(self, key: tuple[str, int], now: datetime) -> Lease | None:
        lease = self._leases.get(key)
        if lease is not None and lease.expires_at <= now:
            del self._leases[key]
            return None
        return lease

    def acquire(self, name: str, log_partition: int, owner: str, ttl: float) -> bool:
        return self._grant(name, log_partition, owner, ttl, must_hold=False)

    def renew(self, name: str, log_partition: int, owner: str, ttl: float) -> bool:
        return self._grant(name, log_partition, owner, ttl, must_hold=True)

    def _grant(
        self, name: str, log_partition: int, owner: str, ttl: float, *, must_hold: bool
    ) -> bool:
        """Give ``owner`` the lease for ``ttl`` seconds unless another owner holds it (or, with
        ``must_hold``, unless ``owner`` does not hold it already)."""
        check_lease_arguments(name, log_partition, owner, ttl)
        key = (name, log_partition)
        with self._lock:
            now = self._clock.now()
            lease = self._live(key, now)
            if lease is None and must_hold:
                return False
            if lease is not None and lease.owner != owner:
                return False
            self._leases[key] = Lease(
                name=name,
                log_partition=log_partition,
                owner=owner,
                expires_at=now + timedelta(seconds=ttl),
            )
            return True

    def release(self, name: str, log_partition: int, owner: str) -> None:
        check_lease_arguments(name, log_partition, owner, None)
        key = (name, log_partition)
        with self._lock:
            lease = self._leases.get(key)
            if lease is not None and lease.owner == owner:
                del self._leases[key]

    def holder(self, name: str, log_partition: int) -> Lease | None:
        check_lease_arguments(name, log_partition, None, None)
        with self._lock:
            return self._live((name, log_partition), self._clock.now())

    def holders(self, name: str, partitions: int) -> dict[int, Lease]:
        check_lease_arguments(name, max(0, partitions - 1), None, None)
        with self._lock:
            now = self._clock.now()
            keys = [key for key in self._leases if key[0] == name and key[1] < partitions]
            found = {key[1]: self._live(key, now) for key in sorted(keys)}
        return {n: lease for n, lease in found.items() if lease is not None}

    def __repr__(self) -> str:
        return f"InMemoryLeaseStore(clock={self._clock!r})"


class LeaseKeeper:
    """Holds leases of one name for one owner: takes them, renews them, and tells whether each is
    still safely held.

    A lease counts as held until ``safety * ttl`` seconds (by ``clock``) after the acquire or
    renewal request that last succeeded was *sent*; the store keeps it for the whole ``ttl``
    after it *received* the request. The difference (a quarter of ``ttl`` by default) lets a
    commit being handled when a renewal failed finish before another owner may take the lease.
    A background thread renews every held lease each ``ttl / 3`` seconds while
    :meth:`start`-ed, so slow work does not lose them.
    """

    def __init__(
        self,
        store: LeaseStore,
        name: str,
        owner: str,
        *,
        ttl: float,
        clock: Clock | None = None,
        logger: Any = None,
        safety: float = 0.75,
        check_interval: float | None = None,
    ) -> None:
        check_lease_arguments(name, 0, owner, ttl)
        if not 0 < safety < 1:
            raise ValueError(f"safety must be between 0 and 1, got {safety!r}")
        self.store = store
        self.name = name
        self.owner = owner
        self.ttl = float(ttl)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._log: Any = logger if logger is not None else logging.getLogger("ddbes")
        self._safety = safety
        self._check_interval = check_interval if check_interval is not None else ttl / 3
        self._lock = threading.Lock()  # serializes store calls and state changes
        self._deadlines: dict[int, datetime] = {}  # held leases: valid until
        self._renew_due: dict[int, datetime] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, log_partition: int) -> bool:
        """Take (or keep) the lease on ``log_partition``; ``False`` if another owner has it or
        the store cannot be reached (logged)."""
        sent = self._clock.now()
        with self._lock:
            try:
                ok = self.store.acquire(self.name, log_partition, self.owner, self.ttl)
            except StoreUnavailable as exc:
                self._log.warning("lease %r/%d: cannot reach the lease store: %s",
                                  self.name, log_partition, exc)  # fmt: skip
                return False
            if ok:
                self._extend(log_partition, sent)
            else:
                self._drop(log_partition)
            return ok

    def valid(self, log_partition: int) -> bool:
        """Whether the lease on ``log_partition`` is held and safely unexpired right now."""
        deadline = self._deadlines.get(log_partition)
        if deadline is None:
            return False
        if self._clock.now() < deadline:
            return True
        with self._lock:
            if self._deadlines.get(log_partition) == deadline:
                self._drop(log_partition)
                self._log.warning(
                    "lease %r/%d held by %s was not renewed in time: giving it up",
                    self.name, log_partition, self.owner,
                )  # fmt: skip
        return False

    def lose(self, log_partition: int) -> None:
        """Stop counting the lease on ``log_partition`` as held (another process moved on)."""
        with self._lock:
            self._drop(log_partition)

    def release(self, log_partition: int) -> None:
        """Give up the lease on ``log_partition`` if held (errors are logged, not raised)."""
        with self._lock:
            if self._deadlines.get(log_partition) is None:
                return
            self._drop(log_partition)
            try:
                self.store.release(self.name, log_partition, self.owner)
            except StoreUnavailable as exc:
                self._log.warning("lease %r/%d: cannot release it: %s",
                                  self.name, log_partition, exc)  # fmt: skip

    def held(self) -> list[int]:
        """The leases held (by the last acquire or renewal), in order."""
        return sorted(self._deadlines)

    def release_all(self) -> None:
        """Release every held lease."""
        for log_partition in list(self._deadlines):
            self.release(log_partition)

    def start(self) -> None:
        """Start renewing held leases in a background thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_loop, name=f"leases-{self.name}")
        self._thread.daemon = True
        self._thread.start()

    def stop(self) -> None:
        """Stop renewing (held leases stay held until released or expired)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def renew_due(self) -> None:
        """Renew every held lease whose renewal is due (the background thread calls this)."""
        for log_partition, due in list(self._renew_due.items()):
            sent = self._clock.now()
            if sent < due:
                continue
            with self._lock:
                if self._renew_due.get(log_partition) != due:
                    continue  # released or renewed meanwhile
                try:
                    ok = self.store.renew(self.name, log_partition, self.owner, self.ttl)
                except StoreUnavailable as exc:
                    self._log.warning("lease %r/%d: renewal failed: %s",
                                      self.name, log_partition, exc)  # fmt: skip
                    continue
                if ok:
                    self._extend(log_partition, sent)
                else:
                    self._drop(log_partition)
                    self._log.warning("lease %r/%d: lost by %s to another owner",
                                      self.name, log_partition, self.owner)  # fmt: skip

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._check_interval):
            self.renew_due()

    def _extend(self, log_partition: int, sent: datetime) -> None:
        self._deadlines[log_partition] = sent + timedelta(seconds=self.ttl * self._safety)
        self._renew_due[log_partition] = sent + timedelta(seconds=self.ttl / 3)

    def _drop(self, log_partition: int) -> None:
        self._deadlines.pop(log_partition, None)
        self._renew_due.pop(log_partition, None)
