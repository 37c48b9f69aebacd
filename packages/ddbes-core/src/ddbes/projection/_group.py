"""Consumer groups: N processes share one projector name by aggregate hash within each log
partition.

Each log partition is cut into ``slots`` hash slots (an aggregate's slot is a stable hash of its
id, independent of its log partition), and every (log partition, slot) is a **unit** of work
with its own lease and checkpoint: unit ``log_partition * slots + slot``. A member reads the
whole log partition of a unit it holds and hands over only the unit's aggregates, so the
commits of one aggregate are handled by one member at a time, in order.

Members find each other through the same lease store: each holds one *member* lease (the lowest
free index). A background thread counts the members (one read of every member lease,
:meth:`~ddbes.projection.leases.LeaseStore.holders`) every ``ttl / 3`` seconds, and again just
after a member's lease would expire, so a member that died is counted out when its leases
expire. A member takes free units while it holds fewer than its fair share,
``ceil(units / members)`` (so the units of a member that died are taken as soon as their leases
expire: the lease ttl plus one poll), and gives up the units beyond its share, not taking them
back for one ttl, so that a member that joined gets them. A member at its share does not try
the units others hold: those attempts were a write each, between two batches.

Once the member has read enough of the log to weigh the slots (:mod:`._balance`), the share is
by load instead: each count also reads the units' holders, the busiest member gives units to
the idlest by :func:`~ddbes.projection._balance.plan_moves`, and a free unit goes to a member
it fits (within its share of the load), to one below that share with fewer units than its
share by count, or to the idlest member.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from ddbes.errors import StoreUnavailable
from ddbes.model import Commit
from ddbes.ports import Clock
from ddbes.projection._balance import MARGIN, Move, SlotLoads, loads_of, plan_moves
from ddbes.projection.leases import LeaseKeeper, LeaseStore

__all__ = ["MAX_MEMBERS", "Group", "slot_of"]

MAX_MEMBERS = 64
"""The most members a group counts."""

_AFTER_EXPIRY = 0.05
"""Seconds after a member lease's expiry at which the members are counted again."""


_REACH_EVERY = 0.25
"""Seconds between two batches a member ends early to take a unit the plan moves to it (the
giver may not have given it up yet: each try is a lease write and the rest of the batch is
read again)."""


