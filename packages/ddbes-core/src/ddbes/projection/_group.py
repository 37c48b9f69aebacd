"""Consumer groups: N processes share one projector name by aggregate hash within each log
partition.

Each log partition is cut into ``slots`` hash slots (an aggregate's slot is a stable hash of its
id, independent of its log partition), and every (log partition, slot) is a **unit** of work
with its own lease and checkpoint: unit ``log_partition * slots + slot``. A member reads the
whole log partition of a unit it holds and hands over only the unit's aggregates, so the
commits of one aggregate are handled by one member at a time, in order.

Members find each other through the same lease store: each holds one *member* lease (the lowest
free index). A member takes free units greedily (so the units of a member that died are taken
as soon as their leases expire: the lease ttl plus one poll), and every ``ttl / 3`` seconds
counts the members and gives up the units beyond its fair share, ``ceil(units / members)``,
not taking them back for one ttl, so that a member that joined gets them.
"""

from __future__ import annotations

import hashlib
import math
import time
from typing import Any

from ddbes.errors import StoreUnavailable
from ddbes.model import Commit
from ddbes.ports import Clock
from ddbes.projection.leases import LeaseKeeper, LeaseStore

__all__ = ["MAX_MEMBERS", "Group", "slot_of"]

MAX_MEMBERS = 64
"""The most members a group counts."""


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
        self._members = 1
        self._counted = 0.0
        self._cooling: dict[int, float] = {}  # unit -> monotonic time it may be taken again

    def join(self) -> None:
        """Take a member lease and start renewing it."""
        self._keeper.start()
        self._take_member_lease()
        self._count()

    def leave(self) -> None:
        """Give the member lease up."""
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

    def may_take(self, unit: int) -> bool:
        """Whether to try to take a free unit (not one this member gave up a moment ago)."""
        return time.monotonic() >= self._cooling.get(unit, 0.0)

    def surplus(self, held: list[int]) -> list[int]:
        """The held units to give up now (beyond the fair share), recounting members when due."""
        if time.monotonic() - self._counted >= self._ttl / 3:
            if not self._keeper.valid(self._index):
                self._take_member_lease()
            self._count()
        extra = held[self.share :] if len(held) > self.share else []
        for unit in extra:
            self._cooling[unit] = time.monotonic() + self._ttl
        return extra

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
        try:
            for index in range(MAX_MEMBERS):
                if self._store.holder(self._name, index) is None:
                    free_run += 1
                    if free_run >= 8:  # members take the lowest free index: the rest are free
                        break
                else:
                    live, free_run = live + 1, 0
        except StoreUnavailable as exc:
            self._log.warning("consumer group %r: cannot count members: %s", self._name, exc)
            return
        if live != self._members:
            self._log.info("consumer group %r: %d member(s)", self._name, live)
        self._members = max(1, live)
