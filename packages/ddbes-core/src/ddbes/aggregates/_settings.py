"""An aggregate's resolved configuration: what its operations read and write, and how."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from logging import Logger
from typing import Any

from ddbes.aggregates._misuse import commit_store_for, snapshot_store_for
from ddbes.errors import ConfigurationError
from ddbes.settings import require_commit_store

__all__ = ["AggregateSettings", "resolve_settings"]


@dataclass(frozen=True, slots=True)
class AggregateSettings:
    """The options an aggregate instance runs with (stores of the aggregate's kind)."""

    commit_store: Any
    snapshot_store: Any
    snapshots: bool
    snapshots_frequency: int
    clock: Any
    logger: Logger
    commit_timeout: float


def resolve_settings(
    option: Callable[[str], Any], who: str, *, asynchronous: bool
) -> AggregateSettings:
    """The settings from ``option(name)`` (the most specific level that sets ``name``).

    Raises:
        ConfigurationError: no commit store, ``snapshots`` without a snapshot store, or a store
            of the other API (see :mod:`ddbes.aggregates._misuse`).
    """
    store = require_commit_store(option("commit_store"), who)
    snapshots = bool(option("snapshots"))
    snapshot_store = option("snapshot_store")
    if snapshots and snapshot_store is None:
        raise ConfigurationError(
            f"{who} has snapshots=True but no snapshot_store: configure one "
            "(ddbes_s3.S3SnapshotStore, or ddbes.memory.InMemorySnapshotStore for tests)"
        )
    return AggregateSettings(
        commit_store=commit_store_for(store, who, asynchronous=asynchronous),
        snapshot_store=snapshot_store_for(snapshot_store, who, asynchronous=asynchronous),
        snapshots=snapshots,
        snapshots_frequency=int(option("snapshots_frequency")),
        clock=option("clock"),
        logger=option("logger"),
        commit_timeout=float(option("commit_timeout")),
    )
