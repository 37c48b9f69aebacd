"""Consumer groups: N processes share one projector name by aggregate hash within each log
partition.

Each log partition is cut into ``slots`` hash slots (an aggregate's slot is a stable hash of its
id, independent of its log partition), and every (log partition, slot) is a **unit** of work
with its own lease and checkpoint: unit ``log_partition * slots + slot``. A member reads the
whole log partition of a unit it holds and hands over only the unit's aggregates, so the
commits of one aggregate are handled by one member at a time, in order.

Members find each other through the same lease store: each holds one *member* lease (the lowest
free index). A background thread counts the members every ``ttl / 3`` seconds, and again just
after a member's lease would expire, so a member that died is counted out when its leases
expire. A member takes free units while it holds fewer than its fair share,
``ceil(units / members)`` (so the units of a member that died are taken as soon as their leases
expire: the lease ttl plus one poll), and gives up the units beyond its share, not taking them
back for one ttl, so that a member that joined gets them. A member at its share does not try
the units others hold: those attempts were a write each, between two batches.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from typing import Any

from ddbes.errors import StoreUnavailable
from ddbes.model import Commit
from ddbes.ports import Clock
from ddbes.projection.leases import LeaseKeeper, LeaseStore

__all__ = ["MAX_MEMBERS", "Group", "slot_of"]

MAX_MEMBERS = 64
"""The most members a group counts."""

_AFTER_EXPIRY = 0.05
"""Seconds after a member lease's expiry at which the members are counted again."""


def slot_of(commit: Commit, slots: int) -> int:
    """The hash slot of a commit's aggregate (stable across processes and Python versions)."""
    digest = hashlib.blake2b(commit.aggregate_id.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % slots


class Group:
    """One member's view of its consumer group: its member lease, the member count, and which
    units it may take or should give up.

    Args:
        store: the lease store.
        name: the group's lease name (the projector's stored name and slot count).
        owner: this member's identity.
        units: how many units the group shares.
        ttl: the lease ttl; the member count is refreshed every ``ttl / 3`` seconds.
    """

    def __init__(
        self,
        store: LeaseStore,
        *,
        name: str,
        owner: str,
        units: int,
        ttl: float,
        clock: Clock,
        log: Any,
    ) -> None:
        self._store = store
        self._name = f"{name}#members"
        self._keeper = LeaseKeeper(store, self._name, owner, ttl=ttl, clock=clock, logger=log)
        self._units = units
        self._ttl = ttl
        self._log = log
        self._clock = clock
        self._members = 1
        self._counted = 0.0
        self._next_count = ttl / 3  # seconds from one count to the next
        self._cooling: dict[int, float] = {}  # unit -> monotonic time it may be taken again
        self._stop = threading.Event()
        self._counter: threading.Thread | None = None

    def join(self) -> None:
        """Take a member lease, start renewing it, and count the members in the background."""
        self._keeper.start()
        self._take_member_lease()
        self._count()
        self._stop.clear()
        self._counter = threading.Thread(
            target=self._count_loop, name=f"group-{self._name}", daemon=True
        )
        self._counter.start()

    def leave(self) -> None:
        """Stop counting and give the member lease up."""
        self._stop.set()
        if self._counter is not None:
            self._counter.join()
            self._counter = None
        self._keeper.stop()
        self._keeper.release_all()

    @property
    def members(self) -> int:
        """The members counted last."""
        return self._members

    @property
    def share(self) -> int:
        """The most units this member should hold."""
        return math.ceil(self._units / max(1, self._members))

    def may_take(self, unit: int, held: int) -> bool:
        """Whether to try to take a unit while this member holds ``held``: below its share,
        and not one it gave up a moment ago."""
        return held < self.share and time.monotonic() >= self._cooling.get(unit, 0.0)

    def surplus(self, held: list[int]) -> list[int]:
        """The held units to give up now (beyond the fair share); without the counting thread
        (before :meth:`join`), the members are recounted here when due."""
        if self._counter is None and time.monotonic() - self._counted >= self._next_count:
            self._recount()
        extra = held[self.share :] if len(held) > self.share else []
        for unit in extra:
            self._cooling[unit] = time.monotonic() + self._ttl
        return extra

    def _count_loop(self) -> None:
        while not self._stop.wait(self._next_count):
            self._recount()

    def _recount(self) -> None:
        if not self._keeper.valid(self._index):
            self._take_member_lease()
        self._count()

    def _take_member_lease(self) -> None:
        self._index = -1
        for index in range(MAX_MEMBERS):
            if self._keeper.acquire(index):
                self._index = index
                return
        self._log.warning("consumer group %r has %d members already", self._name, MAX_MEMBERS)

    def _count(self) -> None:
        self._counted = time.monotonic()
        live, free_run = 0, 0
        soonest = self._ttl / 3  # the next count: at the latest in a third of the ttl
        try:
            for index in range(MAX_MEMBERS):
                lease = self._store.holder(self._name, index)
                if lease is None:
                    free_run += 1
                    if free_run >= 8:  # members take the lowest free index: the rest are free
                        break
                else:
                    live, free_run = live + 1, 0
                    if index != self._index:  # a member that stopped renewing: count it out
                        left = (lease.expires_at - self._clock.now()).total_seconds()
                        soonest = min(soonest, max(left, 0.0) + _AFTER_EXPIRY)
        except StoreUnavailable as exc:
            self._log.warning("consumer group %r: cannot count members: %s", self._name, exc)
            return
        finally:
            self._next_count = soonest
        if live != self._members:
            self._log.info("consumer group %r: %d member(s)", self._name, live)
        self._members = max(1, live)
