"""Load-aware sharing of a consumer group's units: how much of the work each unit is, and the
moves of units from the busiest member to the idlest that every member computes alike.

Aggregates hash into slots evenly in number, not in activity: with 200 equally busy aggregates
in 16 slots, the busiest of four members holding four slots each gets 13% more than a quarter
of the commits on average, and more when some aggregates are busier than others; the busiest
member bounds the group. A member reads the whole log partition of the units it holds (it
hands over only its units' commits), so it counts how many commits each slot gets
(:class:`SlotLoads`, decayed so that it follows a changing workload).

From those weights and the units' holders (read from the lease store, the group's *view*),
:func:`plan_moves` gives the same moves to every member that has the same view: the busiest
member gives one unit to the idlest, as long as that lowers the busiest load by more than
:data:`MARGIN` of a fair share. The giver sheds its units of the plan and the receiver takes
them; views differ a little from member to member (each weighs the slots by its own reads, and
reads the holders at its own time), so a free unit is also taken by any member it leaves
below its share of the load (see :mod:`._group`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["MARGIN", "Move", "SlotLoads", "loads_of", "plan_moves"]

MARGIN = 0.05
"""A move must lower the busiest member's load by more than this fraction of a fair share."""

MIN_SEEN_PER_SLOT = 16
"""Commits per slot a log partition must have shown before its weights are used."""

HALVE_PER_SLOT = 256
"""Once a log partition's counts reach this many per slot, they are halved (the weights follow
a workload that changes, over the last few thousand commits per slot)."""


@dataclass(frozen=True)
class Move:
    """Unit ``unit`` should go from member ``giver`` to member ``receiver``."""

    unit: int
    giver: str
    receiver: str


class SlotLoads:
    """Commits seen per (log partition, slot), decayed; and from them each unit's share of the
    group's work (unit ``log_partition * slots + slot``, as in :mod:`._group`)."""

    def __init__(self, partitions: int, slots: int) -> None:
        self._slots = slots
        self._counts = [[0.0] * slots for _ in range(partitions)]
        self._totals = [0.0] * partitions
        self._through = [0] * partitions  # the last position counted

    def saw(self, log_partition: int, slot: int, position: int) -> None:
        """Count the commit at ``position`` of ``log_partition``, in ``slot``, once (a member
        reads some positions again, after it took a unit over behind the others)."""
        if position <= self._through[log_partition]:
            return
        self._through[log_partition] = position
        counts = self._counts[log_partition]
        counts[slot] += 1.0
        self._totals[log_partition] += 1.0
        if self._totals[log_partition] >= HALVE_PER_SLOT * self._slots:
            for index in range(self._slots):
                counts[index] /= 2.0
            self._totals[log_partition] /= 2.0

    def weights(self) -> list[float] | None:
        """Each unit's fraction of the work (they sum to 1), or ``None`` while no log partition
        has shown enough commits. A partition not read enough yet counts its slots alike."""
        partitions = len(self._totals)
        minimum = MIN_SEEN_PER_SLOT * self._slots
        if not any(total >= minimum for total in self._totals):
            return None
        weights: list[float] = []
        for counts, total in zip(self._counts, self._totals, strict=True):
            if total >= minimum:
                weights.extend(count / total / partitions for count in counts)
            else:
                weights.extend([1.0 / (partitions * self._slots)] * self._slots)
        return weights


def loads_of(
    weights: Sequence[float], holders: Mapping[int, str], members: Sequence[str]
) -> dict[str, float]:
    """Each member's load: the weights of the units it holds (``0`` for one that holds none)."""
    loads = dict.fromkeys(members, 0.0)
    for unit, owner in holders.items():
        if owner in loads:
            loads[owner] += weights[unit]
    return loads


def plan_moves(
    weights: Sequence[float], holders: Mapping[int, str], members: Sequence[str]
) -> list[Move]:
    """The moves that even out the members' loads, the same for every member with the same
    view: again and again, the busiest member (ties: the greater name) gives the idlest (ties:
    the lesser name) the unit that leaves the greater of their two loads smallest, while that
    lowers the busiest load by more than :data:`MARGIN` of a fair share and the idlest stays
    below its share by half the unit (so that any member below its share takes it, should the
    views of the two differ). A unit moves at most once per plan."""
    if len(members) < 2:
        return []
    loads = loads_of(weights, holders, members)
    units_of: dict[str, list[int]] = {member: [] for member in members}
    for unit, owner in sorted(holders.items()):
        if owner in units_of:
            units_of[owner].append(unit)
    share = 1.0 / len(members)
    margin = MARGIN * share
    moved: set[int] = set()
    moves: list[Move] = []
    while True:
        giver = max(members, key=lambda member: (loads[member], member))
        receiver = min(members, key=lambda member: (loads[member], member))
        best: tuple[float, int] | None = None
        for unit in units_of[giver]:
            weight = weights[unit]
            if unit in moved or loads[receiver] + weight / 2 > share:
                continue
            peak = max(loads[giver] - weight, loads[receiver] + weight)
            if best is None or (peak, unit) < best:
                best = (peak, unit)
        if giver == receiver or best is None or best[0] >= loads[giver] - margin:
            return moves
        unit = best[1]
        moved.add(unit)
        units_of[giver].remove(unit)
        units_of[receiver].append(unit)
        loads[giver] -= weights[unit]
        loads[receiver] += weights[unit]
        moves.append(Move(unit, giver, receiver))