_SETTLING_COUNT = 0.3
"""Seconds to the next count while units change hands (moves planned, or units free)."""


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
        slots: the hash slots per log partition (``units`` is a multiple).
        ttl: the lease ttl; the member count is refreshed every ``ttl / 3`` seconds.
    """

    def __init__(
        self,
        store: LeaseStore,
        *,
        name: str,
        owner: str,
        units: int,
        slots: int,
        ttl: float,
        clock: Clock,
        log: Any,
    ) -> None:
        self._store = store
        self._units_name = name
        self._owner = owner
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
        self.loads = SlotLoads(units // slots, slots)
        """The commits seen per slot: the member's reads count them."""
        self._balance: _Balance | None = None  # by load, once the slots can be weighed
        self._next_reach = 0.0  # monotonic time a batch may end early to take a unit

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

    def may_take(self, unit: int, held: list[int]) -> bool:
        """Whether to try to take ``unit`` while this member holds the units ``held``: not one
        it gave up a moment ago; by count, below its share; by load, a unit the plan moves
        to this member, or a free unit that fits (the member's load plus half the unit's
        stays within its share of the load, give or take half the margin), or one free while
        the member is below its share of the load and holds fewer units than its share (or
        the unit was free at the count before too), or any free unit for the idlest member."""
        if time.monotonic() < self._cooling.get(unit, 0.0):
            return False
        balance = self._balance
        if balance is None:
            return len(held) < self.share
        if any(move.unit == unit and move.receiver == self._owner for move in balance.moves):
            return True
        holder = balance.holders.get(unit)
        if holder is not None and holder in balance.members:
            return False  # held by a member, and not planned to move here
        share = 1.0 / len(balance.members)
        load = sum(balance.weights[held_unit] for held_unit in held)
        fits = load + balance.weights[unit] / 2 <= share * (1 + MARGIN / 2)
        below = load < share and (len(held) < self.share or unit in balance.long_free)
        return fits or below or balance.idlest == self._owner

    def should_pause(self, active: set[int]) -> bool:
        """Whether to end a batch early, between two commits: to give up a unit of ``active``
        (the units being read) that the plan moves away, or, at most every
        :data:`_REACH_EVERY` seconds, to try to take one that the plan moves here or a free
        one it may take."""
        balance = self._balance
        if balance is None or not (balance.moves or balance.free):
            return False
        for move in balance.moves:
            if move.giver == self._owner and move.unit in active:
                return True
        now = time.monotonic()
        if now < self._next_reach:
            return False
        self._next_reach = now + _REACH_EVERY
        held = list(active)
        wanted = {move.unit for move in balance.moves if move.receiver == self._owner}
        return any(u not in active and self.may_take(u, held) for u in wanted | balance.free)

    def surplus(self, held: list[int]) -> list[int]:
        """The held units to give up now: by count, those beyond the fair share; by load, those
        the plan moves to other members. Without the counting thread (before :meth:`join`),
        the members are recounted here when due."""
        if self._counter is None and time.monotonic() - self._counted >= self._next_count:
            self._recount()
        balance = self._balance
        if balance is None:
            extra = held[self.share :] if len(held) > self.share else []
        else:
            mine = set(held)
            extra = [m.unit for m in balance.moves if m.giver == self._owner and m.unit in mine]
            balance.moves = [move for move in balance.moves if move.unit not in extra]
        # by count, a unit given up waits a ttl for a member that joined; by load, only as
        # long as its receiver needs to take it (then it is free to whoever it fits)
        cooling = self._ttl if balance is None else min(self._ttl, 4 * _REACH_EVERY)
        for unit in extra:
            self._cooling[unit] = time.monotonic() + cooling
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
        soonest = self._ttl / 3  # the next count: at the latest in a third of the ttl
        try:
            leases = self._store.holders(self._name, MAX_MEMBERS)
        except StoreUnavailable as exc:
            self._log.warning("consumer group %r: cannot count members: %s", self._name, exc)
            self._next_count = soonest
            return
        now = self._clock.now()
        for index, lease in leases.items():
            if index != self._index:  # a member that stops renewing is counted out at expiry
                left = (lease.expires_at - now).total_seconds()
                soonest = min(soonest, max(left, 0.0) + _AFTER_EXPIRY)
        self._next_count = soonest
        owners = [lease.owner for lease in leases.values()]
        live = len(leases)
        if live != self._members:
            self._log.info("consumer group %r: %d member(s)", self._name, live)
        self._members = max(1, live)
        self._weigh(owners)

    def _weigh(self, owners: list[str]) -> None:
        """Once the slots can be weighed, read the units' holders and plan the moves."""
        weights = self.loads.weights()
        if weights is None or self._owner not in owners:
            self._balance = None
            return
        try:
            leases = self._store.holders(self._units_name, self._units)
        except StoreUnavailable as exc:
            self._log.warning("consumer group %r: cannot read the holders: %s", self._name, exc)
            return
        holders = {unit: lease.owner for unit, lease in leases.items()}
        members = sorted(set(owners))
        free = {unit for unit in range(self._units) if holders.get(unit) not in members}
        # a view with a unit in transit (free, or held by a member that left) shows loads that
        # are about to change: take the free units first, and plan from the next view
        moves = [] if free else plan_moves(weights, holders, members)
        loads = loads_of(weights, holders, members)
        idlest = min(members, key=lambda member: (loads[member], member))
        if moves or free:  # units about to change hands: look again soon
            self._next_count = min(self._next_count, _SETTLING_COUNT)
        last = self._balance
        long_free = free & last.free if last is not None else set()
        for move in moves:
            self._log.info(
                "consumer group %r: unit %d moves from %s to %s (loads %s)", self._name,
                move.unit, move.giver, move.receiver,
                ", ".join(f"{m} {loads[m]:.2f}" for m in members),
            )  # fmt: skip
        self._balance = _Balance(
            weights=weights, holders=holders, members=frozenset(members), idlest=idlest,
            moves=moves, free=free, long_free=long_free,
        )  # fmt: skip


@dataclass(kw_only=True)
class _Balance:
    """The view one count gave: unit weights and holders, the members, the idlest member, the
    moves planned, the free units, and those free in the view before too."""

    weights: list[float]
    holders: dict[int, str]
    members: frozenset[str]
    idlest: str
    moves: list[Move]
    free: set[int]
    long_free: set[int]
