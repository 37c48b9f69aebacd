"""Where a projector stands, read from the stores: what ``Projector.status()`` and
``ddbes projector status`` report, whether or not the projector runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ddbes.model import ParkedCommit
from ddbes.ports import CheckpointStore, Clock, CommitStore
from ddbes.projection._steps import Call, Steps, collect, run_sync

__all__ = ["ProjectorStatus", "read_status", "read_status_steps", "stored_name"]


def stored_name(name: str, version: int) -> str:
    """The name a projector's checkpoints, leases and parked commits are saved under: ``name``
    for version 1 (so that checkpoints saved before versions existed are version 1's), and
    ``"<name>@v<version>"`` for the others."""
    return name if version == 1 else f"{name}@v{version}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectorStatus:
    """A projector's state, as saved: checkpoints against the log, parked commits, errors.

    ``positions``: per log partition, the position up to which every commit is handled (the
    live position in the process that asks, when its projector runs; else the saved one).
    ``heads``: the newest positions of the log. ``lag_commits``: the sum of the differences.
    ``lag_seconds``: how long the oldest commit not yet handled has been in the log (0 when
    caught up). ``parked``: the aggregates parked, with their commits and errors.
    ``last_error``: the error that stopped this projector (in this process), else the error of
    the latest parked commit, else ``None``. ``previous``: for ``version > 1``, the status of
    version ``version - 1``, which serves until this one has caught up.
    """

    name: str
    version: int
    running: bool
    positions: Mapping[int, int]
    heads: Mapping[int, int]
    lag_commits: int
    lag_seconds: float
    caught_up: bool
    parked: tuple[ParkedCommit, ...]
    last_error: str | None
    previous: ProjectorStatus | None = None

    def to_json(self) -> dict[str, object]:
        """The status as JSON-compatible values (``ddbes projector status --json``)."""
        return {
            "name": self.name,
            "version": self.version,
            "running": self.running,
            "positions": {str(k): v for k, v in self.positions.items()},
            "heads": {str(k): v for k, v in self.heads.items()},
            "lag_commits": self.lag_commits,
            "lag_seconds": self.lag_seconds,
            "caught_up": self.caught_up,
            "parked": len(self.parked),
            "last_error": self.last_error,
            "previous": None if self.previous is None else self.previous.to_json(),
        }


def read_status(
    name: str,
    *,
    version: int = 1,
    commits: CommitStore,
    checkpoints: CheckpointStore,
    clock: Clock,
    positions: Mapping[int, int] | None = None,
    running: bool = False,
    error: str | None = None,
    with_previous: bool = True,
    slots: int | None = None,
) -> ProjectorStatus:
    """Read a projector's status from sync stores: :func:`read_status_steps`."""
    return run_sync(
        read_status_steps(
            name, version=version, commits=commits, checkpoints=checkpoints, clock=clock,
            positions=positions, running=running, error=error, with_previous=with_previous,
            slots=slots,
        )
    )  # fmt: skip


def read_status_steps(
    name: str,
    *,
    version: int = 1,
    commits: Any,
    checkpoints: Any,
    clock: Clock,
    positions: Mapping[int, int] | None = None,
    running: bool = False,
    error: str | None = None,
    with_previous: bool = True,
    slots: int | None = None,
) -> Steps[ProjectorStatus]:
    """Read a projector's status: per log partition its checkpoint (or ``positions``) and the
    head, the first unhandled commit's age when behind, and its parked commits. About two
    reads per log partition, and one query of the parked commits. The stores are both sync or
    both async (:mod:`ddbes.projection._steps`); an async commit store must be open (its
    ``log_partitions`` known).
    """
    key = stored_name(name, version)
    now = clock.now()
    at: dict[int, int] = {}
    heads: dict[int, int] = {}
    waited = 0.0
    for part in range(commits.log_partitions):
        if positions is not None:
            position = positions.get(part, 0)
        elif slots is None:
            position = yield Call(checkpoints.get, (key, part))
        else:  # a consumer group: the slowest of the partition's slots (seeded from ``key``)
            seed = yield Call(checkpoints.get, (key, part))
            group = f"{key}#g{slots}"
            found = []
            for s in range(slots):
                found.append((yield Call(checkpoints.get, (group, part * slots + s))) or seed)
            position = min(found)
        head = max((yield Call(commits.head_position, (part,))), position)
        at[part], heads[part] = position, head
        if head > position:
            first: list[Any] = yield Call(
                collect, (commits.read_log(after=position, log_partition=part, limit=1),)
            )
            for commit in first:
                waited = max(waited, (now - commit.committed_at).total_seconds())
    try:
        parked = tuple((yield Call(checkpoints.parked, (key,))))
    except NotImplementedError:
        parked = ()
    if error is None and parked:
        error = max(parked, key=lambda p: p.parked_at).error
    lag = sum(heads.values()) - sum(at.values())
    previous = None
    if with_previous and version > 1:
        previous = yield from read_status_steps(
            name, version=version - 1, commits=commits, checkpoints=checkpoints, clock=clock,
            with_previous=False, slots=slots,
        )  # fmt: skip
    return ProjectorStatus(
        name=name,
        version=version,
        running=running,
        positions=at,
        heads=heads,
        lag_commits=lag,
        lag_seconds=waited if lag else 0.0,
        caught_up=lag == 0,
        parked=parked,
        last_error=error,
        previous=previous,
    )
