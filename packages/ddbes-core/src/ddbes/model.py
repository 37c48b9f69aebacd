"""Value objects: commits, snapshots, and the commits a projector parked."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

__all__ = ["PARKED_ERROR_CHARS", "Commit", "Event", "ParkedCommit", "Snapshot", "log_partition_for"]

Event = dict[str, Any]
"""An event: a JSON object with a non-empty string ``"type"``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Commit:
    """One atomic append of one or more events to one aggregate, at one version.

    ``position`` is the commit's place in the global log: dense (1, 2, 3, ...) and totally
    ordered within its ``log_partition``. It is ``None`` until the commit is stored, and on a
    store that writes its log in the background, until the commit is in the log (see
    :meth:`ddbes.ports.CommitStore.flush_log`).

    ``metadata`` is what the commit says about itself rather than about the domain: a JSON
    object (string keys) such as ``correlation_id``, ``causation_id``, a user, a tenant or a
    request id; stored with the commit, given to projector handlers and stream clients, and
    empty when there is none. It is held to :data:`ddbes._validation.MAX_METADATA_BYTES`.
    """

    commit_id: str
    aggregate_type: str
    aggregate_key: str
    version: int
    committed_at: datetime
    events: tuple[Event, ...]
    position: int | None = None
    log_partition: int = 0
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def aggregate_id(self) -> str:
        """``"<aggregate_type>:<aggregate_key>"``."""
        return f"{self.aggregate_type}:{self.aggregate_key}"

    def stored_at(self, position: int, log_partition: int) -> Commit:
        """This commit as stored at ``position`` of ``log_partition``."""
        return replace(self, position=position, log_partition=log_partition)


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """The state of one aggregate at one version: a cache, never the truth.

    ``checksum`` identifies the code that produced ``state`` (the aggregate's upcasters and its
    ``snapshot_version``); a snapshot whose checksum differs from the loading class's is ignored.
    ``state`` must be JSON-compatible: stores return it as JSON decodes it.
    """

    aggregate_type: str
    aggregate_key: str
    version: int
    state: Any
    head_commit_id: str
    head_committed_at: datetime
    checksum: str

    @property
    def aggregate_id(self) -> str:
        """``"<aggregate_type>:<aggregate_key>"``."""
        return f"{self.aggregate_type}:{self.aggregate_key}"


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkedCommit:
    """A commit a projector set aside because its handler kept failing (``on_failure="park"``),
    with the later commits of its aggregate that the projector held back since.

    ``position``, ``version`` and ``commit_id`` name the commit that failed; ``error`` is its
    handler's last error (``repr``, at most :data:`PARKED_ERROR_CHARS` characters).
    ``held_through`` is the position of the newest commit of the aggregate held back behind it
    (``position`` when none is); ``held`` counts them.
    """

    aggregate_type: str
    aggregate_key: str
    log_partition: int
    position: int
    version: int
    commit_id: str
    error: str
    parked_at: datetime
    held_through: int
    held: int = 0

    @property
    def aggregate_id(self) -> str:
        """``"<aggregate_type>:<aggregate_key>"``."""
        return f"{self.aggregate_type}:{self.aggregate_key}"


PARKED_ERROR_CHARS = 2000
"""The longest ``ParkedCommit.error`` a checkpoint store keeps; longer ones are cut."""


def log_partition_for(aggregate_type: str, aggregate_key: str, log_partitions: int) -> int:
    """The log partition of an aggregate: a stable hash of its id, the same in every process.

    Every adapter must use this function so that a log written by one adapter reads the same
    through another.
    """
    if log_partitions <= 1:
        return 0
    return zlib.crc32(f"{aggregate_type}:{aggregate_key}".encode()) % log_partitions
